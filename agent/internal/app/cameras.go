package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/control"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/rules"
)

// liveLimits are a camera's speed settings as commands change them; the
// analysis goroutine applies a new version to its rules engine before the
// next frame's decisions (see apply).
type liveLimits struct {
	mu         sync.Mutex
	limit, tol float64
	ver        uint64
}

func newLiveLimits(cam config.Camera) *liveLimits {
	tol := cam.ToleranceKmh
	if tol <= 0 {
		tol = rules.DefaultConfig().Speed.ToleranceKmh
	}
	return &liveLimits{limit: cam.SpeedLimitKmh, tol: tol, ver: 1}
}

func (l *liveLimits) get() (limit, tol float64, ver uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.limit, l.tol, l.ver
}

// set applies s and returns the settings now in force.
func (l *liveLimits) set(s control.Settings) control.Settings {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.SpeedLimitKmh != nil {
		l.limit = *s.SpeedLimitKmh
	}
	if s.ToleranceKmh != nil {
		l.tol = *s.ToleranceKmh
	}
	l.ver++
	limit, tol := l.limit, l.tol
	return control.Settings{SpeedLimitKmh: &limit, ToleranceKmh: &tol}
}

// applier returns a function for the analysis goroutine that brings the
// engine up to date with l; it costs one mutex per frame.
func (l *liveLimits) applier(log *slog.Logger) (onRules func(*rules.Engine), apply func()) {
	var engine *rules.Engine
	var applied uint64
	onRules = func(e *rules.Engine) { engine, applied = e, 0 }
	apply = func() {
		if engine == nil {
			return
		}
		limit, tol, ver := l.get()
		if ver == applied {
			return
		}
		applied = ver
		if err := engine.SetSpeedLimit(limit); err != nil {
			log.Error("speed limit not applied", "err", err)
		}
		if err := engine.SetTolerance(tol); err != nil {
			log.Error("speed tolerance not applied", "err", err)
		}
		log.Info("speed limits applied", "speed_limit_kmh", limit, "tolerance_kmh", tol)
	}
	return onRules, apply
}

// cameraRunner runs one camera's pipeline until ctx ends.
type cameraRunner func(ctx context.Context, cam config.Camera, limits *liveLimits) error

// cameraSet runs the configured cameras and lets commands stop, restart
// and reconfigure them (it implements control.Cameras).
type cameraSet struct {
	ctx  context.Context // the service's
	run  cameraRunner
	reg  *health.Registry
	errc chan<- error // a camera's fatal error ends the service
	wg   *sync.WaitGroup
	log  *slog.Logger

	mu   sync.Mutex
	cams map[string]*cameraRun
}

type cameraRun struct {
	cfg    config.Camera
	limits *liveLimits
	cancel context.CancelFunc // nil while stopped
	done   chan struct{}
}

var _ control.Cameras = (*cameraSet)(nil)

func newCameraSet(ctx context.Context, cams []config.Camera, run cameraRunner, reg *health.Registry, errc chan<- error,
	wg *sync.WaitGroup, log *slog.Logger) *cameraSet {
	s := &cameraSet{ctx: ctx, run: run, reg: reg, errc: errc, wg: wg, log: log, cams: map[string]*cameraRun{}}
	for _, c := range cams {
		r := &cameraRun{cfg: c, limits: newLiveLimits(c)}
		s.cams[c.ID] = r
		limit, tol, _ := r.limits.get()
		reg.SetLimits(c.ID, health.Limits{SpeedLimitKmh: limit, ToleranceKmh: tol})
	}
	return s
}

// startAll starts every camera (at service start).
func (s *cameraSet) startAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.cams {
		s.launch(r)
	}
}

// launch starts r's pipeline; s.mu is held.
func (s *cameraSet) launch(r *cameraRun) {
	ctx, cancel := context.WithCancel(s.ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	cfg, limits, done := r.cfg, r.limits, r.done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		err := s.run(ctx, cfg, limits)
		if err != nil && ctx.Err() == nil {
			select {
			case s.errc <- err:
			default:
				s.log.Error("camera failed", "camera", cfg.ID, "err", err)
			}
		}
	}()
}

// Known implements control.Cameras.
func (s *cameraSet) Known(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cams[id] != nil
}

// Stop implements control.Cameras.
func (s *cameraSet) Stop(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.cams[id]
	if r == nil {
		return control.ErrUnknownCamera
	}
	if err := s.halt(ctx, r); err != nil {
		return err
	}
	s.reg.UpdateCamera(id, health.CameraState{State: health.StateStopped, StartedAt: time.Now()})
	s.log.Info("camera stopped by command", "camera", id)
	return nil
}

// halt cancels r's pipeline and waits for it; s.mu is held.
func (s *cameraSet) halt(ctx context.Context, r *cameraRun) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("camera %s: pipeline did not stop in time: %w", r.cfg.ID, ctx.Err())
	}
	r.cancel = nil
	return nil
}

// Start implements control.Cameras. A running camera is restarted only when
// a new URL is given.
func (s *cameraSet) Start(ctx context.Context, id, rtspURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.cams[id]
	if r == nil {
		return control.ErrUnknownCamera
	}
	if s.ctx.Err() != nil {
		return errors.New("the agent is shutting down")
	}
	if r.cancel != nil && rtspURL == "" {
		return nil
	}
	if err := s.halt(ctx, r); err != nil {
		return err
	}
	if rtspURL != "" {
		// Kept in memory only: a restart of the agent goes back to the configuration.
		r.cfg.URL, r.cfg.URLEnv = config.Secret(rtspURL), ""
	}
	s.launch(r)
	s.log.Info("camera started by command", "camera", id, "new_url", rtspURL != "")
	return nil
}

// Configure implements control.Cameras.
func (s *cameraSet) Configure(id string, set control.Settings) (control.Settings, error) {
	s.mu.Lock()
	r := s.cams[id]
	s.mu.Unlock()
	if r == nil {
		return control.Settings{}, control.ErrUnknownCamera
	}
	in := r.limits.set(set)
	s.reg.SetLimits(id, health.Limits{SpeedLimitKmh: *in.SpeedLimitKmh, ToleranceKmh: *in.ToleranceKmh})
	s.log.Info("camera settings changed by command", "camera", id, "speed_limit_kmh", *in.SpeedLimitKmh, "tolerance_kmh", *in.ToleranceKmh)
	return in, nil
}
