package track

import (
	"math"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// KalmanConfig sets the noise of the constant-velocity Kalman filter. Every
// value is relative to the box size (its width for x and w, its height for y
// and h), so one setting suits near and far objects, and every rate is per
// second, so the filter stays correct whatever the time between frames.
type KalmanConfig struct {
	// MeasurementStd is the standard deviation of a detector's box edges, as a
	// fraction of the box size (DeepSORT/ByteTrack use 1/20).
	MeasurementStd float64
	// AccelerationStd is the spectral density of the white-noise acceleration,
	// in box sizes per second squared per sqrt(Hz): over dt seconds the velocity
	// variance grows by (AccelerationStd*size)^2 * dt.
	AccelerationStd float64
	// InitialVelocityStd is the velocity uncertainty of a new track, in box
	// sizes per second.
	InitialVelocityStd float64
}

// DefaultKalmanConfig returns noise settings equivalent to ByteTrack's at
// 30 fps, expressed per second.
func DefaultKalmanConfig() KalmanConfig {
	return KalmanConfig{
		MeasurementStd:     1.0 / 20,
		AccelerationStd:    1.0,
		InitialVelocityStd: 2.0,
	}
}

// axis is a one-dimensional constant-velocity Kalman filter: position p and
// velocity v (per second) with covariance [[a b] [b c]].
type axis struct {
	p, v    float64
	a, b, c float64
}

// predict advances the axis by dt seconds under continuous white-noise
// acceleration of spectral density q (Bar-Shalom, "Estimation with
// Applications to Tracking and Navigation", 6.2.2):
// Q = q * [[dt^3/3, dt^2/2], [dt^2/2, dt]]. Unlike a per-frame noise, this Q
// composes exactly: one step of 2*dt equals two steps of dt, so skipped or
// dropped frames need no special case.
func (x *axis) predict(dt, q float64) {
	dt2 := dt * dt
	x.p += x.v * dt
	x.a += 2*dt*x.b + dt2*x.c + q*dt2*dt/3
	x.b += dt*x.c + q*dt2/2
	x.c += q * dt
}

// update folds in a measurement z of the position with variance r.
func (x *axis) update(z, r float64) {
	s := x.a + r
	if s <= 0 || math.IsNaN(s) {
		return
	}
	k0, k1 := x.a/s, x.b/s
	y := z - x.p
	x.p += k0 * y
	x.v += k1 * y
	// Joseph-free form; valid because the gain is optimal.
	a, b, c := x.a, x.b, x.c
	x.a = a - k0*a
	x.b = b - k0*b
	x.c = c - k1*b
}

// kalman tracks a box as (cx, cy, w, h) with their velocities. The full 8-state
// filter of SORT/ByteTrack has block-diagonal F, Q, H and R (each coordinate
// only couples to its own velocity), so its covariance stays block-diagonal
// and it is exactly four independent 2-state filters, which is what this is.
type kalman struct {
	cx, cy, w, h axis
}

// minSize keeps the filtered box from collapsing to zero or negative size.
const minSize = 1.0

func newKalman(b infer.Box, cfg KalmanConfig) kalman {
	cx, cy, w, h := boxToState(b)
	pos := func(p, size float64) axis {
		sp := 2 * cfg.MeasurementStd * size
		sv := cfg.InitialVelocityStd * size
		return axis{p: p, a: sp * sp, c: sv * sv}
	}
	return kalman{
		cx: pos(cx, w),
		cy: pos(cy, h),
		w:  pos(w, w),
		h:  pos(h, h),
	}
}

// predict advances the state by dt seconds. When frozenSize is set (lost
// tracks, as in ByteTrack) the size velocities are zeroed first so that a box
// coasting through an occlusion does not grow or shrink without evidence.
func (k *kalman) predict(dt float64, cfg KalmanConfig, frozenSize bool) {
	if dt <= 0 {
		return
	}
	if frozenSize {
		k.w.v, k.h.v = 0, 0
	}
	qw := sq(cfg.AccelerationStd * k.w.p)
	qh := sq(cfg.AccelerationStd * k.h.p)
	k.cx.predict(dt, qw)
	k.cy.predict(dt, qh)
	k.w.predict(dt, qw)
	k.h.predict(dt, qh)
	k.clamp()
}

// update folds in a detected box.
func (k *kalman) update(b infer.Box, cfg KalmanConfig) {
	cx, cy, w, h := boxToState(b)
	rw := sq(cfg.MeasurementStd * max(k.w.p, minSize))
	rh := sq(cfg.MeasurementStd * max(k.h.p, minSize))
	k.cx.update(cx, rw)
	k.cy.update(cy, rh)
	k.w.update(w, rw)
	k.h.update(h, rh)
	k.clamp()
}

func (k *kalman) clamp() {
	k.w.p = max(k.w.p, minSize)
	k.h.p = max(k.h.p, minSize)
}

// box returns the current state estimate as a box.
func (k *kalman) box() infer.Box {
	hw, hh := k.w.p/2, k.h.p/2
	return infer.Box{
		X1: float32(k.cx.p - hw),
		Y1: float32(k.cy.p - hh),
		X2: float32(k.cx.p + hw),
		Y2: float32(k.cy.p + hh),
	}
}

func boxToState(b infer.Box) (cx, cy, w, h float64) {
	w = max(float64(b.X2-b.X1), minSize)
	h = max(float64(b.Y2-b.Y1), minSize)
	return float64(b.X1+b.X2) / 2, float64(b.Y1+b.Y2) / 2, w, h
}

func sq(x float64) float64 { return x * x }
