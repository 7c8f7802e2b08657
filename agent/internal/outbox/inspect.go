package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// maxInspectProblems bounds the problems listed by Inspect.
const maxInspectProblems = 50

// Report is what Inspect could read from an outbox file.
type Report struct {
	Path     string
	Size     int64    // bytes on disk
	Entries  []Entry  // every entry that decoded, in order, with payloads
	Problems []string // damage found; empty for a healthy file
}

// Inspect reads the outbox file at path through a read-only handle,
// tolerating damage, for `agent outbox inspect` (typically on a file moved
// aside after Open refused it). It never writes the file. It returns an
// error only when nothing at all can be read; otherwise damage is listed in
// Report.Problems next to the entries that could be decoded.
func Inspect(path string, lockTimeout time.Duration) (rep Report, err error) {
	rep.Path = path
	info, err := os.Stat(path)
	if err != nil {
		return rep, fmt.Errorf("outbox: inspect: %w", err)
	}
	rep.Size = info.Size()
	if lockTimeout <= 0 {
		lockTimeout = DefaultOpenTimeout
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			rep.problem("bbolt panicked while reading (later entries unreadable): %v", r)
			err = nil
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return rep, fmt.Errorf("outbox: inspect %s: in use by another process: %w", path, ErrLocked)
		}
		return rep, fmt.Errorf("outbox: inspect %s: not readable as bbolt: %w", path, err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		return rep, fmt.Errorf("outbox: inspect %s: %w", path, err)
	}
	defer func() { _ = tx.Rollback() }()
	if tx.Size() > info.Size() {
		rep.problem("truncated: %d bytes on disk, %d expected; pages past the end are not read", info.Size(), tx.Size())
		return rep, nil
	}
	entries := tx.Bucket([]byte(bucketEntries))
	if entries == nil {
		rep.problem("no %q bucket: not an outbox", bucketEntries)
		return rep, nil
	}
	payloads := tx.Bucket([]byte(bucketPayloads))
	if err := entries.ForEach(func(k, v []byte) error {
		e, err := decodeEntry(v)
		if err != nil {
			rep.problem("entry %x: %v", k, err)
			return nil
		}
		if payloads != nil {
			e.Payload = bytes.Clone(payloads.Get(k))
		}
		rep.Entries = append(rep.Entries, e)
		return nil
	}); err != nil {
		rep.problem("reading entries: %v", err)
	}
	for cerr := range tx.Check() {
		rep.problem("consistency: %v", cerr)
	}
	return rep, nil
}

func (r *Report) problem(format string, args ...any) {
	if len(r.Problems) < maxInspectProblems {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}
