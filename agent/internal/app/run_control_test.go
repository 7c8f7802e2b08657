package app

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// flatCalibration writes a calibration of a 320x240 picture onto a 10 x 30 m
// patch of road, with a stop line across it: enough for the red-light rule
// to be built on a live signal feed.
func flatCalibration(t *testing.T) string {
	t.Helper()
	pairs := []calibration.PointPair{
		{Image: calibration.Point{X: 0, Y: 240}, Ground: calibration.Point{X: 0, Y: 0}},
		{Image: calibration.Point{X: 320, Y: 240}, Ground: calibration.Point{X: 10, Y: 0}},
		{Image: calibration.Point{X: 320, Y: 0}, Ground: calibration.Point{X: 10, Y: 30}},
		{Image: calibration.Point{X: 0, Y: 0}, Ground: calibration.Point{X: 0, Y: 30}},
		{Image: calibration.Point{X: 160, Y: 120}, Ground: calibration.Point{X: 5, Y: 15}},
	}
	cal, err := calibration.New(pairs, calibration.Options{DeviceID: "CAM", Image: calibration.ImageSize{Width: 320, Height: 240}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cal.AddLine(calibration.Line{Name: "stop", Kind: calibration.LineStop,
		Ground: []calibration.Point{{X: 0, Y: 15}, {X: 10, Y: 15}}}); err != nil {
		t.Fatal(err)
	}
	cal.Seal()
	p := filepath.Join(t.TempDir(), "cam.cal.json")
	if err := cal.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationRunCommandsOnLiveCamera goes through app.Run's own wiring
// with the real detector on a simulated RTSP camera and the real Mosquitto:
// stream.stop really stops the pipeline (frames stop, status "stopped"),
// stream.start brings it back, config.update shows the new limit, and an
// MQTT signal feed reaches the camera's status.
func TestIntegrationRunCommandsOnLiveCamera(t *testing.T) {
	broker, ort := requireRunServices(t)
	cam := liveCamera(t, testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4"))
	cfg := runConfig(t, "RUN", broker, ort, config.Camera{ID: "CAM-1", URL: config.Secret(cam.URL()), PlateFormat: "none",
		Calibration: flatCalibration(t), Signal: config.SignalMQTT, SignalStaleAfter: 10 * time.Second})
	device := cfg.DeviceID
	hub := newHubSide(t, broker, device)
	agent := startRun(t, cfg)
	base := agent.base
	status := func() health.CameraStatus { return agent.cameraStatus("CAM-1") }
	frames := func() int {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^frames_processed_total\{device_id="CAM-1"\} (\d+)`).FindSubmatch(b)
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	check := func() { agent.alive(t) }
	waitUntil(t, 60*time.Second, "CAM-1 streaming", func() bool { check(); return status().Status == health.StateStreaming && frames() > 0 })
	waitUntil(t, 15*time.Second, "the command subscription", func() bool {
		_, id := hub.send(&event.Command{Action: event.ActionStreamStop, CameraID: "NOPE"})
		time.Sleep(300 * time.Millisecond)
		return len(hub.acksFor(id)) > 0
	})

	_, id := hub.send(&event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1", TimeoutSeconds: 30})
	if a := hub.waitAck(id, 1)[0]; a.Outcome != event.OutcomeDone {
		t.Fatalf("stream.stop ack %+v", a)
	}
	if st := status().Status; st != health.StateStopped {
		t.Fatalf("status %q after stream.stop", st)
	}
	f1 := frames()
	time.Sleep(1500 * time.Millisecond)
	if f2 := frames(); f2 != f1 {
		t.Fatalf("frames still processed after stream.stop: %d then %d", f1, f2)
	}
	waitUntil(t, 10*time.Second, "the camera simulator to lose its reader", func() bool { return cam.Readers() == 0 })

	_, id = hub.send(&event.Command{Action: event.ActionStreamStart, CameraID: "CAM-1", TimeoutSeconds: 30})
	if a := hub.waitAck(id, 1)[0]; a.Outcome != event.OutcomeDone {
		t.Fatalf("stream.start ack %+v", a)
	}
	waitUntil(t, 60*time.Second, "frames again after stream.start", func() bool { check(); return frames() > f1 })

	_, id = hub.send(&event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1", Config: json.RawMessage(`{"speed_limit":30}`)})
	if a := hub.waitAck(id, 1)[0]; a.Outcome != event.OutcomeDone {
		t.Fatalf("config.update ack %+v", a)
	}
	if l := status().Limits; l == nil || l.SpeedLimitKmh != 30 || l.ToleranceKmh != 5 {
		t.Fatalf("limits %+v, want 30/5", l)
	}

	if sig := status().Signal; sig == nil || !sig.Stale || sig.Source != "mqtt" {
		t.Fatalf("signal %+v before any message, want a stale mqtt feed", sig)
	}
	hub.publish(event.SignalTopic(device, "CAM-1"), []byte(fmt.Sprintf(`{"phase":"red","ts":%q}`, time.Now().UTC().Format(time.RFC3339Nano))))
	waitUntil(t, 10*time.Second, "red in the camera status", func() bool {
		sig := status().Signal
		return sig != nil && sig.Phase == "red" && !sig.Stale
	})

	if err := agent.stop(); err != nil {
		t.Fatalf("agent run: %v", err)
	}
}
