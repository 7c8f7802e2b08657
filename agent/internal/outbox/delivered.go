package outbox

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// recordDelivered adds id to the delivered journal inside tx.
func recordDelivered(tx *bolt.Tx, id string, at time.Time) error {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(at.UnixNano()))
	if err := tx.Bucket([]byte(bucketDelivered)).Put([]byte(id), v[:]); err != nil {
		return fmt.Errorf("record delivered %s: %w", id, err)
	}
	return nil
}

// Delivered returns the delivered journal: for each event whose entry
// carried evidence files, the time Done removed it (so every file was in
// object storage and the broker had acknowledged the event). The evidence
// janitor deletes only local packages listed here.
func (o *Outbox) Delivered() (map[string]time.Time, error) {
	o.mu.Lock()
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	out := make(map[string]time.Time)
	err := o.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketDelivered))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("delivered %q: bad value", k)
			}
			out[string(k)] = time.Unix(0, int64(binary.BigEndian.Uint64(v)))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: delivered: %w", err)
	}
	return out, nil
}

// ForgetDelivered removes ids from the delivered journal (once their local
// packages are gone), in one commit. Unknown ids are ignored.
func (o *Outbox) ForgetDelivered(ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(bucketDelivered))
		for _, id := range ids {
			if err := b.Delete([]byte(id)); err != nil {
				return fmt.Errorf("forget %s: %w", id, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: forget delivered: %w", err)
	}
	return nil
}
