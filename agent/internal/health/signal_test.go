package health

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCameraSignalStatus(t *testing.T) {
	tests := []struct {
		name       string
		sig        *SignalState
		age        time.Duration // clock advance after the last message
		wantNil    bool
		wantPhase  string
		wantStale  bool
		wantHealth string
	}{
		{name: "no signal source", wantNil: true, wantHealth: HealthHealthy},
		{name: "fresh feed", sig: &SignalState{Source: "mqtt", Phase: "red", LastMessageAt: t0, StaleAfter: 5 * time.Second},
			age: 2 * time.Second, wantPhase: "red", wantHealth: HealthHealthy},
		{name: "stale feed", sig: &SignalState{Source: "http", Phase: "red", LastMessageAt: t0, StaleAfter: 5 * time.Second},
			age: 6 * time.Second, wantPhase: "unknown", wantStale: true, wantHealth: HealthDegraded},
		{name: "feed never spoke", sig: &SignalState{Source: "mqtt", StaleAfter: 5 * time.Second},
			wantPhase: "unknown", wantStale: true, wantHealth: HealthDegraded},
		{name: "light region never stale", sig: &SignalState{Source: "light-region", Phase: "green"},
			age: time.Hour, wantPhase: "green", wantHealth: HealthHealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, reg, clk, _ := newTestServer(t, Config{StaleAfter: 2 * time.Hour}, "CAM1")
			if tc.sig != nil {
				reg.SetSignal("CAM1", *tc.sig)
			}
			clk.add(tc.age)
			// The ingest state replaces CameraState; the signal must survive it.
			reg.UpdateCamera("CAM1", CameraState{State: StateStreaming, LastFrameAt: clk.now()})
			cs, ok := s.Status("CAM1")
			if !ok {
				t.Fatal("camera unknown")
			}
			if cs.Health != tc.wantHealth {
				t.Fatalf("health %q, want %q", cs.Health, tc.wantHealth)
			}
			if tc.wantNil {
				if cs.Signal != nil {
					t.Fatalf("signal %+v, want none", cs.Signal)
				}
				return
			}
			if cs.Signal == nil || cs.Signal.Phase != tc.wantPhase || cs.Signal.Stale != tc.wantStale || cs.Signal.Source != tc.sig.Source {
				t.Fatalf("signal %+v, want phase %q stale %v", cs.Signal, tc.wantPhase, tc.wantStale)
			}
		})
	}
}

func TestStoppedCameraDoesNotBlockReady(t *testing.T) {
	_, reg, clk, ts := newTestServer(t, Config{}, "CAM1", "CAM2")
	reg.UpdateCamera("CAM1", CameraState{State: StateStreaming, LastFrameAt: clk.now()})
	reg.UpdateCamera("CAM2", CameraState{State: StateConnecting})
	var body readyBody
	if code, _ := getJSON(t, ts.URL+"/ready", &body); code != http.StatusServiceUnavailable {
		t.Fatalf("/ready %d with a connecting camera", code)
	}
	reg.UpdateCamera("CAM2", CameraState{State: StateStopped})
	if code, _ := getJSON(t, ts.URL+"/ready", &body); code != http.StatusOK {
		t.Fatalf("/ready %d %+v: a camera stopped by command must not make the agent unready", code, body)
	}
	reg.SetLimits("CAM2", Limits{SpeedLimitKmh: 40, ToleranceKmh: 3})
	var cs CameraStatus
	if code, _ := getJSON(t, ts.URL+"/api/inference/cameras/CAM2/status", &cs); code != 200 || cs.Status != StateStopped ||
		cs.Health != HealthUnhealthy || cs.Limits == nil || *cs.Limits != (Limits{SpeedLimitKmh: 40, ToleranceKmh: 3}) {
		t.Fatalf("stopped camera status %d %+v", code, cs)
	}
}

func TestExtraRoute(t *testing.T) {
	s, _, _, ts := newTestServer(t, Config{}, "CAM1")
	s.Handle("POST /api/signal/{camera_id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(r.PathValue("camera_id")))
	}))
	resp, err := http.Post(ts.URL+"/api/signal/CAM1", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("extra route answered %d", resp.StatusCode)
	}
	var e map[string]any
	if code, _ := getJSON(t, ts.URL+"/api/nothing", &e); code != http.StatusNotFound {
		t.Fatalf("unknown path %d after adding a route", code)
	}
}
