package motion

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
)

const parkingLotClip = "video-parkinglot-topdown-intel/car-detection.mp4"

// frameRange is an inclusive range of frame indices.
type frameRange struct{ first, last int }

// loadRanges reads a labels file of "first last" lines ('#' starts a comment).
func loadRanges(t *testing.T, path string) []frameRange {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []frameRange
	for n, line := range strings.Split(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			t.Fatalf("%s:%d: want two frame numbers, got %q", path, n+1, line)
		}
		a, err1 := strconv.Atoi(fields[0])
		b, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil || b < a {
			t.Fatalf("%s:%d: bad range %q", path, n+1, line)
		}
		out = append(out, frameRange{a, b})
	}
	return out
}

// probe returns the video's size and frame interval.
func probe(t *testing.T, path string) (w, h int, interval time.Duration) {
	t.Helper()
	ffprobe := testenv.RequireTool(t, "ffprobe")
	out, err := exec.CommandContext(testenv.Context(t, 30*time.Second), ffprobe, "-v", "error",
		"-select_streams", "v:0", "-show_entries", "stream=width,height,r_frame_rate", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var num, den int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "%d,%d,%d/%d", &w, &h, &num, &den); err != nil || num <= 0 || den <= 0 {
		t.Fatalf("ffprobe %s: cannot parse %q: %v", path, out, err)
	}
	return w, h, time.Duration(float64(time.Second) * float64(den) / float64(num))
}

// decodeClip streams every frame of path as packed BGR24 through the ffmpeg
// CLI and calls fn for each, with the frame's timestamp from its index. The
// frame's buffer is reused for the next frame.
func decodeClip(t *testing.T, path string, fn func(i int, f *frame.Frame)) int {
	t.Helper()
	ffmpeg := testenv.RequireTool(t, "ffmpeg")
	w, h, interval := probe(t, path)
	cmd := exec.CommandContext(testenv.Context(t, 2*time.Minute), ffmpeg, "-v", "error", "-nostdin",
		"-i", path, "-an", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "bgr24", "-")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg: %v", err)
	}
	r := bufio.NewReaderSize(stdout, 1<<20)
	start := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	n := 0
	for ; ; n++ {
		if _, err := io.ReadFull(r, f.BGR); err != nil {
			if err != io.EOF {
				t.Fatalf("read frame %d: %v", n, err)
			}
			break
		}
		f.Seq = int64(n)
		f.PTS = time.Duration(n) * interval
		f.Captured = start.Add(f.PTS)
		fn(n, f)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, stderr.String())
	}
	return n
}

// TestGateParkingLotClip runs the gate alone (no tracker: liveTracks is 0
// throughout, the strictest case) over the real top-down clip and checks it
// against hand-labelled car frames: every frame with a car must be processed,
// and most of the empty stretches must be skipped.
func TestGateParkingLotClip(t *testing.T) {
	clip := testenv.RequireData(t, parkingLotClip)
	cars := loadRanges(t, "testdata/parkinglot-cars.txt")
	hasCar := func(i int) bool {
		for _, r := range cars {
			if i >= r.first && i <= r.last {
				return true
			}
		}
		return false
	}
	// settled reports whether frame i is empty and far enough from every car
	// for the gate to be expected to skip it: not in the half second before a
	// car's body shows (its shadow and the first slivers come first), not in
	// the holdover after it leaves plus BackgroundTau for its trace to fade
	// from the running average, and not the first frame (warm-up).
	cfg := DefaultConfig()
	_, _, interval := probe(t, clip)
	leadFrames := int(500 * time.Millisecond / interval)
	settleFrames := int((cfg.Holdover + cfg.BackgroundTau) / interval)
	settled := func(i int) bool {
		if i == 0 || hasCar(i) {
			return false
		}
		for _, r := range cars {
			if (i >= r.first-leadFrames && i < r.first) || (i > r.last && i <= r.last+settleFrames) {
				return false
			}
		}
		return true
	}

	// Both configurations see the same decoded frames (one ffmpeg pass).
	type result struct {
		name                                          string
		strict                                        bool // assert; otherwise only report
		cfg                                           Config
		g                                             *Gate
		carFrames, carProcessed                       int
		empty, emptySkipped, settledN, settledSkipped int
		missed                                        []int
	}
	raw := cfg
	raw.NormalizeLighting = false
	runs := []*result{
		{name: "defaults", strict: true, cfg: cfg},
		{name: "lighting normalisation off (report only)", cfg: raw},
	}
	for _, r := range runs {
		g, err := NewGate(r.cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.g = g
	}
	n := decodeClip(t, clip, func(i int, f *frame.Frame) {
		for _, r := range runs {
			ok, reason := r.g.ShouldProcess(f, 0)
			switch {
			case hasCar(i):
				r.carFrames++
				if ok {
					r.carProcessed++
				} else {
					r.missed = append(r.missed, i)
				}
			default:
				r.empty++
				if !ok {
					r.emptySkipped++
				}
				if settled(i) {
					r.settledN++
					if !ok {
						r.settledSkipped++
					}
				}
			}
			if testing.Verbose() && r.strict && (hasCar(i) || ok) {
				m := r.g.Last()
				t.Logf("frame %3d car=%-5v process=%-5v %-9v changed=%4d gain=%.3f", i, hasCar(i), ok, reason, m.Changed, m.Gain)
			}
		}
	})
	if n < 300 {
		t.Fatalf("decoded only %d frames", n)
	}
	for _, r := range runs {
		t.Logf("%s: %d frames: %d with a car, %d processed (%d missed); %d empty, %d skipped (%.0f%%); "+
			"%d settled empty, %d skipped (%.0f%%); stats %+v",
			r.name, n, r.carFrames, r.carProcessed, len(r.missed), r.empty, r.emptySkipped,
			100*float64(r.emptySkipped)/float64(r.empty),
			r.settledN, r.settledSkipped, 100*float64(r.settledSkipped)/float64(r.settledN), r.g.Stats())
		if !r.strict {
			continue
		}
		if len(r.missed) > 0 {
			t.Errorf("%s: skipped %d frames holding a moving car: %v", r.name, len(r.missed), r.missed)
		}
		// In settled stretches only keep-alive frames should be processed:
		// one per KeepAlive, plus possibly one where each stretch begins.
		settledDur := time.Duration(r.settledN) * interval
		allowed := int(settledDur/r.cfg.KeepAlive) + len(cars) + 1
		if processed := r.settledN - r.settledSkipped; processed > allowed {
			t.Errorf("%s: processed %d of %d settled empty frames, want at most %d (keep-alives)",
				r.name, processed, r.settledN, allowed)
		}
	}
}
