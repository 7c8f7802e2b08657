package pipeline

import (
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// car is a synthetic vehicle driving along the road at a constant speed.
type car struct {
	lane    float64 // x, metres
	y0      float64 // y at t=0, metres
	kmh     float64 // signed: positive drives away from the camera
	enterAt float64 // seconds
}

func (c car) ground(t float64) (calibration.Point, bool) {
	if t < c.enterAt {
		return calibration.Point{}, false
	}
	return calibration.Point{X: c.lane, Y: c.y0 + c.kmh/3.6*(t-c.enterAt)}, true
}

// sceneDetector returns, for each frame, the boxes a detector would see
// (bottom-centre on the car's ground point, 1.8 m wide) with pixel noise.
type sceneDetector struct {
	cam   calibtest.Camera
	cars  []car
	t0    time.Time
	rng   *rand.Rand
	noise float64
}

func (d *sceneDetector) Detect(f *frame.Frame) ([]infer.Detection, error) {
	t := f.Captured.Sub(d.t0).Seconds()
	var out []infer.Detection
	for _, c := range d.cars {
		g, ok := c.ground(t)
		if !ok || g.Y < 8 || g.Y > 60 {
			continue
		}
		p, ok1 := d.cam.Pixel(g)
		l, ok2 := d.cam.Pixel(calibration.Point{X: g.X - 0.9, Y: g.Y})
		r, ok3 := d.cam.Pixel(calibration.Point{X: g.X + 0.9, Y: g.Y})
		if !ok1 || !ok2 || !ok3 || !d.cam.InImage(p) {
			continue
		}
		w := math.Hypot(r.X-l.X, r.Y-l.Y)
		h := 0.8 * w
		cx := p.X + d.rng.NormFloat64()*d.noise
		by := p.Y + d.rng.NormFloat64()*d.noise
		out = append(out, infer.Detection{Box: infer.Box{X1: float32(cx - w/2), Y1: float32(by - h), X2: float32(cx + w/2), Y2: float32(by)},
			Score: 0.85, Class: 2, Label: "car"})
	}
	return out, nil
}

func TestSpeedsOfSyntheticTraffic(t *testing.T) {
	cam := calibtest.Street()
	pairs := cam.Survey(calibtest.Grid([]float64{-1, 2, 5, 8}, []float64{10, 20, 30, 40, 50}), 0.5, 0.01, rand.New(rand.NewPCG(1, 2)))
	cal, err := calibration.New(pairs, calibration.Options{DeviceID: "CAM-T", Image: cam.Size()})
	if err != nil {
		t.Fatal(err)
	}
	cars := []car{
		{lane: 1.75, y0: 9, kmh: 20, enterAt: 0},
		{lane: 5.25, y0: 9, kmh: 57, enterAt: 0.5},
		{lane: 1.75, y0: 9, kmh: 88, enterAt: 4.0},
		{lane: 5.25, y0: 59, kmh: -120, enterAt: 5.0},
		{lane: 1.75, y0: 59, kmh: -45, enterAt: 7.5},
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	det := &sceneDetector{cam: cam, cars: cars, t0: t0, rng: rand.New(rand.NewPCG(3, 4)), noise: 1.0}
	cfg := DefaultConfig()
	cfg.Gate = false // synthetic frames carry no pixels
	p, err := New(cfg, det, cal, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	jit := rand.New(rand.NewPCG(5, 6))
	var results []TrackResult
	for i := range 15 * 14 {
		// 15 fps with ±8 ms capture jitter: speeds must use the real times.
		ts := float64(i)/15 + (jit.Float64()-0.5)*0.016
		f := &frame.Frame{Seq: int64(i), Width: cam.W, Height: cam.H, PTS: time.Duration(ts * float64(time.Second)),
			Captured: t0.Add(time.Duration(ts * float64(time.Second)))}
		r, err := p.Process(f)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r.Ended...)
	}
	flushed, _ := p.Flush()
	results = append(results, flushed...)
	if len(results) != len(cars) {
		for _, r := range results {
			t.Logf("track %d frames %d %.2f-%.2f", r.TrackID, r.Frames, r.TStart, r.TEnd)
		}
		t.Fatalf("%d tracks for %d cars: ID switches or storms", len(results), len(cars))
	}
	for _, r := range results {
		if r.SpeedKmh == nil {
			t.Fatalf("track %d has no speed: %s", r.TrackID, r.SpeedNote)
		}
		// Match to the car whose speed magnitude is closest.
		best := math.Inf(1)
		for _, c := range cars {
			best = math.Min(best, math.Abs(*r.SpeedKmh-math.Abs(c.kmh)))
		}
		t.Logf("track %d: %.2f ± %.2f km/h (error %.2f) over %.1f m, %d frames", r.TrackID, *r.SpeedKmh, *r.SpeedUncertaintyKmh, best, r.DistanceM, r.Frames)
		if best > 2 {
			t.Errorf("track %d: %.2f km/h is %.2f km/h from every true speed", r.TrackID, *r.SpeedKmh, best)
		}
		if *r.SpeedUncertaintyKmh <= 0 || *r.SpeedUncertaintyKmh > 5 {
			t.Errorf("track %d: implausible uncertainty %.2f", r.TrackID, *r.SpeedUncertaintyKmh)
		}
	}
}

func TestNoCalibrationMeansNoSpeed(t *testing.T) {
	cam := calibtest.Street()
	t0 := time.Now()
	det := &sceneDetector{cam: cam, cars: []car{{lane: 1.75, y0: 10, kmh: 50}}, t0: t0, rng: rand.New(rand.NewPCG(1, 1))}
	cfg := DefaultConfig()
	cfg.Gate = false
	p, err := New(cfg, det, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := p.Process(&frame.Frame{Seq: int64(i), Width: cam.W, Height: cam.H, Captured: t0.Add(time.Duration(i) * 66 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := p.Flush()
	if len(res) != 1 || res[0].SpeedKmh != nil || res[0].SpeedNote != "no calibration" || res[0].Frames != 30 {
		t.Fatalf("got %+v", res)
	}
}

func BenchmarkProcessTracking(b *testing.B) {
	cam := calibtest.Street()
	pairs := cam.Survey(calibtest.Grid([]float64{-1, 2, 5, 8}, []float64{10, 20, 30, 40, 50}), 0, 0, nil)
	cal, err := calibration.New(pairs, calibration.Options{Image: cam.Size()})
	if err != nil {
		b.Fatal(err)
	}
	var cars []car
	for i := range 12 {
		cars = append(cars, car{lane: 1.75 + 3.5*float64(i%2), y0: 9 + 4*float64(i), kmh: 30 + 5*float64(i)})
	}
	t0 := time.Now()
	det := &sceneDetector{cam: cam, cars: cars, t0: t0, rng: rand.New(rand.NewPCG(1, 1)), noise: 1}
	cfg := DefaultConfig()
	cfg.Gate = false
	p, err := New(cfg, det, cal, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := &frame.Frame{Seq: int64(i), Width: cam.W, Height: cam.H, Captured: t0.Add(time.Duration(i%60) * 66 * time.Millisecond)}
		if i%60 == 0 {
			p.Flush()
		}
		if _, err := p.Process(f); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// fakePlates reads a fixed plate, with one misread, and counts its calls.
type fakePlates struct{ calls int }

func (f *fakePlates) RecognizeVehicle(_ *frame.Frame, _ infer.Box) ([]plate.Result, error) {
	f.calls++
	text := "ABC-123"
	if f.calls == 2 {
		text = "A8C-123"
	}
	return []plate.Result{{Read: plate.Read{Text: text, Confidence: 0.9, Readable: true}}}, nil
}

func TestPlatesAreReadUntilReadsAgree(t *testing.T) {
	cam := calibtest.Street()
	t0 := time.Now()
	det := &sceneDetector{cam: cam, cars: []car{{lane: 1.75, y0: 9, kmh: 30}}, t0: t0, rng: rand.New(rand.NewPCG(1, 1))}
	cfg := DefaultConfig()
	cfg.Gate = false
	p, err := New(cfg, det, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	fp := &fakePlates{}
	p.SetPlateReader(fp)
	for i := range 60 {
		if _, err := p.Process(&frame.Frame{Seq: int64(i), Width: cam.W, Height: cam.H, Captured: t0.Add(time.Duration(i) * 66 * time.Millisecond)}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := p.Flush()
	if len(res) != 1 || res[0].Plate != "ABC-123" || res[0].PlateConfidence < 0.7 {
		t.Fatalf("got %+v", res)
	}
	// Three agreeing reads settle the plate (the misread needs a fourth): no more calls after that.
	if fp.calls != 4 || res[0].PlateReads != 4 {
		t.Fatalf("%d plate reads, want 4 (stop once 3 agree)", fp.calls)
	}
}
