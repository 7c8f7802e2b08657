package outbox

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigia-pe/vigia/shared/event"
)

// Child-process modes, selected by helperEnv when the test binary re-execs
// itself (see TestMain).
const (
	helperEnv  = "VIGIA_OUTBOX_HELPER"
	helperPath = "VIGIA_OUTBOX_PATH"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "put":
		os.Exit(helperPut(os.Getenv(helperPath)))
	case "hold":
		os.Exit(helperHold(os.Getenv(helperPath)))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}

// helperPut puts ev-000000, ev-000001, ... forever (re-putting the ids a
// previous run already stored), writing "put <id> <seq> <added>" to stdout
// after each Put has returned. The parent kills it with SIGKILL.
func helperPut(path string) int {
	o, err := Open(path, Config{}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := 0; i < 1_000_000; i++ {
		id := fmt.Sprintf("ev-%06d", i)
		seq, added, err := o.Put(testEntry(id, event.KindInfraction, 256))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := fmt.Fprintf(os.Stdout, "put %s %d %t\n", id, seq, added); err != nil {
			return 1
		}
	}
	return 0
}

// helperHold opens the outbox, prints "ready" and holds it until stdin closes.
func helperHold(path string) int {
	o, err := Open(path, Config{}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := o.Close(); err != nil {
		return 1
	}
	return 0
}

func helperCmd(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperPath+"="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

func testEntry(id string, kind event.Kind, payload int, files ...FileRef) Entry {
	return Entry{
		EventID:  id,
		Kind:     kind,
		Topic:    "traffic/v1/cam-01/" + string(kind),
		Payload:  bytes.Repeat([]byte{'x'}, payload),
		Evidence: files,
	}
}

func openTest(t testing.TB, path string, cfg Config) *Outbox {
	t.Helper()
	o, err := Open(path, cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = o.Close() })
	return o
}

func mustPut(t testing.TB, o *Outbox, e Entry) uint64 {
	t.Helper()
	seq, added, err := o.Put(e)
	if err != nil {
		t.Fatalf("Put %s: %v", e.EventID, err)
	}
	if !added {
		t.Fatalf("Put %s: not added", e.EventID)
	}
	return seq
}

func ids(t testing.TB, o *Outbox) []string {
	t.Helper()
	es, err := o.Pending(0)
	if err != nil {
		t.Fatalf("Pending: %v", err)
	}
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.EventID)
	}
	return out
}

func TestReopenPreservesOrderAndState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	o, err := Open(path, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kinds := []event.Kind{event.KindInfraction, event.KindStatus, event.KindMetrics}
	var want []string
	seqs := map[string]uint64{}
	for i := 0; i < 30; i++ {
		id := fmt.Sprintf("id-%02d", i)
		seqs[id] = mustPut(t, o, testEntry(id, kinds[i%3], 10+i))
		want = append(want, id)
	}
	// Remove two from the middle and the last one.
	for _, id := range []string{"id-05", "id-17", "id-29"} {
		if err := o.MarkPublished(seqs[id]); err != nil {
			t.Fatal(err)
		}
		if err := o.Done(seqs[id]); err != nil {
			t.Fatal(err)
		}
	}
	want = append(append(append([]string{}, want[:5]...), want[6:17]...), want[18:29]...)
	if err := o.RecordAttempt(seqs["id-03"], errors.New("broker unreachable")); err != nil {
		t.Fatal(err)
	}
	if err := o.MarkPublished(seqs["id-04"]); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Put(testEntry("late", event.KindStatus, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v, want ErrClosed", err)
	}

	o = openTest(t, path, Config{})
	got := ids(t, o)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %v\nwant %v", got, want)
	}
	es, _ := o.Pending(0)
	for i := 1; i < len(es); i++ {
		if es[i].Seq <= es[i-1].Seq {
			t.Fatalf("seq not increasing at %d: %d after %d", i, es[i].Seq, es[i-1].Seq)
		}
	}
	e3, err := o.Get(seqs["id-03"])
	if err != nil || e3.Attempts != 1 || e3.LastError != "broker unreachable" {
		t.Errorf("id-03 = %+v, %v; want 1 attempt with its error", e3, err)
	}
	if e4, _ := o.Get(seqs["id-04"]); !e4.Published {
		t.Errorf("id-04 lost its published flag")
	}
	first, err := o.Pending(4)
	if err != nil || len(first) != 4 || first[0].EventID != "id-00" || first[3].EventID != "id-03" {
		t.Errorf("Pending(4) = %d entries, %v", len(first), err)
	}
	// A sequence is never reused, even for deleted tail entries.
	if seq := mustPut(t, o, testEntry("after", event.KindStatus, 1)); seq <= seqs["id-29"] {
		t.Errorf("new seq %d reuses a sequence <= %d", seq, seqs["id-29"])
	}
}

func TestPutIdempotent(t *testing.T) {
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{})
	seq := mustPut(t, o, testEntry("dup", event.KindInfraction, 5))
	mustPut(t, o, testEntry("other", event.KindStatus, 5))

	tests := []struct {
		name string
		e    Entry
	}{
		{"same entry", testEntry("dup", event.KindInfraction, 5)},
		{"same id different payload", testEntry("dup", event.KindInfraction, 99)},
		{"same id different kind", testEntry("dup", event.KindMetrics, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, added, err := o.Put(tc.e)
			if err != nil || added || got != seq {
				t.Fatalf("Put = %d, %t, %v; want %d, false, nil", got, added, err, seq)
			}
			st, _ := o.Stats()
			if st.Entries != 2 || st.Bytes != 10 {
				t.Errorf("stats %+v, want 2 entries / 10 bytes", st)
			}
			e, _ := o.Get(seq)
			if len(e.Payload) != 5 || e.Kind != event.KindInfraction {
				t.Errorf("stored entry changed: %d bytes, kind %s", len(e.Payload), e.Kind)
			}
		})
	}
}

func TestPutValidation(t *testing.T) {
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{})
	tests := []struct {
		name string
		e    Entry
	}{
		{"empty id", testEntry("", event.KindStatus, 1)},
		{"empty kind", testEntry("a", "", 1)},
		{"droppable infraction", func() Entry {
			e := testEntry("b", event.KindInfraction, 1)
			e.Priority = PriorityDroppable
			return e
		}()},
		{"unknown priority", func() Entry { e := testEntry("c", event.KindStatus, 1); e.Priority = 7; return e }()},
		{"repeated evidence key", testEntry("d", event.KindInfraction, 1, FileRef{Key: "k"}, FileRef{Key: "k"})},
		{"empty evidence key", testEntry("e", event.KindInfraction, 1, FileRef{Path: "/x"})},
		{"negative size", testEntry("f", event.KindInfraction, 1, FileRef{Key: "k", Size: -1})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := o.Put(tc.e); err == nil {
				t.Fatal("Put accepted an invalid entry")
			}
		})
	}
	if got := ids(t, o); len(got) != 0 {
		t.Errorf("invalid entries stored: %v", got)
	}
}

func TestDoneRequiresPublishedAndUploaded(t *testing.T) {
	files := []FileRef{
		{Key: "ev/a.jpg", Path: "/data/a.jpg", SHA256: "aa", Size: 100},
		{Key: "ev/b.mp4", Path: "/data/b.mp4", SHA256: "bb", Size: 200},
	}
	tests := []struct {
		name      string
		files     []FileRef
		published bool
		uploaded  []string
		wantErr   error
	}{
		{"nothing marked", files, false, nil, ErrNotReady},
		{"published only", files, true, nil, ErrNotReady},
		{"uploaded only", files, false, []string{"ev/a.jpg", "ev/b.mp4"}, ErrNotReady},
		{"one file missing", files, true, []string{"ev/b.mp4"}, ErrNotReady},
		{"uploaded twice one missing", files, true, []string{"ev/a.jpg", "ev/a.jpg"}, ErrNotReady},
		{"all done", files, true, []string{"ev/b.mp4", "ev/a.jpg"}, nil},
		{"no evidence not published", nil, false, nil, ErrNotReady},
		{"no evidence published", nil, true, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{})
			seq := mustPut(t, o, testEntry("ev-1", event.KindInfraction, 50, tc.files...))
			for _, k := range tc.uploaded {
				if err := o.MarkUploaded(seq, k); err != nil {
					t.Fatalf("MarkUploaded %s: %v", k, err)
				}
			}
			if tc.published {
				if err := o.MarkPublished(seq); err != nil {
					t.Fatal(err)
				}
			}
			err := o.Done(seq)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Done = %v, want %v", err, tc.wantErr)
			}
			_, getErr := o.Get(seq)
			st, _ := o.Stats()
			if tc.wantErr != nil {
				if getErr != nil || st.Entries != 1 || st.Bytes != 50+sizeOf(tc.files) {
					t.Errorf("refused Done changed the outbox: get %v, stats %+v", getErr, st)
				}
				return
			}
			if !errors.Is(getErr, ErrNotFound) || st.Entries != 0 || st.Bytes != 0 {
				t.Errorf("after Done: get %v, stats %+v", getErr, st)
			}
			if err := o.Done(seq); !errors.Is(err, ErrNotFound) {
				t.Errorf("second Done = %v, want ErrNotFound", err)
			}
			// The id is free again once the entry is gone.
			if _, added, err := o.Put(testEntry("ev-1", event.KindInfraction, 1)); err != nil || !added {
				t.Errorf("re-Put after Done = %t, %v", added, err)
			}
		})
	}
}

func sizeOf(fs []FileRef) int64 {
	var n int64
	for _, f := range fs {
		n += f.Size
	}
	return n
}

func TestMarkErrors(t *testing.T) {
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{})
	seq := mustPut(t, o, testEntry("a", event.KindInfraction, 1, FileRef{Key: "k", Size: 1}))
	tests := []struct {
		name string
		fn   func() error
	}{
		{"unknown evidence key", func() error { return o.MarkUploaded(seq, "nope") }},
		{"upload unknown seq", func() error { return o.MarkUploaded(seq+100, "k") }},
		{"publish unknown seq", func() error { return o.MarkPublished(seq + 100) }},
		{"attempt unknown seq", func() error { return o.RecordAttempt(seq+100, nil) }},
		{"done unknown seq", func() error { return o.Done(seq + 100) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.fn(); !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	type put struct {
		id      string
		kind    event.Kind
		payload int
		files   []FileRef
		wantErr error
	}
	tests := []struct {
		name        string
		max         int64
		puts        []put
		wantIDs     []string
		wantDropped map[event.Kind]uint64
		wantAlarm   bool
		wantOverPut uint64
	}{
		{
			name:        "under quota keeps all",
			max:         1000,
			puts:        []put{{"s1", event.KindStatus, 300, nil, nil}, {"m1", event.KindMetrics, 300, nil, nil}, {"i1", event.KindInfraction, 400, nil, nil}},
			wantIDs:     []string{"s1", "m1", "i1"},
			wantDropped: map[event.Kind]uint64{},
		},
		{
			name: "drops oldest droppable first",
			max:  1000,
			puts: []put{
				{"s1", event.KindStatus, 300, nil, nil}, {"i1", event.KindInfraction, 300, nil, nil},
				{"m1", event.KindMetrics, 300, nil, nil}, {"i2", event.KindInfraction, 300, nil, nil},
			},
			wantIDs:     []string{"i1", "m1", "i2"},
			wantDropped: map[event.Kind]uint64{event.KindStatus: 1},
		},
		{
			name: "drops as many as needed and no more",
			max:  1000,
			puts: []put{
				{"s1", event.KindStatus, 200, nil, nil}, {"m1", event.KindMetrics, 200, nil, nil},
				{"s2", event.KindStatus, 200, nil, nil}, {"i1", event.KindInfraction, 300, nil, nil},
				{"i2", event.KindInfraction, 500, nil, nil},
			},
			wantIDs:     []string{"s2", "i1", "i2"},
			wantDropped: map[event.Kind]uint64{event.KindStatus: 1, event.KindMetrics: 1},
		},
		{
			name: "evidence sizes count against the quota",
			max:  1000,
			puts: []put{
				{"d1", KindDebug, 150, nil, nil}, {"s1", event.KindStatus, 100, nil, nil},
				{"i1", event.KindInfraction, 100, []FileRef{{Key: "a", Size: 700}}, nil},
			},
			wantIDs:     []string{"s1", "i1"},
			wantDropped: map[event.Kind]uint64{KindDebug: 1},
		},
		{
			name: "only infractions left: accepted over quota with alarm",
			max:  1000,
			puts: []put{
				{"s1", event.KindStatus, 100, nil, nil}, {"i1", event.KindInfraction, 600, nil, nil},
				{"i2", event.KindInfraction, 600, nil, nil},
			},
			wantIDs:     []string{"i1", "i2"},
			wantDropped: map[event.Kind]uint64{event.KindStatus: 1},
			wantAlarm:   true,
			wantOverPut: 1,
		},
		{
			name: "droppable that cannot fit is refused, nothing else dropped",
			max:  1000,
			puts: []put{
				{"m1", event.KindMetrics, 100, nil, nil}, {"i1", event.KindInfraction, 800, nil, nil},
				{"s1", event.KindStatus, 300, nil, ErrDropped},
			},
			wantIDs:     []string{"m1", "i1"},
			wantDropped: map[event.Kind]uint64{event.KindStatus: 1},
		},
		{
			name:        "no quota",
			max:         0,
			puts:        []put{{"s1", event.KindStatus, 5000, nil, nil}, {"i1", event.KindInfraction, 5000, nil, nil}},
			wantIDs:     []string{"s1", "i1"},
			wantDropped: map[event.Kind]uint64{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db")
			o, err := Open(path, Config{MaxBytes: tc.max}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.puts {
				_, _, err := o.Put(testEntry(p.id, p.kind, p.payload, p.files...))
				if !errors.Is(err, p.wantErr) || (p.wantErr == nil) != (err == nil) {
					t.Fatalf("Put %s = %v, want %v", p.id, err, p.wantErr)
				}
			}
			check := func(o *Outbox, when string) {
				if got := ids(t, o); !reflect.DeepEqual(got, tc.wantIDs) {
					t.Errorf("%s: ids %v, want %v", when, got, tc.wantIDs)
				}
				st, err := o.Stats()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(st.Dropped, tc.wantDropped) {
					t.Errorf("%s: dropped %v, want %v", when, st.Dropped, tc.wantDropped)
				}
				if st.OverQuota != tc.wantAlarm {
					t.Errorf("%s: OverQuota %t, want %t", when, st.OverQuota, tc.wantAlarm)
				}
				alarm, msg := o.Alarm()
				if alarm != tc.wantAlarm || (msg != "") != tc.wantAlarm {
					t.Errorf("%s: Alarm() = %t, %q", when, alarm, msg)
				}
				var want int64
				es, _ := o.Pending(0)
				for _, e := range es {
					want += e.Size()
				}
				if st.Bytes != want || st.Entries != len(es) {
					t.Errorf("%s: stats bytes %d entries %d, want %d / %d", when, st.Bytes, st.Entries, want, len(es))
				}
				if tc.max > 0 && !tc.wantAlarm && st.Bytes > tc.max {
					t.Errorf("%s: %d bytes over quota %d without alarm", when, st.Bytes, tc.max)
				}
			}
			check(o, "open")
			if st, _ := o.Stats(); st.OverQuotaPuts != tc.wantOverPut {
				t.Errorf("OverQuotaPuts %d, want %d", st.OverQuotaPuts, tc.wantOverPut)
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			check(openTest(t, path, Config{MaxBytes: tc.max}), "reopened")
		})
	}
}

func TestAlarmClearsAfterDone(t *testing.T) {
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{MaxBytes: 1000})
	s1 := mustPut(t, o, testEntry("i1", event.KindInfraction, 600))
	mustPut(t, o, testEntry("i2", event.KindInfraction, 600))
	if on, msg := o.Alarm(); !on || !strings.Contains(msg, "1200") {
		t.Fatalf("Alarm = %t, %q; want on, naming 1200 bytes", on, msg)
	}
	if err := o.MarkPublished(s1); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(s1); err != nil {
		t.Fatal(err)
	}
	if on, msg := o.Alarm(); on {
		t.Fatalf("Alarm still on after Done: %q", msg)
	}
}

func TestStats(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{Now: clock})
	mustPut(t, o, testEntry("i1", event.KindInfraction, 10, FileRef{Key: "a", Size: 90}))
	now = now.Add(time.Minute)
	mustPut(t, o, testEntry("s1", event.KindStatus, 20))
	mustPut(t, o, testEntry("s2", event.KindStatus, 30))
	now = now.Add(time.Minute)
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{
		Depth:     map[event.Kind]int{event.KindInfraction: 1, event.KindStatus: 2},
		Entries:   3,
		Bytes:     150,
		OldestAge: 2 * time.Minute,
		Dropped:   map[event.Kind]uint64{},
	}
	if !reflect.DeepEqual(st, want) {
		t.Errorf("Stats =\n %+v\nwant\n %+v", st, want)
	}
}

// TestCrashKillKeepsCommittedPuts runs a child that Puts entries and is
// killed with SIGKILL mid-stream, three times over the same file; each run
// first re-puts the ids already stored (they must be no-ops).
func TestCrashKillKeepsCommittedPuts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	acked := map[string]uint64{} // id -> seq reported by a Put that returned
	var order []string
	for round, killAfter := range []int{15, 40, 25} {
		cmd := helperCmd(t, "put", path)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		newInRound, killed := 0, false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "put" {
				t.Fatalf("round %d: bad line %q", round, sc.Text())
			}
			seq, _ := strconv.ParseUint(f[2], 10, 64)
			id, added := f[1], f[3] == "true"
			if prev, ok := acked[id]; ok {
				if added || prev != seq {
					t.Errorf("round %d: %s re-put as seq %d added=%t, first stored as %d", round, id, seq, added, prev)
				}
				continue
			}
			acked[id] = seq
			order = append(order, id)
			if added {
				newInRound++
			}
			if newInRound == killAfter && !killed {
				if err := cmd.Process.Kill(); err != nil { // SIGKILL
					t.Fatal(err)
				}
				killed = true
			}
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
		}
	}

	o := openTest(t, path, Config{})
	es, err := o.Pending(0)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, e := range es {
		if seen[e.EventID] {
			t.Fatalf("%s stored twice", e.EventID)
		}
		seen[e.EventID] = true
		if i > 0 && (es[i].Seq <= es[i-1].Seq || es[i].EventID <= es[i-1].EventID) {
			t.Fatalf("order broken at %d: %s/%d after %s/%d", i, es[i].EventID, es[i].Seq, es[i-1].EventID, es[i-1].Seq)
		}
	}
	for _, id := range order {
		e, err := o.Get(acked[id])
		if err != nil || e.EventID != id {
			t.Fatalf("acknowledged %s (seq %d) missing after kill: %+v, %v", id, acked[id], e, err)
		}
	}
	// At most one Put per round may have committed without being acknowledged.
	if extra := len(es) - len(order); extra < 0 || extra > 3 {
		t.Errorf("%d stored, %d acknowledged", len(es), len(order))
	}
	t.Logf("%d entries acknowledged across 3 kills, %d stored", len(order), len(es))
}

func TestSecondProcessLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	cmd := helperCmd(t, "hold", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("child: %q, %v", line, err)
	}

	start := time.Now()
	_, err = Open(path, Config{OpenTimeout: 200 * time.Millisecond}, nil)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by another process") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open while held = %v, want ErrLocked naming %s", err, path)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %s to fail", d)
	}

	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	o, err := Open(path, Config{OpenTimeout: 200 * time.Millisecond}, nil)
	if err != nil {
		t.Fatalf("Open after release: %v", err)
	}
	_ = o.Close()
}

// validOutbox writes an outbox of n entries and returns its bytes.
func validOutbox(t *testing.T, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "valid.db")
	o, err := Open(path, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		mustPut(t, o, testEntry(fmt.Sprintf("v-%04d", i), event.KindInfraction, 900))
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorruptFilesRefusedAndUntouched(t *testing.T) {
	valid := validOutbox(t, 200)
	if len(valid) < 64<<10 {
		t.Fatalf("valid outbox only %d bytes", len(valid))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	clobber := func(off int, n int) []byte {
		b := append([]byte{}, valid...)
		for i := off; i < off+n && i < len(b); i++ {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"random bytes", random},
		{"text file", bytes.Repeat([]byte("not a bbolt file\n"), 1000)},
		{"truncated to half", valid[:len(valid)/2]},
		{"truncated below two pages", valid[:5000]},
		{"truncated to one byte", valid[:1]},
		{"both meta pages clobbered", clobber(0, 8192)},
		{"data pages clobbered", clobber(4*4096, len(valid))},
		{"foreign bbolt file", foreignBolt(t)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "outbox.db")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			o, err := Open(path, Config{OpenTimeout: time.Second}, nil)
			if err == nil {
				_ = o.Close()
				t.Fatal("Open accepted a corrupt file")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			for _, want := range []string{path, "mv ", ".corrupt-", "agent outbox inspect"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(after, tc.data) {
				t.Errorf("file changed: %d bytes before, %d after", len(tc.data), len(after))
			}
			if files, _ := os.ReadDir(dir); len(files) != 1 {
				t.Errorf("directory holds %d files, want only the original", len(files))
			}
		})
	}
}

// foreignBolt returns a valid bbolt file that some other program wrote.
func foreignBolt(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("settings"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	})
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/var/lib/vigia/outbox.db", "/var/lib/vigia/outbox.db"},
		{"/data/my outbox.db", "'/data/my outbox.db'"},
		{"/data/it's.db", `'/data/it'\''s.db'`},
		{"", "''"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := shellQuote(tc.in); got != tc.want {
				t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzDecodeEntry(f *testing.F) {
	e := testEntry("seed", event.KindInfraction, 3, FileRef{Key: "k", Size: 4, Uploaded: true})
	e.Priority = PriorityKeep
	b, _ := encodeEntry(&e)
	f.Add(b)
	f.Add([]byte(`{"event_id":"x","kind":"status","priority":1}`))
	f.Add([]byte(`{"evidence":[{"size":-1}]}`))
	f.Add([]byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		if e.Size() < 0 {
			t.Fatalf("negative size %d", e.Size())
		}
		again, err := encodeEntry(&e)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := decodeEntry(again)
		if err != nil || e2.EventID != e.EventID || e2.Size() != e.Size() || e2.Ready() != e.Ready() {
			t.Fatalf("round trip changed the entry: %+v / %+v, %v", e, e2, err)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	o := openTest(b, filepath.Join(b.TempDir(), "outbox.db"), Config{})
	e := testEntry("", event.KindInfraction, 1024, FileRef{Key: "ev/a.jpg", Size: 200 << 10})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.EventID = "bench-" + strconv.Itoa(i)
		if _, _, err := o.Put(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutDone is the full life of one entry without evidence: Put,
// MarkPublished, Done (three fsync'd commits).
func BenchmarkPutDone(b *testing.B) {
	o := openTest(b, filepath.Join(b.TempDir(), "outbox.db"), Config{})
	e := testEntry("", event.KindInfraction, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e.EventID = "bench-" + strconv.Itoa(i)
		seq, _, err := o.Put(e)
		if err != nil {
			b.Fatal(err)
		}
		if err := o.MarkPublished(seq); err != nil {
			b.Fatal(err)
		}
		if err := o.Done(seq); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPending(b *testing.B) {
	o := openTest(b, filepath.Join(b.TempDir(), "outbox.db"), Config{})
	for i := 0; i < 1000; i++ {
		mustPut(b, o, testEntry(fmt.Sprintf("p-%04d", i), event.KindInfraction, 1024, FileRef{Key: "ev/a.jpg", Size: 1 << 20}))
	}
	for _, limit := range []int{100, 1000} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				es, err := o.Pending(limit)
				if err != nil || len(es) != limit {
					b.Fatalf("%d entries, %v", len(es), err)
				}
			}
		})
	}
}

func TestConcurrentPuts(t *testing.T) {
	o := openTest(t, filepath.Join(t.TempDir(), "outbox.db"), Config{})
	const workers, each = 4, 25
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < each; i++ {
				id := fmt.Sprintf("w%d-%02d", w, i)
				seq, _, err := o.Put(testEntry(id, event.KindMetrics, 10))
				if err == nil {
					err = o.MarkPublished(seq)
				}
				if err == nil && i%2 == 0 {
					err = o.Done(seq)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st, err := o.Stats()
	if err != nil {
		t.Fatal(err)
	}
	es, _ := o.Pending(0)
	want := workers * (each / 2)
	if st.Entries != want || len(es) != want || st.Bytes != int64(10*want) {
		t.Errorf("stats %+v, %d pending; want %d entries", st, len(es), want)
	}
}

// BenchmarkOpen measures Open (read-only validation with tx.Check, then the
// read-write open and accounting scan) of a 5,000-entry outbox.
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "outbox.db")
	o, err := Open(path, Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	err = o.db.Update(func(tx *bolt.Tx) error { // one commit: fast setup
		for i := 0; i < 5000; i++ {
			e := testEntry(fmt.Sprintf("o-%05d", i), event.KindInfraction, 1024)
			e.Priority, e.Seq = PriorityKeep, uint64(i+1)
			v, err := encodeEntry(&e)
			if err != nil {
				return err
			}
			k := seqKey(e.Seq)
			for _, kv := range [][3][]byte{
				{[]byte(bucketEntries), k, v}, {[]byte(bucketPayloads), k, e.Payload}, {[]byte(bucketIDs), []byte(e.EventID), k},
			} {
				if err := tx.Bucket(kv[0]).Put(kv[1], kv[2]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := o.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		o, err := Open(path, Config{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if st, _ := o.Stats(); st.Entries != 5000 {
			b.Fatalf("%d entries", st.Entries)
		}
		_ = o.Close()
	}
}
