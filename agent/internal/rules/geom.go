package rules

import (
	"math"

	"github.com/vigia-pe/vigia/calibration"
)

// crossing returns where the ground segment a→b first crosses the polyline,
// as a fraction s in (0, 1] of a→b (a point on the line counts as crossed
// when the segment ends there, not again when the next one starts there), and the sign of a's side of the crossed segment
// (+1 left, −1 right, seen along the polyline).
func crossing(a, b calibration.Point, poly []calibration.Point) (s float64, side int, ok bool) {
	s = math.Inf(1)
	r := sub(b, a)
	for i := 0; i+1 < len(poly); i++ {
		p, q := poly[i], sub(poly[i+1], poly[i])
		den := cross(r, q)
		if den == 0 {
			continue // parallel: touching along the line is not a crossing
		}
		ap := sub(p, a)
		t := cross(ap, q) / den // along a→b
		u := cross(ap, r) / den // along the segment
		if t <= 0 || t > 1 || u < 0 || u > 1 || t >= s {
			continue
		}
		s, side, ok = t, sgn(cross(q, sub(a, p))), true
	}
	if !ok {
		return 0, 0, false
	}
	return s, side, true
}

// sideDist returns p's signed distance from the polyline (positive on the
// left seen along it) and whether p's foot lies on the polyline rather than
// beyond one of its ends.
func sideDist(p calibration.Point, poly []calibration.Point) (d float64, within bool) {
	best := math.Inf(1)
	for i := 0; i+1 < len(poly); i++ {
		a, q := poly[i], sub(poly[i+1], poly[i])
		l2 := q.X*q.X + q.Y*q.Y
		u := ((p.X-a.X)*q.X + (p.Y-a.Y)*q.Y) / l2
		uc := min(max(u, 0), 1)
		foot := calibration.Point{X: a.X + uc*q.X, Y: a.Y + uc*q.Y}
		dist := p.Dist(foot)
		if dist >= best {
			continue
		}
		best = dist
		in := !(i == 0 && u < 0) && !(i == len(poly)-2 && u > 1)
		s := float64(sgn(cross(q, sub(p, a))))
		if s == 0 {
			s = 1
		}
		d, within = s*dist, in
	}
	return d, within
}

func sub(a, b calibration.Point) calibration.Point {
	return calibration.Point{X: a.X - b.X, Y: a.Y - b.Y}
}

func cross(a, b calibration.Point) float64 { return a.X*b.Y - a.Y*b.X }

func sgn(v float64) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
