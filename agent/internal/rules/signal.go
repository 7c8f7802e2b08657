package rules

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Phase is a traffic signal's aspect.
type Phase uint8

// Signal phases. PhaseUnknown is the zero value: no red-light citation is
// ever made while the phase is unknown.
const (
	PhaseUnknown Phase = iota
	PhaseRed
	PhaseAmber
	PhaseGreen
)

// String returns the phase's name.
func (p Phase) String() string {
	switch p {
	case PhaseRed:
		return "red"
	case PhaseAmber:
		return "amber"
	case PhaseGreen:
		return "green"
	case PhaseUnknown:
		return "unknown"
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// ParsePhase reads a phase name as a controller feed would send it (red,
// amber/yellow, green, unknown; case-insensitive).
func ParsePhase(s string) (Phase, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "red":
		return PhaseRed, nil
	case "amber", "yellow":
		return PhaseAmber, nil
	case "green":
		return PhaseGreen, nil
	case "unknown", "off", "":
		return PhaseUnknown, nil
	}
	return PhaseUnknown, fmt.Errorf("rules: unknown signal phase %q", trunc(s, 32))
}

// SignalSource tells the phase of one signal head at a (possibly past) time.
type SignalSource interface {
	// PhaseAt returns the phase at t and when that phase began; the zero
	// time when unknown.
	PhaseAt(t time.Time) (Phase, time.Time)
}

// Timeline is a SignalSource fed by phase-change events, as a controller's
// MQTT or HTTP feed reports them. It keeps a bounded history so that tracks,
// which are evaluated a little after the frames were captured, can ask about
// the past. It is safe for concurrent use.
type Timeline struct {
	mu      sync.Mutex
	changes []phaseChange // sorted by at
	max     int
	stale   time.Duration
	last    time.Time // latest event time, repeats included
}

type phaseChange struct {
	phase Phase
	at    time.Time
}

var _ SignalSource = (*Timeline)(nil)

// NewTimeline returns an empty timeline keeping at most maxChanges changes
// (0 means 256). When staleAfter > 0, a time more than staleAfter after the
// latest event (repeats of the phase in force count, so a feed can send
// keep-alives) is reported as unknown: a silent feed must not keep a red light
// on forever.
func NewTimeline(maxChanges int, staleAfter time.Duration) *Timeline {
	if maxChanges <= 0 {
		maxChanges = 256
	}
	return &Timeline{max: maxChanges, stale: staleAfter}
}

// Set records that the signal showed phase from time at. Events may arrive
// out of order; a repeat of the phase in force is ignored (the phase keeps
// its earlier start).
func (tl *Timeline) Set(phase Phase, at time.Time) {
	if at.IsZero() {
		return
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if at.After(tl.last) {
		tl.last = at
	}
	i := sort.Search(len(tl.changes), func(i int) bool { return tl.changes[i].at.After(at) })
	if i > 0 && tl.changes[i-1].phase == phase {
		return
	}
	if i < len(tl.changes) && tl.changes[i].phase == phase {
		tl.changes[i].at = at // the same phase was already known to start later
		return
	}
	tl.changes = append(tl.changes, phaseChange{})
	copy(tl.changes[i+1:], tl.changes[i:])
	tl.changes[i] = phaseChange{phase: phase, at: at}
	if n := len(tl.changes) - tl.max; n > 0 {
		tl.changes = append(tl.changes[:0], tl.changes[n:]...)
	}
}

// PhaseAt implements SignalSource.
func (tl *Timeline) PhaseAt(t time.Time) (Phase, time.Time) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	i := sort.Search(len(tl.changes), func(i int) bool { return tl.changes[i].at.After(t) })
	if i == 0 {
		return PhaseUnknown, time.Time{}
	}
	c := tl.changes[i-1]
	if tl.stale > 0 && t.Sub(tl.last) > tl.stale {
		return PhaseUnknown, time.Time{}
	}
	return c.phase, c.at
}

func trunc(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
