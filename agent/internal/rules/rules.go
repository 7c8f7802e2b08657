// Package rules decides which tracked vehicles committed an infraction:
// speeding in a speed zone, running a red light, and lane invasion (crossing a
// solid lane line, or driving along a bus or restricted lane).
//
// Each rule is an independent unit evaluated over a track's ground trajectory
// (metres, from the calibration), its capture times and, for red lights, a
// SignalSource. The Engine keeps per-track state, takes track updates as they
// happen and the track's end with its final speed estimate, and returns at
// most one Violation per rule per track: a vehicle's passage never produces a
// burst of citations.
package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/speed"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

// Rule names, as recorded in Violation.Rule; one citation per rule per track.
const (
	RuleSpeed     = "speed"
	RuleRedLight  = "red_light"
	RuleSolidLine = "solid_line"
	RuleLaneZone  = "lane_zone"
)

// Observation is one sighting of a tracked vehicle.
type Observation struct {
	// At is the frame's capture time.
	At time.Time
	// Ground is the vehicle's ground-contact point in metres (the bottom
	// centre of Box mapped through the calibration).
	Ground calibration.Point
	// Box is the vehicle's box in source-frame pixels.
	Box infer.Box
}

// Update is a track's new observation.
type Update struct {
	TrackID int64
	// Class is the track's vehicle class (its majority label, e.g. "car").
	Class string
	Observation
}

// Violation is one cited infraction.
type Violation struct {
	Type event.InfractionType
	// Rule is the rule unit that cited it (RuleSpeed, ...).
	Rule    string
	TrackID int64
	// At is the decisive moment: the end of the speed measurement, the
	// stop-line crossing, the solid-line crossing, or when the distance in a
	// lane passed the threshold.
	At    time.Time
	Class string
	// Zone is the calibration zone or line involved.
	Zone string
	// Speed fields (speed violations): the measured speed and its 1-sigma
	// uncertainty, the limit and legal tolerance applied, the coverage
	// factor k, and the margin speed − k·sigma − tolerance − limit (> 0).
	SpeedKmh, SigmaKmh, LimitKmh, ToleranceKmh float64
	CoverageK, MarginKmh                       float64
	// Details carries rule-specific facts (signal phase, time into red, line,
	// distance in lane...), ready for event.Infraction.Details.
	Details map[string]any
	// Before and After are the observations just before and just after the
	// decisive crossing (red light, solid line), for the evidence frames; for
	// speed, After is the last observation inside the speed zone.
	Before, After *Observation
}

// SpeedConfig sets the speed rule.
type SpeedConfig struct {
	// Disabled turns the rule off.
	Disabled bool
	// ToleranceKmh is the legal tolerance added to the limit (Peru: 5 km/h).
	ToleranceKmh float64
	// CoverageK multiplies the measurement's 1-sigma uncertainty before it is
	// given to the driver: a vehicle is cited only when
	// speed − k·sigma − tolerance > limit. k = 1 (the default) means a
	// vehicle exactly at the threshold has about 84 % probability of truly
	// exceeding limit+tolerance under Gaussian errors; k = 2 gives ~97.7 %.
	CoverageK float64
	// OverrideLimitKmh, when > 0, replaces the calibration's zone limits and
	// applies even where no speed zone is drawn (set from config or the hub).
	OverrideLimitKmh float64
}

// RedLightConfig sets the red-light rule for one stop line.
type RedLightConfig struct {
	// StopLine names a calibration line (normally of kind stop_line).
	StopLine string
	// ExitLine optionally names a line beyond the stop line the vehicle must
	// also cross; without it, ExitDistanceM applies.
	ExitLine string
	// ExitDistanceM is how far past the stop line the vehicle must go
	// (default 3 m) when ExitLine is empty, so that a vehicle that stopped on
	// the line is not cited.
	ExitDistanceM float64
	// Grace is how long after red began a crossing is still tolerated (the
	// amber/all-red clearance); default 0.5 s.
	Grace time.Duration
	// Signal tells the phase of the signal governing this stop line.
	Signal SignalSource
}

// LaneConfig sets the lane-invasion rules.
type LaneConfig struct {
	// Disabled turns both lane rules off.
	Disabled bool
	// MinDepthM is how far the ground point must settle on each side of a
	// solid line for a crossing to count (default 0.5 m), so that jitter or
	// a brief touch of the line is not a lane change.
	MinDepthM float64
	// MinDistanceM is how far a vehicle must travel inside a bus or
	// restricted lane to be cited (default 20 m).
	MinDistanceM float64
	// Exempt lists the classes allowed in a zone, keyed by zone name or, as a
	// fallback, by zone kind. nil means DefaultExempt().
	Exempt map[string][]string
}

// DefaultExempt lets buses use bus lanes.
func DefaultExempt() map[string][]string {
	return map[string][]string{string(calibration.ZoneBusLane): {"bus"}}
}

// Config sets every rule. Start from DefaultConfig.
type Config struct {
	Speed     SpeedConfig
	RedLights []RedLightConfig
	Lane      LaneConfig
}

// DefaultConfig returns Peru's tolerance, k = 1, 20 m in restricted lanes and
// no red-light approach (each needs a stop line and a signal source).
func DefaultConfig() Config {
	return Config{
		Speed: SpeedConfig{ToleranceKmh: 5, CoverageK: 1},
		Lane:  LaneConfig{MinDepthM: 0.5, MinDistanceM: 20, Exempt: DefaultExempt()},
	}
}

func (c *Config) defaults() {
	if c.Speed.CoverageK == 0 {
		c.Speed.CoverageK = 1
	}
	if c.Lane.MinDepthM == 0 {
		c.Lane.MinDepthM = 0.5
	}
	if c.Lane.MinDistanceM == 0 {
		c.Lane.MinDistanceM = 20
	}
	if c.Lane.Exempt == nil {
		c.Lane.Exempt = DefaultExempt()
	}
	for i := range c.RedLights {
		r := &c.RedLights[i]
		if r.ExitDistanceM == 0 && r.ExitLine == "" {
			r.ExitDistanceM = 3
		}
		if r.Grace == 0 {
			r.Grace = 500 * time.Millisecond
		}
	}
}

// Engine holds per-track rule state for one camera. It is not safe for
// concurrent use: call it from the goroutine that runs the tracker.
type Engine struct {
	log    *slog.Logger
	cfg    Config
	speed  []*calibration.Zone // speed zones
	red    []redApproach
	solid  []*calibration.Line
	lanes  []*calibration.Zone // bus and restricted lanes
	tracks map[int64]*trackState
}

type trackState struct {
	class  string
	last   Observation
	seen   bool
	cited  uint8 // bit per rule
	inZone []int // observations inside each speed zone
	lastIn []Observation
	red    []redState
	solid  []solidState
	lanes  []laneState
}

const (
	bitSpeed uint8 = 1 << iota
	bitRed
	bitSolid
	bitLane
)

// New checks the configuration against the calibration's zones and lines and
// returns an engine. Only cal.Zones and cal.Lines are used.
func New(cal *calibration.Calibration, cfg Config, log *slog.Logger) (*Engine, error) {
	if cal == nil {
		return nil, errors.New("rules: no calibration")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	e := &Engine{log: log.With("component", "rules"), cfg: cfg, tracks: make(map[int64]*trackState)}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !(cfg.Speed.ToleranceKmh >= 0) || !(cfg.Speed.CoverageK >= 0) || !(cfg.Speed.OverrideLimitKmh >= 0) {
		bad("speed: tolerance, coverage factor and override limit must be >= 0, got %+v", cfg.Speed)
	}
	if !(cfg.Lane.MinDepthM > 0) || !(cfg.Lane.MinDistanceM > 0) {
		bad("lane: min depth and min distance must be > 0, got %g and %g", cfg.Lane.MinDepthM, cfg.Lane.MinDistanceM)
	}
	for i := range cal.Zones {
		z := &cal.Zones[i]
		switch z.Kind {
		case calibration.ZoneSpeed:
			e.speed = append(e.speed, z)
		case calibration.ZoneBusLane, calibration.ZoneRestrictedLane:
			e.lanes = append(e.lanes, z)
		}
	}
	line := func(name string) *calibration.Line {
		for i := range cal.Lines {
			if cal.Lines[i].Name == name {
				return &cal.Lines[i]
			}
		}
		return nil
	}
	for i := range cal.Lines {
		if cal.Lines[i].Kind == calibration.LineSolidLane {
			e.solid = append(e.solid, &cal.Lines[i])
		}
	}
	for i, r := range cfg.RedLights {
		a := redApproach{cfg: r, stop: line(r.StopLine)}
		if a.stop == nil {
			bad("red light %d: no calibration line named %q", i, r.StopLine)
		}
		if r.ExitLine != "" {
			if a.exit = line(r.ExitLine); a.exit == nil {
				bad("red light %d: no calibration line named %q", i, r.ExitLine)
			}
		} else if !(r.ExitDistanceM > 0) {
			bad("red light %d: exit distance must be > 0, got %g", i, r.ExitDistanceM)
		}
		if r.Grace < 0 {
			bad("red light %d: grace must be >= 0, got %v", i, r.Grace)
		}
		if r.Signal == nil {
			bad("red light %d: no signal source", i)
		}
		e.red = append(e.red, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("rules: invalid config: %w", err)
	}
	return e, nil
}

// SetSpeedLimit sets (kmh > 0) or clears (0) the override speed limit, as
// the hub may command.
func (e *Engine) SetSpeedLimit(kmh float64) error {
	if !(kmh >= 0) || kmh >= 400 {
		return fmt.Errorf("rules: speed limit %g km/h out of range [0, 400)", kmh)
	}
	e.cfg.Speed.OverrideLimitKmh = kmh
	return nil
}

// Prune forgets, without citing, the tracks last updated before the given
// time: a safety net for tracks whose End never came. It returns how many
// it dropped.
func (e *Engine) Prune(before time.Time) int {
	n := 0
	for id, st := range e.tracks {
		if st.last.At.Before(before) {
			delete(e.tracks, id)
			n++
		}
	}
	return n
}

// Live returns how many tracks the engine holds state for.
func (e *Engine) Live() int { return len(e.tracks) }

func (e *Engine) state(id int64) *trackState {
	st := e.tracks[id]
	if st == nil {
		st = &trackState{
			inZone: make([]int, len(e.speed)),
			lastIn: make([]Observation, len(e.speed)),
			red:    make([]redState, len(e.red)),
			solid:  make([]solidState, len(e.solid)),
			lanes:  make([]laneState, len(e.lanes)),
		}
		e.tracks[id] = st
	}
	return st
}

// Update folds one observation of a track into the rules and returns the
// violations it completes (usually none). Observations of a track must come
// in time order; an older or repeated one is ignored.
func (e *Engine) Update(u Update) []Violation {
	st := e.state(u.TrackID)
	if u.Class != "" {
		st.class = u.Class
	}
	cur := u.Observation
	if st.seen && !cur.At.After(st.last.At) {
		return nil
	}
	for i, z := range e.speed {
		if z.ContainsGround(cur.Ground) {
			st.inZone[i]++
			st.lastIn[i] = cur
		}
	}
	var out []Violation
	cite := func(bit uint8, v *Violation) {
		if v == nil || st.cited&bit != 0 {
			return
		}
		st.cited |= bit
		v.TrackID, v.Class = u.TrackID, st.class
		out = append(out, *v)
	}
	prev, hasPrev := st.last, st.seen
	st.last, st.seen = cur, true
	// A rule that has cited this track stops evaluating it.
	if hasPrev && st.cited&bitRed == 0 {
		for i := range e.red {
			cite(bitRed, e.red[i].step(&st.red[i], prev, cur))
		}
	}
	if !e.cfg.Lane.Disabled && st.cited&bitSolid == 0 {
		for i, l := range e.solid {
			cite(bitSolid, solidStep(l, e.cfg.Lane.MinDepthM, &st.solid[i], prev, cur, hasPrev))
		}
	}
	if !e.cfg.Lane.Disabled && st.cited&bitLane == 0 {
		for i, z := range e.lanes {
			cite(bitLane, laneStep(z, e.cfg.Lane, &st.lanes[i], cur, st.class))
		}
	}
	for _, v := range out {
		e.log.Debug("violation", "rule", v.Rule, "track", v.TrackID, "class", v.Class, "zone", v.Zone)
	}
	return out
}

// End finishes a track: it applies the speed rule to the final estimate (nil
// when there is none), forgets the track and returns what it cites. Call it
// for every track that got an Update (the tracker's ended event), or the
// track's state is kept. The limit is the override when set, else that of
// the speed zone holding most of the track's observations.
func (e *Engine) End(trackID int64, est *speed.Estimate) []Violation {
	st := e.tracks[trackID]
	if st == nil {
		return nil
	}
	delete(e.tracks, trackID)
	if e.cfg.Speed.Disabled || est == nil || st.cited&bitSpeed != 0 {
		return nil
	}
	limit, zone, after := e.cfg.Speed.OverrideLimitKmh, "", (*Observation)(nil)
	best := 0
	for i, n := range st.inZone {
		if n > best {
			best, zone = n, e.speed[i].Name
			o := st.lastIn[i]
			after = &o
			if e.cfg.Speed.OverrideLimitKmh == 0 {
				limit = e.speed[i].SpeedLimitKmh
			}
		}
	}
	if limit == 0 {
		return nil // neither a speed zone nor an override limit applies
	}
	v, ok := CheckSpeed(est.SpeedKmh, est.SigmaKmh, limit, e.cfg.Speed.ToleranceKmh, e.cfg.Speed.CoverageK)
	if !ok {
		return nil
	}
	v.TrackID, v.Class, v.Zone, v.At, v.After = trackID, st.class, zone, est.End, after
	if v.At.IsZero() {
		v.At = st.last.At
	}
	source := "zone"
	if e.cfg.Speed.OverrideLimitKmh > 0 {
		source = "override"
	}
	v.Details = map[string]any{
		"uncertainty_kmh": e.cfg.Speed.CoverageK * est.SigmaKmh,
		"coverage_k":      e.cfg.Speed.CoverageK,
		"margin_kmh":      v.MarginKmh,
		"distance_m":      est.DistanceM,
		"samples":         est.Points,
		"limit_source":    source,
	}
	e.log.Debug("violation", "rule", RuleSpeed, "track", trackID, "speed_kmh", est.SpeedKmh, "limit_kmh", limit)
	return []Violation{v}
}
