package infer

import (
	"fmt"
	"image"
	"image/draw"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// testRT is the one ONNX Runtime of this test binary (the library allows a
// single environment per process); TestMain closes it.
var testRT *Runtime

func TestMain(m *testing.M) {
	testRT = NewRuntime(testenv.ORTLibrary(), nil)
	code := m.Run()
	if err := testRT.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close runtime:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func loadManifest(t testing.TB, name string) *modelmanifest.Manifest {
	t.Helper()
	m, err := modelmanifest.Load(filepath.Join(testenv.RepoRoot(), "models", name, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newRealDetector loads a model of ../shared/models, or skips (fails under CI)
// when the runtime or weights are missing.
func newRealDetector(t testing.TB, name string, cfg Config) *ORTDetector {
	t.Helper()
	testenv.RequireORT(t)
	m := loadManifest(t, name)
	testenv.RequireModel(t, m.Weights.File)
	if cfg.IntraOpThreads == 0 {
		cfg.IntraOpThreads = 2
	}
	d, err := New(testRT, cfg, m, testenv.ModelsDir(), nil)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return d
}

// frameFromImage converts an image to a packed BGR24 frame.
func frameFromImage(img image.Image) *frame.Frame {
	b := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	}
	w, h := b.Dx(), b.Dy()
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for y := range h {
		src := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*w]
		dst := f.BGR[y*f.Stride : y*f.Stride+3*w]
		for x := range w {
			dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x+2], src[4*x+1], src[4*x]
		}
	}
	return f
}

func loadImage(t testing.TB, path string) image.Image {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return img
}

// dogFrame returns YOLOX's dog.jpg as a frame.
func dogFrame(t testing.TB) *frame.Frame {
	t.Helper()
	return frameFromImage(loadImage(t, testenv.RequireModel(t, "yolox-nano/dog.jpg")))
}

// intersectionFrames extracts one frame every `every` seconds (up to n) of
// the intersection clip with the ffmpeg CLI.
func intersectionFrames(t testing.TB, n int, every float64) []*frame.Frame {
	t.Helper()
	video := testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
	ffmpeg := testenv.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	cmd := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-i", video,
		"-vf", fmt.Sprintf("fps=1/%g", every), "-frames:v", fmt.Sprint(n), filepath.Join(dir, "f%03d.png"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "f*.png"))
	if len(files) != n {
		t.Fatalf("ffmpeg wrote %d frames, want %d", len(files), n)
	}
	frames := make([]*frame.Frame, n)
	for i, f := range files {
		frames[i] = frameFromImage(loadImage(t, f))
		frames[i].Seq = int64(i)
	}
	return frames
}

// bestMatch returns the highest IoU of want with a detection whose label is in labels.
func bestMatch(dets []Detection, want Box, labels ...string) (float32, Detection) {
	var best float32
	var bd Detection
	for _, d := range dets {
		ok := len(labels) == 0
		for _, l := range labels {
			ok = ok || d.Label == l
		}
		if iou := d.Box.IoU(want); ok && iou > best {
			best, bd = iou, d
		}
	}
	return best, bd
}
