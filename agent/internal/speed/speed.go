// Package speed measures a tracked vehicle's ground speed from the pixel
// where its box meets the road, the frames' capture timestamps and the
// camera's ground-plane calibration, with an honest 1-sigma uncertainty.
//
// Each sample is mapped to metres through the calibration; its pixel jitter
// becomes a ground covariance through the local Jacobian. A detected box's
// jitter grows with its size and, steeply, as the vehicle becomes a small
// object for the detector (Config.SmallObjectPx): the lower edge of a small
// box is placed with a bias, not only at random, so the fit leans on the
// large boxes while the small ones still extend its reach. Position against
// time is fitted with a straight line per axis by weighted least squares
// (weights from the pixel jitter and the timestamp jitter), with iterative
// rejection of samples whose normalised residual is far out. The speed's
// variance is propagated exactly through the estimator's coefficients, scaled
// up when the residuals show more scatter than the noise model explains
// (reduced χ² > 1), and combined with the calibration's own error for the
// distance covered.
package speed

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/calibration"
)

// ErrNoSpeed is matched (errors.Is) by every "not enough data" error.
var ErrNoSpeed = errors.New("speed: no speed")

// Reasons for no speed; each matches ErrNoSpeed.
var (
	ErrTooFewPoints      error = &noSpeedError{"too few samples"}
	ErrTooShort          error = &noSpeedError{"samples span too little time"}
	ErrTooLittleMovement error = &noSpeedError{"the vehicle moved too little"}
)

// ErrOutOfOrder reports a sample whose time is not after the previous one.
var ErrOutOfOrder = errors.New("speed: sample is not later than the previous one")

type noSpeedError struct{ reason string }

func (e *noSpeedError) Error() string        { return "speed: no speed: " + e.reason }
func (e *noSpeedError) Is(target error) bool { return target == ErrNoSpeed }

// Config tunes the estimator. Zero fields take the defaults listed.
type Config struct {
	// MinPoints is the fewest samples (after outlier rejection) for a speed: 6.
	MinPoints int
	// MinSpan is the shortest time between the first and last sample: 400 ms.
	MinSpan time.Duration
	// MinDistanceM is the shortest distance travelled over the fit: 3 m.
	MinDistanceM float64
	// Window is how far back Current looks from the newest sample: 1.5 s.
	Window time.Duration
	// MaxSamples is how many of the newest samples a track keeps (Final uses
	// them all): 300.
	MaxSamples int
	// PixelSigma is the 1-sigma jitter, per pixel coordinate, of the
	// ground-contact point: 1.5 px.
	PixelSigma float64
	// BoxJitter is AddBox's jitter as a fraction of the box height when that
	// exceeds PixelSigma: 0.02.
	BoxJitter float64
	// SmallObjectPx is the box height, in the detector's input pixels, below
	// which a vehicle is a small object for the detector: 32 (COCO's
	// small-object bound). Below it a detector places the box edges much
	// less reliably, and not only at random: the lower edge of a small box
	// tends to sit on the bumper or its shadow rather than where the tyres
	// meet the road, several pixels off, and that offset changes as the
	// vehicle grows or shrinks along its track. Averaging does not remove a
	// bias, so AddBox scales a box's jitter by 1 + (SmallObjectPx / input
	// height)⁴: twice at the bound, 17 times at half of it. The fit then
	// leans on the large (usually near) boxes, while a track made only of
	// small boxes keeps its speed with an uncertainty to match. Negative
	// disables it.
	SmallObjectPx float64
	// DetectorScale is the detector's input pixels per picture pixel (the
	// letterbox scale of its coarsest view, e.g. 416/1280 for a 416x416
	// model over a 1280x720 picture); 0 means 1. The pipeline fills it in
	// from its detector when left 0.
	DetectorScale float64
	// TimeSigma is the 1-sigma jitter of a capture timestamp: 3 ms.
	TimeSigma time.Duration
	// OutlierSigmas rejects samples whose normalised residual exceeds it
	// (scaled by the robust spread of all residuals): 3.5.
	OutlierSigmas float64
	// Calibration is the noise model of the calibration's survey points.
	Calibration calibration.NoiseModel
}

func (c *Config) defaults() {
	if c.MinPoints <= 0 {
		c.MinPoints = 6
	}
	c.MinPoints = max(c.MinPoints, 3)
	if c.MinSpan <= 0 {
		c.MinSpan = 400 * time.Millisecond
	}
	if !(c.MinDistanceM > 0) {
		c.MinDistanceM = 3
	}
	if c.Window <= 0 {
		c.Window = 1500 * time.Millisecond
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = 300
	}
	c.MaxSamples = max(c.MaxSamples, c.MinPoints)
	if !(c.PixelSigma > 0) {
		c.PixelSigma = 1.5
	}
	if !(c.BoxJitter > 0) {
		c.BoxJitter = 0.02
	}
	if c.SmallObjectPx == 0 || math.IsNaN(c.SmallObjectPx) {
		c.SmallObjectPx = 32
	}
	if !(c.DetectorScale > 0) || math.IsInf(c.DetectorScale, 0) {
		c.DetectorScale = 1
	}
	if c.TimeSigma <= 0 {
		c.TimeSigma = 3 * time.Millisecond
	}
	if !(c.OutlierSigmas > 0) {
		c.OutlierSigmas = 3.5
	}
}

// Meter measures speeds for one camera. It is safe for concurrent use; each
// track gets its own Track.
type Meter struct {
	cal *calibration.Calibration
	unc *calibration.Uncertainty
	cfg Config
}

// NewMeter prepares a meter for the calibrated camera.
func NewMeter(cal *calibration.Calibration, cfg Config) (*Meter, error) {
	if cal == nil {
		return nil, errors.New("speed: no calibration")
	}
	cfg.defaults()
	unc, err := cal.Uncertainty(cfg.Calibration)
	if err != nil {
		return nil, fmt.Errorf("speed: %w", err)
	}
	return &Meter{cal: cal, unc: unc, cfg: cfg}, nil
}

// Config returns the configuration in use, defaults filled in.
func (m *Meter) Config() Config { return m.cfg }

// NewTrack starts the samples of one vehicle.
func (m *Meter) NewTrack() *Track { return &Track{m: m} }

// Sample is one observation of a vehicle.
type Sample struct {
	// Pixel is where the vehicle meets the road in the recorded frame
	// (usually the bottom centre of its box).
	Pixel calibration.Point
	// At is the frame's capture time (frame.Frame.Captured).
	At time.Time
	// SigmaPx is the pixel jitter of this sample; 0 means Config.PixelSigma.
	SigmaPx float64
}

// Estimate is a measured speed.
type Estimate struct {
	// SpeedKmh is the ground speed over the fitted samples.
	SpeedKmh float64
	// SigmaKmh is the 1-sigma uncertainty of SpeedKmh: Breakdown's random part
	// (inflated) and calibration part added in quadrature.
	SigmaKmh float64
	// Breakdown lists the uncertainty's sources.
	Breakdown Breakdown
	// VX, VY are the velocity in metres per second in the calibration's ground frame.
	VX, VY float64
	// HeadingDeg is the direction of travel in the ground frame, degrees
	// counter-clockwise from +x, in (-180, 180].
	HeadingDeg float64
	// Points is how many samples the fit used; Rejected how many it dropped
	// as outliers.
	Points, Rejected int
	// Start and End are the times of the first and last sample used.
	Start, End time.Time
	// DistanceM is the distance travelled between Start and End.
	DistanceM float64
}

// Breakdown is an estimate's uncertainty by source, each 1-sigma in km/h.
type Breakdown struct {
	// PixelKmh comes from the ground-contact point's jitter, through the
	// calibration's local Jacobian.
	PixelKmh float64
	// TimingKmh comes from timestamp jitter.
	TimingKmh float64
	// FitInflation (≥ 1) multiplies the random part (pixel and timing) when
	// the fit's residuals scatter more than they explain: √(reduced χ²).
	FitInflation float64
	// CalibrationKmh comes from the calibration's error over the distance.
	CalibrationKmh float64
}

// sample is a Sample mapped to the ground.
type sample struct {
	at     time.Time
	t      float64 // seconds since the track's first sample
	pixel  calibration.Point
	g      calibration.Point
	cxx    float64 // pixel-jitter covariance on the ground, m²
	cxy    float64
	cyy    float64
	used   bool    // fit scratch
	z2     float64 // fit scratch: squared normalised residual
	wx, wy float64 // fit scratch: weights
}

// Track accumulates one vehicle's samples. It is not safe for concurrent use.
type Track struct {
	m      *Meter
	origin time.Time
	buf    []sample // live samples are buf[start:]
	start  int
	z2     []float64 // scratch for the median
}

// Len returns how many samples the track holds.
func (t *Track) Len() int { return len(t.buf) - t.start }

// AddBox adds a detection: its bottom-centre pixel, with the jitter
// BoxSigmaPx gives the box.
func (t *Track) AddBox(b infer.Box, at time.Time) error {
	return t.Add(Sample{
		Pixel:   ContactPoint(b),
		At:      at,
		SigmaPx: t.m.BoxSigmaPx(b),
	})
}

// BoxSigmaPx is the 1-sigma error, in picture pixels, of the ground-contact
// point of a detected box: a fraction of the box's size (Config.BoxJitter,
// at least Config.PixelSigma), scaled up for boxes that are small objects
// at the detector's input (see Config.SmallObjectPx).
func (m *Meter) BoxSigmaPx(b infer.Box) float64 {
	h := float64(b.H())
	sig := max(m.cfg.PixelSigma, m.cfg.BoxJitter*h)
	if m.cfg.SmallObjectPx > 0 {
		in := max(h*m.cfg.DetectorScale, 1) // a degenerate box counts as 1 input pixel
		r2 := (m.cfg.SmallObjectPx / in) * (m.cfg.SmallObjectPx / in)
		sig *= 1 + r2*r2
	}
	return sig
}

// ContactPoint returns the pixel where a vehicle's box meets the road: the
// middle of its bottom edge.
func ContactPoint(b infer.Box) calibration.Point {
	return calibration.Point{X: float64(b.X1+b.X2) / 2, Y: float64(b.Y2)}
}

// Add maps a sample to the ground and keeps it. Samples must come in time
// order; a pixel that does not see the road returns the calibration's error.
func (t *Track) Add(s Sample) error {
	if n := t.Len(); n > 0 && !s.At.After(t.buf[len(t.buf)-1].at) {
		return ErrOutOfOrder
	}
	g, j, err := t.m.cal.GroundAndJacobian(s.Pixel)
	if err != nil {
		return err
	}
	if t.Len() == 0 {
		t.origin = s.At
		t.buf, t.start = t.buf[:0], 0
	}
	sig := s.SigmaPx
	if !(sig > 0) {
		sig = t.m.cfg.PixelSigma
	}
	s2 := sig * sig
	t.buf = append(t.buf, sample{
		at:    s.At,
		t:     s.At.Sub(t.origin).Seconds(),
		pixel: s.Pixel,
		g:     g,
		cxx:   s2 * (j[0][0]*j[0][0] + j[0][1]*j[0][1]),
		cxy:   s2 * (j[0][0]*j[1][0] + j[0][1]*j[1][1]),
		cyy:   s2 * (j[1][0]*j[1][0] + j[1][1]*j[1][1]),
	})
	limit := t.m.cfg.MaxSamples
	if t.Len() > limit {
		t.start++
		// Compact once the dropped head equals the kept window: amortised O(1).
		if t.start >= limit {
			n := copy(t.buf, t.buf[t.start:])
			t.buf, t.start = t.buf[:n], 0
		}
	}
	return nil
}

// Current estimates the speed over the newest Config.Window of samples.
func (t *Track) Current() (Estimate, error) {
	live := t.buf[t.start:]
	if len(live) == 0 {
		return Estimate{}, ErrTooFewPoints
	}
	from := live[len(live)-1].t - t.m.cfg.Window.Seconds()
	lo := len(live) - 1
	for lo > 0 && live[lo-1].t >= from {
		lo--
	}
	return t.fit(live[lo:])
}

// Final estimates the speed over every sample the track kept; call it when
// the track ends.
func (t *Track) Final() (Estimate, error) {
	return t.fit(t.buf[t.start:])
}

// fit runs the robust weighted line fit over s.
func (t *Track) fit(s []sample) (Estimate, error) {
	cfg := &t.m.cfg
	if len(s) < cfg.MinPoints {
		return Estimate{}, ErrTooFewPoints
	}
	for i := range s {
		s[i].used = true
	}
	st2 := cfg.TimeSigma.Seconds() * cfg.TimeSigma.Seconds()
	k2 := cfg.OutlierSigmas * cfg.OutlierSigmas
	var lx, ly line
	for pass := 0; ; pass++ {
		// The timing term needs a velocity: the first pass fits without it.
		for i := range s {
			s[i].wx = 1 / (s[i].cxx + lx.v*lx.v*st2)
			s[i].wy = 1 / (s[i].cyy + ly.v*ly.v*st2)
		}
		var ok bool
		if lx, ok = fitLine(s, false); !ok {
			return Estimate{}, ErrTooShort
		}
		if ly, ok = fitLine(s, true); !ok {
			return Estimate{}, ErrTooShort
		}
		t.z2 = t.z2[:0]
		for i := range s {
			rx := s[i].g.X - lx.at(s[i].t)
			ry := s[i].g.Y - ly.at(s[i].t)
			s[i].z2 = rx*rx*s[i].wx + ry*ry*s[i].wy
			if s[i].used {
				t.z2 = append(t.z2, s[i].z2)
			}
		}
		if pass == 4 {
			break
		}
		// Robust spread: the median of a χ² with 2 degrees of freedom is 2·ln 2.
		slices.Sort(t.z2)
		scale := max(1, t.z2[len(t.z2)/2]/(2*math.Ln2))
		changed, kept := false, 0
		for i := range s {
			keep := s[i].z2 <= k2*scale
			if keep {
				kept++
			}
			changed = changed || keep != s[i].used
			s[i].used = keep
		}
		if kept < cfg.MinPoints {
			return Estimate{}, ErrTooFewPoints
		}
		if !changed && pass > 0 {
			break
		}
	}
	return t.summarise(s, lx, ly)
}

// line is x(t) = x0 + v·(t - t0), fitted by weighted least squares.
type line struct {
	t0, x0, v float64
	stt       float64 // Σw(t-t0)²
}

func (l line) at(t float64) float64 { return l.x0 + l.v*(t-l.t0) }

// fitLine fits the used samples' x (or y) against time.
func fitLine(s []sample, yAxis bool) (line, bool) {
	var sw, swt, swx float64
	for i := range s {
		if !s[i].used {
			continue
		}
		w, x := s[i].wx, s[i].g.X
		if yAxis {
			w, x = s[i].wy, s[i].g.Y
		}
		sw += w
		swt += w * s[i].t
		swx += w * x
	}
	if !(sw > 0) {
		return line{}, false
	}
	l := line{t0: swt / sw, x0: swx / sw}
	var stx float64
	for i := range s {
		if !s[i].used {
			continue
		}
		w, x := s[i].wx, s[i].g.X
		if yAxis {
			w, x = s[i].wy, s[i].g.Y
		}
		dt := s[i].t - l.t0
		l.stt += w * dt * dt
		stx += w * dt * (x - l.x0)
	}
	if !(l.stt > 0) {
		return line{}, false
	}
	l.v = stx / l.stt
	return l, true
}

// summarise applies the minimum-data rules and propagates the uncertainty.
func (t *Track) summarise(s []sample, lx, ly line) (Estimate, error) {
	cfg := &t.m.cfg
	first, last, n, chi2 := -1, -1, 0, 0.0
	for i := range s {
		if s[i].used {
			if first < 0 {
				first = i
			}
			last = i
			n++
			chi2 += s[i].z2
		}
	}
	span := s[last].at.Sub(s[first].at)
	if span < cfg.MinSpan {
		return Estimate{}, ErrTooShort
	}
	v := math.Hypot(lx.v, ly.v)
	if v*span.Seconds() < cfg.MinDistanceM {
		return Estimate{}, ErrTooLittleMovement
	}
	ux, uy := lx.v/v, ly.v/v
	st2 := cfg.TimeSigma.Seconds() * cfg.TimeSigma.Seconds()
	// The speed is Σᵢ (ux·cxᵢ·xᵢ + uy·cyᵢ·yᵢ) to first order, with cᵢ the
	// least-squares slope coefficients; propagate each noise through them.
	var varPix, varTime float64
	for i := range s {
		if !s[i].used {
			continue
		}
		cx := s[i].wx * (s[i].t - lx.t0) / lx.stt
		cy := s[i].wy * (s[i].t - ly.t0) / ly.stt
		a, b := ux*cx, uy*cy
		varPix += a*a*s[i].cxx + 2*a*b*s[i].cxy + b*b*s[i].cyy
		d := a*lx.v + b*ly.v
		varTime += d * d * st2
	}
	inflation := 1.0
	if dof := 2*n - 4; dof > 0 {
		inflation = math.Sqrt(max(1, chi2/float64(dof)))
	}
	// Calibration: relative error of the ground distance between the ends.
	calRel := 0.0
	if d := s[first].g.Dist(s[last].g); d > 0 {
		if sd, err := t.m.unc.DisplacementSigma(s[first].pixel, s[last].pixel); err == nil {
			calRel = sd / d
		}
	}
	const kmh = 3.6
	bd := Breakdown{
		PixelKmh:       math.Sqrt(varPix) * kmh,
		TimingKmh:      math.Sqrt(varTime) * kmh,
		FitInflation:   inflation,
		CalibrationKmh: v * calRel * kmh,
	}
	random2 := (varPix + varTime) * inflation * inflation
	return Estimate{
		SpeedKmh:   v * kmh,
		SigmaKmh:   math.Sqrt(random2*kmh*kmh + bd.CalibrationKmh*bd.CalibrationKmh),
		Breakdown:  bd,
		VX:         lx.v,
		VY:         ly.v,
		HeadingDeg: math.Atan2(ly.v, lx.v) * 180 / math.Pi,
		Points:     n,
		Rejected:   len(s) - n,
		Start:      s[first].at,
		End:        s[last].at,
		DistanceM:  v * span.Seconds(),
	}, nil
}
