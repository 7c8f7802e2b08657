package infer

import (
	"errors"
	"image"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

var vehicleLabels = []string{"car", "truck", "bus", "motorcycle"}

// TestIntegrationDog runs both real models on dog.jpg (768x576): the darknet
// sample with a bicycle, a dog and a pickup truck. Reference boxes are rough
// hand-drawn outlines; a match needs IoU >= 0.5, not a particular score.
func TestIntegrationDog(t *testing.T) {
	want := []struct {
		what   string
		box    Box
		labels []string
	}{
		{"bicycle", Box{125, 125, 570, 425}, []string{"bicycle"}},
		{"dog", Box{130, 220, 310, 545}, []string{"dog"}},
		{"truck", Box{465, 75, 690, 170}, []string{"car", "truck"}},
	}
	for _, model := range []string{"yolox-nano", "nanodet-plus-m-416"} {
		t.Run(model, func(t *testing.T) {
			m := loadManifest(t, model)
			// The dog is not a kept class; keep it here to check it too.
			m.Keep = append(m.Keep, m.Keep[0])
			m.Keep[len(m.Keep)-1].Class = "dog"
			testenv.RequireORT(t)
			testenv.RequireModel(t, m.Weights.File)
			d, err := New(testRT, Config{IntraOpThreads: 2}, m, testenv.ModelsDir(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			f := dogFrame(t)
			dets, err := d.Detect(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, det := range dets {
				t.Logf("%-8s %.2f %v", det.Label, det.Score, det.Box)
			}
			for _, w := range want {
				iou, got := bestMatch(dets, w.box, w.labels...)
				if iou < 0.5 {
					t.Errorf("%s: best IoU %.2f (with %+v), want >= 0.5", w.what, iou, got)
				}
			}
			for _, det := range dets {
				if det.Box.X1 < 0 || det.Box.Y1 < 0 || det.Box.X2 > float32(f.Width) || det.Box.Y2 > float32(f.Height) {
					t.Errorf("box %v outside the %dx%d frame", det.Box, f.Width, f.Height)
				}
			}
			tm := d.LastTimings()
			t.Logf("timings: pre %v, inference %v, post %v", tm.Preprocess, tm.Inference, tm.Postprocess)
			if tm.Views != 1 || tm.Runs != 1 || tm.Inference <= 0 {
				t.Errorf("timings %+v: want 1 view, 1 run, inference > 0", tm)
			}
		})
	}
}

// TestIntegrationIntersection runs both models on frames of the real
// intersection clip: each frame shows several vehicles.
func TestIntegrationIntersection(t *testing.T) {
	frames := intersectionFrames(t, 4, 2.5)
	for _, model := range []string{"yolox-nano", "nanodet-plus-m-416"} {
		t.Run(model, func(t *testing.T) {
			d := newRealDetector(t, model, Config{})
			for _, f := range frames {
				dets, err := d.Detect(f)
				if err != nil {
					t.Fatal(err)
				}
				vehicles := 0
				for _, det := range dets {
					for _, l := range vehicleLabels {
						if det.Label == l {
							vehicles++
						}
					}
				}
				t.Logf("frame %d: %d detections, %d vehicles", f.Seq, len(dets), vehicles)
				if vehicles < 3 {
					t.Errorf("frame %d: %d vehicles, want several (>= 3)", f.Seq, vehicles)
				}
			}
		})
	}
}

// TestIntegrationROIMapsExactly checks the source mapping: detecting on an
// ROI must give the same boxes as detecting on that crop as its own frame,
// shifted by the ROI origin (the preprocessing of both is identical).
func TestIntegrationROIMapsExactly(t *testing.T) {
	full := dogFrame(t)
	roi := image.Rect(101, 37, 101+600, 37+450)
	crop := cropFrame(full, roi)
	for _, model := range []string{"yolox-nano", "nanodet-plus-m-416"} {
		t.Run(model, func(t *testing.T) {
			dROI := newRealDetector(t, model, Config{ROI: roi})
			dCrop := newRealDetector(t, model, Config{})
			a, err := dROI.Detect(full)
			if err != nil {
				t.Fatal(err)
			}
			b, err := dCrop.Detect(crop)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) == 0 || len(a) != len(b) {
				t.Fatalf("ROI run gave %d detections, crop run %d (want equal, > 0)", len(a), len(b))
			}
			for i := range a {
				shifted := b[i].Box
				shifted.X1 += float32(roi.Min.X)
				shifted.X2 += float32(roi.Min.X)
				shifted.Y1 += float32(roi.Min.Y)
				shifted.Y2 += float32(roi.Min.Y)
				if a[i].Label != b[i].Label || a[i].Score != b[i].Score || !boxNear(a[i].Box, shifted, 1e-3) {
					t.Errorf("detection %d: ROI %s %.4f %v, crop+offset %s %.4f %v",
						i, a[i].Label, a[i].Score, a[i].Box, b[i].Label, b[i].Score, shifted)
				}
				if !a[i].Box.in(roi) {
					t.Errorf("detection %d box %v leaves the ROI %v", i, a[i].Box, roi)
				}
			}
		})
	}
}

func (b Box) in(r image.Rectangle) bool {
	return b.X1 >= float32(r.Min.X) && b.Y1 >= float32(r.Min.Y) && b.X2 <= float32(r.Max.X) && b.Y2 <= float32(r.Max.Y)
}

func boxNear(a, b Box, tol float64) bool {
	return math.Abs(float64(a.X1-b.X1)) <= tol && math.Abs(float64(a.Y1-b.Y1)) <= tol &&
		math.Abs(float64(a.X2-b.X2)) <= tol && math.Abs(float64(a.Y2-b.Y2)) <= tol
}

// cropFrame copies a rectangle of f into a new frame.
func cropFrame(f *frame.Frame, r image.Rectangle) *frame.Frame {
	c := &frame.Frame{Width: r.Dx(), Height: r.Dy(), Stride: 3 * r.Dx(), BGR: make([]byte, 3*r.Dx()*r.Dy())}
	for y := range r.Dy() {
		src := f.BGR[(r.Min.Y+y)*f.Stride+3*r.Min.X:]
		copy(c.BGR[y*c.Stride:(y+1)*c.Stride], src[:c.Stride])
	}
	return c
}

// TestIntegrationTiledDetect checks that tiling finds the same vehicles as a
// plain run on a frame where they are large, with no duplicates or fragments.
func TestIntegrationTiledDetect(t *testing.T) {
	f := dogFrame(t)
	plain := newRealDetector(t, "yolox-nano", Config{})
	tiled := newRealDetector(t, "yolox-nano", Config{Tiling: Tiling{Cols: 2, Rows: 2, Overlap: 0.25, Whole: true}})
	a, err := plain.Detect(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tiled.Detect(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, det := range b {
		t.Logf("tiled: %-8s %.2f %v", det.Label, det.Score, det.Box)
	}
	if tm := tiled.LastTimings(); tm.Views != 5 || tm.Runs != 5 {
		t.Errorf("timings %+v: want 5 views in 5 runs (the model has a fixed batch of 1)", tm)
	}
	// The manifest groups car/truck/bus for NMS: a sharper tile may call the
	// pickup a truck where the plain run said car.
	sameKind := func(label string) []string {
		if slices.Contains(vehicleLabels, label) {
			return vehicleLabels
		}
		return []string{label}
	}
	for _, want := range a {
		if iou, _ := bestMatch(b, want.Box, sameKind(want.Label)...); iou < 0.7 {
			t.Errorf("tiled run lost %s %v (best IoU %.2f)", want.Label, want.Box, iou)
		}
	}
	// No object may get a second box of the same kind (from another view, or
	// a fragment cut by a tile edge).
	for i := range b {
		for j := i + 1; j < len(b); j++ {
			if slices.Contains(sameKind(b[i].Label), b[j].Label) &&
				(b[i].Box.IoU(b[j].Box) > 0.45 || containedFraction(b[j].Box, b[i].Box) > 0.8) {
				t.Errorf("duplicate boxes %s %v and %s %v", b[i].Label, b[i].Box, b[j].Label, b[j].Box)
			}
		}
	}
}

func TestIntegrationProviderUnavailable(t *testing.T) {
	for _, dev := range []string{"/dev/nvidia0", "/dev/nvhost-ctrl"} {
		if _, err := os.Stat(dev); err == nil {
			t.Skipf("GPU device %s present: this test checks the CPU-only error path", dev)
		}
	}
	testenv.RequireORT(t)
	m := loadManifest(t, "yolox-nano")
	testenv.RequireModel(t, m.Weights.File)
	for _, p := range []string{ProviderCUDA, ProviderTensorRT} {
		t.Run(p, func(t *testing.T) {
			d, err := New(testRT, Config{Provider: p}, m, testenv.ModelsDir(), nil)
			if err == nil {
				d.Close()
				t.Fatalf("provider %s accepted on a machine without a GPU", p)
			}
			if !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(err.Error(), `"`+p+`"`) ||
				!strings.Contains(err.Error(), `use provider "cpu"`) {
				t.Errorf("error %q: want ErrProviderUnavailable naming %q and the cpu fallback", err, p)
			}
		})
	}
}

func TestIntegrationBadSetup(t *testing.T) {
	testenv.RequireORT(t)
	tests := []struct {
		name      string
		modelsDir func(t *testing.T) string
		mutate    func(m *modelmanifest.Manifest)
		cfg       Config
		want      []string
	}{
		{"missing weights", func(t *testing.T) string { return t.TempDir() }, nil, Config{},
			[]string{"lacks yolox-nano/yolox_nano.onnx", "copy it from ../shared/models or set AGENT_MODELS_DIR"}},
		{"wrong sha256", modelsDir, func(m *modelmanifest.Manifest) { m.Weights.SHA256 = strings.Repeat("ab", 32) }, Config{},
			[]string{"sha256", "manifest yolox-nano@"}},
		{"wrong input name", modelsDir, func(m *modelmanifest.Manifest) { m.Input.Name = "input" }, Config{},
			[]string{`no input "input"`, "images"}},
		{"wrong input size", modelsDir, func(m *modelmanifest.Manifest) { m.Input.Shape = []int64{1, 3, 320, 320} }, Config{},
			[]string{"has shape [1 3 416 416]", "[1 3 320 320]"}},
		{"wrong class count", modelsDir, func(m *modelmanifest.Manifest) { m.Classes = m.Classes[:79] }, Config{},
			[]string{"output \"output\"", "[1 3549 84]"}},
		{"bad config", modelsDir, nil, Config{Provider: "npu", Tiling: Tiling{Cols: 2}},
			[]string{`provider "npu"`, "tiling 2x0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := loadManifest(t, "yolox-nano")
			dir := tc.modelsDir(t)
			if tc.mutate != nil {
				tc.mutate(m)
			}
			d, err := New(testRT, tc.cfg, m, dir, nil)
			if err == nil {
				d.Close()
				t.Fatal("New accepted a broken setup")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func modelsDir(t *testing.T) string {
	testenv.RequireModel(t, "yolox-nano/yolox_nano.onnx")
	return testenv.ModelsDir()
}
