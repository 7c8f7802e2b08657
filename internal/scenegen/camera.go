package scenegen

import (
	"errors"
	"fmt"
	"math"

	"github.com/vigia-pe/vigia/calibration"
)

// Vec3 is a point or direction in ground coordinates (metres, z up).
type Vec3 struct{ X, Y, Z float64 }

func (a Vec3) add(b Vec3) Vec3      { return Vec3{a.X + b.X, a.Y + b.Y, a.Z + b.Z} }
func (a Vec3) sub(b Vec3) Vec3      { return Vec3{a.X - b.X, a.Y - b.Y, a.Z - b.Z} }
func (a Vec3) scale(k float64) Vec3 { return Vec3{a.X * k, a.Y * k, a.Z * k} }
func (a Vec3) dot(b Vec3) float64   { return a.X*b.X + a.Y*b.Y + a.Z*b.Z }
func (a Vec3) cross(b Vec3) Vec3 {
	return Vec3{a.Y*b.Z - a.Z*b.Y, a.Z*b.X - a.X*b.Z, a.X*b.Y - a.Y*b.X}
}
func (a Vec3) norm() float64 { return math.Sqrt(a.dot(a)) }
func (a Vec3) unit() Vec3    { return a.scale(1 / a.norm()) }
func (a Vec3) horizontal() (Vec3, bool) {
	h := Vec3{a.X, a.Y, 0}
	n := h.norm()
	if n < 1e-12 {
		return Vec3{}, false
	}
	return h.scale(1 / n), true
}

// Camera is a pinhole camera above the flat road (see the package comment
// for the model and the homography derivation).
type Camera struct {
	// Width and Height are the image size in pixels.
	Width  int `json:"width"`
	Height int `json:"height"`
	// HFOVDeg is the horizontal field of view in degrees.
	HFOVDeg float64 `json:"hfov_deg"`
	// X, Y are the camera's position on the ground plane, metres.
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// HeightM is the height of the optical centre above the road, metres.
	HeightM float64 `json:"height_m"`
	// PitchDeg is the downward tilt of the optical axis below the horizon.
	PitchDeg float64 `json:"pitch_deg"`
	// YawDeg turns the optical axis from +y (along the road) towards +x.
	YawDeg float64 `json:"yaw_deg"`
	// RollDeg rotates the camera about its optical axis.
	RollDeg float64 `json:"roll_deg"`
}

// Validate reports every problem of the camera at once.
func (c Camera) Validate() error {
	var errs []error
	if c.Width < 16 || c.Height < 16 || c.Width > 8192 || c.Height > 8192 {
		errs = append(errs, fmt.Errorf("image size %dx%d must be within 16..8192", c.Width, c.Height))
	}
	if c.Width%2 != 0 || c.Height%2 != 0 {
		errs = append(errs, fmt.Errorf("image size %dx%d must be even (H.264 4:2:0)", c.Width, c.Height))
	}
	if !(c.HFOVDeg >= 10 && c.HFOVDeg <= 150) {
		errs = append(errs, fmt.Errorf("hfov %v° must be within 10..150", c.HFOVDeg))
	}
	if !(c.HeightM >= 0.5 && c.HeightM <= 100) {
		errs = append(errs, fmt.Errorf("height %v m must be within 0.5..100", c.HeightM))
	}
	if !(c.PitchDeg > 0 && c.PitchDeg < 89) {
		errs = append(errs, fmt.Errorf("pitch %v° must be within (0, 89): the camera must look down at the road", c.PitchDeg))
	}
	if !(c.YawDeg >= -180 && c.YawDeg <= 180) || !(c.RollDeg >= -45 && c.RollDeg <= 45) {
		errs = append(errs, fmt.Errorf("yaw %v° must be within ±180 and roll %v° within ±45", c.YawDeg, c.RollDeg))
	}
	if !finite(c.X) || !finite(c.Y) {
		errs = append(errs, fmt.Errorf("position (%v, %v) is not finite", c.X, c.Y))
	}
	return errors.Join(errs...)
}

// FocalPx returns the focal length in pixels (square pixels).
func (c Camera) FocalPx() float64 {
	return float64(c.Width) / 2 / math.Tan(c.HFOVDeg*math.Pi/360)
}

// Centre returns the optical centre in ground coordinates.
func (c Camera) Centre() Vec3 { return Vec3{c.X, c.Y, c.HeightM} }

// axes returns the camera's right, down and forward unit vectors in world
// coordinates (the rows of R).
func (c Camera) axes() (r, d, f Vec3) {
	psi, th, phi := c.YawDeg*math.Pi/180, c.PitchDeg*math.Pi/180, c.RollDeg*math.Pi/180
	f = Vec3{math.Sin(psi) * math.Cos(th), math.Cos(psi) * math.Cos(th), -math.Sin(th)}
	r0 := Vec3{math.Cos(psi), -math.Sin(psi), 0}
	d0 := f.cross(r0)
	r = r0.scale(math.Cos(phi)).add(d0.scale(math.Sin(phi)))
	d = r0.scale(-math.Sin(phi)).add(d0.scale(math.Cos(phi)))
	return r, d, f
}

// Project maps a world point to pixels; ok is false when the point is not
// in front of the camera.
func (c Camera) Project(p Vec3) (u, v float64, ok bool) {
	r, d, f := c.axes()
	q := p.sub(c.Centre())
	z := q.dot(f)
	if z <= 1e-9 {
		return 0, 0, false
	}
	F := c.FocalPx()
	return F*q.dot(r)/z + float64(c.Width)/2, F*q.dot(d)/z + float64(c.Height)/2, true
}

// Ray returns the unit direction, in world coordinates, of the ray through
// image point (u, v).
func (c Camera) Ray(u, v float64) Vec3 {
	r, d, f := c.axes()
	F := c.FocalPx()
	x, y := (u-float64(c.Width)/2)/F, (v-float64(c.Height)/2)/F
	return r.scale(x).add(d.scale(y)).add(f).unit()
}

// GroundToImage returns the homography mapping ground (x, y, 1) to image
// (u·w, v·w, w), with w > 0 in front of the camera.
func (c Camera) GroundToImage() calibration.Homography {
	r, d, f := c.axes()
	F := c.FocalPx()
	cx, cy := float64(c.Width)/2, float64(c.Height)/2
	C := c.Centre()
	// Columns of R·[e1 e2 −C]: R·e1 = (r.X, d.X, f.X), R·e2 = (r.Y, d.Y, f.Y).
	m := [3][3]float64{
		{r.X, r.Y, -r.dot(C)},
		{d.X, d.Y, -d.dot(C)},
		{f.X, f.Y, -f.dot(C)},
	}
	var h calibration.Homography
	for j := range 3 {
		h[0][j] = F*m[0][j] + cx*m[2][j]
		h[1][j] = F*m[1][j] + cy*m[2][j]
		h[2][j] = m[2][j]
	}
	return normalise(h)
}

// ImageToGround returns the homography mapping image (u, v, 1) to ground
// (x·w, y·w, w), with w > 0 below the horizon: what a calibration recovers.
func (c Camera) ImageToGround() (calibration.Homography, error) {
	inv, err := c.GroundToImage().Inverse()
	if err != nil {
		return calibration.Homography{}, fmt.Errorf("scenegen: camera homography: %w", err)
	}
	return normalise(inv), nil
}

// GroundToPixel projects a ground point (z = 0) to pixels.
func (c Camera) GroundToPixel(x, y float64) (u, v float64, ok bool) {
	return c.Project(Vec3{x, y, 0})
}

// PixelToGround intersects the ray through (u, v) with the road; ok is false
// at or above the horizon.
func (c Camera) PixelToGround(u, v float64) (x, y float64, ok bool) {
	d := c.Ray(u, v)
	if d.Z >= -1e-12 {
		return 0, 0, false
	}
	t := -c.HeightM / d.Z
	return c.X + t*d.X, c.Y + t*d.Y, true
}

// normalise scales h to unit Frobenius norm, keeping its sign.
func normalise(h calibration.Homography) calibration.Homography {
	var s float64
	for i := range 3 {
		for j := range 3 {
			s += h[i][j] * h[i][j]
		}
	}
	s = math.Sqrt(s)
	if s == 0 {
		return h
	}
	for i := range 3 {
		for j := range 3 {
			h[i][j] /= s
		}
	}
	return h
}

// applyH maps (x, y) through h; w is the homogeneous scale.
func applyH(h *calibration.Homography, x, y float64) (px, py, w float64) {
	X := h[0][0]*x + h[0][1]*y + h[0][2]
	Y := h[1][0]*x + h[1][1]*y + h[1][2]
	w = h[2][0]*x + h[2][1]*y + h[2][2]
	return X / w, Y / w, w
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
