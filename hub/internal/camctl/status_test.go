package camctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

func TestStatusIntegrationPostgres(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 1, 16, 30, 0, 0, time.UTC)
	started := now.Add(-time.Hour)
	lastFrame := now.Add(-time.Second)
	addDevice(t, store, "AGT1", "CAM1", "CAM2", "AGT2", "CAM3", "CAM4", "AGT5", "CAM5", "CAM6")
	recordStatus(t, store, "AGT1", now.Add(-10*time.Second), event.Status{State: event.StateOnline, StartedAt: started,
		Cameras: []event.CameraStatus{
			{CameraID: "CAM1", State: "streaming", FPS: 29.8, LastFrameAt: lastFrame},
			{CameraID: "CAM2", State: "undecodable", FPS: 0, EncryptionSuspected: true},
		}, Alarms: []string{"disk_low"}})
	recordStatus(t, store, "AGT2", now.Add(-10*time.Second), event.Status{State: event.StateOffline,
		Cameras: []event.CameraStatus{{CameraID: "CAM3", State: "streaming", FPS: 25}}})
	// A stale heartbeat: the agent said online 10 minutes ago and nothing since.
	recordStatus(t, store, "AGT5", now.Add(-10*time.Minute), event.Status{State: event.StateOnline,
		Cameras: []event.CameraStatus{{CameraID: "CAM5", State: "streaming", FPS: 25}}})
	// CAM6 is its own agent and reports nothing about itself.
	recordStatus(t, store, "CAM6", now.Add(-5*time.Second), event.Status{State: event.StateOnline})
	for i, m := range []struct {
		at                time.Time
		fps, lat          float64
		dets, infractions int
	}{
		{started.Add(-time.Minute), 10, 900, 1000, 50}, // before the agent started: not counted
		{now.Add(-2 * time.Minute), 29, 190, 600, 5},
		{now.Add(-time.Minute), 29.8, 187, 647, 7},
	} {
		_, err := store.Pool.Exec(ctx, `INSERT INTO inference_metrics(event_id, device_id, source_device_id, timestamp, window_start, window_end,
			fps, latency_ms, cpu_utilization, memory_mb, detections_count, infractions_count)
			VALUES ($1, 'CAM1', 'AGT1', $2, $2, $2::timestamptz + interval '1 minute', $3, $4, 50, 900, $5, $6)`,
			fmt.Sprintf("m-%d", i), m.at, m.fps, m.lat, m.dets, m.infractions)
		if err != nil {
			t.Fatal(err)
		}
	}
	svc := New(Config{}, store, brokenPublisher{}, nil, quiet)
	svc.now = func() time.Time { return now }
	r := router(svc)

	f := func(v float64) *float64 { return &v }
	i := func(v int64) *int64 { return &v }
	tests := []struct {
		name, id       string
		code           int
		status, health string
		agent          string
		fps, latency   *float64
		uptime         *int64
		dets, infr     int64
		encryption     bool
	}{
		{name: "streaming", id: "CAM1", code: 200, status: "streaming", health: "healthy", agent: "AGT1",
			fps: f(29.8), latency: f(187), uptime: i(3600), dets: 1247, infr: 12},
		{name: "encrypted stream", id: "CAM2", code: 200, status: "undecodable", health: "degraded", agent: "AGT1",
			fps: f(0), uptime: i(3600), encryption: true},
		{name: "agent offline", id: "CAM3", code: 200, status: "offline", health: "offline", agent: "AGT2"},
		{name: "never reported", id: "CAM4", code: 200, status: "unknown", health: "unknown"},
		{name: "stale heartbeat", id: "CAM5", code: 200, status: "offline", health: "offline", agent: "AGT5"},
		{name: "agent without this camera", id: "CAM6", code: 200, status: "unknown", health: "degraded", agent: "CAM6"},
		{name: "unknown", id: "CAM404", code: 404},
		{name: "bad id", id: "CAM%27--", code: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/inference/cameras/"+tc.id+"/status", nil))
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body.String())
			}
			conform(t, http.MethodGet, "/api/inference/cameras/{id}/status", w.Code, w.Body.Bytes())
			if tc.code != 200 {
				return
			}
			var got CameraStatus
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			agent := ""
			if got.AgentID != nil {
				agent = *got.AgentID
			}
			if got.DeviceID != tc.id || got.Status != tc.status || got.Health != tc.health || agent != tc.agent {
				t.Errorf("got %s/%s/%s agent %q; want %s/%s/%s agent %q", got.DeviceID, got.Status, got.Health, agent, tc.id, tc.status, tc.health, tc.agent)
			}
			if !eqPtr(got.FPS, tc.fps) || !eqPtr(got.LatencyMs, tc.latency) || !eqPtr(got.UptimeSeconds, tc.uptime) {
				t.Errorf("fps %v latency %v uptime %v", show(got.FPS), show(got.LatencyMs), show(got.UptimeSeconds))
			}
			if got.DetectionsCount != tc.dets || got.InfractionsCount != tc.infr || got.EncryptionSuspected != tc.encryption {
				t.Errorf("detections %d infractions %d encryption %v", got.DetectionsCount, got.InfractionsCount, got.EncryptionSuspected)
			}
		})
	}
	// The spec's fields are present, null when unknown.
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/inference/cameras/CAM4/status", nil))
	for _, want := range []string{`"fps":null`, `"latency_ms":null`, `"uptime_seconds":null`, `"last_frame_at":null`, `"agent_id":null`, `"alarms":[]`} {
		if !strings.Contains(w.Body.String(), want) {
			t.Errorf("CAM4 status lacks %s: %s", want, w.Body.String())
		}
	}
	w = httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/inference/cameras/CAM1/status", nil))
	if !strings.Contains(w.Body.String(), `"last_frame_at":"2026-11-01T16:29:59Z"`) || !strings.Contains(w.Body.String(), `"alarms":["disk_low"]`) {
		t.Errorf("CAM1 status: %s", w.Body.String())
	}
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func show[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestEventsIntegrationPostgres(t *testing.T) {
	store := openStore(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	addDevice(t, store, "AGT1", "CAM1", "CAM2")
	insert := func(typ, device string, at time.Time, data string) {
		t.Helper()
		if _, err := store.Pool.Exec(ctx, `INSERT INTO events(event_type, device_id, timestamp, data) VALUES ($1, $2, $3, $4::jsonb)`,
			typ, device, at, data); err != nil {
			t.Fatal(err)
		}
	}
	insert("detection", "CAM1", now.Add(-3*time.Minute), `{"n":1}`)
	insert("detection", "AGT1", now.Add(-2*time.Minute), `{"camera_id":"CAM1","n":2}`)
	insert("detection", "CAM2", now.Add(-90*time.Second), `{"n":3}`)             // another camera
	insert("detection", "CAM1", now.Add(-8*24*time.Hour), `{"n":4}`)             // outside the window
	insert("tracking", "AGT1", now.Add(-80*time.Second), `{"camera_id":"CAM2"}`) // another camera
	env, err := event.New("AGT1", now.Add(-time.Minute), &event.Status{State: event.StateOnline,
		Cameras: []event.CameraStatus{{CameraID: "CAM1", State: "streaming"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.RecordStatusEvent(ctx, env); err != nil {
		t.Fatal(err)
	}
	svc := New(Config{}, store, brokenPublisher{}, nil, quiet)
	r := router(svc)
	tests := []struct {
		name, query string
		code        int
		types       []string
	}{
		{name: "all", query: "camera_id=CAM1", code: 200, types: []string{"status", "detection", "detection"}},
		{name: "limit", query: "camera_id=CAM1&limit=2", code: 200, types: []string{"status", "detection"}},
		{name: "type", query: "camera_id=CAM1&event_type=detection", code: 200, types: []string{"detection", "detection"}},
		{name: "limit too big", query: "camera_id=CAM1&limit=5000", code: 400},
		{name: "limit not a number", query: "camera_id=CAM1&limit=1%3BDROP", code: 400},
		{name: "no camera", query: "limit=5", code: 400},
		{name: "unknown camera", query: "camera_id=CAM9", code: 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/inference/events?"+tc.query, nil))
			if w.Code != tc.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.code, w.Body.String())
			}
			conform(t, http.MethodGet, "/api/inference/events", w.Code, w.Body.Bytes())
			if tc.code != 200 {
				if !strings.Contains(w.Body.String(), `"error":{"code":`) {
					t.Errorf("error body %s", w.Body.String())
				}
				return
			}
			var page EventsPage
			if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
				t.Fatal(err)
			}
			var types []string
			for i, e := range page.Results {
				types = append(types, e.EventType)
				if i > 0 && e.Timestamp.After(page.Results[i-1].Timestamp) {
					t.Errorf("not newest first: %v", page.Results)
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.types, ",") || page.Count != len(tc.types) || page.CameraID != "CAM1" {
				t.Errorf("types %v count %d, want %v", types, page.Count, tc.types)
			}
		})
	}
}
