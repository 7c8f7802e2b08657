package liveness

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/shared/event"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// syncBuf is a log sink safe for concurrent writers.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *db.Store
	clock *clock
	t0    time.Time
	job   *Job
	logs  *syncBuf
}

func newFixture(t *testing.T, devices ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(t), time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range devices {
		if err := s.UpsertDevice(ctx, db.Device{ID: id, Name: id, RTSPURL: "rtsp://cam"}); err != nil {
			t.Fatal(err)
		}
	}
	var t0 time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT now()`).Scan(&t0); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, store: s, clock: &clock{t: t0}, t0: t0, logs: &syncBuf{}}
	f.job = New(Config{Now: f.clock.Now}, s, slog.New(slog.NewTextHandler(f.logs, nil)))
	return f
}

// status stores a status message of the device sent at t0+at.
func (f *fixture) status(device string, at time.Duration, st event.Status) {
	f.t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.RecordStatus(f.ctx, device, f.t0.Add(at), b); err != nil {
		f.t.Fatal(err)
	}
}

// scan runs the job at t0+at and returns its changes as "device/kind+" or "device/kind-".
func (f *fixture) scan(at time.Duration) []string {
	f.t.Helper()
	f.clock.Set(f.t0.Add(at))
	ch, err := f.job.RunOnce(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, c := range ch {
		sign := "-"
		if c.Raised {
			sign = "+"
		}
		out = append(out, c.DeviceID+"/"+c.Kind+sign)
	}
	return out
}

func (f *fixture) deviceStatus(id string) string {
	f.t.Helper()
	var s string
	if err := f.store.Pool.QueryRow(f.ctx, `SELECT status FROM devices WHERE id = $1`, id).Scan(&s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) openAlerts(id string) []string {
	f.t.Helper()
	as, err := f.store.ListDeviceAlerts(f.ctx, id, true, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestSilentThenHeardAgainIntegration(t *testing.T) {
	f := newFixture(t, "CAM001")
	online := event.Status{State: event.StateOnline}
	f.status("CAM001", 0, online)
	steps := []struct {
		name       string
		heard      time.Duration // a status arrives at t0+heard before the scan (0: none)
		at         time.Duration
		want       []string
		wantStatus string
		wantOpen   []string
	}{
		{name: "within the window", at: 2 * time.Minute, wantStatus: "active"},
		{name: "window passed", at: 3*time.Minute + time.Second, want: []string{"CAM001/silent+"}, wantStatus: "error", wantOpen: []string{"silent"}},
		{name: "still silent: one open alert", at: 10 * time.Minute, wantStatus: "error", wantOpen: []string{"silent"}},
		{name: "heard again", heard: 11 * time.Minute, at: 11*time.Minute + 5*time.Second, want: []string{"CAM001/silent-"}, wantStatus: "active"},
		{name: "silent a second time", at: 15 * time.Minute, want: []string{"CAM001/silent+"}, wantStatus: "error", wantOpen: []string{"silent"}},
	}
	for _, s := range steps {
		if s.heard != 0 {
			f.status("CAM001", s.heard, online)
		}
		if got := f.scan(s.at); !equal(got, s.want) {
			t.Fatalf("%s: changes %v, want %v", s.name, got, s.want)
		}
		if got := f.deviceStatus("CAM001"); got != s.wantStatus {
			t.Fatalf("%s: device status %s, want %s", s.name, got, s.wantStatus)
		}
		if got := f.openAlerts("CAM001"); !equal(got, s.wantOpen) {
			t.Fatalf("%s: open alerts %v, want %v", s.name, got, s.wantOpen)
		}
	}
	all, err := f.store.ListDeviceAlerts(f.ctx, "CAM001", false, 100)
	if err != nil || len(all) != 2 || all[1].ClearedAt == nil {
		t.Fatalf("alert history %+v, %v", all, err)
	}
	if f.job.Stats.Silent.Load() != 2 || f.job.Stats.Cleared.Load() != 1 {
		t.Fatalf("stats silent %d cleared %d", f.job.Stats.Silent.Load(), f.job.Stats.Cleared.Load())
	}
	if logs := f.logs.String(); !strings.Contains(logs, "device alert raised") || !strings.Contains(logs, "kind=silent") {
		t.Fatalf("no log line for the alert:\n%s", logs)
	}
}

func TestStateAlertsIntegration(t *testing.T) {
	f := newFixture(t, "OFF", "DEG", "ENC", "NEVER", "MAINT", "OK")
	f.status("OFF", time.Second, event.Status{State: event.StateOffline})
	f.status("DEG", time.Second, event.Status{State: event.StateDegraded})
	f.status("ENC", time.Second, event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{
		{CameraID: "a", State: "streaming"}, {CameraID: "b", State: "undecodable", EncryptionSuspected: true}}})
	f.status("MAINT", time.Second, event.Status{State: event.StateOnline})
	f.status("OK", time.Second, event.Status{State: event.StateOnline})
	if _, err := f.store.Pool.Exec(f.ctx, `UPDATE devices SET status = 'maintenance' WHERE id = 'MAINT'`); err != nil {
		t.Fatal(err)
	}
	got := f.scan(time.Minute)
	want := []string{"DEG/degraded+", "ENC/encryption_suspected+", "OFF/offline+"}
	if !equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	for id, st := range map[string]string{"OFF": "error", "DEG": "active", "ENC": "active", "OK": "active", "MAINT": "maintenance"} {
		if got := f.deviceStatus(id); got != st {
			t.Errorf("%s: status %s, want %s", id, got, st)
		}
	}
	// Five minutes on, nobody spoke: every device in service is silent too,
	// including the one registered but never heard; maintenance is left alone.
	got = f.scan(5 * time.Minute)
	want = []string{"DEG/silent+", "ENC/silent+", "NEVER/silent+", "OFF/silent+", "OK/silent+"}
	if !equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	// The agent comes back online: both of OFF's alerts clear and it is active again.
	f.status("OFF", 6*time.Minute, event.Status{State: event.StateOnline})
	f.status("DEG", 6*time.Minute, event.Status{State: event.StateOnline})
	got = f.scan(6*time.Minute + time.Second)
	want = []string{"DEG/silent-", "DEG/degraded-", "OFF/silent-", "OFF/offline-"}
	if !equal(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
	if got := f.deviceStatus("OFF"); got != "active" {
		t.Fatalf("OFF status %s after it came back", got)
	}
	if f.job.Stats.Offline.Load() != 1 || f.job.Stats.EncryptionSuspected.Load() != 1 || f.job.Stats.Degraded.Load() != 1 {
		t.Fatalf("stats %+v", &f.job.Stats)
	}
}

func TestOfflineKeepsErrorUntilBothClearIntegration(t *testing.T) {
	f := newFixture(t, "CAM001")
	f.status("CAM001", 0, event.Status{State: event.StateOffline})
	f.scan(5 * time.Minute) // offline and silent
	if got := f.openAlerts("CAM001"); len(got) != 2 {
		t.Fatalf("open %v", got)
	}
	// Heard clears silent at once, but the device still says offline: status stays error.
	f.clock.Set(f.t0.Add(6 * time.Minute))
	if cleared, err := f.job.Heard(f.ctx, "CAM001"); err != nil || !cleared {
		t.Fatalf("heard: %v %v", cleared, err)
	}
	if got := f.deviceStatus("CAM001"); got != "error" {
		t.Fatalf("status %s while still offline", got)
	}
	if cleared, err := f.job.Heard(f.ctx, "CAM001"); err != nil || cleared {
		t.Fatalf("second heard cleared again: %v %v", cleared, err)
	}
}

func TestConfigDefaults(t *testing.T) {
	cases := []struct {
		in           Config
		silent, tick time.Duration
	}{
		{Config{}, 3 * time.Minute, 30 * time.Second},
		{Config{SilentAfter: 10 * time.Second}, 10 * time.Second, 5 * time.Second},
		{Config{SilentAfter: time.Hour, Interval: time.Minute}, time.Hour, time.Minute},
	}
	for _, c := range cases {
		c.in.defaults()
		if c.in.SilentAfter != c.silent || c.in.Interval != c.tick || c.in.Now == nil {
			t.Errorf("%+v: want silent %s interval %s", c.in, c.silent, c.tick)
		}
	}
}
