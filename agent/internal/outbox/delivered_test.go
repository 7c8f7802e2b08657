package outbox

import (
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigia-pe/vigia/shared/event"
)

// deliver marks every file of seq uploaded, publishes it and removes it.
func deliver(t testing.TB, o *Outbox, seq uint64) {
	t.Helper()
	e, err := o.Get(seq)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range e.Evidence {
		if err := o.MarkUploaded(seq, f.Key); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.MarkPublished(seq); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(seq); err != nil {
		t.Fatal(err)
	}
}

func TestDeliveredJournal(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "outbox.db")
	o := openTest(t, path, Config{Now: func() time.Time { return now }})
	withFiles := mustPut(t, o, testEntry("inf-1", event.KindInfraction, 10, FileRef{Key: "a/clip.mp4", Size: 100}))
	noFiles := mustPut(t, o, testEntry("inf-2", event.KindInfraction, 10))
	status := mustPut(t, o, testEntry("st-1", event.KindStatus, 10))
	pending := mustPut(t, o, testEntry("inf-3", event.KindInfraction, 10, FileRef{Key: "c/clip.mp4", Size: 100}))

	// Not delivered yet: the journal is empty, and a refused Done adds nothing.
	if err := o.Done(pending); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Done of an undelivered entry: %v", err)
	}
	for _, seq := range []uint64{withFiles, noFiles, status} {
		deliver(t, o, seq)
	}
	got, err := o.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	// Only entries with evidence files are journaled: the others have no package to prune.
	if len(got) != 1 || !got["inf-1"].Equal(now) {
		t.Fatalf("journal %v, want only inf-1 at %s", got, now)
	}

	// An event queued again leaves the journal until it is delivered again.
	again := mustPut(t, o, testEntry("inf-1", event.KindInfraction, 10, FileRef{Key: "a/clip.mp4", Size: 100}))
	if got, err := o.Delivered(); err != nil || len(got) != 0 {
		t.Fatalf("journal with inf-1 queued again: %v, %v", got, err)
	}
	deliver(t, o, again)

	// It survives a reopen.
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	o = openTest(t, path, Config{})
	if got, err := o.Delivered(); err != nil || len(got) != 1 {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	if err := o.ForgetDelivered("inf-1", "never-there"); err != nil {
		t.Fatal(err)
	}
	if got, err := o.Delivered(); err != nil || len(got) != 0 {
		t.Fatalf("after forget: %v, %v", got, err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Delivered(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Delivered after Close: %v", err)
	}
	if err := o.ForgetDelivered("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("ForgetDelivered after Close: %v", err)
	}
}

// TestOpenFileWithoutDeliveredBucket opens a file written before the
// journal existed: it is accepted and gains the bucket.
func TestOpenFileWithoutDeliveredBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{bucketEntries, bucketPayloads, bucketIDs, bucketDroppable, bucketMeta} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	o := openTest(t, path, Config{})
	deliver(t, o, mustPut(t, o, testEntry("inf-1", event.KindInfraction, 10, FileRef{Key: "k", Size: 1})))
	if got, err := o.Delivered(); err != nil || len(got) != 1 {
		t.Fatalf("journal %v, %v", got, err)
	}
}

// BenchmarkPutDeliverEvidence is the full life of an infraction with four
// evidence files: Put, four MarkUploaded, MarkPublished, Done with its
// journal row (seven fsync'd commits), reported as entries/s.
func BenchmarkPutDeliverEvidence(b *testing.B) {
	o := openTest(b, filepath.Join(b.TempDir(), "outbox.db"), Config{})
	e := testEntry("", event.KindInfraction, 1024,
		FileRef{Key: "ev/clip.mp4", Size: 4 << 20}, FileRef{Key: "ev/snapshot.jpg", Size: 300 << 10},
		FileRef{Key: "ev/plate.png", Size: 20 << 10}, FileRef{Key: "ev/manifest.json", Size: 2 << 10})
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for i := 0; b.Loop(); i++ {
		e.EventID = "bench-" + strconv.Itoa(i)
		seq, _, err := o.Put(e)
		if err != nil {
			b.Fatal(err)
		}
		deliver(b, o, seq)
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "entries/s")
}
