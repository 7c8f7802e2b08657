package health

import (
	"testing"
	"time"
)

func TestFleetMetricsFollowTheirSources(t *testing.T) {
	r := NewRegistry("CAM001", "CAM002", "CAM003")
	now := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	ev := Evidence{Bytes: 100}
	r.SetEvidenceSource(func() Evidence { return ev })
	r.SetSignal("CAM001", SignalState{Source: "mqtt", Phase: "red", LastMessageAt: now, StaleAfter: 5 * time.Second})
	r.SetSignal("CAM003", SignalState{Source: "light-region", Phase: "green"})

	_, v, _ := scrape(t, r)
	cases := []struct {
		series string
		want   float64
	}{
		{`evidence_bytes`, 100},
		{`evidence_pinned_bytes`, 0},
		{`evidence_alarm`, 0},
		{"signal_feed_stale|camera_id=CAM001", 0},
	}
	for _, tc := range cases {
		if got, ok := v[tc.series]; !ok || got != tc.want {
			t.Errorf("%s = %v (present %v), want %v", tc.series, got, ok, tc.want)
		}
	}
	for _, absent := range []string{"signal_feed_stale|camera_id=CAM002", "signal_feed_stale|camera_id=CAM003"} {
		if _, ok := v[absent]; ok {
			t.Errorf("%s present: only live feeds can be stale", absent)
		}
	}

	ev = Evidence{Bytes: 200, PinnedBytes: 150, Alarm: true}
	now = now.Add(6 * time.Second) // the feed fell silent
	r.ObserveInfractionLatency("CAM002", 5500*time.Millisecond)
	r.ObserveInfractionLatency("CAM002", 400*time.Millisecond)
	_, v, _ = scrape(t, r)
	for series, want := range map[string]float64{
		`evidence_bytes`:                                             200,
		`evidence_pinned_bytes`:                                      150,
		`evidence_alarm`:                                             1,
		"signal_feed_stale|camera_id=CAM001":                         1,
		"infraction_latency_seconds_count|device_id=CAM002":          2,
		"infraction_latency_seconds_bucket|device_id=CAM002|le=0.5":  1,
		"infraction_latency_seconds_bucket|device_id=CAM002|le=5":    1,
		"infraction_latency_seconds_bucket|device_id=CAM002|le=6":    2,
		"infraction_latency_seconds_bucket|device_id=CAM002|le=+Inf": 2,
	} {
		if got := v[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if _, ok := v["infraction_latency_seconds_count|device_id=CAM001"]; ok {
		t.Error("a camera without infractions has a latency histogram")
	}
}

func TestModelsAndClockInCameraStatus(t *testing.T) {
	srv, reg, _, _ := newTestServer(t, Config{}, "CAM001", "CAM002")
	off := -2.25
	reg.UpdateCamera("CAM001", CameraState{State: StateStreaming, ClockSynced: true, ClockOffsetMs: &off})
	reg.SetModels("CAM001", map[string]string{"yolox-nano": "0.1.1rc0"})
	reg.SetModels("CAM002", map[string]string{"yolox-nano": "0.1.1rc0", "lpd-yunet-2023mar": "sha256:0123456789ab"})

	cs, _ := srv.Status("CAM001")
	if !cs.ClockSynced || cs.ClockOffsetMs == nil || *cs.ClockOffsetMs != off || cs.Models["yolox-nano"] != "0.1.1rc0" || len(cs.Models) != 1 {
		t.Errorf("CAM001 status: synced %v offset %v models %v", cs.ClockSynced, cs.ClockOffsetMs, cs.Models)
	}
	if cs, _ := srv.Status("CAM002"); cs.ClockSynced || cs.ClockOffsetMs != nil {
		t.Errorf("CAM002 without NTP: synced %v offset %v", cs.ClockSynced, cs.ClockOffsetMs)
	}
	if m := reg.Models(); len(m) != 2 || m["lpd-yunet-2023mar"] != "sha256:0123456789ab" {
		t.Errorf("device models %v, want the union of both cameras'", m)
	}
	reg.SetModels("CAM002", nil)
	if m := reg.Models(); len(m) != 1 {
		t.Errorf("models %v after CAM002 stopped", m)
	}
}
