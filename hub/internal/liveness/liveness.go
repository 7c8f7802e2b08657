// Package liveness watches the fleet's devices: a device not heard from
// (no status message or heartbeat) within a window is marked silent, and the
// state carried by its latest status (the agent's last-will "offline",
// "degraded", a camera whose stream looks encrypted) raises the matching
// alert. Each condition keeps at most one open device_alerts row per device
// and kind, and is cleared when the device is heard again. Silent and
// offline devices are put in status 'error' and back to 'active' once both
// alerts are cleared.
package liveness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// DefaultSilentAfter is how long a device may stay quiet before it is silent.
const DefaultSilentAfter = 3 * time.Minute

// Store is what the job needs from the database (*db.Store).
type Store interface {
	ListDeviceLiveness(ctx context.Context) ([]db.DeviceLiveness, error)
	RaiseDeviceAlert(ctx context.Context, deviceID, kind, detail string, at time.Time, markError bool) (bool, error)
	ClearDeviceAlert(ctx context.Context, deviceID, kind string, at time.Time) (bool, error)
}

var _ Store = (*db.Store)(nil)

// Config tunes the job; zero fields take the defaults.
type Config struct {
	// SilentAfter is the window without status/heartbeat after which a device is silent (default 3 min).
	SilentAfter time.Duration
	// Interval between scans (default SilentAfter/6, at least 5 s).
	Interval time.Duration
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.SilentAfter <= 0 {
		c.SilentAfter = DefaultSilentAfter
	}
	if c.Interval <= 0 {
		c.Interval = max(c.SilentAfter/6, 5*time.Second)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Stats counts alerts raised and cleared since the job started.
type Stats struct {
	Silent              atomic.Int64
	Offline             atomic.Int64
	Degraded            atomic.Int64
	EncryptionSuspected atomic.Int64
	Cleared             atomic.Int64
}

func (s *Stats) raised(kind string) {
	switch kind {
	case db.AlertSilent:
		s.Silent.Add(1)
	case db.AlertOffline:
		s.Offline.Add(1)
	case db.AlertDegraded:
		s.Degraded.Add(1)
	case db.AlertEncryptionSuspected:
		s.EncryptionSuspected.Add(1)
	}
}

// Job scans the devices and keeps their liveness alerts current.
type Job struct {
	cfg   Config
	store Store
	log   *slog.Logger
	Stats Stats
}

// New returns a liveness job.
func New(cfg Config, store Store, log *slog.Logger) *Job {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Job{cfg: cfg, store: store, log: log.With("component", "liveness")}
}

// Run scans every Interval until ctx is cancelled.
func (j *Job) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := j.RunOnce(ctx); err != nil && ctx.Err() == nil {
			j.log.Warn("liveness scan failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Change is one alert raised or cleared by a scan.
type Change struct {
	DeviceID string
	Kind     string
	Raised   bool // false: cleared
}

// RunOnce scans every device once and returns the alerts it raised or cleared.
func (j *Job) RunOnce(ctx context.Context) ([]Change, error) {
	now := j.cfg.Now()
	devs, err := j.store.ListDeviceLiveness(ctx)
	if err != nil {
		return nil, err
	}
	var changes []Change
	var errs []error
	for _, d := range devs {
		if d.Status == db.DeviceInactive || d.Status == db.DeviceMaintenance {
			continue // taken out of service on purpose: quiet is expected
		}
		last := d.CreatedAt
		if d.LastHeartbeat != nil {
			last = *d.LastHeartbeat
		}
		quiet := now.Sub(last)
		conds := []struct {
			kind      string
			on        bool
			markError bool
			detail    string
		}{
			{db.AlertSilent, quiet > j.cfg.SilentAfter, true,
				fmt.Sprintf("no status for %s (window %s); last heard %s", quiet.Round(time.Second), j.cfg.SilentAfter, last.UTC().Format(time.RFC3339))},
			{db.AlertOffline, d.State == string(event.StateOffline), true, "the agent reported offline (last will or shutdown)"},
			{db.AlertDegraded, d.State == string(event.StateDegraded), false, "the agent reported degraded"},
			{db.AlertEncryptionSuspected, d.EncryptionSuspected, false, "a camera's packets arrive but none decodes (image encryption enabled?)"},
		}
		for _, c := range conds {
			switch {
			case c.on && !d.Open[c.kind]:
				raised, err := j.store.RaiseDeviceAlert(ctx, d.ID, c.kind, c.detail, now, c.markError)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if raised {
					j.Stats.raised(c.kind)
					changes = append(changes, Change{DeviceID: d.ID, Kind: c.kind, Raised: true})
					j.log.Warn("device alert raised", "device", d.ID, "kind", c.kind, "detail", c.detail)
				}
			case !c.on && d.Open[c.kind]:
				cleared, err := j.store.ClearDeviceAlert(ctx, d.ID, c.kind, now)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if cleared {
					j.Stats.Cleared.Add(1)
					changes = append(changes, Change{DeviceID: d.ID, Kind: c.kind})
					j.log.Info("device alert cleared", "device", d.ID, "kind", c.kind)
				}
			}
		}
	}
	return changes, errors.Join(errs...)
}

// Heard clears a device's silent alert at once; ingestion calls it when a
// status message of the device is stored, so the alert does not wait for the
// next scan. It reports whether an alert was cleared.
func (j *Job) Heard(ctx context.Context, deviceID string) (bool, error) {
	cleared, err := j.store.ClearDeviceAlert(ctx, deviceID, db.AlertSilent, j.cfg.Now())
	if err != nil {
		return false, fmt.Errorf("liveness: heard %s: %w", deviceID, err)
	}
	if cleared {
		j.Stats.Cleared.Add(1)
		j.log.Info("device alert cleared", "device", deviceID, "kind", db.AlertSilent)
	}
	return cleared, nil
}
