package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/shared/event"
)

// signalFeed is one camera's live traffic-signal feed (mqtt or http): the
// controller's phase messages go into a rules.Timeline, the red-light rules'
// SignalSource. The timeline turns the phase unknown when no message (a
// change or a keep-alive repeat) came for staleAfter, so a silent feed
// never keeps a red light on: no citation is made on an unknown phase.
type signalFeed struct {
	camera, source string
	staleAfter     time.Duration
	tl             *rules.Timeline
	reg            *health.Registry
	now            func() time.Time

	mu       sync.Mutex
	lastAt   time.Time   // arrival of the last message, this clock
	latestTS time.Time   // newest phase time received
	phase    rules.Phase // phase of the newest message
	messages int64
}

func newSignalFeed(camera, source string, staleAfter time.Duration, reg *health.Registry) *signalFeed {
	f := &signalFeed{camera: camera, source: source, staleAfter: staleAfter, reg: reg, now: time.Now,
		tl: rules.NewTimeline(0, staleAfter)}
	f.publish()
	return f
}

// PhaseAt implements rules.SignalSource.
func (f *signalFeed) PhaseAt(t time.Time) (rules.Phase, time.Time) { return f.tl.PhaseAt(t) }

var _ rules.SignalSource = (*signalFeed)(nil)

// observe records one message. A message without ts takes its arrival time;
// one with ts is placed on the controller's clock, which must be in sync
// with the agent's (NTP), as the frames' capture times are on the agent's.
func (f *signalFeed) observe(p event.SignalPhase) error {
	if p.CameraID != "" && p.CameraID != f.camera {
		return fmt.Errorf("message names camera %s, the feed is for %s", p.CameraID, f.camera)
	}
	ph, err := rules.ParsePhase(p.Phase)
	if err != nil {
		return err
	}
	now := f.now()
	at := p.TS
	if at.IsZero() {
		at = now
	}
	// "unknown"/"off" (dark or flashing signal) is recorded as a phase of
	// its own: nothing is cited until a known phase comes again.
	f.tl.Set(ph, at)
	f.mu.Lock()
	latest := !at.Before(f.latestTS)
	if latest {
		f.latestTS = at
		f.phase = ph
	}
	f.lastAt = now
	f.messages++
	f.mu.Unlock()
	if latest && now.After(at) {
		// The newest message says the phase is still ph now: a repeat at the
		// arrival time keeps the timeline fresh even when a controller's
		// keep-alives carry the phase's start time, not the current time.
		f.tl.Set(ph, now)
	}
	f.publish()
	return nil
}

// state is the feed's health view.
func (f *signalFeed) state() health.SignalState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return health.SignalState{Source: f.source, Phase: f.phase.String(), LastMessageAt: f.lastAt, StaleAfter: f.staleAfter}
}

func (f *signalFeed) publish() {
	if f.reg != nil {
		f.reg.SetSignal(f.camera, f.state())
	}
}

// stale reports whether the feed is silent (or never spoke) at now.
func (f *signalFeed) stale(now time.Time) bool { return f.state().Stale(now) }

// signalFeeds are the service's feeds by camera.
type signalFeeds struct {
	device string
	feeds  map[string]*signalFeed
	log    *slog.Logger
}

// newSignalFeeds makes a feed for every camera whose signal is mqtt or http;
// light-region cameras get a health entry only.
func newSignalFeeds(cfg config.Config, reg *health.Registry, log *slog.Logger) *signalFeeds {
	s := &signalFeeds{device: cfg.DeviceID, feeds: map[string]*signalFeed{}, log: log.With("component", "signal")}
	for _, c := range cfg.Cameras {
		switch c.SignalSource() {
		case config.SignalMQTT, config.SignalHTTP:
			s.feeds[c.ID] = newSignalFeed(c.ID, c.SignalSource(), c.StaleAfter(), reg)
		case config.SignalLightRegion:
			reg.SetSignal(c.ID, health.SignalState{Source: config.SignalLightRegion, Phase: rules.PhaseUnknown.String()})
		}
	}
	return s
}

// source returns a camera's live signal source, nil when it has no feed.
func (s *signalFeeds) source(camera string) rules.SignalSource {
	if f := s.feeds[camera]; f != nil {
		return f
	}
	return nil
}

// hasMQTT reports whether any camera's feed comes over MQTT.
func (s *signalFeeds) hasMQTT() bool {
	for _, f := range s.feeds {
		if f.source == config.SignalMQTT {
			return true
		}
	}
	return false
}

// onMQTT handles a message on traffic/v1/<device>/signal/<camera>.
func (s *signalFeeds) onMQTT(topic string, payload []byte) {
	cam, err := event.ParseSignalTopic(s.device, topic)
	if err != nil {
		s.log.Warn("signal message on an unexpected topic", "topic", topic)
		return
	}
	f := s.feeds[cam]
	if f == nil || f.source != config.SignalMQTT {
		s.log.Warn("signal message for a camera without an mqtt signal feed", "camera", cam)
		return
	}
	p, err := event.ParseSignal(payload)
	if err == nil {
		err = f.observe(p)
	}
	if err != nil {
		s.log.Warn("signal message refused", "camera", cam, "err", err)
	}
}

// staleAlarms lists the feeds silent at now, for the status event.
func (s *signalFeeds) staleAlarms(now time.Time) []string {
	var out []string
	for _, id := range sortedKeys(s.feeds) {
		if f := s.feeds[id]; f.stale(now) {
			out = append(out, fmt.Sprintf("camera %s: %s signal feed stale (no message for over %s): red-light citing paused",
				id, f.source, f.staleAfter))
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// signalError is the JSON error body of /api/signal.
type signalError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// ServeHTTP handles POST /api/signal/{camera_id} with a SignalPhase body.
// The endpoint is on the agent's local address (loopback by default): put
// the controller on a trusted segment, or in front of a proxy.
func (s *signalFeeds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cam := r.PathValue("camera_id")
	fail := func(status int, code, es, en string) {
		var e signalError
		e.Error.Code, e.Error.Message = code, es+" / "+en
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(e)
	}
	f := s.feeds[cam]
	if f == nil || f.source != config.SignalHTTP {
		fail(http.StatusNotFound, "no_signal_feed", "la cámara "+cam+" no tiene un semáforo por HTTP (signal: http)",
			"camera "+cam+" has no HTTP signal feed (signal: http)")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, event.MaxSignalBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(http.StatusRequestEntityTooLarge, "too_large", "mensaje demasiado grande", "message too large")
			return
		}
		fail(http.StatusBadRequest, "bad_request", "cuerpo ilegible", "unreadable body")
		return
	}
	p, err := event.ParseSignal(b)
	if err == nil {
		err = f.observe(p)
	}
	if err != nil {
		fail(http.StatusBadRequest, "invalid_signal", "fase de semáforo inválida: "+err.Error(), "invalid signal phase: "+err.Error())
		return
	}
	st := f.state()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"camera_id": cam, "phase": st.Phase, "received_at": st.LastMessageAt.UTC()})
}
