package calibration

import (
	"fmt"
	"math"
)

// ZoneKind says what a zone is for.
type ZoneKind string

// Zone kinds. Values are stored in files: never reuse or rename one.
const (
	// ZoneRoad is the carriageway: tracks outside it are ignored.
	ZoneRoad ZoneKind = "road"
	// ZoneROI is a generic region of interest.
	ZoneROI ZoneKind = "roi"
	// ZoneSpeed is a speed-enforcement zone; it carries SpeedLimitKmh.
	ZoneSpeed ZoneKind = "speed"
	// ZoneBusLane is a lane reserved for buses.
	ZoneBusLane ZoneKind = "bus_lane"
	// ZoneRestrictedLane is a lane closed to general traffic.
	ZoneRestrictedLane ZoneKind = "restricted_lane"
)

// LineKind says what a line is for.
type LineKind string

// Line kinds. Values are stored in files: never reuse or rename one.
const (
	// LineStop is a stop line at a junction or crossing.
	LineStop LineKind = "stop_line"
	// LineSolidLane is a solid lane marking that must not be crossed.
	LineSolidLane LineKind = "solid_lane_line"
	// LineCount is a virtual line for counting vehicles.
	LineCount LineKind = "count_line"
)

// Limits that keep validation cheap on hostile files.
const (
	MaxVertices = 256 // per zone or line
	MaxZones    = 256
	MaxLines    = 256
)

func (k ZoneKind) known() bool {
	switch k {
	case ZoneRoad, ZoneROI, ZoneSpeed, ZoneBusLane, ZoneRestrictedLane:
		return true
	}
	return false
}

func (k LineKind) known() bool {
	switch k {
	case LineStop, LineSolidLane, LineCount:
		return true
	}
	return false
}

// Zone is a named polygon stored in both pixels and ground metres (the same
// vertices, in the same order).
type Zone struct {
	Name string   `json:"name"`
	Kind ZoneKind `json:"kind"`
	// SpeedLimitKmh is set for speed zones only.
	SpeedLimitKmh float64 `json:"speed_limit_kmh,omitempty"`
	Image         []Point `json:"image"`
	Ground        []Point `json:"ground"`
}

// Line is a named polyline (two or more vertices) in pixels and metres.
type Line struct {
	Name   string   `json:"name"`
	Kind   LineKind `json:"kind"`
	Image  []Point  `json:"image"`
	Ground []Point  `json:"ground"`
}

// ContainsGround reports whether a ground point lies inside the zone.
func (z *Zone) ContainsGround(p Point) bool { return pointInPolygon(p, z.Ground) }

// ContainsImage reports whether a pixel lies inside the zone's image polygon.
func (z *Zone) ContainsImage(p Point) bool { return pointInPolygon(p, z.Image) }

// CrossesGround reports whether the ground segment a→b crosses the line.
func (l *Line) CrossesGround(a, b Point) bool {
	for i := 0; i+1 < len(l.Ground); i++ {
		if segmentsIntersect(a, b, l.Ground[i], l.Ground[i+1]) {
			return true
		}
	}
	return false
}

// AddZone completes the zone's missing coordinates (image from ground or
// ground from image) through the calibration, checks it, appends it and
// reseals the calibration.
func (c *Calibration) AddZone(z Zone) error {
	if len(c.Zones) >= MaxZones {
		return fmt.Errorf("calibration: zone %q: at most %d zones", z.Name, MaxZones)
	}
	img, gnd, err := c.complete(z.Image, z.Ground)
	if err != nil {
		return fmt.Errorf("calibration: zone %q: %w", z.Name, err)
	}
	z.Image, z.Ground = img, gnd
	if err := c.checkZone(z, c.zoneNames(-1)); err != nil {
		return fmt.Errorf("calibration: zone %q: %w", z.Name, err)
	}
	c.Zones = append(c.Zones, z)
	c.Seal()
	return nil
}

// AddLine completes the line's missing coordinates, checks it, appends it
// and reseals the calibration.
func (c *Calibration) AddLine(l Line) error {
	if len(c.Lines) >= MaxLines {
		return fmt.Errorf("calibration: line %q: at most %d lines", l.Name, MaxLines)
	}
	img, gnd, err := c.complete(l.Image, l.Ground)
	if err != nil {
		return fmt.Errorf("calibration: line %q: %w", l.Name, err)
	}
	l.Image, l.Ground = img, gnd
	if err := c.checkLine(l, c.lineNames(-1)); err != nil {
		return fmt.Errorf("calibration: line %q: %w", l.Name, err)
	}
	c.Lines = append(c.Lines, l)
	c.Seal()
	return nil
}

// complete fills the missing side of a vertex list.
func (c *Calibration) complete(img, gnd []Point) ([]Point, []Point, error) {
	switch {
	case len(img) > 0 && len(gnd) > 0:
		return img, gnd, nil
	case len(img) > 0:
		gnd = make([]Point, len(img))
		for i, p := range img {
			g, err := c.PixelToGround(p)
			if err != nil {
				return nil, nil, fmt.Errorf("image[%d]: %w", i, err)
			}
			gnd[i] = g
		}
	case len(gnd) > 0:
		img = make([]Point, len(gnd))
		for i, g := range gnd {
			p, err := c.GroundToPixel(g)
			if err != nil {
				return nil, nil, fmt.Errorf("ground[%d]: %w", i, err)
			}
			img[i] = p
		}
	default:
		return nil, nil, fmt.Errorf("no vertices: give image or ground coordinates")
	}
	return img, gnd, nil
}

func (c *Calibration) zoneNames(skip int) map[string]bool {
	m := make(map[string]bool, len(c.Zones))
	for i, z := range c.Zones {
		if i != skip {
			m[z.Name] = true
		}
	}
	return m
}

func (c *Calibration) lineNames(skip int) map[string]bool {
	m := make(map[string]bool, len(c.Lines))
	for i, l := range c.Lines {
		if i != skip {
			m[l.Name] = true
		}
	}
	return m
}

func (c *Calibration) checkZone(z Zone, taken map[string]bool) error {
	if z.Name == "" {
		return fmt.Errorf("name: must not be empty")
	}
	if taken[z.Name] {
		return fmt.Errorf("name: %q is used by another zone", z.Name)
	}
	if !z.Kind.known() {
		return fmt.Errorf("kind: unknown zone kind %q (want road, roi, speed, bus_lane or restricted_lane)", z.Kind)
	}
	switch {
	case z.Kind == ZoneSpeed && !(z.SpeedLimitKmh > 0 && z.SpeedLimitKmh < 400):
		return fmt.Errorf("speed_limit_kmh: a speed zone needs a limit in (0, 400) km/h, got %g", z.SpeedLimitKmh)
	case z.Kind != ZoneSpeed && z.SpeedLimitKmh != 0:
		return fmt.Errorf("speed_limit_kmh: only speed zones carry a limit (kind is %q)", z.Kind)
	}
	if len(z.Image) < 3 || len(z.Image) > MaxVertices {
		return fmt.Errorf("image: a polygon needs 3 to %d vertices, got %d", MaxVertices, len(z.Image))
	}
	if err := c.checkVertices(z.Image, z.Ground); err != nil {
		return err
	}
	if i, j, ok := selfIntersection(z.Ground); ok {
		return fmt.Errorf("ground: edges %d and %d cross; a zone must be a simple polygon", i, j)
	}
	if polygonArea(z.Ground) == 0 {
		return fmt.Errorf("ground: the polygon has no area")
	}
	return nil
}

func (c *Calibration) checkLine(l Line, taken map[string]bool) error {
	if l.Name == "" {
		return fmt.Errorf("name: must not be empty")
	}
	if taken[l.Name] {
		return fmt.Errorf("name: %q is used by another line", l.Name)
	}
	if !l.Kind.known() {
		return fmt.Errorf("kind: unknown line kind %q (want stop_line, solid_lane_line or count_line)", l.Kind)
	}
	if len(l.Image) < 2 || len(l.Image) > MaxVertices {
		return fmt.Errorf("image: a line needs 2 to %d vertices, got %d", MaxVertices, len(l.Image))
	}
	if err := c.checkVertices(l.Image, l.Ground); err != nil {
		return err
	}
	for i := 0; i+1 < len(l.Ground); i++ {
		if l.Ground[i] == l.Ground[i+1] {
			return fmt.Errorf("ground[%d], ground[%d]: consecutive vertices coincide", i, i+1)
		}
	}
	return nil
}

// checkVertices checks that the pixel and ground vertex lists are the same
// points under the calibration.
func (c *Calibration) checkVertices(img, gnd []Point) error {
	if len(img) != len(gnd) {
		return fmt.Errorf("image has %d vertices but ground has %d", len(img), len(gnd))
	}
	for i := range img {
		if !img[i].finite() {
			return fmt.Errorf("image[%d]: not finite", i)
		}
		if !gnd[i].finite() {
			return fmt.Errorf("ground[%d]: not finite", i)
		}
		g, err := c.PixelToGround(img[i])
		if err != nil {
			return fmt.Errorf("image[%d]: %w", i, err)
		}
		// Compare in whichever plane is better conditioned: near the horizon a
		// rounding-sized pixel difference is metres on the ground.
		if g.Dist(gnd[i]) <= 1e-6*max(1, math.Hypot(g.X, g.Y)) {
			continue
		}
		if p, err := c.GroundToPixel(gnd[i]); err == nil && p.Dist(img[i]) <= 1e-6*max(1, math.Hypot(p.X, p.Y)) {
			continue
		}
		return fmt.Errorf("ground[%d]: (%g, %g) does not match image[%d] (%g, %g), which maps to (%g, %g)",
			i, gnd[i].X, gnd[i].Y, i, img[i].X, img[i].Y, g.X, g.Y)
	}
	return nil
}

// pointInPolygon is the even–odd ray-casting test.
func pointInPolygon(p Point, poly []Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}

func polygonArea(poly []Point) float64 {
	s := 0.0
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		s += poly[j].X*poly[i].Y - poly[i].X*poly[j].Y
	}
	return math.Abs(s) / 2
}

func orient(a, b, c Point) float64 {
	return (b.X-a.X)*(c.Y-a.Y) - (b.Y-a.Y)*(c.X-a.X)
}

// segmentsIntersect reports whether segments ab and cd share a point.
func segmentsIntersect(a, b, c, d Point) bool {
	d1, d2 := orient(c, d, a), orient(c, d, b)
	d3, d4 := orient(a, b, c), orient(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	on := func(p, q, r Point) bool { // r on segment pq, given collinear
		return min(p.X, q.X) <= r.X && r.X <= max(p.X, q.X) && min(p.Y, q.Y) <= r.Y && r.Y <= max(p.Y, q.Y)
	}
	return (d1 == 0 && on(c, d, a)) || (d2 == 0 && on(c, d, b)) || (d3 == 0 && on(a, b, c)) || (d4 == 0 && on(a, b, d))
}

// selfIntersection returns two non-adjacent edges of the closed polygon that
// touch.
func selfIntersection(poly []Point) (int, int, bool) {
	n := len(poly)
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing edge
			}
			if segmentsIntersect(poly[i], poly[(i+1)%n], poly[j], poly[(j+1)%n]) {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}
