package rules

import (
	"math"
	"time"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

// redApproach is the red-light rule for one stop line.
//
// A vehicle commits the violation when its ground point crosses the stop line
// at least Grace after red began, and then goes on past the exit line (or
// ExitDistanceM beyond the stop line) before the light turns green again: a
// vehicle that stopped on or just past the line and moved on at the next
// green is not cited. The crossing time is interpolated between the two
// observations around the line.
type redApproach struct {
	cfg        RedLightConfig
	stop, exit *calibration.Line
}

type redState struct {
	pending       bool
	side          int // side of the stop line the vehicle came from
	crossed       time.Time
	redSince      time.Time
	before, after Observation
}

func (a *redApproach) step(st *redState, prev, cur Observation) *Violation {
	sStop, side, crossedNow := crossing(prev.Ground, cur.Ground, a.stop.Ground)
	if crossedNow {
		tc := prev.At.Add(time.Duration(sStop * float64(cur.At.Sub(prev.At))))
		ph, since := a.cfg.Signal.PhaseAt(tc)
		st.pending = ph == PhaseRed && tc.Sub(since) >= a.cfg.Grace
		if st.pending {
			st.side, st.crossed, st.redSince, st.before, st.after = side, tc, since, prev, cur
		}
	}
	if !st.pending {
		return nil
	}
	var exited bool
	if a.exit != nil {
		sExit, _, ok := crossing(prev.Ground, cur.Ground, a.exit.Ground)
		exited = ok && (!crossedNow || sExit >= sStop)
	} else {
		d, _ := sideDist(cur.Ground, a.stop.Ground)
		exited = sgn(d) == -st.side && math.Abs(d) >= a.cfg.ExitDistanceM
	}
	if !exited {
		return nil
	}
	st.pending = false
	if ph, since := a.cfg.Signal.PhaseAt(cur.At); ph == PhaseGreen && since.After(st.crossed) {
		return nil // it waited past the line for the next green
	}
	before, after := st.before, st.after
	exit := any(a.cfg.ExitDistanceM)
	if a.exit != nil {
		exit = a.exit.Name
	}
	return &Violation{
		Type: event.RedLight, Rule: RuleRedLight, At: st.crossed, Zone: a.stop.Name,
		Before: &before, After: &after,
		Details: map[string]any{
			"phase":           PhaseRed.String(),
			"red_began":       st.redSince,
			"time_into_red_s": st.crossed.Sub(st.redSince).Seconds(),
			"grace_s":         a.cfg.Grace.Seconds(),
			"stop_line":       a.stop.Name,
			"exit":            exit,
			"exited_at":       cur.At,
		},
	}
}
