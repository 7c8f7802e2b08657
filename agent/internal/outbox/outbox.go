// Package outbox is the agent's durable store-and-forward queue: every event
// (and the evidence files it references) is committed to a bbolt file, with
// fsync, before anything tries to send it, and is removed only once the hub
// has it.
//
// Layout of the bbolt file:
//   - bucket "entries": big-endian uint64 sequence -> JSON Entry, so that
//     iteration is insertion order (oldest first);
//   - bucket "payloads": sequence -> payload bytes, apart so that state
//     changes rewrite only the small metadata;
//   - bucket "ids": event id -> sequence, so re-adding an event id is a no-op
//     (the event id is also the hub's idempotency key);
//   - bucket "droppable": sequence -> empty, the droppable entries in order,
//     so the quota policy finds the oldest droppable entry without a scan;
//   - bucket "meta": persistent counters (drops per kind);
//   - bucket "delivered": event id -> delivery time (big-endian Unix
//     nanoseconds) of each entry with evidence files that Done removed: the
//     journal that tells the evidence janitor (agent/internal/evquota) which
//     local packages already reached object storage and the broker.
//
// Delivery protocol: Put commits the entry; the uplink uploads each evidence
// file and calls MarkUploaded, publishes the event and calls MarkPublished
// once the broker acknowledged it; Done removes the entry, and refuses to
// unless both hold.
//
// Quota policy (Config.MaxBytes, counting payload bytes plus the sizes of
// the evidence files an entry references): when a Put would exceed the quota,
// the oldest droppable entries (status, metrics, debug: PriorityDroppable) are
// dropped, oldest first, until the new entry fits; each drop is counted per
// kind. Infractions (PriorityKeep) are never dropped: if only they are left,
// an infraction is accepted anyway and the outbox enters the over-quota alarm
// state (Alarm, Stats.OverQuota, Stats.OverQuotaPuts); the caller raises the
// alarm (metric, status event, log). A droppable entry that cannot fit even
// after every older droppable entry would be dropped is itself refused with
// ErrDropped (and counted), and nothing else is dropped for it.
//
// Safety at open: a second process holding the file gets ErrLocked after
// Config.OpenTimeout instead of hanging; a corrupt, truncated or foreign file
// is refused with ErrCorrupt and a recovery command, and is never written,
// moved or deleted (it is validated through a read-only handle first).
// Inspect reads such a file, read-only and tolerating damage, for the
// `agent outbox inspect` command.
package outbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vigia-pe/vigia/shared/event"
)

// Bucket names.
const (
	bucketEntries   = "entries"
	bucketPayloads  = "payloads"
	bucketIDs       = "ids"
	bucketDroppable = "droppable"
	bucketMeta      = "meta"
	bucketDelivered = "delivered"
	metaDropPrefix  = "dropped/"
)

// DefaultOpenTimeout bounds the wait for the file lock at Open.
const DefaultOpenTimeout = time.Second

// maxCheckErrors bounds the consistency errors quoted in an ErrCorrupt.
const maxCheckErrors = 3

// Errors returned by the outbox; test with errors.Is.
var (
	ErrNotFound = errors.New("outbox: no such entry")
	ErrNotReady = errors.New("outbox: entry not published or evidence not uploaded")
	ErrLocked   = errors.New("outbox: file in use by another process")
	ErrCorrupt  = errors.New("outbox: file is corrupt or not an outbox")
	ErrDropped  = errors.New("outbox: droppable entry refused: over quota")
	ErrClosed   = errors.New("outbox: closed")
)

// Config configures an Outbox.
type Config struct {
	// MaxBytes caps payload plus referenced evidence bytes; 0 = no cap.
	MaxBytes int64
	// OpenTimeout bounds the wait for the file lock; 0 = DefaultOpenTimeout.
	OpenTimeout time.Duration
	// SkipCheck skips bbolt's full consistency check at open (for very
	// large files); the truncation check and entry decoding still run.
	SkipCheck bool
	// Now is the clock; nil = time.Now.
	Now func() time.Time
}

// Outbox is a durable, ordered, idempotent queue of entries. It is safe for
// concurrent use.
type Outbox struct {
	db   *bolt.DB
	path string
	cfg  Config
	log  *slog.Logger

	mu            sync.Mutex // serialises writers and guards the fields below
	closed        bool
	depth         map[event.Kind]int
	bytes         int64
	dropped       map[event.Kind]uint64
	overQuotaPuts uint64
}

// Open opens (or creates) the outbox file at path. A file held by another
// process yields ErrLocked; a damaged or foreign file yields ErrCorrupt and
// is left untouched.
func Open(path string, cfg Config, log *slog.Logger) (*Outbox, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.OpenTimeout <= 0 {
		cfg.OpenTimeout = DefaultOpenTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBytes < 0 {
		return nil, fmt.Errorf("outbox: open %s: negative MaxBytes %d", path, cfg.MaxBytes)
	}
	if err := validateFile(path, cfg); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: cfg.OpenTimeout})
	if err != nil {
		return nil, openError(path, cfg, err)
	}
	o := &Outbox{
		db:      db,
		path:    path,
		cfg:     cfg,
		log:     log.With("component", "outbox"),
		depth:   make(map[event.Kind]int),
		dropped: make(map[event.Kind]uint64),
	}
	if err := o.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	o.log.Info("outbox opened", "path", path, "entries", o.total(), "bytes", o.bytes, "max_bytes", cfg.MaxBytes)
	return o, nil
}

// openError classifies an error of bolt.Open.
func openError(path string, cfg Config, err error) error {
	if errors.Is(err, bolterrors.ErrTimeout) {
		return fmt.Errorf("outbox: %s is in use by another process (lock not acquired within %s); stop the other agent instance: %w",
			path, cfg.OpenTimeout, ErrLocked)
	}
	if errors.Is(err, os.ErrPermission) || errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("outbox: open %s: %w", path, err)
	}
	return corruptError(path, cfg, err)
}

// corruptError builds the ErrCorrupt message with a recovery command.
func corruptError(path string, cfg Config, cause error) error {
	aside := path + ".corrupt-" + cfg.Now().UTC().Format("20060102T150405Z")
	return fmt.Errorf("%w: %s (%v); the file was left untouched. Recover: move it aside with `mv %s %s`; "+
		"the agent then starts a new outbox; inspect the old one with `agent outbox inspect %s`",
		ErrCorrupt, path, cause, shellQuote(path), shellQuote(aside), shellQuote(aside))
}

// shellQuote quotes s for a POSIX shell when it holds anything unusual.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// validateFile checks an existing, non-empty file through a read-only handle
// before it is opened for writing: lock, meta pages, truncation, bbolt's
// consistency check, and the decoding of every entry. bbolt may panic (or
// fault on a truncated mapping) on damaged files; both become ErrCorrupt.
func validateFile(path string, cfg Config) (err error) {
	info, statErr := os.Stat(path)
	if statErr != nil {
		if errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("outbox: stat %s: %w", path, statErr)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("outbox: %s is not a regular file", path)
	}
	if info.Size() == 0 {
		return nil // bbolt initialises an empty file; nothing to lose
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = corruptError(path, cfg, fmt.Errorf("bbolt panicked: %v", r))
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: cfg.OpenTimeout})
	if err != nil {
		return openError(path, cfg, err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		return corruptError(path, cfg, err)
	}
	defer func() { _ = tx.Rollback() }()
	if tx.Size() > info.Size() {
		return corruptError(path, cfg, fmt.Errorf("truncated: %d bytes on disk, %d expected", info.Size(), tx.Size()))
	}
	if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
		switch string(name) {
		case bucketEntries, bucketPayloads, bucketIDs, bucketDroppable, bucketMeta, bucketDelivered:
			return nil
		}
		return fmt.Errorf("a bbolt file but not an outbox: unexpected bucket %q", name)
	}); err != nil {
		return corruptError(path, cfg, err)
	}
	// Decode every entry in this goroutine first (faults become panics
	// here), then run bbolt's own checker.
	if b := tx.Bucket([]byte(bucketEntries)); b != nil {
		if err := b.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("entry key of %d bytes", len(k))
			}
			_, err := decodeEntry(v)
			return err
		}); err != nil {
			return corruptError(path, cfg, err)
		}
	}
	if !cfg.SkipCheck {
		var errs []string
		for cerr := range tx.Check() {
			if len(errs) < maxCheckErrors {
				errs = append(errs, cerr.Error())
			}
		}
		if len(errs) > 0 {
			return corruptError(path, cfg, fmt.Errorf("consistency check: %s", strings.Join(errs, "; ")))
		}
	}
	return nil
}

// load creates missing buckets and rebuilds the in-memory accounting.
func (o *Outbox) load() error {
	err := o.db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketEntries, bucketPayloads, bucketIDs, bucketDroppable, bucketMeta, bucketDelivered} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		if err := tx.Bucket([]byte(bucketEntries)).ForEach(func(k, v []byte) error {
			e, err := decodeEntry(v)
			if err != nil {
				return err
			}
			e.Payload = tx.Bucket([]byte(bucketPayloads)).Get(k)
			o.depth[e.Kind]++
			o.bytes += e.Size()
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketMeta)).ForEach(func(k, v []byte) error {
			if kind, ok := strings.CutPrefix(string(k), metaDropPrefix); ok && len(v) == 8 {
				o.dropped[event.Kind(kind)] = binary.BigEndian.Uint64(v)
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("outbox: load %s: %w", o.path, err)
	}
	return nil
}

// Close closes the file. Further calls return ErrClosed.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("outbox: close %s: %w", o.path, err)
	}
	return nil
}

// Path returns the file path.
func (o *Outbox) Path() string { return o.path }

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// dropped describes an entry removed by the quota policy inside a Put.
type dropped struct {
	seq  uint64
	kind event.Kind
	size int64
}

// Put commits e (fsync) before returning and gives its sequence number. If
// an entry with the same EventID is already queued, nothing changes and Put
// returns that entry's sequence with added=false. Over quota it applies the
// policy in the package documentation: it may drop older droppable entries,
// return ErrDropped for a droppable e that cannot fit, or accept an
// infraction and enter the alarm state.
func (o *Outbox) Put(e Entry) (seq uint64, added bool, err error) {
	if err := e.normalize(o.cfg.Now()); err != nil {
		return 0, false, err
	}
	size := e.Size()
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, false, ErrClosed
	}
	var (
		drops    []dropped
		refused  bool
		overPut  bool
		existing uint64
	)
	err = o.db.Update(func(tx *bolt.Tx) error {
		entries := tx.Bucket([]byte(bucketEntries))
		ids := tx.Bucket([]byte(bucketIDs))
		drop := tx.Bucket([]byte(bucketDroppable))
		if v := ids.Get([]byte(e.EventID)); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("index of %s: bad value", e.EventID)
			}
			existing = binary.BigEndian.Uint64(v)
			return nil
		}
		if max := o.cfg.MaxBytes; max > 0 && o.bytes+size > max {
			used := o.bytes
			c := drop.Cursor()
			for k, _ := c.First(); k != nil && used+size > max; k, _ = c.Next() {
				old, ok, err := readEntry(tx, k, false)
				if err != nil {
					return err
				}
				if !ok {
					continue // stale index row, harmless
				}
				drops = append(drops, dropped{seq: binary.BigEndian.Uint64(k), kind: old.Kind, size: old.Size()})
				used -= old.Size()
			}
			if used+size > max {
				if e.Droppable() {
					refused = true
					drops = nil
					return bumpDropCounter(tx, e.Kind, 1)
				}
				overPut = true
			}
			for _, d := range drops {
				if err := o.deleteEntry(tx, d.seq); err != nil {
					return err
				}
				if err := bumpDropCounter(tx, d.kind, 1); err != nil {
					return err
				}
			}
		}
		next, err := entries.NextSequence()
		if err != nil {
			return fmt.Errorf("next sequence: %w", err)
		}
		e.Seq = next
		b, err := encodeEntry(&e)
		if err != nil {
			return err
		}
		k := seqKey(next)
		if err := entries.Put(k, b); err != nil {
			return fmt.Errorf("put entry: %w", err)
		}
		if err := tx.Bucket([]byte(bucketPayloads)).Put(k, e.Payload); err != nil {
			return fmt.Errorf("put payload: %w", err)
		}
		if err := ids.Put([]byte(e.EventID), k); err != nil {
			return fmt.Errorf("put index: %w", err)
		}
		// An event queued again is no longer delivered: the evidence
		// janitor must not delete the files it references.
		if err := tx.Bucket([]byte(bucketDelivered)).Delete([]byte(e.EventID)); err != nil {
			return fmt.Errorf("clear delivered %s: %w", e.EventID, err)
		}
		if e.Droppable() {
			if err := drop.Put(k, nil); err != nil {
				return fmt.Errorf("put droppable index: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("outbox: put %s: %w", e.EventID, err)
	}
	if existing != 0 {
		return existing, false, nil
	}
	if refused {
		o.dropped[e.Kind]++
		o.log.Debug("outbox: droppable entry refused over quota", "kind", e.Kind, "size", size)
		return 0, false, fmt.Errorf("outbox: put %s (%s, %d bytes): %w", e.EventID, e.Kind, size, ErrDropped)
	}
	for _, d := range drops {
		o.depth[d.kind]--
		if o.depth[d.kind] <= 0 {
			delete(o.depth, d.kind)
		}
		o.bytes -= d.size
		o.dropped[d.kind]++
	}
	if len(drops) > 0 {
		o.log.Debug("outbox: dropped entries over quota", "count", len(drops))
	}
	if overPut {
		o.overQuotaPuts++
	}
	o.depth[e.Kind]++
	o.bytes += size
	return e.Seq, true, nil
}

// bumpDropCounter adds n to the persistent drop counter of kind.
func bumpDropCounter(tx *bolt.Tx, kind event.Kind, n uint64) error {
	meta := tx.Bucket([]byte(bucketMeta))
	key := []byte(metaDropPrefix + string(kind))
	var cur uint64
	if v := meta.Get(key); len(v) == 8 {
		cur = binary.BigEndian.Uint64(v)
	}
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], cur+n)
	if err := meta.Put(key, b[:]); err != nil {
		return fmt.Errorf("drop counter %s: %w", kind, err)
	}
	return nil
}

// deleteEntry removes seq from every bucket inside tx.
func (o *Outbox) deleteEntry(tx *bolt.Tx, seq uint64) error {
	k := seqKey(seq)
	entries := tx.Bucket([]byte(bucketEntries))
	if v := entries.Get(k); v != nil {
		e, err := decodeEntry(v)
		if err != nil {
			return fmt.Errorf("entry %d: %w", seq, err)
		}
		if err := tx.Bucket([]byte(bucketIDs)).Delete([]byte(e.EventID)); err != nil {
			return fmt.Errorf("delete index %d: %w", seq, err)
		}
		if err := entries.Delete(k); err != nil {
			return fmt.Errorf("delete entry %d: %w", seq, err)
		}
		if err := tx.Bucket([]byte(bucketPayloads)).Delete(k); err != nil {
			return fmt.Errorf("delete payload %d: %w", seq, err)
		}
	}
	if err := tx.Bucket([]byte(bucketDroppable)).Delete(k); err != nil {
		return fmt.Errorf("delete droppable index %d: %w", seq, err)
	}
	return nil
}

// readEntry reads entry k inside tx. Unless copyPayload is set, the payload
// aliases bbolt memory and is valid only inside tx (enough to measure it).
func readEntry(tx *bolt.Tx, k []byte, copyPayload bool) (Entry, bool, error) {
	v := tx.Bucket([]byte(bucketEntries)).Get(k)
	if v == nil {
		return Entry{}, false, nil
	}
	e, err := decodeEntry(v)
	if err != nil {
		return Entry{}, false, fmt.Errorf("entry %x: %w", k, err)
	}
	e.Payload = tx.Bucket([]byte(bucketPayloads)).Get(k)
	if copyPayload {
		e.Payload = bytes.Clone(e.Payload)
	}
	return e, true, nil
}

// update applies fn to the stored entry seq and commits it.
func (o *Outbox) update(op string, seq uint64, fn func(*Entry) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		entries := tx.Bucket([]byte(bucketEntries))
		k := seqKey(seq)
		v := entries.Get(k)
		if v == nil {
			return ErrNotFound
		}
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		if err := fn(&e); err != nil {
			return err
		}
		b, err := encodeEntry(&e)
		if err != nil {
			return err
		}
		return entries.Put(k, b)
	})
	if err != nil {
		return fmt.Errorf("outbox: %s %d: %w", op, seq, err)
	}
	return nil
}

// MarkUploaded records that evidence file key of entry seq is in object
// storage. Marking twice is harmless.
func (o *Outbox) MarkUploaded(seq uint64, key string) error {
	return o.update("mark uploaded", seq, func(e *Entry) error {
		for i := range e.Evidence {
			if e.Evidence[i].Key == key {
				e.Evidence[i].Uploaded = true
				return nil
			}
		}
		return fmt.Errorf("evidence %q: %w", key, ErrNotFound)
	})
}

// MarkPublished records that the broker acknowledged the event of entry seq.
func (o *Outbox) MarkPublished(seq uint64) error {
	return o.update("mark published", seq, func(e *Entry) error {
		e.Published = true
		return nil
	})
}

// RecordAttempt counts a failed delivery attempt of entry seq and keeps its
// error text (which must not carry secrets).
func (o *Outbox) RecordAttempt(seq uint64, cause error) error {
	return o.update("record attempt", seq, func(e *Entry) error {
		e.Attempts++
		e.LastError = ""
		if cause != nil {
			e.LastError = cause.Error()
		}
		return nil
	})
}

// Done removes entry seq once it is published and all its evidence is
// uploaded; otherwise it returns ErrNotReady and keeps it. An entry with
// evidence files is recorded in the delivered journal in the same commit.
func (o *Outbox) Done(seq uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrClosed
	}
	var e Entry
	var size int64
	err := o.db.Update(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if e, ok, err = readEntry(tx, seqKey(seq), false); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		size = e.Size() // the payload aliases bbolt memory: measure it inside tx
		if !e.Ready() {
			pending := 0
			for _, f := range e.Evidence {
				if !f.Uploaded {
					pending++
				}
			}
			return fmt.Errorf("published=%t, %d of %d evidence files not uploaded: %w",
				e.Published, pending, len(e.Evidence), ErrNotReady)
		}
		if err := o.deleteEntry(tx, seq); err != nil {
			return err
		}
		if len(e.Evidence) > 0 {
			return recordDelivered(tx, e.EventID, o.cfg.Now())
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("outbox: done %d: %w", seq, err)
	}
	o.depth[e.Kind]--
	if o.depth[e.Kind] <= 0 {
		delete(o.depth, e.Kind)
	}
	o.bytes -= size
	return nil
}

// Get returns entry seq.
func (o *Outbox) Get(seq uint64) (Entry, error) {
	var e Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if e, ok, err = readEntry(tx, seqKey(seq), true); err == nil && !ok {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return Entry{}, fmt.Errorf("outbox: get %d: %w", seq, err)
	}
	return e, nil
}

// Pending returns up to limit entries (all when limit <= 0), oldest first,
// with their delivery state.
func (o *Outbox) Pending(limit int) ([]Entry, error) {
	var out []Entry
	err := o.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(bucketEntries)).Cursor()
		payloads := tx.Bucket([]byte(bucketPayloads))
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			e, err := decodeEntry(v)
			if err != nil {
				return fmt.Errorf("entry %x: %w", k, err)
			}
			e.Payload = bytes.Clone(payloads.Get(k))
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: pending: %w", err)
	}
	return out, nil
}

// Stats is a snapshot of the outbox for metrics and status events.
type Stats struct {
	Depth         map[event.Kind]int    // queued entries per kind
	Entries       int                   // total queued entries
	Bytes         int64                 // payload + referenced evidence bytes
	MaxBytes      int64                 // the quota; 0 = none
	OldestAge     time.Duration         // age of the oldest entry; 0 when empty
	Dropped       map[event.Kind]uint64 // entries dropped by the quota policy, per kind (persistent)
	DroppedTotal  uint64
	OverQuota     bool   // only undroppable entries are left and they exceed MaxBytes
	OverQuotaPuts uint64 // infractions accepted over quota since Open
}

// Stats returns a snapshot.
func (o *Outbox) Stats() (Stats, error) {
	o.mu.Lock()
	s := Stats{
		Depth:         make(map[event.Kind]int, len(o.depth)),
		Dropped:       make(map[event.Kind]uint64, len(o.dropped)),
		Bytes:         o.bytes,
		MaxBytes:      o.cfg.MaxBytes,
		OverQuota:     o.overQuota(),
		OverQuotaPuts: o.overQuotaPuts,
	}
	for k, n := range o.depth {
		s.Depth[k] = n
		s.Entries += n
	}
	for k, n := range o.dropped {
		s.Dropped[k] = n
		s.DroppedTotal += n
	}
	closed := o.closed
	o.mu.Unlock()
	if closed {
		return s, ErrClosed
	}
	err := o.db.View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket([]byte(bucketEntries)).Cursor().First()
		if v == nil {
			return nil
		}
		e, err := decodeEntry(v)
		if err != nil {
			return err
		}
		if age := o.cfg.Now().Sub(e.CreatedAt); age > 0 {
			s.OldestAge = age
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("outbox: stats: %w", err)
	}
	return s, nil
}

func (o *Outbox) overQuota() bool { return o.cfg.MaxBytes > 0 && o.bytes > o.cfg.MaxBytes }

func (o *Outbox) total() int {
	n := 0
	for _, d := range o.depth {
		n += d
	}
	return n
}

// Alarm reports whether the outbox holds more than MaxBytes of entries it
// may not drop, with a human-readable reason for the caller's alarm.
func (o *Outbox) Alarm() (bool, string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.overQuota() {
		return false, ""
	}
	return true, fmt.Sprintf("outbox over quota: %d bytes queued, limit %d; %d infractions kept (never dropped), %d accepted over quota since start",
		o.bytes, o.cfg.MaxBytes, o.depth[event.KindInfraction], o.overQuotaPuts)
}
