package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/camsim"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// The integration tests of `agent run` share this rig: app.Run with the real
// detector on a simulated RTSP camera, against the real Mosquitto.

// requireRunServices checks what app.Run needs here and returns the
// Mosquitto address and the ONNX Runtime library.
func requireRunServices(t *testing.T) (broker, ort string) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipped in -short mode: runs the detector on a live stream")
	}
	broker = testenv.MosquittoAddr()
	testenv.RequireTCP(t, broker)
	ort = testenv.RequireORT(t)
	testenv.RequireTool(t, "ffmpeg")
	return broker, ort
}

// liveCamera serves video as a looping RTSP camera until the test ends.
func liveCamera(t *testing.T, video string) *camsim.Server {
	t.Helper()
	cam, err := camsim.New(camsim.Config{Video: video, Addr: testenv.FreeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	return cam
}

// runConfig is a valid agent configuration for a fresh device (prefix plus a
// unique suffix) with its own data directory and HTTP address.
func runConfig(t *testing.T, prefix, broker, ort string, cams ...config.Camera) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.DeviceID = prefix + "-" + strings.ToUpper(event.NewID()[24:32])
	cfg.MQTT.URL, cfg.DataDir, cfg.HTTPAddr = "mqtt://"+broker, t.TempDir(), testenv.FreeAddr(t)
	cfg.ModelsDir, cfg.ORTLibrary = testenv.ModelsDir(), ort
	cfg.Cameras = cams
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runningAgent is app.Run in the background.
type runningAgent struct {
	cfg    config.Config
	base   string // the agent's HTTP base URL
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startRun runs app.Run(cfg) until stop or the test's end, when it must
// stop cleanly within 20 s.
func startRun(t *testing.T, cfg config.Config) *runningAgent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{cfg: cfg, base: "http://" + cfg.HTTPAddr, cancel: cancel, done: make(chan error, 1)}
	go func() {
		a.done <- Run(ctx, cfg, func(string) string { return "" }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Errorf("agent run: %v", err)
		}
	})
	return a
}

// stop cancels Run and returns its error (idempotent).
func (a *runningAgent) stop() error {
	a.once.Do(func() {
		a.cancel()
		select {
		case a.err = <-a.done:
		case <-time.After(20 * time.Second):
			a.err = context.DeadlineExceeded
		}
	})
	return a.err
}

// alive fails the test if Run has ended on its own.
func (a *runningAgent) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		a.once.Do(func() { a.err = err })
		t.Fatalf("agent run ended early: %v", err)
	default:
	}
}

// cameraStatus reads GET /api/inference/cameras/{id}/status (zero value when unreachable).
func (a *runningAgent) cameraStatus(id string) health.CameraStatus {
	resp, err := http.Get(a.base + "/api/inference/cameras/" + id + "/status")
	if err != nil {
		return health.CameraStatus{}
	}
	defer resp.Body.Close()
	var cs health.CameraStatus
	_ = json.NewDecoder(resp.Body).Decode(&cs)
	return cs
}
