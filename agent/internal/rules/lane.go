package rules

import (
	"math"
	"slices"
	"time"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

// solidState follows one track against one solid lane line. The side is
// only "settled" once the ground point is MinDepthM clear of the line, so a
// crossing counts only when the vehicle settles on the other side: jitter
// around the line, or a touch that comes back, is not a lane change. Beyond
// the line's ends (where a solid marking usually turns dashed) the side is
// forgotten.
type solidState struct {
	settled       int
	crossed       bool
	before, after Observation
	at            time.Time
}

func solidStep(l *calibration.Line, depth float64, st *solidState, prev, cur Observation, hasPrev bool) *Violation {
	if hasPrev {
		if s, _, ok := crossing(prev.Ground, cur.Ground, l.Ground); ok {
			st.crossed, st.before, st.after = true, prev, cur
			st.at = prev.At.Add(time.Duration(s * float64(cur.At.Sub(prev.At))))
		}
	}
	d, within := sideDist(cur.Ground, l.Ground)
	if !within {
		st.settled, st.crossed = 0, false
		return nil
	}
	if math.Abs(d) < depth {
		return nil
	}
	s := sgn(d)
	var v *Violation
	if st.settled != 0 && s != st.settled && st.crossed {
		before, after := st.before, st.after
		v = &Violation{
			Type: event.LaneInvasion, Rule: RuleSolidLine, At: st.at, Zone: l.Name,
			Before: &before, After: &after,
			Details: map[string]any{"line": l.Name, "line_kind": string(l.Kind), "min_depth_m": depth},
		}
	}
	st.settled, st.crossed = s, false
	return v
}

// laneState follows one track in one bus or restricted lane. The distance
// in the lane is the farthest the vehicle got from where it entered, summed
// over its stays: unlike a path length, it does not grow with the ground
// point's jitter, nor while the vehicle stands still.
type laneState struct {
	inside      bool
	entry       Observation
	stay, total float64
}

func laneStep(z *calibration.Zone, cfg LaneConfig, st *laneState, cur Observation, class string) *Violation {
	in := z.ContainsGround(cur.Ground)
	switch {
	case in && !st.inside:
		st.inside, st.entry, st.stay = true, cur, 0
	case in:
		st.stay = max(st.stay, cur.Ground.Dist(st.entry.Ground))
	case st.inside:
		st.inside, st.total, st.stay = false, st.total+st.stay, 0
	}
	dist := st.total + st.stay
	if !(dist > cfg.MinDistanceM) || exempt(cfg.Exempt, z, class) {
		return nil
	}
	before, after := st.entry, cur
	return &Violation{
		Type: event.LaneInvasion, Rule: RuleLaneZone, At: cur.At, Zone: z.Name,
		Before: &before, After: &after,
		Details: map[string]any{"zone": z.Name, "zone_kind": string(z.Kind), "distance_m": dist, "min_distance_m": cfg.MinDistanceM},
	}
}

// exempt reports whether class may use the zone: the list under the zone's
// name, else the one under its kind.
func exempt(m map[string][]string, z *calibration.Zone, class string) bool {
	list, ok := m[z.Name]
	if !ok {
		list = m[string(z.Kind)]
	}
	return class != "" && slices.Contains(list, class)
}
