package app

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func replayOpts(t *testing.T, video string) ReplayOptions {
	return ReplayOptions{
		Video:  video,
		Events: filepath.Join(t.TempDir(), "events.jsonl"),
		Start:  time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC),
		Detector: DetectorOptions{Model: "yolox-nano", ModelsDir: testenv.ModelsDir(), ORTLibrary: testenv.RequireORT(t),
			Provider: "cpu", Threads: 2},
		Pipeline: pipeline.DefaultConfig(),
	}
}

// TestIntegrationReplayIntersection runs the real model on the real
// intersection footage: vehicles must be detected and followed across the
// clip without an ID storm.
func TestIntegrationReplayIntersection(t *testing.T) {
	video := testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
	testenv.RequireModel(t, "yolox-nano/yolox_nano.onnx")
	opt := replayOpts(t, video)
	opt.Annotate = filepath.Join(t.TempDir(), "annotated.mp4")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sum, err := Replay(context.Background(), opt, log)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Frames != 150 {
		t.Fatalf("%d frames, the clip has 150", sum.Frames)
	}
	f, err := os.Open(opt.Events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vehicles, long int
	ids := map[int64]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Type      string    `json:"type"`
			TrackID   int64     `json:"track_id"`
			Class     string    `json:"class"`
			SpeedKmh  *float64  `json:"speed_kmh"`
			FirstSeen time.Time `json:"first_seen"`
			LastSeen  time.Time `json:"last_seen"`
			TStart    float64   `json:"t_start"`
			TEnd      float64   `json:"t_end"`
			Frames    int       `json:"frames"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if line.Type != "track" || ids[line.TrackID] || line.Frames <= 0 || line.TEnd < line.TStart || line.TEnd > 10.01 {
			t.Fatalf("bad track line: %s", sc.Text())
		}
		if line.FirstSeen.Sub(opt.Start.Add(time.Duration(line.TStart*float64(time.Second)))).Abs() > time.Millisecond {
			t.Fatalf("first_seen %s does not match start+t_start %.3f", line.FirstSeen, line.TStart)
		}
		if line.SpeedKmh != nil {
			t.Fatalf("speed without a calibration: %s", sc.Text())
		}
		ids[line.TrackID] = true
		switch line.Class {
		case "car", "bus", "truck", "motorcycle":
			vehicles++
			if line.TEnd-line.TStart >= 2 {
				long++
			}
		}
	}
	t.Logf("%d tracks (%d vehicles, %d followed for 2 s or more); %.1f fps", len(ids), vehicles, long, sum.FPS)
	// The clip shows 6-11 vehicles at a time and a few dozen over 10 s; an ID
	// storm (a new ID every few frames) would produce hundreds of tracks.
	if vehicles < 6 || long < 3 || len(ids) > 60 {
		t.Fatalf("%d tracks, %d vehicles, %d long: detection or tracking is off", len(ids), vehicles, long)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
		"stream=nb_read_frames,width,height", "-of", "csv=p=0", opt.Annotate).Output()
	if err != nil || strings.TrimSpace(string(out)) != "320,240,150" {
		t.Fatalf("annotated video: %q %v", out, err)
	}
}

func TestReplayRefusesBadInput(t *testing.T) {
	testenv.RequireORT(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.mp4")
	if err := os.WriteFile(garbage, []byte("this is not a video file at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	badCal := filepath.Join(dir, "cal.json")
	if err := os.WriteFile(badCal, []byte(`{"version":1,"homography":[[1,0],[0,1]]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name string
		edit func(*ReplayOptions)
		want string
	}{
		{"missing file", func(o *ReplayOptions) { o.Video = filepath.Join(dir, "none.mp4") }, "none.mp4"},
		{"not a video", func(o *ReplayOptions) { o.Video = garbage }, "garbage.mp4"},
		{"broken calibration", func(o *ReplayOptions) {
			o.Video = testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
			o.Calibration = badCal
		}, "calibration"},
		{"unknown model", func(o *ReplayOptions) {
			o.Video = testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
			o.Detector.Model = "yolo-v99"
		}, "unknown model"},
		{"models dir without weights", func(o *ReplayOptions) {
			o.Video = testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
			o.Detector.ModelsDir = dir
		}, "yolox-nano/yolox_nano.onnx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opt := replayOpts(t, "")
			tc.edit(&opt)
			_, err := Replay(context.Background(), opt, log)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseTiles(t *testing.T) {
	cases := map[string][2]int{"": {1, 1}, "3x2": {3, 2}, "4X4": {4, 4}}
	for in, want := range cases {
		c, r, err := ParseTiles(in)
		if err != nil || c != want[0] || r != want[1] {
			t.Errorf("ParseTiles(%q) = %d,%d,%v", in, c, r, err)
		}
	}
	for _, bad := range []string{"3", "0x2", "ax2", "3x", "17x1"} {
		if _, _, err := ParseTiles(bad); err == nil {
			t.Errorf("ParseTiles(%q) accepted", bad)
		}
	}
}
