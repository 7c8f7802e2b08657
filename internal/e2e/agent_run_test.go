package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAgentRunServesStatusAndMetrics runs the agent service on a camera
// simulator serving real footage, feeding a real hub: /ready turns green once
// the camera streams, /metrics and the camera status answer from the running
// service, the hub records the agent's status, and SIGTERM stops it cleanly.
func TestAgentRunServesStatusAndMetrics(t *testing.T) {
	video := testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
	ort := testenv.RequireORT(t)
	agentBin, hubBin := binaries(t)
	dbURL := testdb.New(t)
	suffix := strings.ToUpper(event.NewID()[24:32])
	edge, cam := "EDGE-"+suffix, "CAM-"+suffix
	httpAddr, mqttAddr, rtspAddr, agentHTTP := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	hubEnv := []string{"HUB_DATABASE_URL=" + dbURL, "HUB_HTTP_ADDR=" + httpAddr, "HUB_EVIDENCE_DIR=" + t.TempDir(),
		"HUB_MQTT_URL=", "HUB_MQTT_LISTEN=" + mqttAddr, "HUB_MQTT_CLIENT_ID=hub-run-" + suffix, "HUB_JWT_KEY=" + testJWTKey}
	run(t, hubEnv, hubBin, "device", "add", edge)
	run(t, hubEnv, hubBin, "device", "add", cam)
	hub := start(t, hubEnv, hubBin, "serve")
	waitReady(t, "http://"+httpAddr, hub)

	sim := start(t, nil, agentBin, "simulate-camera", "--video", video, "--listen", rtspAddr)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "agent.yaml")
	cfg := fmt.Sprintf(`device_id: %s
mqtt: {url: "mqtt://%s"}
data_dir: %s
models_dir: %s
ort_library: %s
http_addr: %s
metrics_interval: 2s
cameras:
  - id: %s
    url_env: TEST_CAMERA_URL
    plate_format: none
`, edge, mqttAddr, filepath.Join(dir, "data"), testenv.ModelsDir(), ort, agentHTTP, cam)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := start(t, []string{"TEST_CAMERA_URL=rtsp://" + rtspAddr + "/cam"}, agentBin, "run", "--config", cfgPath)

	base := "http://" + agentHTTP
	deadline := time.Now().Add(60 * time.Second)
	for {
		if agent.cmd.ProcessState != nil {
			t.Fatalf("agent run exited:\n%s\nsimulator:\n%s", agent.out.String(), sim.out.String())
		}
		if code, _ := get(t, base+"/ready"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			_, body := get(t, base+"/ready")
			t.Fatalf("agent not ready after 60 s: %s\n%s", body, agent.out.String())
		}
		time.Sleep(250 * time.Millisecond)
	}
	if code, body := get(t, base+"/health"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/health: %d %s", code, body)
	}
	// Frames keep flowing: the counter grows between two scrapes.
	frames := func() int {
		_, body := get(t, base+"/metrics")
		m := regexp.MustCompile(`(?m)^frames_processed_total\{device_id="` + cam + `"\} (\d+)`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no frames_processed_total for %s in /metrics:\n%s", cam, body)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	f1 := frames()
	time.Sleep(1500 * time.Millisecond)
	if f2 := frames(); f2 <= f1 {
		t.Fatalf("frames_processed_total did not grow: %d then %d", f1, f2)
	}
	code, body := get(t, base+"/api/inference/cameras/"+cam+"/status")
	var st struct {
		DeviceID string  `json:"device_id"`
		Status   string  `json:"status"`
		FPS      float64 `json:"fps"`
		Health   string  `json:"health"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.DeviceID != cam || st.Status != "streaming" {
		t.Fatalf("camera status: %d %s", code, body)
	}
	if code, _ := get(t, base+"/api/inference/cameras/NOPE/status"); code != http.StatusNotFound {
		t.Fatalf("unknown camera: %d, want 404", code)
	}

	// The hub saw the agent's retained status.
	c := connectDB(t, dbURL)
	// Online, or degraded only because this machine's clock is not NTP-synchronised
	// (the agent says so honestly; CI sandboxes often run without NTP).
	var state, alarms string
	waitFor(t, 20*time.Second, func() bool {
		err := c.QueryRow(context.Background(), `SELECT COALESCE(metadata->'agent_status'->>'state',''),
			COALESCE(metadata->'agent_status'->>'alarms','[]') FROM devices WHERE id=$1`, edge).Scan(&state, &alarms)
		if err != nil {
			return false
		}
		var list []string
		_ = json.Unmarshal([]byte(alarms), &list)
		onlyClock := len(list) > 0
		for _, a := range list {
			onlyClock = onlyClock && strings.Contains(a, "device clock")
		}
		return state == "online" || (state == "degraded" && onlyClock)
	}, func() string { return "hub never recorded the agent online; state " + state + " alarms " + alarms })

	// Inference metrics samples reach the hub's partitioned inference_metrics table.
	var samples int
	var fps float64
	waitFor(t, 20*time.Second, func() bool {
		err := c.QueryRow(context.Background(), `SELECT count(*), COALESCE(max(fps), 0) FROM inference_metrics WHERE device_id=$1`, cam).Scan(&samples, &fps)
		return err == nil && samples > 0 && fps > 0
	}, func() string {
		return fmt.Sprintf("no inference metrics at the hub for %s (%d samples, max fps %.1f)", cam, samples, fps)
	})

	agent.stop(t)
	if agent.cmd.ProcessState == nil || !agent.cmd.ProcessState.Success() {
		t.Fatalf("agent run did not exit cleanly on SIGTERM:\n%s", agent.out.String())
	}
	waitFor(t, 20*time.Second, func() bool {
		err := c.QueryRow(context.Background(), `SELECT COALESCE(metadata->'agent_status'->>'state','') FROM devices WHERE id=$1`, edge).Scan(&state)
		return err == nil && state == "offline"
	}, func() string { return "hub never recorded the agent offline; state " + state })
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(200 * time.Millisecond)
	}
}
