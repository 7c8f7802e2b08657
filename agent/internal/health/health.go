// Package health serves the agent's local HTTP endpoints: liveness
// (/health), readiness (/ready), Prometheus metrics (/metrics), per-camera
// status (/api/inference/cameras/{id}/status) and the live per-frame
// results over WebSocket (/ws/stream/{camera_id}). Camera pipelines and
// the outbox report into a Registry; the Server only reads it.
//
// The service wires it as: reg := NewRegistry(cameraIDs...);
// reg.AddCheck("outbox", ...); per camera, UpdateCamera from the ingest
// state observer, and per frame AddFrames, ObserveLatency per stage,
// AddInfraction per violation and Publish with the frame's tracks mapped
// to StreamDetection; then New(cfg, reg, log).Run(ctx, "").
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Config configures the server.
type Config struct {
	// Addr is the listen address (default 127.0.0.1:9090).
	Addr string
	// StaleAfter marks a streaming camera stalled when its last frame is
	// older than this (default 10s).
	StaleAfter time.Duration
	// CheckTimeout bounds each readiness check (default 2s).
	CheckTimeout time.Duration
	// ClientQueue is each WebSocket client's queue length in messages (default 32).
	ClientQueue int
	// WriteTimeout bounds one WebSocket write (default 5s).
	WriteTimeout time.Duration
	// PingInterval is the WebSocket keep-alive period (default 30s).
	PingInterval time.Duration
}

// DefaultAddr is the default listen address: loopback only.
const DefaultAddr = "127.0.0.1:9090"

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 10 * time.Second
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 2 * time.Second
	}
	if c.ClientQueue <= 0 {
		c.ClientQueue = 32
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 5 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
}

// Server serves the endpoints over a Registry.
type Server struct {
	cfg      Config
	reg      *Registry
	log      *slog.Logger
	mux      *http.ServeMux
	upgrader websocket.Upgrader
	started  time.Time

	// closing is closed when Serve shuts down, ending WebSocket streams.
	closing chan struct{}
	mu      sync.Mutex
	closed  bool
	wsWG    sync.WaitGroup
}

// New returns a server over reg. A nil logger discards logs.
func New(cfg Config, reg *Registry, log *slog.Logger) *Server {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		reg:      reg,
		log:      log.With("component", "health"),
		mux:      http.NewServeMux(),
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096},
		started:  reg.now(),
		closing:  make(chan struct{}),
	}
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /ready", s.handleReady)
	s.mux.HandleFunc("GET /metrics", s.handleMetrics)
	s.mux.HandleFunc("GET /api/inference/cameras/{id}/status", s.handleCameraStatus)
	s.mux.HandleFunc("GET /ws/stream/{camera_id}", s.handleStream)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return s
}

// Handler returns the HTTP handler with every endpoint.
func (s *Server) Handler() http.Handler { return s.mux }

// Run listens on addr (Config.Addr when empty) and serves until ctx ends.
func (s *Server) Run(ctx context.Context, addr string) error {
	if addr == "" {
		addr = s.cfg.Addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("health: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully, closing
// ln and every WebSocket stream. A Server serves once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.shutdownStreams()
		return fmt.Errorf("health: serve: %w", err)
	case <-ctx.Done():
	}
	s.shutdownStreams()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	s.wsWG.Wait()
	if err != nil {
		return fmt.Errorf("health: shutdown: %w", err)
	}
	return nil
}

// shutdownStreams tells every WebSocket stream to end; later upgrades are refused.
func (s *Server) shutdownStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
}

// trackStream counts a new stream unless the server is shutting down.
func (s *Server) trackStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wsWG.Add(1)
	return true
}

// errorBody is the JSON error shape {"error":{"code","message"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// healthBody is the /health response.
type healthBody struct {
	Status        string  `json:"status"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "ok", UptimeSeconds: roundSeconds(s.reg.now().Sub(s.started))})
}

// readyBody is the /ready response.
type readyBody struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	reasons := s.reg.notReady(r.Context(), s.cfg.StaleAfter, s.cfg.CheckTimeout)
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, readyBody{Ready: false, Reasons: reasons})
		return
	}
	writeJSON(w, http.StatusOK, readyBody{Ready: true})
}

// notReady returns why the agent is not ready, or nothing.
func (r *Registry) notReady(ctx context.Context, stale, timeout time.Duration) []string {
	var reasons []string
	now := r.now()
	for _, c := range r.cameraList() {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		switch {
		case st.State == StateStopped:
			// Stopped on the hub's command: not a fault of this agent.
		case st.State != StateStreaming:
			state := st.State
			if state == "" {
				state = "not reported"
			}
			reasons = append(reasons, fmt.Sprintf("camera %s: %s", c.id, state))
		case now.Sub(st.LastFrameAt) > stale:
			reasons = append(reasons, fmt.Sprintf("camera %s: no frame for %s", c.id, now.Sub(st.LastFrameAt).Round(time.Second)))
		}
	}
	r.mu.RLock()
	checks := append([]namedCheck(nil), r.checks...)
	r.mu.RUnlock()
	for _, ch := range checks {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := ch.fn(cctx)
		cancel()
		if err != nil {
			reasons = append(reasons, redactURLs(fmt.Sprintf("%s: %v", ch.name, err)))
		}
	}
	return reasons
}

// userinfoRE matches the user:password@ part of URLs.
var userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://)[^/@\s]+@`)

// redactURLs hides URL credentials in check errors, which callers may build
// from RTSP or MQTT URLs.
func redactURLs(s string) string { return userinfoRE.ReplaceAllString(s, "${1}REDACTED@") }

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", metricsContentType)
	if err := s.reg.WriteMetrics(w); err != nil {
		s.log.Debug("write metrics", "err", err)
	}
}

// CameraStatus is the /api/inference/cameras/{id}/status response, in the
// specification's shape plus additive diagnostics.
type CameraStatus struct {
	DeviceID         string    `json:"device_id"`
	Status           string    `json:"status"`
	UptimeSeconds    float64   `json:"uptime_seconds"`
	FPS              float64   `json:"fps"`
	LatencyMs        float64   `json:"latency_ms"`
	DetectionsCount  int64     `json:"detections_count"`
	InfractionsCount int64     `json:"infractions_count"`
	LastFrameAt      time.Time `json:"last_frame_at,omitzero"`
	// Health is healthy, degraded or unhealthy.
	Health              string `json:"health"`
	DecodeErrors        int64  `json:"decode_errors"`
	Reconnects          int64  `json:"reconnects"`
	EncryptionSuspected bool   `json:"encryption_suspected"`
	// Signal is the red-light signal source, for cameras that have one.
	Signal *SignalStatus `json:"signal,omitempty"`
	// Limits are the speed settings in force (config.update changes them).
	Limits *Limits `json:"limits,omitempty"`
	// ClockSynced is true when the camera sends its NTP time; ClockOffsetMs
	// is then the median (capture − receive time) over recent frames.
	ClockSynced   bool     `json:"clock_synced,omitempty"`
	ClockOffsetMs *float64 `json:"clock_offset_ms,omitempty"`
	// Models are the models the camera's pipeline loaded (name → version).
	Models map[string]string `json:"models,omitempty"`
}

// Health values of a CameraStatus.
const (
	HealthHealthy   = "healthy"
	HealthDegraded  = "degraded"
	HealthUnhealthy = "unhealthy"
)

// cameraHealth grades a camera's state at now.
func cameraHealth(st CameraState, now time.Time, stale time.Duration) string {
	switch {
	case st.EncryptionSuspected, st.State == StateUndecodable, st.State == StateStopped, st.State == "":
		return HealthUnhealthy
	case st.State == StateStreaming && now.Sub(st.LastFrameAt) <= stale:
		return HealthHealthy
	default:
		return HealthDegraded
	}
}

// Status returns a camera's status report and whether the camera is known.
func (s *Server) Status(id string) (CameraStatus, bool) {
	st, ok := s.reg.CameraState(id)
	if !ok {
		return CameraStatus{}, false
	}
	now := s.reg.now()
	var sig *SignalState
	if ss, ok := s.reg.Signal(id); ok {
		sig = &ss
	}
	lim := s.reg.limitsOf(id)
	cs := CameraStatus{
		DeviceID:            id,
		Status:              st.State,
		FPS:                 st.FPS,
		LatencyMs:           st.LatencyMs,
		DetectionsCount:     st.DetectionsCount,
		InfractionsCount:    st.InfractionsCount,
		LastFrameAt:         st.LastFrameAt.UTC(),
		Health:              cameraHealth(st, now, s.cfg.StaleAfter),
		DecodeErrors:        st.DecodeErrors,
		Reconnects:          st.Reconnects,
		EncryptionSuspected: st.EncryptionSuspected,
		Signal:              signalStatus(sig, now),
		Limits:              lim,
		ClockSynced:         st.ClockSynced,
		ClockOffsetMs:       st.ClockOffsetMs,
		Models:              s.reg.modelsOf(id),
	}
	if cs.Health == HealthHealthy && cs.Signal != nil && cs.Signal.Stale {
		cs.Health = HealthDegraded // streaming, but red lights cannot be judged
	}
	if cs.Status == "" {
		cs.Status = StateConnecting
	}
	if !st.StartedAt.IsZero() && now.After(st.StartedAt) {
		cs.UptimeSeconds = roundSeconds(now.Sub(st.StartedAt))
	}
	return cs, true
}

func roundSeconds(d time.Duration) float64 { return d.Truncate(time.Second).Seconds() }

func (s *Server) handleCameraStatus(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	cs, ok := s.Status(id)
	if !ok {
		writeError(w, http.StatusNotFound, "camera_not_found", fmt.Sprintf("unknown camera %q", id))
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

// handleStream upgrades to a WebSocket and streams the camera's FrameMessages.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("camera_id")
	cam := s.reg.camera(id, false)
	if cam == nil {
		writeError(w, http.StatusNotFound, "camera_not_found", fmt.Sprintf("unknown camera %q", id))
		return
	}
	if !s.trackStream() {
		writeError(w, http.StatusServiceUnavailable, "shutting_down", "server is shutting down")
		return
	}
	defer s.wsWG.Done()
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already written an HTTP error.
		s.log.Debug("websocket upgrade", "camera", id, "err", err)
		return
	}
	cl := cam.subscribe(s.cfg.ClientQueue)
	s.log.Debug("stream client connected", "camera", id, "remote", r.RemoteAddr)
	defer func() {
		missed := cam.unsubscribe(cl)
		conn.Close()
		s.log.Debug("stream client gone", "camera", id, "remote", r.RemoteAddr, "missed", missed)
	}()

	// Reader: the client sends nothing useful; reading handles pongs and
	// notices the close.
	gone := make(chan struct{})
	conn.SetReadLimit(512)
	readWait := 2 * s.cfg.PingInterval
	_ = conn.SetReadDeadline(time.Now().Add(readWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(readWait)) })
	go func() {
		defer close(gone)
		for {
			if _, _, err := conn.NextReader(); err != nil {
				return
			}
		}
	}()

	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case b := <-cl.queue:
			_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout))
			if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.cfg.WriteTimeout)); err != nil {
				return
			}
		case <-gone:
			return
		case <-s.closing:
			_ = conn.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "shutting down"), time.Now().Add(time.Second))
			return
		}
	}
}
