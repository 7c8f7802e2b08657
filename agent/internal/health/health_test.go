package health

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the registry.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2025, 11, 1, 15, 30, 0, 0, time.UTC)

func newTestServer(t *testing.T, cfg Config, cams ...string) (*Server, *Registry, *fakeClock, *httptest.Server) {
	t.Helper()
	clk := &fakeClock{t: t0}
	reg := NewRegistry(cams...)
	reg.now = clk.now
	s := New(cfg, reg, nil)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		s.shutdownStreams()
		ts.Close()
	})
	return s, reg, clk, ts
}

func getJSON(t *testing.T, url string, v any) (int, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("decode %s: %v (%s)", url, err, body)
		}
	}
	return resp.StatusCode, resp.Header
}

func TestHealthEndpoint(t *testing.T) {
	_, _, clk, ts := newTestServer(t, Config{}, "CAM001")
	clk.add(90 * time.Second)
	var body healthBody
	code, hdr := getJSON(t, ts.URL+"/health", &body)
	if code != http.StatusOK {
		t.Fatalf("status = %d, want 200", code)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Errorf("content type = %q", ct)
	}
	if body.Status != "ok" || body.UptimeSeconds != 90 {
		t.Errorf("body = %+v, want ok with 90 s uptime", body)
	}
}

func TestReadyFlips(t *testing.T) {
	_, reg, clk, ts := newTestServer(t, Config{StaleAfter: 5 * time.Second}, "CAM001", "CAM002")
	var outboxErr error
	var mu sync.Mutex
	reg.AddCheck("outbox", func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		return outboxErr
	})
	streaming := func(id string) {
		reg.UpdateCamera(id, CameraState{State: StateStreaming, LastFrameAt: clk.now()})
	}

	tests := []struct {
		name       string
		setup      func()
		wantCode   int
		wantReason string
	}{
		{"nothing reported", func() {}, 503, "camera CAM001: not reported"},
		{"one connecting", func() {
			streaming("CAM001")
			reg.UpdateCamera("CAM002", CameraState{State: StateConnecting})
		}, 503, "camera CAM002: connecting"},
		{"all streaming", func() { streaming("CAM002") }, 200, ""},
		{"outbox not writable", func() {
			mu.Lock()
			outboxErr = errors.New("disk full")
			mu.Unlock()
		}, 503, "outbox: disk full"},
		{"outbox back", func() {
			mu.Lock()
			outboxErr = nil
			mu.Unlock()
		}, 200, ""},
		{"stalled camera", func() {
			clk.add(6 * time.Second)
			streaming("CAM002")
		}, 503, "camera CAM001: no frame for 6s"},
		{"undecodable", func() {
			streaming("CAM001")
			reg.UpdateCamera("CAM002", CameraState{State: StateUndecodable, LastFrameAt: clk.now()})
		}, 503, "camera CAM002: undecodable"},
		{"recovered", func() { streaming("CAM002") }, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			var body readyBody
			code, _ := getJSON(t, ts.URL+"/ready", &body)
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d (%+v)", code, tc.wantCode, body)
			}
			if body.Ready != (tc.wantCode == 200) {
				t.Errorf("ready = %v", body.Ready)
			}
			if tc.wantReason != "" && !containsString(body.Reasons, tc.wantReason) {
				t.Errorf("reasons = %q, want %q among them", body.Reasons, tc.wantReason)
			}
			if tc.wantCode == 200 && len(body.Reasons) != 0 {
				t.Errorf("ready with reasons %q", body.Reasons)
			}
		})
	}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestReadyCheckTimeout(t *testing.T) {
	_, reg, _, ts := newTestServer(t, Config{CheckTimeout: 50 * time.Millisecond})
	reg.AddCheck("slow", func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	start := time.Now()
	var body readyBody
	code, _ := getJSON(t, ts.URL+"/ready", &body)
	if code != 503 || len(body.Reasons) != 1 || !strings.HasPrefix(body.Reasons[0], "slow: ") {
		t.Errorf("code %d reasons %q, want 503 with a slow reason", code, body.Reasons)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ready took %v despite the check timeout", d)
	}
}

func TestCameraStatus(t *testing.T) {
	_, reg, clk, ts := newTestServer(t, Config{StaleAfter: 10 * time.Second}, "CAM001", "CAM002", "CAM003", "CAM004")
	reg.UpdateCamera("CAM001", CameraState{
		State: StateStreaming, FPS: 29.8, LatencyMs: 187, DetectionsCount: 1247, InfractionsCount: 12,
		StartedAt: t0.Add(-time.Hour), LastFrameAt: t0.Add(-time.Second),
	})
	reg.UpdateCamera("CAM002", CameraState{State: StateStreaming, StartedAt: t0, LastFrameAt: t0.Add(-time.Minute)})
	reg.UpdateCamera("CAM003", CameraState{State: StateUndecodable, StartedAt: t0, EncryptionSuspected: true, DecodeErrors: 40})
	_ = clk

	tests := []struct {
		name       string
		id         string
		wantCode   int
		wantStatus string
		wantHealth string
	}{
		{"healthy", "CAM001", 200, "streaming", HealthHealthy},
		{"stalled", "CAM002", 200, "streaming", HealthDegraded},
		{"encrypted", "CAM003", 200, "undecodable", HealthUnhealthy},
		{"never reported", "CAM004", 200, "connecting", HealthUnhealthy},
		{"unknown", "CAM999", 404, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]any
			code, hdr := getJSON(t, ts.URL+"/api/inference/cameras/"+tc.id+"/status", &raw)
			if code != tc.wantCode {
				t.Fatalf("status = %d, want %d", code, tc.wantCode)
			}
			if hdr.Get("Content-Type") != "application/json" {
				t.Errorf("content type %q", hdr.Get("Content-Type"))
			}
			if tc.wantCode == 404 {
				e, _ := raw["error"].(map[string]any)
				if e["code"] != "camera_not_found" || e["message"] == "" {
					t.Errorf("error body = %v", raw)
				}
				return
			}
			for _, k := range []string{"device_id", "status", "uptime_seconds", "fps", "latency_ms", "detections_count", "infractions_count", "health"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("field %s missing in %v", k, raw)
				}
			}
			if raw["device_id"] != tc.id || raw["status"] != tc.wantStatus || raw["health"] != tc.wantHealth {
				t.Errorf("got %v, want status %s health %s", raw, tc.wantStatus, tc.wantHealth)
			}
		})
	}

	var cs CameraStatus
	getJSON(t, ts.URL+"/api/inference/cameras/CAM001/status", &cs)
	want := CameraStatus{DeviceID: "CAM001", Status: "streaming", UptimeSeconds: 3600, FPS: 29.8, LatencyMs: 187,
		DetectionsCount: 1247, InfractionsCount: 12, LastFrameAt: t0.Add(-time.Second), Health: HealthHealthy}
	if !cs.LastFrameAt.Equal(want.LastFrameAt) {
		t.Errorf("last_frame_at = %v, want %v", cs.LastFrameAt, want.LastFrameAt)
	}
	cs.LastFrameAt = want.LastFrameAt
	if !reflect.DeepEqual(cs, want) {
		t.Errorf("status = %+v\nwant %+v", cs, want)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	_, _, _, ts := newTestServer(t, Config{}, "CAM001")
	tests := []struct{ name, path string }{
		{"unknown path", "/nope"},
		{"unknown camera", "/api/inference/cameras/X/status"},
		{"unknown stream", "/ws/stream/X"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body errorBody
			code, _ := getJSON(t, ts.URL+tc.path, &body)
			if code != http.StatusNotFound || body.Error.Code == "" || body.Error.Message == "" {
				t.Errorf("code %d body %+v, want 404 with a JSON error", code, body)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	_, reg, _, ts := newTestServer(t, Config{}, "CAM001")
	reg.AddFrames("CAM001", 5)
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("status %d content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	_, samples, err := parseExposition(string(body))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	found := false
	for _, s := range samples {
		if s.name == "frames_processed_total" && s.labels["device_id"] == "CAM001" && s.value == 5 {
			found = true
		}
	}
	if !found {
		t.Errorf("frames_processed_total{device_id=CAM001} 5 not in\n%s", body)
	}
}

func TestRunServesAndStops(t *testing.T) {
	reg := NewRegistry("CAM001")
	s := New(Config{}, reg, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	code, _ := getJSON(t, url+"/health", nil)
	if code != 200 {
		t.Fatalf("health = %d", code)
	}
	ws := dialStream(t, url, "CAM001")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	_ = ws.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Error("stream still open after shutdown")
	}
}

func TestRunBadAddr(t *testing.T) {
	s := New(Config{}, NewRegistry(), nil)
	err := s.Run(context.Background(), "127.0.0.1:notaport")
	if err == nil || !strings.HasPrefix(err.Error(), "health: listen") {
		t.Errorf("Run = %v, want a listen error", err)
	}
}

func TestDefaultAddr(t *testing.T) {
	s := New(Config{}, NewRegistry(), nil)
	if s.cfg.Addr != "127.0.0.1:9090" {
		t.Errorf("default addr = %q", s.cfg.Addr)
	}
}

func TestRedactURLs(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"rtsp", "dial rtsp://admin:Abc123456@192.168.1.100:554/h264: refused", "dial rtsp://REDACTED@192.168.1.100:554/h264: refused"},
		{"user only", "mqtt://bob@broker:1883 down", "mqtt://REDACTED@broker:1883 down"},
		{"no credentials", "http://host/a@b", "http://host/a@b"},
		{"plain", "disk full", "disk full"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redactURLs(tc.in); got != tc.want {
				t.Errorf("redactURLs(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
