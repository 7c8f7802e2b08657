package calibration

import (
	"errors"
	"fmt"
	"math"
)

// ErrUndistort reports a pixel that the lens model cannot undistort (the
// iteration diverged or the pixel lies where the model folds over).
var ErrUndistort = errors.New("calibration: pixel outside the lens model's valid region")

// Distortion is the Brown–Conrady lens model in OpenCV's convention: focal
// lengths and principal point in pixels, radial k1, k2, k3 and tangential p1,
// p2 coefficients. Pixels are undistorted before the homography is applied.
type Distortion struct {
	FX float64 `json:"fx"`
	FY float64 `json:"fy"`
	CX float64 `json:"cx"`
	CY float64 `json:"cy"`
	K1 float64 `json:"k1"`
	K2 float64 `json:"k2"`
	P1 float64 `json:"p1"`
	P2 float64 `json:"p2"`
	K3 float64 `json:"k3"`
}

// validate reports the first problem with the parameters.
func (d *Distortion) validate() error {
	vals := []struct {
		name string
		v    float64
	}{{"fx", d.FX}, {"fy", d.FY}, {"cx", d.CX}, {"cy", d.CY}, {"k1", d.K1}, {"k2", d.K2}, {"p1", d.P1}, {"p2", d.P2}, {"k3", d.K3}}
	for _, f := range vals {
		if !isFinite(f.v) {
			return fmt.Errorf("%s: not a finite number", f.name)
		}
	}
	if d.FX <= 0 || d.FY <= 0 {
		return fmt.Errorf("fx, fy: focal lengths must be positive (got %g, %g)", d.FX, d.FY)
	}
	return nil
}

// distortNorm applies the model to normalised undistorted coordinates and
// returns the distorted ones with the 2x2 derivative d(distorted)/d(undistorted).
func (d *Distortion) distortNorm(x, y float64) (float64, float64, Mat2) {
	r2 := x*x + y*y
	radial := 1 + r2*(d.K1+r2*(d.K2+r2*d.K3))
	dR := d.K1 + r2*(2*d.K2+3*d.K3*r2)
	xd := x*radial + 2*d.P1*x*y + d.P2*(r2+2*x*x)
	yd := y*radial + d.P1*(r2+2*y*y) + 2*d.P2*x*y
	j := Mat2{
		{radial + 2*x*x*dR + 2*d.P1*y + 6*d.P2*x, 2*x*y*dR + 2*d.P1*x + 2*d.P2*y},
		{2*x*y*dR + 2*d.P1*x + 2*d.P2*y, radial + 2*y*y*dR + 6*d.P1*y + 2*d.P2*x},
	}
	return xd, yd, j
}

// Distort maps an undistorted pixel to the pixel the lens actually records.
func (d *Distortion) Distort(p Point) Point {
	x, y := (p.X-d.CX)/d.FX, (p.Y-d.CY)/d.FY
	xd, yd, _ := d.distortNorm(x, y)
	return Point{d.FX*xd + d.CX, d.FY*yd + d.CY}
}

// Undistort maps a recorded pixel to its undistorted position (Newton's
// method on the forward model) and returns d(undistorted)/d(recorded).
func (d *Distortion) Undistort(p Point) (Point, Mat2, error) {
	xd, yd := (p.X-d.CX)/d.FX, (p.Y-d.CY)/d.FY
	x, y := xd, yd
	for range 50 {
		fx, fy, j := d.distortNorm(x, y)
		ex, ey := fx-xd, fy-yd
		det := j.Det()
		if !(det > 0) {
			return Point{}, Mat2{}, ErrUndistort
		}
		dx := (j[1][1]*ex - j[0][1]*ey) / det
		dy := (-j[1][0]*ex + j[0][0]*ey) / det
		x, y = x-dx, y-dy
		if math.Abs(dx)+math.Abs(dy) < 1e-14*(1+math.Abs(x)+math.Abs(y)) {
			_, _, j = d.distortNorm(x, y)
			det = j.Det()
			if !(det > 0) || !isFinite(x) || !isFinite(y) {
				return Point{}, Mat2{}, ErrUndistort
			}
			// Inverse of the forward derivative, rescaled from normalised to pixel units.
			inv := Mat2{
				{j[1][1] / det, -j[0][1] / det * d.FX / d.FY},
				{-j[1][0] / det * d.FY / d.FX, j[0][0] / det},
			}
			return Point{d.FX*x + d.CX, d.FY*y + d.CY}, inv, nil
		}
	}
	return Point{}, Mat2{}, ErrUndistort
}
