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
	meter, err := speed.NewMeter(survey(t, v, 0), speed.Config{})
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
