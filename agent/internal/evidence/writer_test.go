package evidence

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestWriter(t *testing.T, dataDir string) *Writer {
	t.Helper()
	w, err := NewWriter(Config{DataDir: dataDir, DeviceID: "edge-1", AgentVersion: "test"}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func infraction(id string) Infraction {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	return Infraction{EventID: id, CameraID: "CAM001", Type: "SPEED_VIOLATION", DetectedAt: at,
		Files: []File{
			{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: []byte("clip of " + id)},
			{Name: "plate.jpg", Role: shared.RolePlateCrop, Data: []byte("plate of " + id)},
		},
		Clock: shared.Clock{Synced: true, Source: shared.ClockRTCPNTP},
		Clip: &shared.ClipWindow{RequestedBeforeMS: 10000, RequestedAfterMS: 5000,
			Start: at.Add(-10 * time.Second), End: at.Add(5 * time.Second)}}
}

func mustWrite(t *testing.T, w *Writer, id string) *shared.Manifest {
	t.Helper()
	m, hash, err := w.Write(infraction(id))
	if err != nil {
		t.Fatal(err)
	}
	if hash != shared.Hash(m) {
		t.Fatal("returned hash is not the manifest's hash")
	}
	return m
}

func mustVerify(t *testing.T, w *Writer, packages int) {
	t.Helper()
	r := shared.VerifyDir(w.Dir(), w.PublicKey())
	if !r.OK() || len(r.Packages) != packages {
		t.Fatalf("want %d intact packages, got %d:\n%s", packages, len(r.Packages), r.String())
	}
}

func TestWriteChainsAndVerifies(t *testing.T) {
	d := t.TempDir()
	src := filepath.Join(t.TempDir(), "snap.jpg")
	if err := os.WriteFile(src, []byte("jpeg bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, d)
	m1 := mustWrite(t, w, "ev1")
	in := infraction("ev2")
	in.Files = append(in.Files, File{Name: "snap.jpg", Role: shared.RoleSnapshot, Path: src})
	m2, _, err := w.Write(in)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		got, want any
	}{
		{"first sequence", m1.Sequence, uint64(1)},
		{"first prev hash", m1.PrevHash, shared.ZeroHash},
		{"second sequence", m2.Sequence, uint64(2)},
		{"second links first", m2.PrevHash, shared.Hash(m1)},
		{"copied file size", m2.Files[2].Size, int64(len("jpeg bytes"))},
		{"content type guessed", m2.Files[2].ContentType, "image/jpeg"},
		{"device", m2.DeviceID, "edge-1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	day := time.Now().UTC().Format("2006/01/02")
	if _, err := os.Stat(filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", "ev2", "snap.jpg")); err != nil {
		t.Fatalf("package not at the documented path: %v", err)
	}
	mustVerify(t, w, 2)
}

func TestWriteRejects(t *testing.T) {
	w := newTestWriter(t, t.TempDir())
	mustWrite(t, w, "dup")
	cases := []struct {
		name   string
		mutate func(in *Infraction)
		want   string
	}{
		{"duplicate event", func(in *Infraction) { in.EventID = "dup" }, "already has a package"},
		{"event with slash", func(in *Infraction) { in.EventID = "a/b" }, "event id"},
		{"camera dot dot", func(in *Infraction) { in.CameraID = ".." }, "camera id"},
		{"file without content", func(in *Infraction) { in.Files[0].Data = nil }, "neither a path nor data"},
		{"file name path", func(in *Infraction) { in.Files[0].Name = "../x" }, "not allowed"},
		{"manifest name", func(in *Infraction) { in.Files[0].Name = shared.ManifestFile }, "not allowed"},
		{"same name twice", func(in *Infraction) { in.Files[1].Name = in.Files[0].Name }, "given twice"},
		{"missing source", func(in *Infraction) {
			in.Files[0] = File{Name: "a.mp4", Role: shared.RoleVideoClip, Path: "/nonexistent/a.mp4"}
		}, "no such file"},
		{"unknown role", func(in *Infraction) { in.Files[0].Role = "audio" }, "unknown role"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := infraction(fmt.Sprintf("bad%d", i))
			tc.mutate(&in)
			_, _, err := w.Write(in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Refused writes leave neither packages nor staging debris, and do not
	// consume sequence numbers.
	m := mustWrite(t, w, "after")
	if m.Sequence != 2 {
		t.Fatalf("sequence %d after refused writes, want 2", m.Sequence)
	}
	if ents, _ := os.ReadDir(w.stage); len(ents) != 0 {
		t.Fatalf("staging not empty: %v", ents)
	}
	mustVerify(t, w, 2)
}

// TestCrashConsistency simulates crashes at each step of Write.
func TestCrashConsistency(t *testing.T) {
	// pending rewrites chain.json as a crash between the package's rename
	// and the final chain update leaves it: head at ev2, ev3 pending.
	pending := func(t *testing.T, d string, before []byte) {
		t.Helper()
		after, err := readChain(filepath.Join(d, "evidence"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "evidence", chainFile), before, 0o640); err != nil {
			t.Fatal(err)
		}
		st, err := readChain(filepath.Join(d, "evidence"))
		if err != nil {
			t.Fatal(err)
		}
		st.Pending["edge-1"] = after.Devices["edge-1"]
		if err := writeChain(filepath.Join(d, "evidence"), st); err != nil {
			t.Fatal(err)
		}
	}
	day := time.Now().UTC().Format("2006/01/02")
	cases := []struct {
		name    string
		crash   func(t *testing.T, d string, before []byte)
		restart bool
		want    uint64 // sequence of the next package
	}{
		{"package in place, chain update pending; same process", pending, false, 4},
		{"package in place, chain update pending; restart", pending, true, 4},
		{"chain update pending, package never moved in; same process", func(t *testing.T, d string, before []byte) {
			pending(t, d, before)
			if err := os.RemoveAll(filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", "ev3")); err != nil {
				t.Fatal(err)
			}
		}, false, 3},
		{"package in place, chain.json one behind (restored backup); restart", func(t *testing.T, d string, before []byte) {
			if err := os.WriteFile(filepath.Join(d, "evidence", chainFile), before, 0o640); err != nil {
				t.Fatal(err)
			}
		}, true, 4},
		{"chain.json lost; restart", func(t *testing.T, d string, _ []byte) {
			if err := os.Remove(filepath.Join(d, "evidence", chainFile)); err != nil {
				t.Fatal(err)
			}
		}, true, 4},
		{"while copying files", func(t *testing.T, d string, before []byte) {
			// The third package never left staging; chain.json is unchanged.
			if err := os.WriteFile(filepath.Join(d, "evidence", chainFile), before, 0o640); err != nil {
				t.Fatal(err)
			}
			pkg := filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", "ev3")
			if err := os.Rename(pkg, filepath.Join(d, "evidence.staging", "ev3")); err != nil {
				t.Fatal(err)
			}
		}, true, 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			w := newTestWriter(t, d)
			mustWrite(t, w, "ev1")
			mustWrite(t, w, "ev2")
			before, err := os.ReadFile(filepath.Join(d, "evidence", chainFile))
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, w, "ev3")
			tc.crash(t, d, before)

			w2 := w
			if tc.restart {
				w2 = newTestWriter(t, d)
			}
			m := mustWrite(t, w2, "ev4")
			r := shared.VerifyDir(w2.Dir(), w2.PublicKey())
			if !r.OK() {
				t.Fatalf("chain corrupted by the crash:\n%s", r.String())
			}
			if m.Sequence != tc.want || uint64(len(r.Packages)) != tc.want {
				t.Fatalf("next sequence %d with %d packages, want %d", m.Sequence, len(r.Packages), tc.want)
			}
			st, _ := readChain(w2.Dir())
			if len(st.Pending) != 0 || st.Devices["edge-1"].Sequence != tc.want {
				t.Fatalf("chain state %+v after the write, want head %d and nothing pending", st, tc.want)
			}
			if ents, _ := os.ReadDir(w2.stage); len(ents) != 0 {
				t.Fatalf("staging debris survived the restart: %v", ents)
			}
		})
	}
}

func TestReconcileRefusesFork(t *testing.T) {
	d := t.TempDir()
	w := newTestWriter(t, d)
	mustWrite(t, w, "ev1")
	before, _ := os.ReadFile(filepath.Join(d, "evidence", chainFile))
	m2 := mustWrite(t, w, "ev2")
	// Rewind chain.json past a package that does not extend the head: a
	// package signed with a forged prev_hash appears on disk.
	os.WriteFile(filepath.Join(d, "evidence", chainFile), before, 0o640)
	day := time.Now().UTC().Format("2006/01/02")
	p := filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", "ev2", shared.ManifestFile)
	m2.PrevHash = strings.Repeat("ab", 32)
	if err := shared.Sign(m2, w.key); err != nil {
		t.Fatal(err)
	}
	b, _ := m2.Encode()
	os.WriteFile(p, b, 0o640)
	_, err := NewWriter(Config{DataDir: d, DeviceID: "edge-1"}, quiet())
	if err == nil || !strings.Contains(err.Error(), "does not extend the chain head") {
		t.Fatalf("error %v, want a refusal to fork the chain", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	d := t.TempDir()
	// Two writers on one data directory stand for two processes: only the
	// file lock serialises them.
	ws := []*Writer{newTestWriter(t, d), newTestWriter(t, d)}
	const each = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, w := range ws {
		for j := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := w.Write(infraction(fmt.Sprintf("w%d-%d", i, j))); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustVerify(t, ws[0], 2*each)
	st, err := readChain(ws[0].Dir())
	if err != nil || st.Devices["edge-1"].Sequence != 2*each {
		t.Fatalf("chain head %+v (err %v), want sequence %d", st.Devices["edge-1"], err, 2*each)
	}
}

// BenchmarkWrite measures one package: an 8 MB clip (15 s of 2K H.264 at
// about 4 Mbit/s) and a snapshot, hashed, fsynced and chained.
func BenchmarkWrite(b *testing.B) {
	w, err := NewWriter(Config{DataDir: b.TempDir(), DeviceID: "edge-1"}, quiet())
	if err != nil {
		b.Fatal(err)
	}
	clip := make([]byte, 8<<20)
	snap := make([]byte, 300<<10)
	b.SetBytes(int64(len(clip) + len(snap)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		in := Infraction{EventID: fmt.Sprintf("ev%d", i), CameraID: "CAM001", Type: "SPEED_VIOLATION", DetectedAt: time.Now(),
			Files: []File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: clip}, {Name: "snap.jpg", Role: shared.RoleSnapshot, Data: snap}}}
		if _, _, err := w.Write(in); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRestartWithAlteredManifest: a manifest that no longer decodes must not
// stop the agent from recording evidence; verify reports it.
func TestRestartWithAlteredManifest(t *testing.T) {
	cases := []struct {
		name      string
		loseChain bool
		want      uint64   // next sequence
		problems  []string // what verify reports afterwards
	}{
		// chain.json still knows ev2's hash: the chain goes on from it, and
		// verify sees the damaged manifest and therefore a gap.
		{"chain state intact", false, 3, []string{shared.ProblemManifest, shared.ProblemChainGap}},
		// Nothing records ev2 any more: the chain can only go on from ev1.
		{"chain state lost too", true, 2, []string{shared.ProblemManifest}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			w := newTestWriter(t, d)
			mustWrite(t, w, "ev1")
			m2 := mustWrite(t, w, "ev2")
			if tc.loseChain {
				os.Remove(filepath.Join(d, "evidence", chainFile))
			}
			day := time.Now().UTC().Format("2006/01/02")
			p := filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", "ev2", shared.ManifestFile)
			if err := os.WriteFile(p, []byte("{"), 0o640); err != nil {
				t.Fatal(err)
			}
			w2 := newTestWriter(t, d)
			m := mustWrite(t, w2, "ev3")
			if m.Sequence != tc.want {
				t.Fatalf("sequence %d, want %d", m.Sequence, tc.want)
			}
			if tc.want == 3 && m.PrevHash != shared.Hash(m2) {
				t.Fatal("the chain did not continue from the recorded hash")
			}
			r := shared.VerifyDir(w2.Dir(), w2.PublicKey())
			var kinds []string
			for _, p := range r.Problems {
				kinds = append(kinds, p.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tc.problems, ",") {
				t.Fatalf("problems %v, want %v:\n%s", kinds, tc.problems, r.String())
			}
		})
	}
}

// TestDeps keeps the writer light: no stream, codec or cgo packages (those
// live in subpackage clip).
func TestDeps(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/vigia-pe/vigia/agent/internal/evidence", "github.com/vigia-pe/vigia/shared/evidence":
		default:
			t.Errorf("agent/internal/evidence depends on %s", p)
		}
	}
}
