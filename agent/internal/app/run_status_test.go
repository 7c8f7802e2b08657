package app

import (
	"io"
	"math"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/models"
	"github.com/vigia-pe/vigia/shared/event"
)

// TestIntegrationRunStatusOnLiveCamera runs app.Run with the real detector
// on a simulated RTSP camera (which stamps its stream with NTP time in RTCP
// sender reports) whose picture shows a lit red lamp in the configured
// light region, against the real Mosquitto. The camera status must show the
// classified phase, the camera clock offset and the loaded model; /metrics
// the evidence and clock gauges; the retained status event the device clock
// as the kernel reports it and the models. Stopping the camera clears them.
func TestIntegrationRunStatusOnLiveCamera(t *testing.T) {
	broker, ort := requireRunServices(t)
	ffmpeg := testenv.RequireTool(t, "ffmpeg")
	// A grey street with a red lamp lit at (10,10)-(30,60).
	video := filepath.Join(t.TempDir(), "red.mp4")
	out, err := exec.Command(ffmpeg, "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=320x240:r=15:d=4",
		"-vf", "drawbox=x=10:y=10:w=20:h=50:color=red@1:t=fill", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "15", video).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	cam := liveCamera(t, video)
	manifest, err := models.Manifest("yolox-nano", testenv.ModelsDir())
	if err != nil {
		t.Fatal(err)
	}

	cfg := runConfig(t, "STS", broker, ort, config.Camera{ID: "CAM-L", URL: config.Secret(cam.URL()), PlateFormat: "none",
		Calibration: flatCalibration(t), Signal: config.SignalLightRegion, LightRegion: []int{10, 10, 30, 60}})
	device := cfg.DeviceID
	hub := newHubSide(t, broker, device)
	agent := startRun(t, cfg)
	base := agent.base
	status := func() health.CameraStatus { return agent.cameraStatus("CAM-L") }
	var cs health.CameraStatus
	waitUntil(t, 60*time.Second, "CAM-L streaming with a red light, the camera clock and the model", func() bool {
		cs = status()
		return cs.Status == health.StateStreaming && cs.Signal != nil && cs.Signal.Phase == "red" &&
			cs.ClockOffsetMs != nil && cs.Models != nil
	})
	if cs.Signal.Source != config.SignalLightRegion || cs.Signal.Stale {
		t.Errorf("signal %+v", cs.Signal)
	}
	// The simulator stamps frames with the wall clock at sending: only
	// loopback transit and pacing separate capture from receive time.
	if !cs.ClockSynced || math.Abs(*cs.ClockOffsetMs) > 500 {
		t.Errorf("camera clock synced %v offset %v ms: the simulator sends NTP time from this clock", cs.ClockSynced, *cs.ClockOffsetMs)
	}
	if cs.Models["yolox-nano"] != manifest.Version || len(cs.Models) != 1 {
		t.Errorf("models %v, want yolox-nano %s only (plates off)", cs.Models, manifest.Version)
	}
	t.Logf("camera clock offset %.1f ms, models %v", *cs.ClockOffsetMs, cs.Models)

	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, re := range []string{`(?m)^evidence_bytes \d`, `(?m)^evidence_pinned_bytes 0$`, `(?m)^evidence_alarm 0$`,
		`(?m)^camera_clock_offset_seconds\{device_id="CAM-L"\} -?[0-9.e-]+$`, `(?m)^# TYPE infraction_latency_seconds histogram$`} {
		if !regexp.MustCompile(re).Match(metrics) {
			t.Errorf("/metrics lacks %s", re)
		}
	}
	if strings.Contains(string(metrics), `signal_feed_stale{camera_id="CAM-L"}`) {
		t.Error("a light region is not a feed: it cannot be stale")
	}

	// A command makes the agent publish its status at once.
	_, id := hub.send(&event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-L", Config: []byte(`{"speed_limit_kmh":50}`)})
	waitUntil(t, 15*time.Second, "the ack", func() bool { return len(hub.acksFor(id)) > 0 })
	var st *event.Status
	waitUntil(t, 10*time.Second, "a status event with the models", func() bool {
		hub.mu.Lock()
		defer hub.mu.Unlock()
		for _, s := range hub.status {
			if len(s.Models) > 0 {
				st = s
			}
		}
		return st != nil
	})
	host := readHostClock()
	if st.ClockSource != clockSourceKernel || st.ClockSynced != host.Synced || st.Models["yolox-nano"] != manifest.Version {
		t.Errorf("status: clock source %q synced %v (kernel says %v), models %v", st.ClockSource, st.ClockSynced, host.Synced, st.Models)
	}
	if len(st.Cameras) != 1 || !st.Cameras[0].ClockSynced || st.Cameras[0].ClockOffsetMs == nil {
		t.Errorf("status cameras %+v: want CAM-L with its clock offset", st.Cameras)
	}
	if !host.Synced && st.State != event.StateDegraded {
		t.Errorf("state %s with an unsynchronised host clock, want degraded", st.State)
	}

	_, id = hub.send(&event.Command{Action: event.ActionStreamStop, CameraID: "CAM-L", TimeoutSeconds: 30})
	if a := hub.waitAck(id, 1)[0]; a.Outcome != event.OutcomeDone {
		t.Fatalf("stream.stop ack %+v", a)
	}
	waitUntil(t, 10*time.Second, "phase unknown and no models once stopped", func() bool {
		cs = status()
		return cs.Status == health.StateStopped && cs.Signal != nil && cs.Signal.Phase == "unknown" && cs.Models == nil && cs.ClockOffsetMs == nil
	})
}
