package health

import (
	"net/http"
	"time"
)

// SignalState describes a camera's red-light signal source.
type SignalState struct {
	// Source is mqtt, http or light-region.
	Source string
	// Phase is the last phase reported (red, amber, green, unknown).
	Phase string
	// LastMessageAt is when the feed last spoke (arrival time, this clock);
	// zero when it never did.
	LastMessageAt time.Time
	// StaleAfter is how long a feed may stay silent; 0 for sources that are
	// not feeds (light-region), which are never stale.
	StaleAfter time.Duration
}

// Stale reports whether a feed has been silent too long at now (or never spoke).
func (s SignalState) Stale(now time.Time) bool {
	return s.StaleAfter > 0 && (s.LastMessageAt.IsZero() || now.Sub(s.LastMessageAt) > s.StaleAfter)
}

// SignalStatus is the "signal" object of a camera status.
type SignalStatus struct {
	Source string `json:"source"`
	// Phase is unknown while the feed is stale: red-light rules cite nothing then.
	Phase         string    `json:"phase"`
	Stale         bool      `json:"stale"`
	LastMessageAt time.Time `json:"last_message_at,omitzero"`
}

// SetSignal records a camera's signal source state (kept apart from the
// ingest state that UpdateCamera replaces).
func (r *Registry) SetSignal(id string, s SignalState) {
	c := r.camera(id, true)
	c.mu.Lock()
	c.signal = &s
	c.mu.Unlock()
}

// Signal returns a camera's signal state, if it has a signal source.
func (r *Registry) Signal(id string) (SignalState, bool) {
	c := r.camera(id, false)
	if c == nil {
		return SignalState{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.signal == nil {
		return SignalState{}, false
	}
	return *c.signal, true
}

func signalStatus(s *SignalState, now time.Time) *SignalStatus {
	if s == nil {
		return nil
	}
	st := &SignalStatus{Source: s.Source, Phase: s.Phase, Stale: s.Stale(now), LastMessageAt: s.LastMessageAt.UTC()}
	if st.Stale || st.Phase == "" {
		st.Phase = "unknown"
	}
	return st
}

// Handle adds a route to the server (the pattern syntax of http.ServeMux,
// e.g. "POST /api/signal/{camera_id}"), for endpoints another component
// provides. Call it before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Limits are a camera's speed settings in force, shown in its status.
type Limits struct {
	// SpeedLimitKmh overrides the calibration's zones; 0 means the zones apply.
	SpeedLimitKmh float64 `json:"speed_limit_kmh"`
	ToleranceKmh  float64 `json:"tolerance_kmh"`
}

// SetLimits records a camera's speed settings in force (they change by command).
func (r *Registry) SetLimits(id string, l Limits) {
	c := r.camera(id, true)
	c.mu.Lock()
	c.limits = &l
	c.mu.Unlock()
}

func (r *Registry) limitsOf(id string) *Limits {
	c := r.camera(id, false)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.limits == nil {
		return nil
	}
	l := *c.limits
	return &l
}
