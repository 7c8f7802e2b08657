package annotate

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func grey(w, h int) *frame.Frame {
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for i := range f.BGR {
		f.BGR[i] = 90
	}
	return f
}

func TestDrawPaintsBoxesOnTheFrame(t *testing.T) {
	f := grey(320, 240)
	v := 72.4
	r := pipeline.FrameResult{Processed: true, Active: []pipeline.Active{{TrackID: 7, Class: "car",
		Box: infer.Box{X1: 100, Y1: 100, X2: 200, Y2: 180}, SpeedKmh: &v}}}
	if err := Draw(f, r, nil); err != nil {
		t.Fatal(err)
	}
	// The box's left edge at mid-height must now differ from the background.
	b, g, rr := f.At(100, 140)
	if b == 90 && g == 90 && rr == 90 {
		t.Fatal("box edge not drawn into the frame's pixels")
	}
	// Far from any drawing the frame is untouched.
	if b, g, rr := f.At(300, 230); b != 90 || g != 90 || rr != 90 {
		t.Fatal("pixels outside the drawing changed")
	}
	padded := &frame.Frame{Width: 10, Height: 10, Stride: 40, BGR: make([]byte, 400)}
	if err := Draw(padded, r, nil); err == nil {
		t.Fatal("padded frame accepted")
	}
}

func TestWriterProducesPlayableH264(t *testing.T) {
	testenv.RequireTool(t, "ffmpeg")
	ffprobe := testenv.RequireTool(t, "ffprobe")
	path := filepath.Join(t.TempDir(), "out.mp4")
	w, err := NewWriter(path, 160, 120, 15)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		f := grey(160, 120)
		f.Seq, f.PTS = int64(i), time.Duration(i)*time.Second/15
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Write(grey(32, 32)); err == nil {
		t.Fatal("a frame of another size was accepted")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
		"stream=codec_name,nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil || strings.TrimSpace(string(out)) != "h264,20" {
		t.Fatalf("ffprobe: %q %v", out, err)
	}
}
