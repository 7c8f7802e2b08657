package scenegen

import (
	"errors"
	"fmt"
)

// Direction is the way a car drives along the road.
type Direction string

// Directions along y. For a camera looking along +y, "away" cars show their
// rear and "toward" cars their front.
const (
	Away   Direction = "away"   // increasing y
	Toward Direction = "toward" // decreasing y
)

func (d Direction) sign() float64 {
	if d == Toward {
		return -1
	}
	return 1
}

// Road is a straight road along y: lanes of LanesToward (left of the centre
// line, driving towards −y) and LanesAway (right of it, towards +y), edge
// lines, shoulders holding the calibration markers, kerbs, sidewalks and
// optional building facades. Lanes are numbered 0.. from left (−x) to right.
type Road struct {
	LaneWidthM  float64 `json:"lane_width_m"`
	LanesToward int     `json:"lanes_toward"`
	LanesAway   int     `json:"lanes_away"`
	// CentreX is the x of the centre line between the two directions.
	CentreX float64 `json:"centre_x"`
	// ShoulderM is the paved strip between an edge line and the kerb.
	ShoulderM  float64 `json:"shoulder_m"`
	KerbM      float64 `json:"kerb_m"`
	SidewalkM  float64 `json:"sidewalk_m"`
	LineWidthM float64 `json:"line_width_m"`
	// DashM and GapM are the dash and gap lengths of lane dividers.
	DashM float64 `json:"dash_m"`
	GapM  float64 `json:"gap_m"`
	// StopLine draws a 0.5 m stop line at StopLineY across the lanes of
	// StopLineDir (see there).
	StopLine  bool    `json:"stop_line"`
	StopLineY float64 `json:"stop_line_y"`
	// Crosswalk paints zebra bars 1.5..5.5 m beyond the stop line.
	Crosswalk bool `json:"crosswalk"`
	// StopLineDir is the direction of the lanes the stop line governs; empty
	// means away (towards when there are no away lanes). For Away the paint
	// covers [StopLineY, StopLineY+0.5], for Toward [StopLineY−0.5,
	// StopLineY]: either way StopLineY is the edge a car meets first.
	StopLineDir Direction `json:"stop_line_dir,omitempty"`
	// SolidDividers lists lane dividers painted as solid lines instead of
	// dashes; divider i separates lanes i−1 and i (the centre line between
	// the two directions is always a double yellow line).
	SolidDividers []int `json:"solid_dividers,omitempty"`
	// BusLanes lists lanes reserved for buses: a bus_lane zone in the
	// geometry (nothing extra is painted).
	BusLanes []int `json:"bus_lanes,omitempty"`
	// BuildingsLeft and BuildingsRight raise facades behind the left (−x)
	// and right sidewalks; without them the ground beyond is a bare verge.
	BuildingsLeft  bool `json:"buildings_left"`
	BuildingsRight bool `json:"buildings_right"`
	// Markers are the painted calibration targets.
	Markers MarkerGrid `json:"markers"`
}

// MarkerGrid places X-corner calibration targets (a 2×2 black/white checker
// whose centre is the surveyed point) in the middle of both shoulders, one
// row every StepM from FromY to ToY.
type MarkerGrid struct {
	FromY float64 `json:"from_y"`
	ToY   float64 `json:"to_y"`
	StepM float64 `json:"step_m"`
	SizeM float64 `json:"size_m"`
}

// DefaultRoad returns a four-lane urban road (two lanes each way, 3.5 m),
// with 1 m markers every 5 m from 10 to 40 m.
func DefaultRoad() Road {
	return Road{
		LaneWidthM: 3.5, LanesToward: 2, LanesAway: 2,
		ShoulderM: 1.2, KerbM: 0.15, SidewalkM: 3.0, LineWidthM: 0.12,
		DashM: 3, GapM: 5,
		BuildingsLeft: true, BuildingsRight: true,
		Markers: MarkerGrid{FromY: 10, ToY: 40, StepM: 5, SizeM: 1.0},
	}
}

// Validate reports every problem of the road at once.
func (r Road) Validate() error {
	var errs []error
	if !(r.LaneWidthM >= 2 && r.LaneWidthM <= 6) {
		errs = append(errs, fmt.Errorf("lane width %v m must be within 2..6", r.LaneWidthM))
	}
	if r.LanesToward < 0 || r.LanesAway < 0 || r.LanesToward+r.LanesAway < 1 || r.LanesToward+r.LanesAway > 10 {
		errs = append(errs, fmt.Errorf("lanes %d toward + %d away must total 1..10", r.LanesToward, r.LanesAway))
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"shoulder", r.ShoulderM}, {"kerb", r.KerbM}, {"sidewalk", r.SidewalkM}} {
		if !(v.v >= 0 && v.v <= 20) {
			errs = append(errs, fmt.Errorf("%s %v m must be within 0..20", v.name, v.v))
		}
	}
	if !(r.LineWidthM > 0 && r.LineWidthM < r.LaneWidthM/4) {
		errs = append(errs, fmt.Errorf("line width %v m must be positive and under a quarter lane", r.LineWidthM))
	}
	if !(r.DashM > 0) || !(r.GapM > 0) {
		errs = append(errs, fmt.Errorf("dash %v m and gap %v m must be positive", r.DashM, r.GapM))
	}
	if !finite(r.CentreX) || !finite(r.StopLineY) {
		errs = append(errs, errors.New("centre x and stop line y must be finite"))
	}
	if r.StopLineDir != "" && r.StopLineDir != Away && r.StopLineDir != Toward {
		errs = append(errs, fmt.Errorf("stop line direction %q must be %q or %q", r.StopLineDir, Away, Toward))
	} else if r.StopLine && ((r.StopDirection() == Away && r.LanesAway == 0) || (r.StopDirection() == Toward && r.LanesToward == 0)) {
		errs = append(errs, fmt.Errorf("stop line direction %q has no lanes", r.StopDirection()))
	}
	for _, i := range r.SolidDividers {
		if i < 1 || i >= r.Lanes() || (i == r.LanesToward && r.LanesAway > 0) {
			errs = append(errs, fmt.Errorf("solid divider %d must be within 1..%d and not the centre line", i, r.Lanes()-1))
		}
	}
	for _, i := range r.BusLanes {
		if i < 0 || i >= r.Lanes() {
			errs = append(errs, fmt.Errorf("bus lane %d outside 0..%d", i, r.Lanes()-1))
		}
	}
	if m := r.Markers; m.StepM != 0 || m.SizeM != 0 {
		if !(m.StepM > 0) || !(m.ToY >= m.FromY) || (m.ToY-m.FromY)/m.StepM > 1000 {
			errs = append(errs, fmt.Errorf("markers from %v to %v m every %v m: want from <= to, step > 0, at most 1000 rows", m.FromY, m.ToY, m.StepM))
		}
		if !(m.SizeM > 0) || m.SizeM > r.ShoulderM {
			errs = append(errs, fmt.Errorf("marker size %v m must be positive and fit the %v m shoulder", m.SizeM, r.ShoulderM))
		}
	}
	return errors.Join(errs...)
}

// Lanes returns the number of lanes.
func (r Road) Lanes() int { return r.LanesToward + r.LanesAway }

// LaneCentreX returns the x of lane i's centre line.
func (r Road) LaneCentreX(i int) float64 {
	return r.CentreX + (float64(i-r.LanesToward)+0.5)*r.LaneWidthM
}

// LaneDirection returns the driving direction of lane i.
func (r Road) LaneDirection(i int) Direction {
	if i < r.LanesToward {
		return Toward
	}
	return Away
}

// LeftEdgeX returns the x of the carriageway's left (−x) edge.
func (r Road) LeftEdgeX() float64 { return r.CentreX - float64(r.LanesToward)*r.LaneWidthM }

// RightEdgeX returns the x of the carriageway's right (+x) edge.
func (r Road) RightEdgeX() float64 { return r.CentreX + float64(r.LanesAway)*r.LaneWidthM }

// FacadeX returns the x of the left and right building fronts.
func (r Road) FacadeX() (left, right float64) {
	w := r.ShoulderM + r.KerbM + r.SidewalkM
	return r.LeftEdgeX() - w, r.RightEdgeX() + w
}

// MarkerPoints returns the ground positions of the calibration markers,
// row by row (increasing y), left column first.
func (r Road) MarkerPoints() [][2]float64 {
	m := r.Markers
	if !(m.StepM > 0) || !(m.SizeM > 0) {
		return nil
	}
	xl, xr := r.LeftEdgeX()-r.ShoulderM/2, r.RightEdgeX()+r.ShoulderM/2
	var pts [][2]float64
	for i := 0; ; i++ {
		y := m.FromY + float64(i)*m.StepM
		if y > m.ToY+1e-9 {
			break
		}
		pts = append(pts, [2]float64{xl, y}, [2]float64{xr, y})
	}
	return pts
}

// StopDirection returns the direction of the lanes the stop line governs.
func (r Road) StopDirection() Direction {
	switch {
	case r.StopLineDir != "":
		return r.StopLineDir
	case r.LanesAway == 0:
		return Toward
	}
	return Away
}

// StopLineSpan returns the painted stop line's x extent and the y of its
// centre line (the line a crossing is measured against).
func (r Road) StopLineSpan() (x0, x1, y float64) {
	if r.StopDirection() == Toward {
		return r.LeftEdgeX(), r.CentreX - 0.2, r.StopLineY - 0.25
	}
	return r.CentreX + 0.2, r.RightEdgeX(), r.StopLineY + 0.25
}

// DividerX returns the x of divider i, between lanes i−1 and i.
func (r Road) DividerX(i int) float64 {
	return r.CentreX + float64(i-r.LanesToward)*r.LaneWidthM
}

func (r Road) solidDivider(i int) bool {
	for _, d := range r.SolidDividers {
		if d == i {
			return true
		}
	}
	return false
}
