package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
	bolt "go.etcd.io/bbolt"
)

// DefaultRemember is how many recent command ids a Store keeps.
const DefaultRemember = 1000

var bucketCommands = []byte("commands")

// Store remembers the outcome of recent commands, so that a command the
// broker delivers again (QoS 1 redelivery, the hub's retry) is acknowledged
// again with the same outcome instead of being executed twice. It is a small
// bbolt file of its own (not the outbox): losing it only means that a command
// redelivered after the loss runs again, which every action tolerates.
type Store struct {
	db  *bolt.DB
	max int

	mu  sync.Mutex
	mem map[string]record // used when db is nil
}

type record struct {
	Ack event.Ack `json:"ack"`
	At  time.Time `json:"at"`
}

// OpenStore opens (or creates) the store at path keeping the max most recent
// ids (0: DefaultRemember). An empty path keeps them in memory only.
func OpenStore(path string, max int) (*Store, error) {
	if max <= 0 {
		max = DefaultRemember
	}
	s := &Store{max: max, mem: map[string]record{}}
	if path == "" {
		return s, nil
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("control: open command store %s: %w (another agent running? if the file is corrupt, "+
			"move it aside: it only holds recent command ids)", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketCommands)
		return err
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("control: command store %s: %w", path, err)
	}
	s.db = db
	return s, nil
}

// Get returns the acknowledgement recorded for a command id.
func (s *Store) Get(id string) (event.Ack, bool, error) {
	if s.db == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		r, ok := s.mem[id]
		return r.Ack, ok, nil
	}
	var r record
	var found bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCommands).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &r)
	})
	if err != nil {
		return event.Ack{}, false, fmt.Errorf("control: read command %s: %w", id, err)
	}
	return r.Ack, found, nil
}

// Put records a command's acknowledgement (fsynced), forgetting the oldest
// ids beyond the limit.
func (s *Store) Put(ack event.Ack, at time.Time) error {
	if ack.CommandID == "" {
		return errors.New("control: record without a command id")
	}
	r := record{Ack: ack, At: at.UTC()}
	if s.db == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.mem[ack.CommandID] = r
		if len(s.mem) > s.max {
			ids := make([]string, 0, len(s.mem))
			for id := range s.mem {
				ids = append(ids, id)
			}
			sort.Slice(ids, func(i, j int) bool { return s.mem[ids[i]].At.Before(s.mem[ids[j]].At) })
			for _, id := range ids[:len(ids)-s.max] {
				delete(s.mem, id)
			}
		}
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketCommands)
		if err := bk.Put([]byte(ack.CommandID), b); err != nil {
			return err
		}
		return prune(bk, s.max)
	})
	if err != nil {
		return fmt.Errorf("control: record command %s: %w", ack.CommandID, err)
	}
	return nil
}

// prune deletes the oldest records of bk beyond keep. (Bucket.Stats does
// not count the keys written by the open transaction, so count them here.)
func prune(bk *bolt.Bucket, keep int) error {
	type kv struct {
		key string
		at  time.Time
	}
	var all []kv
	if err := bk.ForEach(func(k, v []byte) error {
		var r record
		_ = json.Unmarshal(v, &r) // an unreadable record sorts first and goes
		all = append(all, kv{string(k), r.At})
		return nil
	}); err != nil {
		return err
	}
	if len(all) <= keep {
		return nil
	}
	sort.Slice(all, func(i, j int) bool { return all[i].at.Before(all[j].at) })
	for _, e := range all[:len(all)-keep] {
		if err := bk.Delete([]byte(e.key)); err != nil {
			return err
		}
	}
	return nil
}

// Len returns how many command ids are remembered.
func (s *Store) Len() int {
	if s.db == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.mem)
	}
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketCommands).Stats().KeyN
		return nil
	})
	return n
}

// Close closes the file.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	return s.db.Close()
}
