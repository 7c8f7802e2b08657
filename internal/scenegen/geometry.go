package scenegen

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/vigia-pe/vigia/calibration"
)

// GeometryFile is the zones and lines of a scene with traffic rules, in the
// format of `agent calibrate solve --geometry`, written beside points.csv.
const GeometryFile = "geometry.json"

// Geometry names and values written by Scene.Geometry.
const (
	// GeometrySpeedZone is the speed zone over the carriageway (the
	// surveyed marker rows), limited to GeometrySpeedLimitKmh.
	GeometrySpeedZone     = "speed"
	GeometrySpeedLimitKmh = 60
	// GeometryStopLine is the stop line (the centre of the painted band);
	// GeometryExitLine a count line ExitBeyondM further, past the crosswalk.
	GeometryStopLine = "stop"
	GeometryExitLine = "exit"
	ExitBeyondM      = 7.0
)

// Violation types expected in CarTruth.ExpectedViolations (the values of
// shared/event InfractionType).
const (
	ViolationSpeed        = "SPEED_VIOLATION"
	ViolationLaneInvasion = "LANE_INVASION"
	ViolationRedLight     = "RED_LIGHT"
)

// Geometry is the --geometry input of `agent calibrate solve`: ground
// coordinates only (the calibration completes the pixels).
type Geometry struct {
	Zones []GeometryZone `json:"zones"`
	Lines []GeometryLine `json:"lines"`
}

// GeometryZone is a ground polygon, metres.
type GeometryZone struct {
	Name          string               `json:"name"`
	Kind          calibration.ZoneKind `json:"kind"`
	SpeedLimitKmh float64              `json:"speed_limit_kmh,omitempty"`
	Ground        [][2]float64         `json:"ground"`
}

// GeometryLine is a ground polyline, metres.
type GeometryLine struct {
	Name   string               `json:"name"`
	Kind   calibration.LineKind `json:"kind"`
	Ground [][2]float64         `json:"ground"`
}

// Line returns the line of that name.
func (g *Geometry) Line(name string) (GeometryLine, bool) {
	for _, l := range g.Lines {
		if l.Name == name {
			return l, true
		}
	}
	return GeometryLine{}, false
}

// Zone returns the zone of that name.
func (g *Geometry) Zone(name string) (GeometryZone, bool) {
	for _, z := range g.Zones {
		if z.Name == name {
			return z, true
		}
	}
	return GeometryZone{}, false
}

// WriteJSON writes the geometry as indented JSON.
func (g *Geometry) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(g); err != nil {
		return fmt.Errorf("scenegen: encode geometry: %w", err)
	}
	return nil
}

// HasRules reports whether the scene has anything beyond speed to enforce
// (a stop line, a signal, solid dividers or bus lanes); only such scenes
// get a geometry, a signal file and expected violations.
func (s *Scene) HasRules() bool {
	r := &s.Road
	return r.StopLine || len(s.Signal) > 0 || len(r.SolidDividers) > 0 || len(r.BusLanes) > 0
}

// zoneY returns the y extent of the geometry: the marker rows, else ±20 m
// around RefY.
func (s *Scene) zoneY() (y0, y1 float64) {
	if m := s.Road.Markers; m.StepM > 0 && m.ToY > m.FromY {
		return m.FromY, m.ToY
	}
	return s.RefY - 20, s.RefY + 20
}

func rect(x0, x1, y0, y1 float64) [][2]float64 {
	return [][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}
}

// Geometry returns the scene's zones and lines: the speed zone, the stop
// and exit lines (with a stop line), one solid_lane_line per solid divider
// ("solid_<i>", over the zone's length) and one bus_lane zone per bus lane
// ("bus_<i>").
func (s *Scene) Geometry() Geometry {
	r := &s.Road
	y0, y1 := s.zoneY()
	g := Geometry{Zones: []GeometryZone{{Name: GeometrySpeedZone, Kind: calibration.ZoneSpeed, SpeedLimitKmh: GeometrySpeedLimitKmh,
		Ground: rect(r.LeftEdgeX(), r.RightEdgeX(), y0, y1)}}}
	for _, i := range r.BusLanes {
		c := r.LaneCentreX(i)
		g.Zones = append(g.Zones, GeometryZone{Name: fmt.Sprintf("bus_%d", i), Kind: calibration.ZoneBusLane,
			Ground: rect(c-r.LaneWidthM/2, c+r.LaneWidthM/2, y0, y1)})
	}
	if r.StopLine {
		a, b, y := r.StopLineSpan()
		ye := y + r.StopDirection().sign()*ExitBeyondM
		g.Lines = append(g.Lines,
			GeometryLine{Name: GeometryStopLine, Kind: calibration.LineStop, Ground: [][2]float64{{a, y}, {b, y}}},
			GeometryLine{Name: GeometryExitLine, Kind: calibration.LineCount, Ground: [][2]float64{{a, ye}, {b, ye}}})
	}
	for _, i := range r.SolidDividers {
		x := r.DividerX(i)
		g.Lines = append(g.Lines, GeometryLine{Name: fmt.Sprintf("solid_%d", i), Kind: calibration.LineSolidLane,
			Ground: [][2]float64{{x, y0}, {x, y1}}})
	}
	return g
}

// crossTime returns the first time in [0, Duration] at which g(t) turns
// non-negative, given that g is non-decreasing; ok is false when g stays
// negative or is non-negative from the start.
func (s *Scene) crossTime(g func(t float64) float64) (float64, bool) {
	lo, hi := 0.0, s.Duration
	if g(lo) >= 0 || g(hi) < 0 {
		return 0, false
	}
	for range 60 {
		mid := (lo + hi) / 2
		if g(mid) >= 0 {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi, true
}

// ruleTruth fills the rule fields of a car's truth: stop-line and solid-line
// crossing times, the standstill time and the expected violations. The
// expectations are the law, not a detector's tolerance: RED_LIGHT when the
// ground point crosses the stop line while the signal is red and then the
// exit line within the clip; LANE_INVASION when it crosses a solid divider
// inside the zone, or drives at least 20 m inside a bus lane zone;
// SPEED_VIOLATION when its speed exceeds the limit inside the speed zone.
// Presets keep every case clear of the boundaries (over a second from any
// phase change, metres from any line end).
func (s *Scene) ruleTruth(ct *CarTruth, c Car, times []float64) {
	ct.ExpectedViolations = []string{}
	add := func(v string) {
		for _, have := range ct.ExpectedViolations {
			if have == v {
				return
			}
		}
		ct.ExpectedViolations = append(ct.ExpectedViolations, v)
	}
	r := &s.Road
	dir := r.LaneDirection(c.Lane)
	if dt := c.stopDT(); !math.IsInf(dt, 1) {
		t := c.PassTime + dt
		ct.StoppedAtS = &t
	}
	if r.StopLine && dir == r.StopDirection() {
		a, b, y := r.StopLineSpan()
		along := func(yLine float64) func(float64) float64 {
			return func(t float64) float64 {
				_, gy := s.groundPoint(c, t)
				return dir.sign() * (gy - yLine)
			}
		}
		if tc, ok := s.crossTime(along(y)); ok {
			if x, _ := s.groundPoint(c, tc); x >= a && x <= b {
				ct.StopLineCrossT = &tc
				_, exitOK := s.crossTime(along(y + dir.sign()*ExitBeyondM))
				if exitOK && PhaseAt(s.Signal, tc) == PhaseRed {
					add(ViolationRedLight)
				}
			}
		}
	}
	y0, y1 := s.zoneY()
	if lc := c.LaneChange; lc != nil {
		side := math.Copysign(1, r.LaneCentreX(lc.ToLane)-r.LaneCentreX(c.Lane))
		for _, i := range r.SolidDividers {
			dx := r.DividerX(i)
			tc, ok := s.crossTime(func(t float64) float64 {
				x, _ := s.groundPoint(c, t)
				return side * (x - dx)
			})
			if !ok {
				continue
			}
			if _, y := s.groundPoint(c, tc); y >= y0 && y <= y1 {
				if ct.SolidLineCrossT == nil {
					ct.SolidLineCrossT = &tc
				}
				add(ViolationLaneInvasion)
			}
		}
	}
	// Sampled at the frame times: bus lane distance and speed in the zone.
	busM := 0.0
	for k, t := range times {
		x, y := s.groundPoint(c, t)
		if y < y0 || y > y1 || x < r.LeftEdgeX() || x > r.RightEdgeX() {
			continue
		}
		if c.speedAt(t) > GeometrySpeedLimitKmh {
			add(ViolationSpeed)
		}
		for _, i := range r.BusLanes {
			if math.Abs(x-r.LaneCentreX(i)) < r.LaneWidthM/2 && k > 0 {
				_, yp := s.groundPoint(c, times[k-1])
				busM += math.Abs(y - yp)
			}
		}
	}
	if busM >= 20 {
		add(ViolationLaneInvasion)
	}
}
