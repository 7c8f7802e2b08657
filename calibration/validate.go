package calibration

import (
	"fmt"
	"math"
	"strings"
)

// ValidationError lists every problem found in a calibration, each prefixed
// with the JSON path of the field at fault.
type ValidationError struct {
	Problems []string
}

// Error implements error.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return "calibration: invalid: " + e.Problems[0]
	}
	return fmt.Sprintf("calibration: invalid (%d problems):\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}

type problems []string

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

// residualTolerance is how far a stored residual or statistic may differ from
// the recomputed one (platforms may round the last bits differently).
func residualTolerance(v float64) float64 { return 1e-9 + 1e-9*math.Abs(v) }

// Validate checks every field and the consistency between them: the inverse
// matches the homography, the residuals and their summary match the points,
// the zones' and lines' pixels match their metres, and the hash matches the
// content. It reports all problems at once in a *ValidationError.
func (c *Calibration) Validate() error {
	var p problems
	if c.Version != Version {
		p.add("version", "unsupported version %d (this build reads %d)", c.Version, Version)
		return &ValidationError{Problems: p}
	}
	if len(c.DeviceID) > 128 || strings.ContainsFunc(c.DeviceID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		p.add("device_id", "must be at most 128 printable characters")
	}
	if c.Image.Width <= 0 || c.Image.Height <= 0 {
		p.add("image", "width and height must be positive, got %dx%d", c.Image.Width, c.Image.Height)
	}
	if c.CreatedAt.IsZero() {
		p.add("created_at", "missing")
	}
	if l := c.Location; l != nil {
		if !(l.Lat >= -90 && l.Lat <= 90) {
			p.add("location.lat", "%g is outside [-90, 90]", l.Lat)
		}
		if !(l.Lon >= -180 && l.Lon <= 180) {
			p.add("location.lon", "%g is outside [-180, 180]", l.Lon)
		}
		if !(l.HeadingDeg >= 0 && l.HeadingDeg < 360) {
			p.add("location.heading_deg", "%g is outside [0, 360)", l.HeadingDeg)
		}
	}
	if c.Distortion != nil {
		if err := c.Distortion.validate(); err != nil {
			p.add("distortion", "%v", err)
		}
	}
	switch c.Solver.Method {
	case "dlt":
		if len(c.Points) != 4 {
			p.add("solver.method", `"dlt" is for exactly 4 points, the file has %d`, len(c.Points))
		}
	case "ransac":
		if !(c.Solver.InlierThresholdM > 0) || !isFinite(c.Solver.InlierThresholdM) {
			p.add("solver.inlier_threshold_m", "must be a positive number, got %g", c.Solver.InlierThresholdM)
		}
	default:
		p.add("solver.method", `unknown method %q (want "dlt" or "ransac")`, c.Solver.Method)
	}
	// Mapping points is meaningless without a usable lens model or matrix.
	geometryOK := c.Distortion == nil || c.Distortion.validate() == nil
	if !c.Homography.finite() {
		p.add("homography", "entries must be finite numbers")
		geometryOK = false
	} else if _, err := c.Homography.Inverse(); err != nil {
		p.add("homography", "matrix is singular")
		geometryOK = false
	}
	if !c.Inverse.finite() {
		p.add("inverse", "entries must be finite numbers")
		geometryOK = false
	} else if geometryOK && !isInversePair(c.Homography, c.Inverse) {
		p.add("inverse", "is not the inverse of homography")
		geometryOK = false
	}
	c.validatePoints(&p, geometryOK)
	if len(c.Zones) > MaxZones {
		p.add("zones", "at most %d zones, got %d", MaxZones, len(c.Zones))
		geometryOK = false
	}
	if len(c.Lines) > MaxLines {
		p.add("lines", "at most %d lines, got %d", MaxLines, len(c.Lines))
		geometryOK = false
	}
	if geometryOK {
		for i, z := range c.Zones {
			if err := c.checkZone(z, c.zoneNames(i)); err != nil {
				p.add(fmt.Sprintf("zones[%d]", i), "%v", err)
			}
		}
		for i, l := range c.Lines {
			if err := c.checkLine(l, c.lineNames(i)); err != nil {
				p.add(fmt.Sprintf("lines[%d]", i), "%v", err)
			}
		}
	}
	switch {
	case c.Hash == "":
		p.add("hash", "missing")
	case len(p) == 0 && c.Hash != c.ComputeHash():
		p.add("hash", "%s does not match the content (%s): the file was edited after it was sealed", c.Hash, c.ComputeHash())
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

// isInversePair checks that h·inv is a multiple of the identity.
func isInversePair(h, inv Homography) bool {
	m := h.Mul(inv)
	k := (m[0][0] + m[1][1] + m[2][2]) / 3
	if !(math.Abs(k) > 0) {
		return false
	}
	for i := range 3 {
		for j := range 3 {
			want := 0.0
			if i == j {
				want = 1
			}
			if math.Abs(m[i][j]/k-want) > 1e-9 {
				return false
			}
		}
	}
	return true
}

func (c *Calibration) validatePoints(p *problems, geometryOK bool) {
	if len(c.Points) < 4 || len(c.Points) > MaxPoints {
		p.add("points", "want 4 to %d points, got %d", MaxPoints, len(c.Points))
		return
	}
	inliers := 0
	sum, maxR := 0.0, 0.0
	for i, pt := range c.Points {
		f := fmt.Sprintf("points[%d]", i)
		if !isFinite(pt.U) || !isFinite(pt.V) || !isFinite(pt.X) || !isFinite(pt.Y) || !isFinite(pt.ResidualM) {
			p.add(f, "coordinates must be finite numbers")
			continue
		}
		if pt.U < 0 || pt.V < 0 || pt.U > float64(c.Image.Width) || pt.V > float64(c.Image.Height) {
			p.add(f, "pixel (%g, %g) lies outside the %dx%d image", pt.U, pt.V, c.Image.Width, c.Image.Height)
		}
		if !pt.Outlier {
			inliers++
		}
		if !geometryOK {
			continue
		}
		g, err := c.PixelToGround(Point{pt.U, pt.V})
		r := -1.0
		if err == nil {
			r = g.Dist(Point{pt.X, pt.Y})
		} else if !pt.Outlier {
			p.add(f, "an inlier must map to the ground: %v", err)
			continue
		}
		if math.Abs(r-pt.ResidualM) > residualTolerance(r) {
			p.add(f+".residual_m", "%g does not match the recomputed %g", pt.ResidualM, r)
		}
		if !pt.Outlier {
			if _, err := c.GroundToPixel(Point{pt.X, pt.Y}); err != nil {
				p.add(f, "ground point (%g, %g) is behind the camera under inverse", pt.X, pt.Y)
			}
			sum += r * r
			maxR = max(maxR, r)
		}
		if c.Solver.Method == "ransac" && c.Solver.InlierThresholdM > 0 {
			switch {
			case !pt.Outlier && r > c.Solver.InlierThresholdM+residualTolerance(r):
				p.add(f+".outlier", "residual %g m exceeds the inlier threshold %g m but the point is not marked as an outlier", r, c.Solver.InlierThresholdM)
			case pt.Outlier && r >= 0 && r < c.Solver.InlierThresholdM-residualTolerance(r):
				p.add(f+".outlier", "residual %g m is within the inlier threshold %g m but the point is marked as an outlier", r, c.Solver.InlierThresholdM)
			}
		}
	}
	if inliers < 4 {
		p.add("points", "at least 4 inliers are needed, got %d", inliers)
		return
	}
	if c.Reprojection.Inliers != inliers {
		p.add("reprojection.inliers", "%d does not match the %d points not marked as outliers", c.Reprojection.Inliers, inliers)
	}
	if !geometryOK || len(*p) > 0 {
		return
	}
	rms := math.Sqrt(sum / float64(inliers))
	if math.Abs(rms-c.Reprojection.RMSM) > residualTolerance(rms) {
		p.add("reprojection.rms_m", "%g does not match the recomputed %g", c.Reprojection.RMSM, rms)
	}
	if math.Abs(maxR-c.Reprojection.MaxM) > residualTolerance(maxR) {
		p.add("reprojection.max_m", "%g does not match the recomputed %g", c.Reprojection.MaxM, maxR)
	}
	if err := c.checkDegenerate(); err != nil {
		p.add("points", "%v", err)
	}
}

// checkDegenerate refuses inliers that cannot determine a homography.
func (c *Calibration) checkDegenerate() error {
	in := c.inliers()
	img := make([]Point, len(in))
	gnd := make([]Point, len(in))
	for i, pp := range in {
		u, _, err := c.Undistort(pp.Image)
		if err != nil {
			return err
		}
		img[i], gnd[i] = u, pp.Ground
	}
	pn, qn := hartley(img).applyAll(img), hartley(gnd).applyAll(gnd)
	for _, set := range []struct {
		name string
		pts  []Point
	}{{"image", pn}, {"ground", qn}} {
		if err := checkDuplicates(set.pts, set.name); err != nil {
			return fmt.Errorf("two inliers share a %s position", set.name)
		}
		// Only exact degeneracy: how close to a line is acceptable is the
		// solver's policy (SolveOptions.MinSpread), not the format's.
		if r := spread(set.pts); r < 1e-6 {
			return fmt.Errorf("the inliers' %s points lie on a line", set.name)
		}
	}
	return nil
}
