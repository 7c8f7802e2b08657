package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSampleConfig(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(), "deploy", "jetson", "agent.sample.yaml")
	cfg, err := Load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cfg.Cameras) != 1 || cfg.Cameras[0].URLEnv != "AGENT_CAMERA_CAM001_URL" ||
		cfg.Cameras[0].StreamURL(env(map[string]string{"AGENT_CAMERA_CAM001_URL": "rtsp://x"})) != "rtsp://x" {
		t.Fatalf("sample cameras not read as written: %+v", cfg.Cameras)
	}
	if cfg.DeviceID != "EDGE-LIM-001" || cfg.DataDir != "/var/lib/vigia/agent" {
		t.Fatalf("sample not read as written: %+v", cfg)
	}
	b, _ := os.ReadFile(path)
	for _, word := range strings.Fields(string(b)) {
		word = strings.Trim(word, ".,:()")
		if !strings.HasPrefix(word, "AGENT_") {
			continue
		}
		probe := "probe"
		if word == "AGENT_EVIDENCE_MAX_BYTES" {
			probe = "12345"
		}
		got, err := Load(path, env(map[string]string{word: probe}))
		if err != nil {
			t.Fatal(err)
		}
		// Secrets print redacted, and a camera's url_env is read by the camera, not by Load.
		if fmt.Sprintf("%+v", got) == fmt.Sprintf("%+v", cfg) && word != "AGENT_MQTT_PASSWORD" && word != "AGENT_S3_SECRET_KEY" &&
			!strings.HasPrefix(word, "AGENT_CAMERA_") {
			t.Errorf("the sample documents %s but Load ignores it", word)
		}
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.DeviceID = "bad/id"
	cfg.MQTT.URL = "mqtt://user:hunter2@broker:1883"
	cfg.DataDir = ""
	cfg.LogLevel = "chatty"
	cfg.Cameras = []Camera{{ID: "CAM1", URL: "http://nope"}, {ID: "CAM1"}, {ID: "bad id", URLEnv: "X", PlateFormat: "mars"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"AGENT_DEVICE_ID", "AGENT_MQTT_URL", "AGENT_DATA_DIR", "AGENT_LOG_LEVEL", "must not embed a password",
		"cameras[0].url", "appears twice", "cameras[1]: needs url", "cameras[2].id", "cameras[2].plate_format"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Error("password leaked into the error")
	}
}

func TestModelFileMissingSaysWhere(t *testing.T) {
	cfg := Default()
	cfg.ModelsDir = t.TempDir()
	_, err := cfg.ModelFile("yolox-nano/yolox_nano.onnx")
	if err == nil {
		t.Fatal("missing model accepted")
	}
	for _, want := range []string{"yolox-nano/yolox_nano.onnx", cfg.ModelsDir, "AGENT_MODELS_DIR", "../shared/models"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := os.MkdirAll(filepath.Join(cfg.ModelsDir, "yolox-nano"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.ModelsDir, "yolox-nano", "yolox_nano.onnx"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.ModelFile("yolox-nano/yolox_nano.onnx"); err != nil {
		t.Fatal(err)
	}
}

func TestValidateSignal(t *testing.T) {
	tests := []struct {
		name string
		cam  Camera
		err  string // "" when valid
	}{
		{name: "none by default", cam: Camera{}},
		{name: "mqtt", cam: Camera{Signal: "mqtt", Calibration: "c.json", SignalStaleAfter: 3 * time.Second}},
		{name: "http", cam: Camera{Signal: "http", Calibration: "c.json"}},
		{name: "light region", cam: Camera{Signal: "light-region", Calibration: "c.json", LightRegion: []int{10, 10, 30, 60}}},
		{name: "unknown source", cam: Camera{Signal: "radio", Calibration: "c.json"}, err: `"radio" is not none, mqtt, http or light-region`},
		{name: "feed without calibration", cam: Camera{Signal: "mqtt"}, err: "needs a calibration"},
		{name: "light region missing", cam: Camera{Signal: "light-region", Calibration: "c.json"}, err: "light_region"},
		{name: "light region inverted", cam: Camera{Signal: "light-region", Calibration: "c.json", LightRegion: []int{30, 10, 10, 60}}, err: "light_region"},
		{name: "region without light-region", cam: Camera{Signal: "mqtt", Calibration: "c.json", LightRegion: []int{1, 1, 2, 2}}, err: "only used with"},
		{name: "stale too long", cam: Camera{Signal: "http", Calibration: "c.json", SignalStaleAfter: time.Hour}, err: "signal_stale_after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.DeviceID = "EDGE-1"
			tc.cam.ID, tc.cam.URL = "CAM1", "rtsp://cam/1"
			cfg.Cameras = []Camera{tc.cam}
			err := cfg.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
	if d := (Camera{}).StaleAfter(); d != DefaultSignalStaleAfter {
		t.Fatalf("default stale after %v", d)
	}
}

func TestEvidenceQuotaFromEnvAndValidation(t *testing.T) {
	cfg, err := Load("", env(map[string]string{"AGENT_EVIDENCE_MAX_BYTES": "1048576"}))
	if err != nil || cfg.Evidence.MaxBytes != 1<<20 {
		t.Fatalf("AGENT_EVIDENCE_MAX_BYTES: %+v %v", cfg.Evidence, err)
	}
	if _, err := Load("", env(map[string]string{"AGENT_EVIDENCE_MAX_BYTES": "8GB"})); err == nil || !strings.Contains(err.Error(), "AGENT_EVIDENCE_MAX_BYTES") {
		t.Fatalf("a non-numeric quota was accepted or not named: %v", err)
	}
	cfg = Default()
	cfg.Cameras = []Camera{{ID: "CAM1", URL: "rtsp://x"}}
	cfg.Evidence.Retention = -time.Hour
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "evidence") {
		t.Fatalf("negative retention accepted: %v", err)
	}
}
