package ingest

import (
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

// ffprobeFrames returns the presentation times of the video frames of a
// file, as ffprobe decodes them, relative to the first one.
func ffprobeFrames(t *testing.T, path string) []time.Duration {
	t.Helper()
	probe := testenv.RequireTool(t, "ffprobe")
	out, err := exec.Command(probe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var pts []time.Duration
	for _, line := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(line, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe line %q: %v", line, err)
		}
		pts = append(pts, time.Duration(math.Round(v*1e9)))
	}
	if len(pts) == 0 {
		t.Fatal("ffprobe found no frames")
	}
	for i := len(pts) - 1; i >= 0; i-- {
		pts[i] -= pts[0]
	}
	return pts
}

// runFile runs a file source to completion.
func runFile(t *testing.T, cfg FileConfig) (*collector, *FileSource, error) {
	t.Helper()
	src, err := NewFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = src.Run(ctx, sink)
	return sink, src, err
}

// TestFileSourceMatchesFFprobe decodes both shared clips (the parking-lot
// one has an AAC track to ignore; the intersection one is MPEG-4 Part 2)
// and compares frame count and timestamps with ffprobe's.
func TestFileSourceMatchesFFprobe(t *testing.T) {
	tests := []struct {
		name          string
		clip          string
		width, height int
	}{
		{"intersection mpeg4", intersectionClip, 320, 240},
		{"parking lot h264 with audio", "video-parkinglot-topdown-intel/car-detection.mp4", 768, 432},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := testenv.RequireData(t, tc.clip)
			want := ffprobeFrames(t, path)
			start := time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)
			sink, src, err := runFile(t, FileConfig{Path: path, Start: start})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			frames, packets, states := sink.snapshot()
			if len(frames) != len(want) {
				t.Fatalf("%d frames, ffprobe %d", len(frames), len(want))
			}
			for i, f := range frames {
				if d := f.PTS - want[i]; d < -time.Millisecond || d > time.Millisecond {
					t.Fatalf("frame %d PTS %v, ffprobe %v", i, f.PTS, want[i])
				}
				if f.Width != tc.width || f.Height != tc.height || f.Seq != int64(i) {
					t.Fatalf("frame %d: %dx%d seq %d", i, f.Width, f.Height, f.Seq)
				}
				if !f.Captured.Equal(start.Add(f.PTS)) || f.Synced {
					t.Fatalf("frame %d Captured %v synced %v, want %v unsynced", i, f.Captured, f.Synced, start.Add(f.PTS))
				}
			}
			if len(packets) != len(want) || !packets[0].Keyframe {
				t.Errorf("%d packets (first keyframe %v), want %d", len(packets), packets[0].Keyframe, len(want))
			}
			st := src.Status()
			if st.State != StateStopped || st.Frames != int64(len(want)) || st.DecodeErrors != 0 || st.LastError != "" {
				t.Errorf("status %+v", st)
			}
			if !containsSeq(states, []State{StateConnecting, StateStreaming, StateStopped}) {
				t.Errorf("states %v", states)
			}
		})
	}
}

// TestFileSourceLoop loops a clip: timestamps keep increasing across the
// wrap, spaced by the clip's frame interval.
func TestFileSourceLoop(t *testing.T) {
	path := testenv.RequireData(t, intersectionClip)
	src, err := NewFile(FileConfig{Path: path, Loop: true})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	waitFor(t, 30*time.Second, "two and a half passes", func() bool { return sink.frameCount() >= 375 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	frames, _, _ := sink.snapshot()
	const step = time.Second / 15
	for i := 1; i < len(frames); i++ {
		if d := frames[i].PTS - frames[i-1].PTS; d < step-time.Millisecond || d > step+time.Millisecond {
			t.Fatalf("frame %d: PTS step %v, want %v (across the loop too)", i, d, step)
		}
	}
}

// TestFileSourceRealtime paces a one-second clip at its own speed.
func TestFileSourceRealtime(t *testing.T) {
	ff := testenv.RequireTool(t, "ffmpeg")
	path := filepath.Join(t.TempDir(), "one-second.mp4")
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=20",
		"-t", "1", "-c:v", "libx264", "-preset", "ultrafast", path).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	tests := []struct {
		name     string
		realtime bool
		min, max time.Duration
	}{
		{"realtime", true, 900 * time.Millisecond, 3 * time.Second},
		{"as fast as possible", false, 0, 800 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			sink, _, err := runFile(t, FileConfig{Path: path, Realtime: tc.realtime})
			took := time.Since(begin)
			if err != nil {
				t.Fatal(err)
			}
			if n := sink.frameCount(); n != 20 {
				t.Fatalf("%d frames, want 20", n)
			}
			if took < tc.min || took > tc.max {
				t.Errorf("took %v, want between %v and %v", took, tc.min, tc.max)
			}
		})
	}
}

// TestFileSourceCorrupt: broken files end Run with an error naming the file.
func TestFileSourceCorrupt(t *testing.T) {
	parking, err := os.ReadFile(testenv.RequireData(t, "video-parkinglot-topdown-intel/car-detection.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 100000)
	for i := range garbage {
		garbage[i] = byte(i*7919 + i/13)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", parking[:len(parking)/2], "truncated"},
		{"garbage", garbage, "not a readable media file"},
		{"text", []byte("hello, this is not a video\n"), "not a readable media file"},
		{"empty", nil, "not a readable media file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "broken.mp4")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, src, err := runFile(t, FileConfig{Path: path})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to mention %q and the path", err, tc.want)
			}
			if st := src.Status(); st.State != StateStopped || st.LastError == "" {
				t.Errorf("status %+v", st)
			}
		})
	}
}
