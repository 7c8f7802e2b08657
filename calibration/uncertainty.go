package calibration

import (
	"fmt"
	"math"
)

// Defaults of NoiseModel.
const (
	DefaultGroundSigmaM = 0.03
	DefaultPixelSigma   = 1.0
)

// NoiseModel is the assumed 1-sigma error of a calibration point: the
// survey's error per ground coordinate (tape measure, GNSS) and the error of
// clicking the mark in the frame, per pixel coordinate.
type NoiseModel struct {
	GroundSigmaM float64
	PixelSigma   float64
}

// Uncertainty is the calibration's error model: the covariance of the fitted
// homography propagated from the point errors. The solver's fit is
// unweighted while the errors are not alike (a pixel is centimetres near the
// camera and decimetres far away), so the covariance is the sandwich
// A⁻¹BA⁻¹ with A = ΣJᵢᵀJᵢ and B = ΣJᵢᵀΣᵢJᵢ, Σᵢ the point's error in metres;
// when the residuals are larger than the model explains (reduced χ² > 1) it
// is inflated by that factor. It is computed once per calibration and is
// safe for concurrent use.
type Uncertainty struct {
	h      Homography // normalised: ground_n ~ h · pixel_n
	k      int        // fixed gauge entry of h
	tp, tq similarity
	cov    [64]float64 // covariance of the 8 free entries of h, normalised units
	dist   *Distortion
	// Model is the noise model used, with defaults filled in.
	Model NoiseModel
	// Inflation (≥ 1) is √(reduced χ²) of the residuals under Model when
	// that exceeds 1; the covariance was multiplied by its square.
	Inflation float64
}

// Uncertainty computes the error model from the inlier points; zero fields
// of m take the defaults. With exactly four points the fit is exact and only
// the model speaks.
func (c *Calibration) Uncertainty(m NoiseModel) (*Uncertainty, error) {
	if !(m.GroundSigmaM > 0) {
		m.GroundSigmaM = DefaultGroundSigmaM
	}
	if !(m.PixelSigma > 0) {
		m.PixelSigma = DefaultPixelSigma
	}
	in := c.inliers()
	if len(in) < 4 {
		return nil, fmt.Errorf("calibration: uncertainty: %d inliers, need 4", len(in))
	}
	img := make([]Point, len(in))
	gnd := make([]Point, len(in))
	noise := make([]Mat2, len(in)) // per-point error covariance, metres²
	for i, pp := range in {
		u, _, err := c.Undistort(pp.Image)
		if err != nil {
			return nil, fmt.Errorf("calibration: uncertainty: points: %w", err)
		}
		_, j, err := c.GroundAndJacobian(pp.Image)
		if err != nil {
			return nil, fmt.Errorf("calibration: uncertainty: points: %w", err)
		}
		img[i], gnd[i] = u, pp.Ground
		g2, p2 := m.GroundSigmaM*m.GroundSigmaM, m.PixelSigma*m.PixelSigma
		noise[i] = Mat2{
			{g2 + p2*(j[0][0]*j[0][0]+j[0][1]*j[0][1]), p2 * (j[0][0]*j[1][0] + j[0][1]*j[1][1])},
			{p2 * (j[0][0]*j[1][0] + j[0][1]*j[1][1]), g2 + p2*(j[1][0]*j[1][0]+j[1][1]*j[1][1])},
		}
	}
	u := &Uncertainty{tp: hartley(img), tq: hartley(gnd), dist: c.Distortion, Model: m, Inflation: 1}
	u.h, u.k = gauge(u.tq.matrix().Mul(c.Homography).Mul(u.tp.inverseMatrix()))
	pn, qn := u.tp.applyAll(img), u.tq.applyAll(gnd)
	s2 := u.tq.s * u.tq.s // metres² → normalised units²
	var a, b [64]float64
	chi2 := 0.0
	for i := range pn {
		fx, fy, jx, jy := u.freeJacobianNorm(pn[i])
		sig := noise[i]
		for r := range 8 {
			for q := range 8 {
				a[r*8+q] += jx[r]*jx[q] + jy[r]*jy[q]
				b[r*8+q] += s2 * (jx[r]*(sig[0][0]*jx[q]+sig[0][1]*jy[q]) + jy[r]*(sig[1][0]*jx[q]+sig[1][1]*jy[q]))
			}
		}
		// Mahalanobis norm of the residual under the point's covariance.
		rx, ry := (qn[i].X-fx)/u.tq.s, (qn[i].Y-fy)/u.tq.s
		det := sig.Det()
		chi2 += (sig[1][1]*rx*rx - 2*sig[0][1]*rx*ry + sig[0][0]*ry*ry) / det
	}
	ainv, err := invertSPD(a[:], 8)
	if err != nil {
		return nil, fmt.Errorf("calibration: uncertainty: the fit's normal matrix is singular")
	}
	inflation2 := 1.0
	if dof := 2*len(pn) - 8; dof > 0 {
		inflation2 = max(1, chi2/float64(dof))
	}
	u.Inflation = math.Sqrt(inflation2)
	// cov = A⁻¹ B A⁻¹ · inflation²
	var tmp [64]float64
	for r := range 8 {
		for q := range 8 {
			s := 0.0
			for k := range 8 {
				s += ainv[r*8+k] * b[k*8+q]
			}
			tmp[r*8+q] = s
		}
	}
	for r := range 8 {
		for q := range 8 {
			s := 0.0
			for k := range 8 {
				s += tmp[r*8+k] * ainv[k*8+q]
			}
			u.cov[r*8+q] = s * inflation2
		}
	}
	return u, nil
}

// freeJacobianNorm maps a normalised undistorted pixel through h and returns
// the derivatives with respect to the eight free entries.
func (u *Uncertainty) freeJacobianNorm(pn Point) (fx, fy float64, jx, jy [8]float64) {
	fx, fy, j9x, j9y := paramJacobian(&u.h, pn.X, pn.Y)
	c := 0
	for i := range 9 {
		if i == u.k {
			continue
		}
		jx[c], jy[c] = j9x[i], j9y[i]
		c++
	}
	return fx, fy, jx, jy
}

// freeJacobian maps a recorded pixel to normalised ground and returns the
// derivatives with respect to the eight free homography entries.
func (u *Uncertainty) freeJacobian(p Point) (fx, fy float64, jx, jy [8]float64, err error) {
	if u.dist != nil {
		if p, _, err = u.dist.Undistort(p); err != nil {
			return 0, 0, jx, jy, err
		}
	}
	pn := u.tp.apply(p)
	if _, _, w := u.h.apply(pn.X, pn.Y); w == 0 {
		return 0, 0, jx, jy, ErrBeyondHorizon
	}
	fx, fy, jx, jy = u.freeJacobianNorm(pn)
	return fx, fy, jx, jy, nil
}

func (u *Uncertainty) quad(g *[8]float64) float64 {
	s := 0.0
	for a := range 8 {
		for b := range 8 {
			s += g[a] * u.cov[a*8+b] * g[b]
		}
	}
	return max(s, 0)
}

// DisplacementSigma returns the 1-sigma error, in metres, of the ground
// distance between the points seen at recorded pixels a and b that is due to
// the calibration alone. It grows where the points leave the surveyed area.
func (u *Uncertainty) DisplacementSigma(a, b Point) (float64, error) {
	ax, ay, jax, jay, err := u.freeJacobian(a)
	if err != nil {
		return 0, err
	}
	bx, by, jbx, jby, err := u.freeJacobian(b)
	if err != nil {
		return 0, err
	}
	dx, dy := bx-ax, by-ay
	d := math.Hypot(dx, dy)
	if d == 0 {
		return 0, nil
	}
	ux, uy := dx/d, dy/d
	var g [8]float64
	for i := range 8 {
		g[i] = ux*(jbx[i]-jax[i]) + uy*(jby[i]-jay[i])
	}
	return math.Sqrt(u.quad(&g)) / u.tq.s, nil
}

// PointSigma returns the 1-sigma radial error, in metres, of the ground
// position of recorded pixel p that is due to the calibration alone.
func (u *Uncertainty) PointSigma(p Point) (float64, error) {
	_, _, jx, jy, err := u.freeJacobian(p)
	if err != nil {
		return 0, err
	}
	return math.Sqrt(u.quad(&jx)+u.quad(&jy)) / u.tq.s, nil
}
