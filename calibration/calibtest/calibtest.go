// Package calibtest builds synthetic cameras above a flat road for tests: a
// pinhole model with known pose gives the exact ground↔pixel homography, so
// solvers, speed estimators and drawings can be checked against the truth.
package calibtest

import (
	"math"
	"math/rand/v2"

	"github.com/vigia-pe/vigia/calibration"
)

// Camera is a pinhole camera at height Height metres above the road plane,
// at ground position (X, Y), looking along compass-like yaw YawDeg (0 = +y,
// positive turns towards +x), tilted down by PitchDeg and rolled by RollDeg.
// Ground x, y are metres on the road; z is up.
type Camera struct {
	X, Y, Height              float64
	YawDeg, PitchDeg, RollDeg float64
	// Focal is the focal length in pixels.
	Focal float64
	// Width, Height of the image in pixels; the principal point is its centre.
	W, H int
	// Lens, when set, distorts the ideal pixels.
	Lens *calibration.Distortion
}

// Size returns the image size.
func (c Camera) Size() calibration.ImageSize {
	return calibration.ImageSize{Width: c.W, Height: c.H}
}

// GroundToImage returns the exact homography mapping ground metres to ideal
// (undistorted) pixels.
func (c Camera) GroundToImage() calibration.Homography {
	yaw, pitch, roll := c.YawDeg*math.Pi/180, c.PitchDeg*math.Pi/180, c.RollDeg*math.Pi/180
	z := [3]float64{math.Sin(yaw) * math.Cos(pitch), math.Cos(yaw) * math.Cos(pitch), -math.Sin(pitch)}
	x := [3]float64{math.Cos(yaw), -math.Sin(yaw), 0}
	y := cross(z, x)
	cr, sr := math.Cos(roll), math.Sin(roll)
	var xr, yr [3]float64
	for i := range 3 {
		xr[i] = cr*x[i] + sr*y[i]
		yr[i] = -sr*x[i] + cr*y[i]
	}
	r := [3][3]float64{xr, yr, z}
	center := [3]float64{c.X, c.Y, c.Height}
	var t [3]float64
	for i := range 3 {
		t[i] = -(r[i][0]*center[0] + r[i][1]*center[1] + r[i][2]*center[2])
	}
	m := calibration.Homography{
		{r[0][0], r[0][1], t[0]},
		{r[1][0], r[1][1], t[1]},
		{r[2][0], r[2][1], t[2]},
	}
	k := calibration.Homography{{c.Focal, 0, float64(c.W) / 2}, {0, c.Focal, float64(c.H) / 2}, {0, 0, 1}}
	return k.Mul(m)
}

// ImageToGround returns the exact homography mapping ideal pixels to ground.
func (c Camera) ImageToGround() calibration.Homography {
	// Only a camera on the plane itself (Height 0) is singular; it gives zeros.
	h, _ := c.GroundToImage().Inverse()
	return h
}

// Pixel projects a ground point to the recorded (distorted) pixel; ok is
// false behind the camera.
func (c Camera) Pixel(g calibration.Point) (calibration.Point, bool) {
	h := c.GroundToImage()
	w := h[2][0]*g.X + h[2][1]*g.Y + h[2][2]
	if w <= 0 {
		return calibration.Point{}, false
	}
	p := calibration.Point{
		X: (h[0][0]*g.X + h[0][1]*g.Y + h[0][2]) / w,
		Y: (h[1][0]*g.X + h[1][1]*g.Y + h[1][2]) / w,
	}
	if c.Lens != nil {
		p = c.Lens.Distort(p)
	}
	return p, true
}

// InImage reports whether a pixel lies inside the image.
func (c Camera) InImage(p calibration.Point) bool {
	return p.X >= 0 && p.Y >= 0 && p.X <= float64(c.W) && p.Y <= float64(c.H)
}

// Ground maps an ideal (undistorted) pixel to the ground exactly.
func (c Camera) Ground(p calibration.Point) calibration.Point {
	h := c.ImageToGround()
	w := h[2][0]*p.X + h[2][1]*p.Y + h[2][2]
	return calibration.Point{
		X: (h[0][0]*p.X + h[0][1]*p.Y + h[0][2]) / w,
		Y: (h[1][0]*p.X + h[1][1]*p.Y + h[1][2]) / w,
	}
}

// Survey returns point pairs for the ground points that the camera sees,
// with Gaussian noise of pixelSigma pixels and groundSigma metres (per
// coordinate) drawn from rng (nil for exact pairs).
func (c Camera) Survey(ground []calibration.Point, pixelSigma, groundSigma float64, rng *rand.Rand) []calibration.PointPair {
	var out []calibration.PointPair
	for _, g := range ground {
		p, ok := c.Pixel(g)
		if !ok || !c.InImage(p) {
			continue
		}
		if rng != nil {
			p.X += rng.NormFloat64() * pixelSigma
			p.Y += rng.NormFloat64() * pixelSigma
			p.X = min(max(p.X, 0), float64(c.W))
			p.Y = min(max(p.Y, 0), float64(c.H))
			g.X += rng.NormFloat64() * groundSigma
			g.Y += rng.NormFloat64() * groundSigma
		}
		out = append(out, calibration.PointPair{Image: p, Ground: g})
	}
	return out
}

// Grid returns the points (x, y) for x in xs and y in ys.
func Grid(xs, ys []float64) []calibration.Point {
	var out []calibration.Point
	for _, y := range ys {
		for _, x := range xs {
			out = append(out, calibration.Point{X: x, Y: y})
		}
	}
	return out
}

// Street is a typical enforcement view: 1920x1080, 6.5 m pole beside the
// road, 14° down, looking along it with a slight yaw.
func Street() Camera {
	return Camera{X: -2, Y: 0, Height: 6.5, YawDeg: 8, PitchDeg: 14, RollDeg: 0.5, Focal: 1500, W: 1920, H: 1080}
}

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
