package evquota

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const clipBytes = 100 << 10

// fixture is a data directory with real evidence packages written by the
// evidence writer and a real outbox whose delivered journal says which of
// them reached the hub.
type fixture struct {
	dir     string
	writer  *evidence.Writer
	ob      *outbox.Outbox
	obNow   time.Time
	ids     []string // package event ids, oldest first
	rels    map[string]string
	scratch string
	logs    *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), rels: map[string]string{}, logs: &syncBuf{}}
	var err error
	f.writer, err = evidence.NewWriter(evidence.Config{DataDir: f.dir, DeviceID: "EDGE-1", AgentVersion: "test",
		Now: func() time.Time { return t0 }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	f.ob, err = outbox.Open(filepath.Join(f.dir, "outbox.db"), outbox.Config{Now: func() time.Time { return f.obNow }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.ob.Close() })
	f.scratch = filepath.Join(f.dir, "debug")
	return f
}

// addPackages writes n packages whose manifests are dated a minute apart.
func (f *fixture) addPackages(t *testing.T, n int) {
	t.Helper()
	for range n {
		i := len(f.ids)
		id := fmt.Sprintf("ev%02d-%s", i, event.NewID()[:8])
		m, _, err := f.writer.Write(evidence.Infraction{EventID: id, CameraID: "CAM1", Type: "SPEED_VIOLATION", DetectedAt: t0,
			Files: []evidence.File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: bytes.Repeat([]byte{byte(i)}, clipBytes)}}})
		if err != nil {
			t.Fatal(err)
		}
		rel := evidence.PackageRel(m)
		mt := t0.Add(time.Duration(i-100) * time.Minute)
		if err := os.Chtimes(filepath.Join(f.evDir(), filepath.FromSlash(rel), shared.ManifestFile), mt, mt); err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, id)
		f.rels[id] = rel
	}
}

func (f *fixture) evDir() string { return filepath.Join(f.dir, "evidence") }

// deliver runs package i's outbox entry through the delivery protocol at time at.
func (f *fixture) deliver(t *testing.T, i int, at time.Time) {
	t.Helper()
	f.obNow = at
	id := f.ids[i]
	key := f.rels[id] + "/clip.mp4"
	seq, _, err := f.ob.Put(outbox.Entry{EventID: id, Kind: event.KindInfraction, Topic: "traffic/v1/EDGE-1/infraction",
		Payload: []byte("{}"), Evidence: []outbox.FileRef{{Key: key, Size: clipBytes}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.ob.MarkUploaded(seq, key); err != nil {
		t.Fatal(err)
	}
	if err := f.ob.MarkPublished(seq); err != nil {
		t.Fatal(err)
	}
	if err := f.ob.Done(seq); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) addScratch(t *testing.T, n int, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(f.scratch, "crops"), 0o750); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		p := filepath.Join(f.scratch, "crops", fmt.Sprintf("crop-%d.jpg", i))
		if err := os.WriteFile(p, make([]byte, size), 0o640); err != nil {
			t.Fatal(err)
		}
		mt := t0.Add(time.Duration(i-50) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
}

// sizes returns the bytes of one package and of the evidence directory's other files.
func (f *fixture) sizes(t *testing.T) (pkgBytes, other int64) {
	t.Helper()
	pkgs, other, err := scanPackages(f.evDir())
	if err != nil || len(pkgs) == 0 {
		t.Fatalf("scan: %d packages, %v", len(pkgs), err)
	}
	for _, p := range pkgs {
		pkgBytes = max(pkgBytes, p.size)
	}
	return pkgBytes, other
}

func (f *fixture) present(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, id := range f.ids {
		if _, err := os.Stat(filepath.Join(f.evDir(), filepath.FromSlash(f.rels[id]))); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func TestCheck(t *testing.T) {
	const n = 5 // packages 0..4; 4 is the chain head
	type limits struct {
		maxBytes  int64 // in bytes, from the measured sizes
		floor     uint64
		free      uint64
		retention time.Duration
	}
	cases := []struct {
		name      string
		delivered map[int]time.Duration // package -> delivered this long before t0
		scratch   int                   // scratch files of half a package each
		limits    func(pkg, other, scratch int64) limits
		deleted   []int // packages expected gone
		scratchN  int   // scratch files expected deleted
		overQuota bool
		lowDisk   bool
		expired   int
	}{
		{
			name:      "under quota: nothing deleted",
			delivered: map[int]time.Duration{0: time.Hour, 1: time.Hour},
			limits: func(p, o, _ int64) limits {
				return limits{maxBytes: o + n*p + 10}
			},
		},
		{
			name:      "over quota: oldest delivered deleted first until under",
			delivered: map[int]time.Duration{0: time.Hour, 1: time.Hour, 2: time.Hour, 3: time.Hour},
			limits:    func(p, o, _ int64) limits { return limits{maxBytes: o + 3*p + p/2} },
			deleted:   []int{0, 1},
		},
		{
			name:      "nothing delivered: all kept, alarm",
			limits:    func(p, o, _ int64) limits { return limits{maxBytes: o + 2*p} },
			overQuota: true,
		},
		{
			name:      "undelivered packages are skipped, never deleted",
			delivered: map[int]time.Duration{1: time.Hour, 2: time.Hour},
			limits:    func(p, o, _ int64) limits { return limits{maxBytes: o + 3*p + p/2} },
			deleted:   []int{1, 2},
		},
		{
			name:      "the chain head is kept even when delivered",
			delivered: map[int]time.Duration{0: time.Hour, 1: time.Hour, 2: time.Hour, 3: time.Hour, 4: time.Hour},
			limits:    func(p, o, _ int64) limits { return limits{maxBytes: o + p/2} },
			deleted:   []int{0, 1, 2, 3},
			overQuota: true,
		},
		{
			name:      "scratch data goes after delivered packages, oldest first",
			delivered: map[int]time.Duration{0: time.Hour},
			scratch:   3,
			limits:    func(p, o, s int64) limits { return limits{maxBytes: o + n*p + 3*s - p - s/2} },
			deleted:   []int{0},
			scratchN:  1,
		},
		{
			name:      "scratch data deleted, undelivered evidence still kept: alarm",
			scratch:   2,
			limits:    func(p, o, s int64) limits { return limits{maxBytes: o + 2*p} },
			scratchN:  2,
			overQuota: true,
		},
		{
			name:      "low disk: delivered deleted until above the floor",
			delivered: map[int]time.Duration{0: time.Hour, 1: time.Hour},
			limits:    func(p, _, _ int64) limits { return limits{floor: 1 << 30, free: 1<<30 - uint64(p/2)} },
			deleted:   []int{0},
		},
		{
			name:    "low disk with nothing deletable: alarm",
			limits:  func(p, _, _ int64) limits { return limits{floor: 1 << 30, free: 1 << 20} },
			lowDisk: true,
		},
		{
			name:      "retention prunes delivered copies past their time",
			delivered: map[int]time.Duration{0: 48 * time.Hour, 1: 48 * time.Hour, 2: time.Hour},
			limits:    func(_, _, _ int64) limits { return limits{retention: 24 * time.Hour} },
			deleted:   []int{0, 1},
			expired:   2,
		},
		{
			name:      "retention never prunes past an undelivered package",
			delivered: map[int]time.Duration{1: 48 * time.Hour, 2: 48 * time.Hour},
			limits:    func(_, _, _ int64) limits { return limits{retention: 24 * time.Hour} },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.addPackages(t, n)
			for i, ago := range tc.delivered {
				f.deliver(t, i, t0.Add(-ago))
			}
			f.addScratch(t, tc.scratch, clipBytes/2)
			p, o := f.sizes(t)
			lim := tc.limits(p, o, clipBytes/2)
			free := lim.free
			if free == 0 {
				free = 1 << 40
			}
			j, err := New(Config{DataDir: f.dir, MaxBytes: lim.maxBytes, MinFreeBytes: lim.floor, Retention: lim.retention,
				ScratchDirs: []string{f.scratch}, Now: func() time.Time { return t0 },
				Statfs: func(string) (uint64, uint64, error) { return free, 1 << 41, nil }},
				f.ob, slog.New(slog.NewTextHandler(f.logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := j.Check()
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i, id := range f.ids {
				if !slices.Contains(tc.deleted, i) {
					want = append(want, id)
				}
			}
			if got := f.present(t); !slices.Equal(got, want) {
				t.Fatalf("packages left %v, want %v (report %+v)", got, want, r)
			}
			if r.Deleted+r.Expired != len(tc.deleted) || r.Expired != tc.expired || r.ScratchDeleted != tc.scratchN {
				t.Errorf("report deleted=%d expired=%d scratch=%d, want %d/%d/%d", r.Deleted, r.Expired, r.ScratchDeleted,
					len(tc.deleted)-tc.expired, tc.expired, tc.scratchN)
			}
			if r.OverQuota != tc.overQuota || r.LowDisk != tc.lowDisk {
				t.Errorf("over quota %t low disk %t, want %t %t", r.OverQuota, r.LowDisk, tc.overQuota, tc.lowDisk)
			}
			// Nothing undelivered was touched, and the report says what is pinned.
			pinned := n - len(tc.delivered)
			if r.PinnedPackages != pinned || r.Packages != n-len(tc.deleted) {
				t.Errorf("pinned %d packages %d, want %d %d", r.PinnedPackages, r.Packages, pinned, n-len(tc.deleted))
			}
			on, why := j.Alarm()
			if on != (tc.overQuota || tc.lowDisk) {
				t.Errorf("alarm %t (%q)", on, why)
			}
			if on {
				if !strings.Contains(why, fmt.Sprintf("%d undelivered infraction packages", pinned)) {
					t.Errorf("alarm reason %q does not count the kept packages", why)
				}
				if !strings.Contains(f.logs.String(), "evidence alarm raised") {
					t.Errorf("no alarm log line:\n%s", f.logs.String())
				}
			}
			// Deleted packages leave the journal; the others stay in it.
			journal, err := f.ob.Delivered()
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.delivered {
				if _, in := journal[f.ids[i]]; in == slices.Contains(tc.deleted, i) {
					t.Errorf("package %d: in journal %t after the pass", i, in)
				}
			}
			// The remaining store still verifies (no gap opened) when only a
			// prefix was deleted, and the writer goes on extending the chain.
			if len(tc.deleted) == 0 || tc.deleted[len(tc.deleted)-1] == len(tc.deleted)-1 {
				f.addPackages(t, 1)
				vr := shared.VerifyDir(f.evDir(), f.writer.PublicKey())
				if len(vr.Problems) != 0 {
					t.Errorf("evidence no longer verifies:\n%s", vr.String())
				}
			}
		})
	}
}

func TestAlarmClearsAndRunLoop(t *testing.T) {
	f := newFixture(t)
	f.addPackages(t, 4)
	p, o := f.sizes(t)
	j, err := New(Config{DataDir: f.dir, MaxBytes: o + 2*p + p/2, Interval: 20 * time.Millisecond},
		f.ob, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	waitFor(t, func() bool { on, _ := j.Alarm(); return on }, "alarm raised")
	if got := f.present(t); len(got) != 4 {
		t.Fatalf("undelivered packages deleted: %v", got)
	}
	// The uplink comes back: the two oldest are delivered, and the janitor frees them.
	f.deliver(t, 0, time.Now())
	f.deliver(t, 1, time.Now())
	waitFor(t, func() bool { on, _ := j.Alarm(); return !on }, "alarm cleared")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.present(t); !slices.Equal(got, f.ids[2:]) {
		t.Fatalf("left %v, want %v", got, f.ids[2:])
	}
	st := j.Stats()
	if st.Deleted != 2 || st.Checks < 2 || st.Last.OverQuota {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(f.logs.String(), "evidence alarm cleared") {
		t.Errorf("no log line for the cleared alarm:\n%s", f.logs.String())
	}
}

func TestEmptyDirectoriesRemoved(t *testing.T) {
	f := newFixture(t)
	f.addPackages(t, 1)
	// A second camera's package on another day, delivered.
	w2, err := evidence.NewWriter(evidence.Config{DataDir: f.dir, DeviceID: "EDGE-1",
		Now: func() time.Time { return t0.Add(-72 * time.Hour) }}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := w2.Write(evidence.Infraction{EventID: "old-one", CameraID: "CAM2", Type: "RED_LIGHT", DetectedAt: t0,
		Files: []evidence.File{{Name: "snapshot.jpg", Role: shared.RoleSnapshot, Data: []byte("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	f.ids = append(f.ids, "old-one")
	f.rels["old-one"] = evidence.PackageRel(m)
	// The old-one package is now the head; package 0 is delivered and older.
	f.deliver(t, 0, t0.Add(-48*time.Hour))
	j, err := New(Config{DataDir: f.dir, Retention: time.Hour, Now: func() time.Time { return t0 }}, f.ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := j.Check(); err != nil || r.Expired != 1 {
		t.Fatalf("check: %+v %v", r, err)
	}
	day := filepath.Join(f.evDir(), filepath.FromSlash(filepath.Dir(filepath.Dir(f.rels[f.ids[0]]))))
	if _, err := os.Stat(day); !os.IsNotExist(err) {
		t.Fatalf("emptied day directory %s still there (%v)", day, err)
	}
	if _, err := os.Stat(filepath.Join(f.evDir(), filepath.FromSlash(f.rels["old-one"]))); err != nil {
		t.Fatalf("the head package went: %v", err)
	}
}

func TestJournalRowsWithoutPackageForgotten(t *testing.T) {
	f := newFixture(t)
	f.addPackages(t, 2)
	f.deliver(t, 0, t0.Add(-2*time.Hour))
	f.deliver(t, 1, t0.Add(-time.Minute))
	for _, id := range f.ids {
		if err := os.RemoveAll(filepath.Join(f.evDir(), filepath.FromSlash(f.rels[id]))); err != nil {
			t.Fatal(err)
		}
	}
	j, err := New(Config{DataDir: f.dir, Now: func() time.Time { return t0 }}, f.ob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Check(); err != nil {
		t.Fatal(err)
	}
	journal, err := f.ob.Delivered()
	if err != nil {
		t.Fatal(err)
	}
	// The recent one stays for the grace period (its package could be in flight).
	if _, old := journal[f.ids[0]]; old || len(journal) != 1 {
		t.Fatalf("journal after the pass: %v", journal)
	}
}

func TestNewValidates(t *testing.T) {
	f := newFixture(t)
	cases := []struct {
		name string
		cfg  Config
		j    Journal
		want string
	}{
		{"no data dir", Config{}, f.ob, "data directory"},
		{"no journal", Config{DataDir: f.dir}, nil, "journal"},
		{"negative quota", Config{DataDir: f.dir, MaxBytes: -1}, f.ob, "MaxBytes"},
		{"negative retention", Config{DataDir: f.dir, Retention: -time.Hour}, f.ob, "Retention"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg, tc.j, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

// TestStatfsRealFilesystem reads the real filesystem of a temporary directory.
func TestStatfsRealFilesystem(t *testing.T) {
	free, total, err := statfs(t.TempDir())
	if err != nil || total == 0 || free > total {
		t.Fatalf("statfs: free %d total %d, %v", free, total, err)
	}
	if _, _, err := statfs(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("statfs of a missing path succeeded")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func BenchmarkCheck(b *testing.B) {
	dir := b.TempDir()
	w, err := evidence.NewWriter(evidence.Config{DataDir: dir, DeviceID: "EDGE-1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 200 {
		if _, _, err := w.Write(evidence.Infraction{EventID: fmt.Sprintf("ev-%04d", i), CameraID: "CAM1", Type: "OTHER", DetectedAt: t0,
			Files: []evidence.File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: []byte("clip")}}}); err != nil {
			b.Fatal(err)
		}
	}
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	j, err := New(Config{DataDir: dir, MaxBytes: 1 << 40}, ob, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := j.Check(); err != nil || r.Packages != 200 {
			b.Fatalf("%+v %v", r, err)
		}
	}
}
