package app

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/evquota"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// TestDeviceStatus builds the retained status from a real outbox and
// evidence quota (one undelivered package over a tiny quota), two cameras
// (one sending NTP with a clock 3 s off), the models they loaded and a
// synchronised kernel clock.
func TestDeviceStatus(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	ob, err := outbox.Open(filepath.Join(dir, "outbox.db"), outbox.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	w, err := evidence.NewWriter(evidence.Config{DataDir: dir, DeviceID: "EDGE-1", AgentVersion: "test"}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Write(evidence.Infraction{EventID: event.NewID(), CameraID: "CAM-A", Type: "SPEED_VIOLATION", DetectedAt: time.Now(),
		Files: []evidence.File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: bytes.Repeat([]byte{1}, 4096)}}}); err != nil {
		t.Fatal(err)
	}
	jan, err := evquota.New(evquota.Config{DataDir: dir, MaxBytes: 1000}, ob, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jan.Check(); err != nil {
		t.Fatal(err)
	}
	reg := health.NewRegistry("CAM-A", "CAM-B")
	off := 3000.5
	reg.UpdateCamera("CAM-A", health.CameraState{State: health.StateStreaming, FPS: 15, ClockSynced: true, ClockOffsetMs: &off})
	reg.UpdateCamera("CAM-B", health.CameraState{State: health.StateStreaming, FPS: 25})
	reg.SetModels("CAM-A", statusModels(map[string]shared.Model{
		"yolox-nano":        {Version: "0.1.1rc0", SHA256: "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"},
		"lpd-yunet-2023mar": {Version: "license_plate_detection_lpd_yunet_2023mar.onnx", SHA256: "4c1f0a3e9b2d77aa"}}))
	reg.SetModels("CAM-B", statusModels(map[string]shared.Model{"yolox-nano": {Version: "0.1.1rc0"}}))
	feeds := newSignalFeeds(config.Config{DeviceID: "EDGE-1"}, reg, log)
	ss := &statusSource{ids: []string{"CAM-A", "CAM-B"}, reg: reg, ob: ob, jan: jan, feeds: feeds, started: time.Now(), now: time.Now,
		clock: func() hostClock {
			return hostClock{Source: clockSourceKernel, Synced: true, Offset: 250 * time.Microsecond, EstError: 2 * time.Millisecond, MaxError: 20 * time.Millisecond}
		}}

	st := ss.status()
	if err := st.Validate(); err != nil {
		t.Fatalf("status refused: %v", err)
	}
	if !st.ClockSynced || st.ClockSource != "kernel" || st.ClockOffsetMs != 0.25 || st.ClockEstErrorMs != 2 || st.ClockMaxErrorMs != 20 {
		t.Errorf("device clock: synced %v source %q offset %v est %v max %v", st.ClockSynced, st.ClockSource, st.ClockOffsetMs, st.ClockEstErrorMs, st.ClockMaxErrorMs)
	}
	want := map[string]string{"yolox-nano": "0.1.1rc0", "lpd-yunet-2023mar": "sha256:4c1f0a3e9b2d"}
	if len(st.Models) != len(want) || st.Models["yolox-nano"] != want["yolox-nano"] || st.Models["lpd-yunet-2023mar"] != want["lpd-yunet-2023mar"] {
		t.Errorf("models %v, want %v", st.Models, want)
	}
	if a := st.Cameras[0]; a.CameraID != "CAM-A" || !a.ClockSynced || a.ClockOffsetMs == nil || *a.ClockOffsetMs != off {
		t.Errorf("CAM-A %+v", a)
	}
	if b := st.Cameras[1]; b.ClockSynced || b.ClockOffsetMs != nil {
		t.Errorf("CAM-B without NTP: %+v", b)
	}
	var camAlarm, quotaAlarm bool
	for _, a := range st.Alarms {
		camAlarm = camAlarm || strings.Contains(a, "camera CAM-A: its clock is 3.001s off")
		quotaAlarm = quotaAlarm || strings.Contains(a, "evidence over quota")
	}
	if st.State != event.StateDegraded || !camAlarm || !quotaAlarm || len(st.Alarms) != 2 {
		t.Errorf("state %s alarms %q: want degraded, the camera clock and the quota", st.State, st.Alarms)
	}
	if st.DiskUsedBytes <= 4096 {
		t.Errorf("disk_used_bytes %d: the package alone holds 4096", st.DiskUsedBytes)
	}

	ev := ss.evidence()
	if ev.Bytes != st.DiskUsedBytes || ev.PinnedBytes <= 4096 || ev.PinnedBytes > ev.Bytes || !ev.Alarm {
		t.Errorf("evidence gauges %+v (disk used %d)", ev, st.DiskUsedBytes)
	}
	// The same numbers reach /metrics.
	reg.SetEvidenceSource(ss.evidence)
	var b bytes.Buffer
	if err := reg.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"evidence_alarm 1\n", "camera_clock_offset_seconds{device_id=\"CAM-A\"} 3.0005\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}
