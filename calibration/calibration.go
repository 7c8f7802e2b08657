// Package calibration holds a camera's ground-plane calibration: the versioned
// file format (image↔ground point pairs, the image→ground homography and its
// inverse, reprojection error, optional lens distortion, zones and lines in
// pixels and metres, geolocation and a content hash that evidence can cite),
// the solver that produces it (normalised DLT, RANSAC, least-squares refit),
// and the geometry the agent needs at run time: pixel↔ground mapping, the local
// pixel→metre Jacobian and the calibration's own uncertainty.
//
// It imports only the standard library, so the hub, tools and tests can read
// the same files the agent writes.
//
// Conventions: pixels (u, v) have the origin at the top-left corner of the
// image, u to the right and v down; ground coordinates (x, y) are metres on
// the road plane in whatever right- or left-handed frame the technician
// surveyed. The stored homography maps undistorted pixels to ground and is
// scaled so that its homogeneous w is positive on the road side of the
// horizon; the inverse is scaled the same way on the ground side.
package calibration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Version is the calibration file format this package reads and writes.
//
// History (append only):
//   - 1 (2025-11): first format.
const Version = 1

// ErrBeyondHorizon reports a pixel that does not see the ground plane (at or
// above the horizon), or a ground point behind the camera.
var ErrBeyondHorizon = errors.New("calibration: point beyond the horizon")

// Point is a 2-D point: pixels (u, v) in the image or metres (x, y) on the
// ground. It is encoded in JSON as a two-element array.
type Point struct {
	X, Y float64
}

// MarshalJSON encodes the point as [x, y].
func (p Point) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]float64{p.X, p.Y})
}

// UnmarshalJSON decodes a point from [x, y].
func (p *Point) UnmarshalJSON(b []byte) error {
	var a []float64
	if err := json.Unmarshal(b, &a); err != nil || len(a) != 2 {
		if len(b) > 40 {
			b = append(b[:40:40], "..."...)
		}
		return fmt.Errorf("point %s: want an array of two numbers [x, y]", b)
	}
	p.X, p.Y = a[0], a[1]
	return nil
}

// Dist returns the Euclidean distance between p and q.
func (p Point) Dist(q Point) float64 { return math.Hypot(p.X-q.X, p.Y-q.Y) }

func (p Point) finite() bool { return isFinite(p.X) && isFinite(p.Y) }

// PointPair is one surveyed correspondence: a pixel in the frame and the
// ground position of the same mark in metres.
type PointPair struct {
	Image  Point
	Ground Point
}

// CalPoint is a correspondence as stored in the file, with its residual.
type CalPoint struct {
	U float64 `json:"u"`
	V float64 `json:"v"`
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// ResidualM is the ground distance in metres between (x, y) and the pixel
	// mapped through the homography.
	ResidualM float64 `json:"residual_m"`
	// Outlier marks a point that RANSAC rejected; it takes no part in the fit.
	Outlier bool `json:"outlier,omitempty"`
}

// Pair returns the point as a PointPair.
func (p CalPoint) Pair() PointPair { return PointPair{Point{p.U, p.V}, Point{p.X, p.Y}} }

// ImageSize is the frame size the calibration was made on.
type ImageSize struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// Location is the camera's position and viewing direction.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// HeadingDeg is the compass bearing of the optical axis, degrees clockwise
	// from true north, in [0, 360).
	HeadingDeg float64 `json:"heading_deg"`
}

// Solver records how the homography was estimated.
type Solver struct {
	// Method is "dlt" (exactly four points) or "ransac".
	Method string `json:"method"`
	// InlierThresholdM is RANSAC's inlier distance on the ground, metres.
	InlierThresholdM float64 `json:"inlier_threshold_m,omitempty"`
	// Seed is RANSAC's random seed.
	Seed uint64 `json:"seed,omitempty"`
}

// Reprojection summarises the inliers' ground residuals in metres.
type Reprojection struct {
	RMSM    float64 `json:"rms_m"`
	MaxM    float64 `json:"max_m"`
	Inliers int     `json:"inliers"`
}

// Calibration is one camera's calibration file (format Version).
type Calibration struct {
	Version  int    `json:"version"`
	DeviceID string `json:"device_id,omitempty"`
	// Image is the frame size the pixels refer to.
	Image     ImageSize `json:"image"`
	CreatedAt time.Time `json:"created_at"`
	Location  *Location `json:"location,omitempty"`
	// Distortion, when present, is removed from pixels before the homography.
	Distortion *Distortion `json:"distortion,omitempty"`
	Solver     Solver      `json:"solver"`
	Points     []CalPoint  `json:"points"`
	// Homography maps undistorted pixels to ground metres.
	Homography Homography `json:"homography"`
	// Inverse maps ground metres to undistorted pixels.
	Inverse      Homography   `json:"inverse"`
	Reprojection Reprojection `json:"reprojection"`
	Zones        []Zone       `json:"zones,omitempty"`
	Lines        []Line       `json:"lines,omitempty"`
	// Hash is "sha256:" and the hex SHA-256 of the canonical encoding (see
	// ComputeHash); Seal sets it.
	Hash string `json:"hash"`
}

// Options are the inputs of New besides the point pairs.
type Options struct {
	DeviceID   string
	Image      ImageSize
	Location   *Location
	Distortion *Distortion
	Solve      SolveOptions
	// CreatedAt defaults to the current time (UTC, whole seconds).
	CreatedAt time.Time
}

// New solves the homography from the pairs and returns a sealed calibration.
func New(pairs []PointPair, opt Options) (*Calibration, error) {
	if opt.Image.Width <= 0 || opt.Image.Height <= 0 {
		return nil, fmt.Errorf("calibration: image size %dx%d: width and height must be positive", opt.Image.Width, opt.Image.Height)
	}
	for i, p := range pairs {
		if p.Image.finite() && (p.Image.X < 0 || p.Image.Y < 0 || p.Image.X > float64(opt.Image.Width) || p.Image.Y > float64(opt.Image.Height)) {
			return nil, &PointError{Points: []int{i}, Reason: fmt.Sprintf("pixel (%g, %g) lies outside the %dx%d image", p.Image.X, p.Image.Y, opt.Image.Width, opt.Image.Height), Err: ErrInvalidPoint}
		}
	}
	so := opt.Solve
	so.Distortion = opt.Distortion
	sol, err := Solve(pairs, so)
	if err != nil {
		return nil, err
	}
	created := opt.CreatedAt
	if created.IsZero() {
		created = time.Now()
	}
	c := &Calibration{
		Version:      Version,
		DeviceID:     opt.DeviceID,
		Image:        opt.Image,
		CreatedAt:    created.UTC().Truncate(time.Second),
		Location:     opt.Location,
		Distortion:   opt.Distortion,
		Solver:       sol.Solver,
		Homography:   sol.H,
		Inverse:      sol.Inverse,
		Reprojection: Reprojection{RMSM: sol.RMS, MaxM: sol.Max, Inliers: sol.InlierCount()},
	}
	c.Points = make([]CalPoint, len(pairs))
	for i, p := range pairs {
		c.Points[i] = CalPoint{U: p.Image.X, V: p.Image.Y, X: p.Ground.X, Y: p.Ground.Y, ResidualM: sol.Residuals[i], Outlier: !sol.Inliers[i]}
	}
	c.Seal()
	return c, nil
}

// ComputeHash returns the content hash: "sha256:" and the hex SHA-256 of the
// compact encoding/json encoding of the calibration with Hash empty. The
// encoding is canonical because encoding/json writes struct fields in
// declaration order and every float64 in its shortest round-trip form, so a
// file decoded and encoded again hashes the same. Every field but Hash is
// covered.
func (c *Calibration) ComputeHash() string {
	cp := *c
	cp.Hash = ""
	b, err := json.Marshal(&cp)
	if err != nil {
		// Only NaN or Inf can make Marshal fail; such a file never validates.
		return "sha256:unencodable"
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Seal sets Hash from the current content; call it after editing fields.
func (c *Calibration) Seal() { c.Hash = c.ComputeHash() }

// inliers returns the pairs that take part in the fit.
func (c *Calibration) inliers() []PointPair {
	out := make([]PointPair, 0, len(c.Points))
	for _, p := range c.Points {
		if !p.Outlier {
			out = append(out, p.Pair())
		}
	}
	return out
}

// Undistort removes lens distortion from a recorded pixel (identity without a
// lens model) and returns d(undistorted)/d(recorded).
func (c *Calibration) Undistort(p Point) (Point, Mat2, error) {
	if c.Distortion == nil {
		return p, Mat2{{1, 0}, {0, 1}}, nil
	}
	return c.Distortion.Undistort(p)
}

// PixelToGround maps a recorded pixel to ground metres.
func (c *Calibration) PixelToGround(p Point) (Point, error) {
	g, _, err := c.GroundAndJacobian(p)
	return g, err
}

// GroundAndJacobian maps a recorded pixel to ground metres and returns the
// local Jacobian d(x, y)/d(u, v) in metres per pixel: how far the ground point
// moves when the pixel moves, which turns pixel jitter into metres.
func (c *Calibration) GroundAndJacobian(p Point) (Point, Mat2, error) {
	if !p.finite() {
		return Point{}, Mat2{}, fmt.Errorf("calibration: pixel (%g, %g) is not finite", p.X, p.Y)
	}
	u, du, err := c.Undistort(p)
	if err != nil {
		return Point{}, Mat2{}, err
	}
	x, y, w := c.Homography.apply(u.X, u.Y)
	if !(w > 0) || !isFinite(x) || !isFinite(y) {
		return Point{}, Mat2{}, ErrBeyondHorizon
	}
	jh := c.Homography.jacobian(u.X, u.Y)
	j := Mat2{
		{jh[0][0]*du[0][0] + jh[0][1]*du[1][0], jh[0][0]*du[0][1] + jh[0][1]*du[1][1]},
		{jh[1][0]*du[0][0] + jh[1][1]*du[1][0], jh[1][0]*du[0][1] + jh[1][1]*du[1][1]},
	}
	return Point{x, y}, j, nil
}

// Jacobian returns d(x, y)/d(u, v) at a recorded pixel, in metres per pixel.
func (c *Calibration) Jacobian(p Point) (Mat2, error) {
	_, j, err := c.GroundAndJacobian(p)
	return j, err
}

// GroundToPixel maps ground metres to the recorded (distorted) pixel.
func (c *Calibration) GroundToPixel(g Point) (Point, error) {
	if !g.finite() {
		return Point{}, fmt.Errorf("calibration: ground point (%g, %g) is not finite", g.X, g.Y)
	}
	u, v, w := c.Inverse.apply(g.X, g.Y)
	if !(w > 0) || !isFinite(u) || !isFinite(v) {
		return Point{}, ErrBeyondHorizon
	}
	p := Point{u, v}
	if c.Distortion != nil {
		p = c.Distortion.Distort(p)
	}
	return p, nil
}
