package speed_test

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/speed"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// view is a synthetic camera with the stretch of road its vehicles cross.
type view struct {
	name   string
	cam    calibtest.Camera
	y0, y1 float64 // road section, metres along y
}

func views() []view {
	return []view{
		{"street pole", calibtest.Street(), 11, 45},
		{"overhead gantry", calibtest.Camera{X: 3.5, Y: 0, Height: 7, PitchDeg: 35, Focal: 1200, W: 1920, H: 1080}, 6, 30},
		{"oblique corner", calibtest.Camera{X: -8, Y: -5, Height: 9, YawDeg: 25, PitchDeg: 22, RollDeg: -2, Focal: 1100, W: 1280, H: 720}, 12, 40},
		{"looking back, 2K", calibtest.Camera{X: 2, Y: 70, Height: 6, YawDeg: 183, PitchDeg: 13, Focal: 2000, W: 2560, H: 1440}, 25, 58},
	}
}

// survey calibrates a view from noisy marks, as a technician would.
func survey(t testing.TB, v view, seed uint64) *calibration.Calibration {
	t.Helper()
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{v.y0 - 3, v.y0 + 4, (v.y0 + v.y1) / 2, v.y1 - 4, v.y1 + 3})
	rng := rand.New(rand.NewPCG(seed, 99))
	pairs := v.cam.Survey(marks, 0.5, 0.02, rng)
	c, err := calibration.New(pairs, calibration.Options{Image: v.cam.Size(), Solve: calibration.SolveOptions{InlierThresholdM: 0.5}})
	if err != nil {
		t.Fatalf("%s: calibration: %v", v.name, err)
	}
	return c
}

// drive simulates one vehicle crossing the view at kmh along lane x (with a
// slow lateral drift), observed by a detector with pixelSigma jitter and a
// few gross errors, at an irregular frame rate with dropped frames and
// jittered timestamps. It returns the samples and the true speed.
func drive(v view, kmh, laneX float64, approach bool, rng *rand.Rand) ([]speed.Sample, float64) {
	const (
		pixelSigma = 1.5
		timeSigma  = 2 * time.Millisecond
	)
	vy := kmh / 3.6
	vx := 0.15 * (rng.Float64() - 0.5) // lane drift, m/s
	y, dir := v.y0, 1.0
	if approach {
		y, dir = v.y1, -1
	}
	start := time.Date(2025, 11, 20, 8, 0, 0, 0, time.UTC)
	var out []speed.Sample
	tt := 0.0
	for {
		g := calibration.Point{X: laneX + vx*tt, Y: y + dir*vy*tt}
		if g.Y < v.y0 || g.Y > v.y1 {
			break
		}
		p, ok := v.cam.Pixel(g)
		if ok && v.cam.InImage(p) && rng.Float64() > 0.08 { // 8 % of frames dropped
			p.X += rng.NormFloat64() * pixelSigma
			p.Y += rng.NormFloat64() * pixelSigma
			if rng.Float64() < 0.03 { // occlusion: the box bottom jumps
				p.Y -= 15
				p.X += 6
			}
			jitter := time.Duration(rng.NormFloat64() * float64(timeSigma))
			out = append(out, speed.Sample{Pixel: p, At: start.Add(time.Duration(tt*float64(time.Second)) + jitter)})
		}
		tt += 0.040 + 0.012*(rng.Float64()-0.5) // 25 fps, ±6 ms
	}
	return out, math.Hypot(vx, vy) * 3.6
}

type tally struct {
	n, in1, in2          int
	sumAbs, maxAbs, sumS float64
}

func (a *tally) add(err, sigma float64) {
	a.n++
	a.sumAbs += math.Abs(err)
	a.maxAbs = max(a.maxAbs, math.Abs(err))
	a.sumS += sigma
	if math.Abs(err) <= sigma {
		a.in1++
	}
	if math.Abs(err) <= 2*sigma {
		a.in2++
	}
}

func (a *tally) String() string {
	return fmt.Sprintf("%d estimates: mean |error| %.2f km/h, max %.2f, mean sigma %.2f, within 1 sigma %.0f %%, within 2 sigma %.0f %%",
		a.n, a.sumAbs/float64(a.n), a.maxAbs, a.sumS/float64(a.n), 100*float64(a.in1)/float64(a.n), 100*float64(a.in2)/float64(a.n))
}

// TestSyntheticTracks drives vehicles at 20–120 km/h through several
// calibrated views and checks the accuracy and the honesty of the stated
// uncertainty, for the final estimate and the running one.
func TestSyntheticTracks(t *testing.T) {
	var final, running tally
	cfg := speed.Config{PixelSigma: 1.5, TimeSigma: 2 * time.Millisecond}
	for _, v := range views() {
		for surveySeed := range uint64(3) {
			cal := survey(t, v, surveySeed)
			meter, err := speed.NewMeter(cal, cfg)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(surveySeed, 7))
			var viewTally tally
			for kmh := 20.0; kmh <= 120; kmh += 10 {
				for _, approach := range []bool{false, true} {
					samples, truth := drive(v, kmh, 1.75+3.5*rng.Float64(), approach, rng)
					tr := meter.NewTrack()
					for i, s := range samples {
						if err := tr.Add(s); err != nil {
							t.Fatalf("%s: Add: %v", v.name, err)
						}
						if i%5 == 0 && s.At.Sub(samples[0].At) > meter.Config().Window {
							if e, err := tr.Current(); err == nil {
								running.add(e.SpeedKmh-truth, e.SigmaKmh)
							}
						}
					}
					e, err := tr.Final()
					if err != nil {
						t.Fatalf("%s at %.0f km/h: Final: %v (%d samples)", v.name, kmh, err, len(samples))
					}
					final.add(e.SpeedKmh-truth, e.SigmaKmh)
					viewTally.add(e.SpeedKmh-truth, e.SigmaKmh)
					if testing.Verbose() && math.Abs(e.SpeedKmh-truth) > 2*e.SigmaKmh {
						t.Logf("%s seed %d %.0f km/h approach=%v: got %.2f ± %.2f (%+v), %d points, %d rejected",
							v.name, surveySeed, truth, approach, e.SpeedKmh, e.SigmaKmh, e.Breakdown, e.Points, e.Rejected)
					}
				}
			}
			t.Logf("%s, survey %d: %s", v.name, surveySeed, &viewTally)
		}
	}
	t.Logf("final:   %s", &final)
	t.Logf("running: %s", &running)
	if m := final.sumAbs / float64(final.n); m > 1 {
		t.Errorf("final: mean absolute error %.2f km/h, want ≤ 1", m)
	}
	if final.maxAbs > 3 {
		t.Errorf("final: max absolute error %.2f km/h, want ≤ 3", final.maxAbs)
	}
	if m := running.sumAbs / float64(running.n); m > 1.5 {
		t.Errorf("running: mean absolute error %.2f km/h, want ≤ 1.5", m)
	}
	for name, a := range map[string]*tally{"final": &final, "running": &running} {
		// A Gaussian 1-sigma covers 68 %, 2 sigma 95 %.
		if c := float64(a.in1) / float64(a.n); c < 0.6 {
			t.Errorf("%s: 1-sigma covers %.0f %% of errors, want ≥ 60 %%", name, 100*c)
		}
		if c := float64(a.in2) / float64(a.n); c < 0.9 {
			t.Errorf("%s: 2-sigma covers %.0f %% of errors, want ≥ 90 %%", name, 100*c)
		}
		// Coverage is cheap with a huge sigma: it must stay useful.
		if s := a.sumS / float64(a.n); s > 2 {
			t.Errorf("%s: mean sigma %.2f km/h, want ≤ 2 to be useful", name, s)
		}
	}
}

// steady returns samples of a vehicle at kmh along lane x = 3.5 from y0,
// every 40 ms, without noise.
func steady(v view, kmh, y0 float64, n int) []speed.Sample {
	start := time.Date(2025, 11, 20, 8, 0, 0, 0, time.UTC)
	out := make([]speed.Sample, 0, n)
	for i := range n {
		tt := 0.04 * float64(i)
		p, _ := v.cam.Pixel(calibration.Point{X: 3.5, Y: y0 + kmh/3.6*tt})
		out = append(out, speed.Sample{Pixel: p, At: start.Add(time.Duration(i) * 40 * time.Millisecond)})
	}
	return out
}

func TestNoSpeedWithoutEnoughData(t *testing.T) {
	v := views()[0]
	meter, err := speed.NewMeter(survey(t, v, 1), speed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		samples []speed.Sample
		want    error
	}{
		{"no samples", nil, speed.ErrTooFewPoints},
		{"five samples", steady(v, 60, 15, 5), speed.ErrTooFewPoints},
		{"200 ms of samples", steady(v, 60, 15, 6), speed.ErrTooShort},
		{"parked vehicle", steady(v, 0, 20, 50), speed.ErrTooLittleMovement},
		{"walking pace over 1 s", steady(v, 5, 20, 26), speed.ErrTooLittleMovement},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := meter.NewTrack()
			for _, s := range tc.samples {
				if err := tr.Add(s); err != nil {
					t.Fatal(err)
				}
			}
			for name, f := range map[string]func() (speed.Estimate, error){"Current": tr.Current, "Final": tr.Final} {
				e, err := f()
				if !errors.Is(err, tc.want) || !errors.Is(err, speed.ErrNoSpeed) {
					t.Errorf("%s: (%+v, %v), want %v", name, e, err, tc.want)
				}
			}
		})
	}
	// Enough data for the defaults: 6 samples over 0.4 s and 6.7 m.
	tr := meter.NewTrack()
	for _, s := range steady(v, 60, 15, 11) {
		if err := tr.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if e, err := tr.Final(); err != nil || math.Abs(e.SpeedKmh-60) > 0.5 {
		t.Errorf("minimal track: (%.2f km/h, %v), want 60 km/h", e.SpeedKmh, err)
	}
}

func TestAddRefusesBadSamples(t *testing.T) {
	v := views()[0]
	meter, err := speed.NewMeter(survey(t, v, 1), speed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	samples := steady(v, 50, 15, 30)
	tr := meter.NewTrack()
	for i, s := range samples {
		if err := tr.Add(s); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			if err := tr.Add(s); !errors.Is(err, speed.ErrOutOfOrder) {
				t.Errorf("same timestamp twice: %v, want ErrOutOfOrder", err)
			}
			if err := tr.Add(samples[3]); !errors.Is(err, speed.ErrOutOfOrder) {
				t.Errorf("older timestamp: %v, want ErrOutOfOrder", err)
			}
			sky := speed.Sample{Pixel: calibration.Point{X: 960, Y: 20}, At: s.At.Add(time.Millisecond)}
			if err := tr.Add(sky); !errors.Is(err, calibration.ErrBeyondHorizon) {
				t.Errorf("pixel in the sky: %v, want calibration.ErrBeyondHorizon", err)
			}
		}
	}
	if tr.Len() != len(samples) {
		t.Errorf("track holds %d samples, want %d: refused samples must not be kept", tr.Len(), len(samples))
	}
	if e, err := tr.Final(); err != nil || math.Abs(e.SpeedKmh-50) > 0.3 || e.Rejected != 0 {
		t.Errorf("Final after refused samples: (%+v, %v), want 50 km/h with nothing rejected", e, err)
	}
}

func TestOutliersAreRejected(t *testing.T) {
	v := views()[0]
	meter, err := speed.NewMeter(survey(t, v, 2), speed.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	samples := steady(v, 80, 12, 40)
	bad := 0
	for i := range samples {
		samples[i].Pixel.X += rng.NormFloat64() * 1.5
		samples[i].Pixel.Y += rng.NormFloat64() * 1.5
		if i%9 == 4 {
			samples[i].Pixel.Y += 40 // the box swallowed a shadow
			bad++
		}
	}
	tr := meter.NewTrack()
	for _, s := range samples {
		if err := tr.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	e, err := tr.Final()
	if err != nil {
		t.Fatal(err)
	}
	if e.Rejected < bad {
		t.Errorf("rejected %d samples, want at least the %d corrupted", e.Rejected, bad)
	}
	if math.Abs(e.SpeedKmh-80) > 1 {
		t.Errorf("speed %.2f km/h with outliers, want 80 ± 1", e.SpeedKmh)
	}
}

func TestFitInflatesUnderestimatedJitter(t *testing.T) {
	v := views()[0]
	cal := survey(t, v, 0)
	rng := rand.New(rand.NewPCG(4, 4))
	clean := steady(v, 70, 12, 40)
	noisy := make([]speed.Sample, len(clean))
	for i, s := range clean {
		s.Pixel.X += rng.NormFloat64() * 6
		s.Pixel.Y += rng.NormFloat64() * 6
		noisy[i] = s
	}
	estimate := func(pixelSigma float64) speed.Estimate {
		meter, err := speed.NewMeter(cal, speed.Config{PixelSigma: pixelSigma})
		if err != nil {
			t.Fatal(err)
		}
		tr := meter.NewTrack()
		for _, s := range noisy {
			if err := tr.Add(s); err != nil {
				t.Fatal(err)
			}
		}
		e, err := tr.Final()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	told, untold := estimate(6), estimate(0.5)
	if untold.Breakdown.FitInflation < 4 {
		t.Errorf("jitter 12x the configured one: FitInflation %.2f, want ≥ 4", untold.Breakdown.FitInflation)
	}
	if r := untold.SigmaKmh / told.SigmaKmh; r < 0.6 || r > 1.6 {
		t.Errorf("sigma %.2f km/h when the jitter is underestimated vs %.2f when known: the residuals should make up for it", untold.SigmaKmh, told.SigmaKmh)
	}
	if told.Breakdown.PixelKmh <= untold.Breakdown.PixelKmh {
		t.Errorf("pixel term %.3f with 6 px configured, %.3f with 0.5 px: want larger", told.Breakdown.PixelKmh, untold.Breakdown.PixelKmh)
	}
}

func TestTrackKeepsNewestSamples(t *testing.T) {
	v := views()[1]
	meter, err := speed.NewMeter(survey(t, v, 0), speed.Config{MaxSamples: 50})
	if err != nil {
		t.Fatal(err)
	}
	samples := steady(v, 2, 8, 500) // 2 km/h over 20 s
	tr := meter.NewTrack()
	for _, s := range samples {
		if err := tr.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	if tr.Len() != 50 {
		t.Fatalf("Len = %d, want 50", tr.Len())
	}
	meter2, _ := speed.NewMeter(survey(t, v, 0), speed.Config{MaxSamples: 50, MinDistanceM: 0.5})
	tr2 := meter2.NewTrack()
	for _, s := range samples {
		if err := tr2.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	e, err := tr2.Final()
	if err != nil {
		t.Fatal(err)
	}
	if !e.Start.Equal(samples[450].At) || !e.End.Equal(samples[499].At) {
		t.Errorf("Final spans %v–%v, want the last 50 samples %v–%v", e.Start, e.End, samples[450].At, samples[499].At)
	}
}

func TestAddBoxUsesBottomCentre(t *testing.T) {
	b := infer.Box{X1: 100, Y1: 200, X2: 300, Y2: 350}
	if got := speed.ContactPoint(b); got != (calibration.Point{X: 200, Y: 350}) {
		t.Errorf("ContactPoint = %v, want (200, 350)", got)
	}
	v := views()[0]
	// The small-object model is off here: this test is about the jitter's
	// growth with the box (TestSmallBoxBiasIsSuppressed covers the rest).
	meter, err := speed.NewMeter(survey(t, v, 0), speed.Config{SmallObjectPx: -1})
	if err != nil {
		t.Fatal(err)
	}
	tr := meter.NewTrack()
	for _, s := range steady(v, 90, 12, 20) {
		// A 150 px tall box has 3 px jitter at 2 %: it must count.
		if err := tr.AddBox(infer.Box{X1: float32(s.Pixel.X - 60), Y1: float32(s.Pixel.Y - 150), X2: float32(s.Pixel.X + 60), Y2: float32(s.Pixel.Y)}, s.At); err != nil {
			t.Fatal(err)
		}
	}
	big, err := tr.Final()
	if err != nil {
		t.Fatal(err)
	}
	tr = meter.NewTrack()
	for _, s := range steady(v, 90, 12, 20) {
		if err := tr.AddBox(infer.Box{X1: float32(s.Pixel.X - 10), Y1: float32(s.Pixel.Y - 20), X2: float32(s.Pixel.X + 10), Y2: float32(s.Pixel.Y)}, s.At); err != nil {
			t.Fatal(err)
		}
	}
	small, err := tr.Final()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(big.SpeedKmh-90) > 0.2 || math.Abs(small.SpeedKmh-90) > 0.2 {
		t.Errorf("speeds %.2f and %.2f km/h, want 90", big.SpeedKmh, small.SpeedKmh)
	}
	// Twice the jitter, twice the pixel term, less what the timing term
	// takes of the weights.
	if r := big.Breakdown.PixelKmh / small.Breakdown.PixelKmh; r < 1.5 || r > 2.01 {
		t.Errorf("pixel term ratio %.3f between 3 px and 1.5 px jitter, want about 2", r)
	}
}

func TestBoxSigmaPx(t *testing.T) {
	v := views()[0]
	cal := survey(t, v, 0)
	box := func(h float32) infer.Box { return infer.Box{X1: 100, Y1: 400 - h, X2: 100 + 1.2*h, Y2: 400} }
	for _, c := range []struct {
		name string
		cfg  speed.Config
		h    float32
		want float64
	}{
		{"large box: 2 % of its height", speed.Config{}, 300, 6 * (1 + math.Pow(32.0/300, 4))},
		{"floor for a mid box", speed.Config{}, 60, 1.5 * (1 + math.Pow(32.0/60, 4))},
		{"at the small-object bound: twice", speed.Config{DetectorScale: 0.5}, 64, 2 * 1.5},
		{"half the bound: 17 times", speed.Config{DetectorScale: 0.25}, 64, 17 * 1.5},
		{"model off", speed.Config{SmallObjectPx: -1, DetectorScale: 0.25}, 64, 1.5},
		{"custom bound", speed.Config{SmallObjectPx: 16, DetectorScale: 0.25}, 64, 2 * 1.5},
		{"degenerate box", speed.Config{DetectorScale: 0.5}, 0, 1.5 * (1 + math.Pow(32, 4))},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := speed.NewMeter(cal, c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.BoxSigmaPx(box(c.h)); math.Abs(got-c.want) > 1e-9*c.want {
				t.Errorf("BoxSigmaPx(h=%v) = %g, want %g", c.h, got, c.want)
			}
		})
	}
}

// biasedBox is a detector's box for a vehicle 1.8 m wide (box height 0.8 of
// its width) standing on g, with the flaw seen on real detectors: once the
// vehicle is small at the detector's input (below 24 input px), the box's
// lower edge rises onto the bumper, up to a quarter of the box height above
// the road, more as the vehicle shrinks.
func biasedBox(cam calibtest.Camera, g calibration.Point, scale float64, rng *rand.Rand) (infer.Box, bool) {
	p, ok1 := cam.Pixel(g)
	l, ok2 := cam.Pixel(calibration.Point{X: g.X - 0.9, Y: g.Y})
	r, ok3 := cam.Pixel(calibration.Point{X: g.X + 0.9, Y: g.Y})
	if !ok1 || !ok2 || !ok3 || !cam.InImage(p) {
		return infer.Box{}, false
	}
	w := math.Hypot(r.X-l.X, r.Y-l.Y)
	h := 0.8 * w
	lift := 0.25 * h * min(1, max(0, (24-h*scale)/8))
	bottom := p.Y - lift + rng.NormFloat64()*1.5
	cx := p.X + rng.NormFloat64()*1.5
	return infer.Box{X1: float32(cx - w/2), Y1: float32(bottom - h), X2: float32(cx + w/2), Y2: float32(bottom)}, true
}

// boxWidth is the width in pixels of a 1.8 m wide vehicle at y on lane x = 3.5.
func boxWidth(cam calibtest.Camera, y float64) float64 {
	l, _ := cam.Pixel(calibration.Point{X: 2.6, Y: y})
	r, _ := cam.Pixel(calibration.Point{X: 4.4, Y: y})
	return math.Hypot(r.X-l.X, r.Y-l.Y)
}

// TestSmallBoxBiasIsSuppressed drives vehicles through the calibrated
// section of a view, from the near end, where their boxes are large (about
// 50 px at the detector's input), to the far end, where a detector lifts
// the lower edge of their small boxes (biasedBox: 16 input px there), both
// ways and at 20–120 km/h. With every box weighted by its jitter alone the
// lift drags the speed by 5-7 %; the small-object model must cut that
// error by 2.5 times at least, to 2.5 % at most. (The oblique view is left out: its vehicles
// shrink too little over its section to be both large and small.)
func TestSmallBoxBiasIsSuppressed(t *testing.T) {
	for _, v := range views() {
		near, far := boxWidth(v.cam, v.y0), boxWidth(v.cam, v.y1)
		if max(near, far) < 3*min(near, far) {
			continue
		}
		t.Run(v.name, func(t *testing.T) {
			cal := survey(t, v, 1)
			scale := 16 / (0.8 * min(near, far)) // the far box is 16 px high at the detector's input
			plain, err := speed.NewMeter(cal, speed.Config{SmallObjectPx: -1, DetectorScale: scale})
			if err != nil {
				t.Fatal(err)
			}
			aware, err := speed.NewMeter(cal, speed.Config{DetectorScale: scale})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(7, 7))
			var worstPlain, worstAware float64
			for _, kmh := range []float64{20, 45, 70, 95, 120} {
				for _, approach := range []bool{false, true} {
					tp, ta := plain.NewTrack(), aware.NewTrack()
					start := time.Date(2025, 11, 20, 8, 0, 0, 0, time.UTC)
					for i := 0; ; i++ {
						d := kmh / 3.6 * 0.04 * float64(i)
						y := v.y0 + d
						if approach {
							y = v.y1 - d
						}
						if y < v.y0 || y > v.y1 {
							break
						}
						b, ok := biasedBox(v.cam, calibration.Point{X: 3.5, Y: y}, scale, rng)
						if !ok {
							continue
						}
						at := start.Add(time.Duration(i) * 40 * time.Millisecond)
						if err := tp.AddBox(b, at); err != nil {
							t.Fatal(err)
						}
						if err := ta.AddBox(b, at); err != nil {
							t.Fatal(err)
						}
					}
					ep, err1 := tp.Final()
					ea, err2 := ta.Final()
					if err1 != nil || err2 != nil {
						t.Fatalf("%.0f km/h: %v, %v", kmh, err1, err2)
					}
					worstPlain = max(worstPlain, math.Abs(ep.SpeedKmh-kmh)/kmh)
					worstAware = max(worstAware, math.Abs(ea.SpeedKmh-kmh)/kmh)
					t.Logf("%5.0f km/h approach=%-5v: jitter only %7.2f, small-object model %7.2f ± %.2f km/h", kmh, approach, ep.SpeedKmh, ea.SpeedKmh, ea.SigmaKmh)
				}
			}
			t.Logf("worst relative error: jitter only %.1f %%, small-object model %.1f %%", 100*worstPlain, 100*worstAware)
			if worstPlain < 0.03 {
				t.Errorf("the simulated bias does not bite (%.1f %% with jitter-only weights): the test proves nothing", 100*worstPlain)
			}
			// Without the lift the estimator is within 0.7 % here; what is left
			// over it is the lift of the mid-sized boxes the fit still weighs.
			if worstAware > 0.025 || worstAware > worstPlain/2.5 {
				t.Errorf("worst relative error %.1f %% with the small-object model (%.1f %% without), want at most 2.5 %% and 2.5 times less",
					100*worstAware, 100*worstPlain)
			}
		})
	}
}

func BenchmarkTrackAdd(b *testing.B) {
	v := views()[0]
	meter, err := speed.NewMeter(survey(b, v, 0), speed.Config{})
	if err != nil {
		b.Fatal(err)
	}
	samples := steady(v, 50, 12, 200)
	tr := meter.NewTrack()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := samples[i%len(samples)]
		s.At = s.At.Add(time.Duration(i/len(samples)) * 10 * time.Second)
		if err := tr.Add(s); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkTrackAddCurrent is the per-frame cost for one track: add the
// frame's sample and re-estimate over the 1.5 s window (~37 samples at 25 fps).
func BenchmarkTrackAddCurrent(b *testing.B) {
	v := views()[0]
	meter, err := speed.NewMeter(survey(b, v, 0), speed.Config{})
	if err != nil {
		b.Fatal(err)
	}
	samples := steady(v, 30, 12, 200)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range samples {
		samples[i].Pixel.X += rng.NormFloat64()
		samples[i].Pixel.Y += rng.NormFloat64()
	}
	tr := meter.NewTrack()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := samples[i%len(samples)]
		s.At = s.At.Add(time.Duration(i/len(samples)) * 10 * time.Second)
		if err := tr.Add(s); err != nil {
			b.Fatal(err)
		}
		if i%len(samples) > 40 {
			if _, err := tr.Current(); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
}
