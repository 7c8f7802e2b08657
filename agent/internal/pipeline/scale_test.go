package pipeline

import (
	"errors"
	"image"
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// plannedDetector finds nothing but tells its input size and views, as
// infer.ORTDetector does.
type plannedDetector struct {
	inW, inH int
	views    []image.Rectangle
	err      error
}

func (d *plannedDetector) Detect(*frame.Frame) ([]infer.Detection, error) { return nil, nil }
func (d *plannedDetector) Info() infer.Info                               { return infer.Info{InputW: d.inW, InputH: d.inH} }
func (d *plannedDetector) Views(int, int) ([]infer.View, error) {
	out := make([]infer.View, len(d.views))
	for i, r := range d.views {
		out[i].Rect = r
	}
	return out, d.err
}

type plainDetector struct{}

func (plainDetector) Detect(*frame.Frame) ([]infer.Detection, error) { return nil, nil }

func TestDetectorScale(t *testing.T) {
	for _, c := range []struct {
		name string
		det  Detector
		want float64
	}{
		{"whole 1280x720 picture into 416x416", &plannedDetector{inW: 416, inH: 416, views: []image.Rectangle{image.Rect(0, 0, 1280, 720)}}, 416.0 / 1280},
		{"tall region of interest: height limits", &plannedDetector{inW: 416, inH: 416, views: []image.Rectangle{image.Rect(100, 0, 500, 832)}}, 0.5},
		{"tiles and the whole view: the coarsest", &plannedDetector{inW: 640, inH: 640, views: []image.Rectangle{
			image.Rect(0, 0, 1000, 800), image.Rect(900, 0, 1920, 800), image.Rect(0, 0, 1920, 1080)}}, 640.0 / 1920},
		{"no views", &plannedDetector{inW: 416, inH: 416}, 0},
		{"views fail", &plannedDetector{inW: 416, inH: 416, views: []image.Rectangle{image.Rect(0, 0, 1280, 720)}, err: errors.New("bad size")}, 0},
		{"unknown input size", &plannedDetector{views: []image.Rectangle{image.Rect(0, 0, 1280, 720)}}, 0},
		{"detector that does not say", plainDetector{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := DetectorScale(c.det, 1920, 1080); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("DetectorScale = %g, want %g", got, c.want)
			}
		})
	}
}

// The speed meter learns the detector's scale on the first frame, unless
// the configuration fixed it.
func TestMeterTakesTheDetectorScale(t *testing.T) {
	cam := calibtest.Street()
	pairs := cam.Survey(calibtest.Grid([]float64{-1, 2, 5, 8}, []float64{10, 20, 30, 40, 50}), 0, 0, nil)
	cal, err := calibration.New(pairs, calibration.Options{Image: cam.Size()})
	if err != nil {
		t.Fatal(err)
	}
	det := &plannedDetector{inW: 416, inH: 416, views: []image.Rectangle{image.Rect(0, 0, cam.W, cam.H)}}
	for _, c := range []struct {
		name       string
		configured float64
		want       float64
	}{
		{"from the detector", 0, math.Min(416/float64(cam.W), 416/float64(cam.H))},
		{"configured", 0.7, 0.7},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Gate = false
			cfg.Speed.DetectorScale = c.configured
			p, err := New(cfg, det, cal, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Process(&frame.Frame{Width: cam.W, Height: cam.H, Captured: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if got := p.meter.Config().DetectorScale; math.Abs(got-c.want) > 1e-12 {
				t.Errorf("meter's DetectorScale = %g, want %g", got, c.want)
			}
		})
	}
}

func TestCutBox(t *testing.T) {
	const w, h = 1280, 720
	for _, c := range []struct {
		name string
		box  infer.Box
		cut  bool
	}{
		{"well inside", infer.Box{X1: 500, Y1: 300, X2: 650, Y2: 420}, false},
		{"on the bottom border", infer.Box{X1: 500, Y1: 600, X2: 650, Y2: 719}, true},
		// A detector boxes a vehicle the bottom border cuts a few px short of it.
		{"a tenth of its height above the bottom border", infer.Box{X1: 500, Y1: 600, X2: 650, Y2: 712}, true},
		{"more than a tenth above the bottom border", infer.Box{X1: 500, Y1: 590, X2: 650, Y2: 700}, false},
		{"small box 3 px above the bottom border", infer.Box{X1: 500, Y1: 697, X2: 520, Y2: 717}, false},
		{"small box 2 px above the bottom border", infer.Box{X1: 500, Y1: 698, X2: 520, Y2: 718}, true},
		{"near the left border", infer.Box{X1: 15, Y1: 300, X2: 215, Y2: 420}, true},
		{"clear of the left border", infer.Box{X1: 25, Y1: 300, X2: 215, Y2: 420}, false},
		{"near the right border", infer.Box{X1: 1080, Y1: 300, X2: 1265, Y2: 420}, true},
		{"top border does not matter", infer.Box{X1: 500, Y1: 0, X2: 650, Y2: 120}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := cutBox(c.box, w, h); got != c.cut {
				t.Errorf("cutBox(%v) = %v, want %v", c.box, got, c.cut)
			}
		})
	}
}
