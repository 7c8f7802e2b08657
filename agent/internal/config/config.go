// Package config loads the agent's configuration: defaults, then a YAML file,
// then AGENT_* environment variables, then flags; Validate reports every
// problem at once.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
	"github.com/vigia-pe/vigia/shared/secret"
	"gopkg.in/yaml.v3"
)

// Secret is a string that never prints (logs, errors, JSON).
type Secret = secret.String

// Config is the agent configuration.
type Config struct {
	// DeviceID names this edge agent (AGENT_DEVICE_ID); also the MQTT topic level.
	DeviceID string `yaml:"device_id"`
	MQTT     MQTT   `yaml:"mqtt"`
	// DataDir holds the outbox, keys and evidence buffer (AGENT_DATA_DIR).
	DataDir string `yaml:"data_dir"`
	// ModelsDir holds the model weights and manifests (AGENT_MODELS_DIR).
	ModelsDir string `yaml:"models_dir"`
	// ORTLibrary is the path of libonnxruntime.so.1 (AGENT_ORT_LIBRARY).
	ORTLibrary string `yaml:"ort_library"`
	LogLevel   string `yaml:"log_level"`
	// HTTPAddr serves /health, /ready, /metrics, camera status and the live
	// stream (AGENT_HTTP_ADDR).
	HTTPAddr string `yaml:"http_addr"`
	// OutboxMaxBytes bounds the store-and-forward outbox (payloads and
	// evidence it references); infractions are never dropped for it.
	OutboxMaxBytes int64 `yaml:"outbox_max_bytes"`
	// Evidence bounds the evidence files kept under DataDir/evidence.
	Evidence EvidenceQuota `yaml:"evidence"`
	// S3 is where evidence files are uploaded; without an endpoint they stay
	// in the data directory and only the events are sent.
	S3 S3 `yaml:"s3"`
	// MetricsInterval is how often each camera's inference metrics sample
	// (the spec's inference_metrics row) is sent.
	MetricsInterval time.Duration `yaml:"metrics_interval"`
	// Cameras are the streams `agent run` analyses, one pipeline each.
	Cameras []Camera `yaml:"cameras"`
}

// EvidenceQuota bounds the local evidence buffer. Only packages already
// uploaded and acknowledged are ever deleted; when the rest does not fit,
// the agent raises an alarm and keeps it.
type EvidenceQuota struct {
	// MaxBytes caps evidence plus scratch files (AGENT_EVIDENCE_MAX_BYTES); 0 = no cap.
	MaxBytes int64 `yaml:"max_bytes"`
	// MinFreeBytes is the free-space floor of the data disk; 0 = none.
	MinFreeBytes int64 `yaml:"min_free_bytes"`
	// Retention keeps delivered packages this long for field inspection; 0 = until space is needed.
	Retention time.Duration `yaml:"retention"`
}

// S3 configures evidence uploads (AGENT_S3_*).
type S3 struct {
	Endpoint  string `yaml:"endpoint"`
	Bucket    string `yaml:"bucket"`
	AccessKey string `yaml:"access_key"`
	SecretKey Secret `yaml:"secret_key"`
	UseTLS    bool   `yaml:"use_tls"`
	Region    string `yaml:"region"`
}

// Camera is one stream of `agent run`.
type Camera struct {
	// ID is the camera's id at the hub (devices.id).
	ID string `yaml:"id"`
	// URL is the rtsp:// URL; it may hold the camera password, so prefer
	// URLEnv, the name of an environment variable holding it.
	URL    Secret `yaml:"url"`
	URLEnv string `yaml:"url_env"`
	// Transport is tcp (default) or udp.
	Transport string `yaml:"transport"`
	// Calibration is the camera's calibration file; without it, no speeds or rules.
	Calibration string `yaml:"calibration"`
	// PlateFormat is peru (default), brazil, any or none.
	PlateFormat string `yaml:"plate_format"`
	// SpeedLimitKmh overrides the calibration's speed zones (0: use them).
	SpeedLimitKmh float64 `yaml:"speed_limit_kmh"`
	// ToleranceKmh is the legal tolerance (default 5).
	ToleranceKmh float64 `yaml:"tolerance_kmh"`
	// MaxWidth downscales wider pictures before analysis (0: keep).
	MaxWidth int `yaml:"max_width"`
	// Tiles is "CxR" tiling of the road region for small vehicles ("" for none).
	Tiles string `yaml:"tiles"`
	// Signal is where red-light rules get the signal phase: none (default:
	// no red-light rule), mqtt (the controller publishes on
	// traffic/v1/<device>/signal/<camera>), http (it POSTs to
	// /api/signal/<camera> on http_addr) or light-region (the lamp is
	// classified in LightRegion of the picture; the fallback). Anything but
	// none needs a calibration with a stop_line.
	Signal string `yaml:"signal"`
	// SignalStaleAfter is how long an mqtt or http feed may stay silent
	// before the phase counts as unknown (no red-light citation then, and
	// the camera shows degraded); default 5s. Controllers repeat the phase
	// in force as a keep-alive.
	SignalStaleAfter time.Duration `yaml:"signal_stale_after"`
	// LightRegion is the traffic light's rectangle [x1, y1, x2, y2] in
	// picture pixels (after max_width), for signal: light-region.
	LightRegion []int `yaml:"light_region"`
}

// Signal sources of Camera.Signal.
const (
	SignalNone        = "none"
	SignalMQTT        = "mqtt"
	SignalHTTP        = "http"
	SignalLightRegion = "light-region"
)

// DefaultSignalStaleAfter is the default Camera.SignalStaleAfter.
const DefaultSignalStaleAfter = 5 * time.Second

// SignalSource returns the camera's signal source, none when unset.
func (c Camera) SignalSource() string {
	if c.Signal == "" {
		return SignalNone
	}
	return c.Signal
}

// StaleAfter returns SignalStaleAfter or its default.
func (c Camera) StaleAfter() time.Duration {
	if c.SignalStaleAfter <= 0 {
		return DefaultSignalStaleAfter
	}
	return c.SignalStaleAfter
}

// StreamURL returns the camera URL from the file or its environment variable.
func (c Camera) StreamURL(getenv func(string) string) string {
	if c.URLEnv != "" {
		if v := getenv(c.URLEnv); v != "" {
			return v
		}
	}
	return string(c.URL)
}

// MQTT configures the uplink broker.
type MQTT struct {
	// URL like mqtt://hub.example.pe:1883 (AGENT_MQTT_URL).
	URL      string `yaml:"url"`
	Username string `yaml:"username"` // AGENT_MQTT_USERNAME
	Password Secret `yaml:"password"` // AGENT_MQTT_PASSWORD
}

// Default returns the defaults; ModelsDir is ../shared/models when present.
func Default() Config {
	return Config{
		DeviceID:   hostnameID(),
		MQTT:       MQTT{URL: "mqtt://127.0.0.1:1884"},
		DataDir:    "./data/agent",
		ModelsDir:  DefaultModelsDir(),
		ORTLibrary: DefaultORTLibrary(),
		LogLevel:   "info",
		HTTPAddr:   "127.0.0.1:9090",
		// 2 GiB: hours of infractions with evidence on a small SD card or eMMC.
		OutboxMaxBytes: 2 << 30,
		// 8 GiB of evidence and 512 MiB free at least; delivered packages kept a week.
		Evidence:        EvidenceQuota{MaxBytes: 8 << 30, MinFreeBytes: 512 << 20, Retention: 7 * 24 * time.Hour},
		S3:              S3{Bucket: "evidence", Region: "us-east-1"},
		MetricsInterval: time.Minute,
	}
}

func hostnameID() string {
	h, err := os.Hostname()
	if err != nil || !event.ValidDeviceID(h) {
		return "agent"
	}
	return h
}

// DefaultModelsDir returns the first existing of ../shared/models (from the
// working directory) and the same path beside the binary's repository.
func DefaultModelsDir() string {
	cands := []string{filepath.Join("..", "shared", "models")}
	if exe, err := os.Executable(); err == nil {
		d := filepath.Dir(exe)
		cands = append(cands, filepath.Join(d, "..", "..", "shared", "models"), filepath.Join(d, "..", "shared", "models"))
	}
	cands = append(cands, "/var/lib/vigia/models")
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			if abs, err := filepath.Abs(c); err == nil {
				return abs
			}
			return c
		}
	}
	return "/var/lib/vigia/models"
}

// DefaultORTLibrary returns the ONNX Runtime library that `make setup` extracts.
func DefaultORTLibrary() string {
	if c := os.Getenv("VIGIA_CACHE"); c != "" {
		return filepath.Join(c, "lib", "libonnxruntime.so.1")
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "vigia", "lib", "libonnxruntime.so.1")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/usr/lib/libonnxruntime.so.1"
}

// Load applies defaults, the YAML file at path (if not empty) and the environment.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: read %s: %w", path, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config: parse %s: %w", path, err)
		}
	}
	set := func(name string, dst *string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set("AGENT_DEVICE_ID", &cfg.DeviceID)
	set("AGENT_MQTT_URL", &cfg.MQTT.URL)
	set("AGENT_MQTT_USERNAME", &cfg.MQTT.Username)
	if v := getenv("AGENT_MQTT_PASSWORD"); v != "" {
		cfg.MQTT.Password = Secret(v)
	}
	set("AGENT_DATA_DIR", &cfg.DataDir)
	set("AGENT_MODELS_DIR", &cfg.ModelsDir)
	set("AGENT_ORT_LIBRARY", &cfg.ORTLibrary)
	set("AGENT_LOG_LEVEL", &cfg.LogLevel)
	set("AGENT_HTTP_ADDR", &cfg.HTTPAddr)
	set("AGENT_S3_ENDPOINT", &cfg.S3.Endpoint)
	set("AGENT_S3_BUCKET", &cfg.S3.Bucket)
	set("AGENT_S3_ACCESS_KEY", &cfg.S3.AccessKey)
	if v := getenv("AGENT_S3_SECRET_KEY"); v != "" {
		cfg.S3.SecretKey = Secret(v)
	}
	if v := getenv("AGENT_EVIDENCE_MAX_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cfg, fmt.Errorf("config: AGENT_EVIDENCE_MAX_BYTES: %q is not a number of bytes", v)
		}
		cfg.Evidence.MaxBytes = n
	}
	return cfg, nil
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []string
	bad := func(field, format string, args ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, args...))
	}
	if !event.ValidDeviceID(c.DeviceID) {
		bad("device_id (AGENT_DEVICE_ID)", "%q must be 1-50 of [A-Za-z0-9_.-], starting alphanumeric", c.DeviceID)
	}
	if u, err := url.Parse(c.MQTT.URL); err != nil || u.Host == "" || !oneOf(u.Scheme, "mqtt", "tcp", "tls", "mqtts", "ssl") {
		bad("mqtt.url (AGENT_MQTT_URL)", "must look like mqtt://host:port")
	} else if u.User != nil {
		if _, has := u.User.Password(); has {
			bad("mqtt.url (AGENT_MQTT_URL)", "must not embed a password: use AGENT_MQTT_PASSWORD")
		}
	}
	if c.DataDir == "" {
		bad("data_dir (AGENT_DATA_DIR)", "required")
	}
	if c.ModelsDir == "" {
		bad("models_dir (AGENT_MODELS_DIR)", "required")
	}
	if c.MetricsInterval < time.Second {
		bad("metrics_interval", "must be at least 1s")
	}
	if c.Evidence.MaxBytes < 0 || c.Evidence.MinFreeBytes < 0 || c.Evidence.Retention < 0 {
		bad("evidence", "max_bytes, min_free_bytes and retention must not be negative")
	}
	if c.OutboxMaxBytes < 1<<20 {
		bad("outbox_max_bytes", "must be at least 1 MiB")
	}
	if c.S3.Endpoint != "" && (c.S3.Bucket == "" || c.S3.AccessKey == "" || c.S3.SecretKey == "") {
		bad("s3 (AGENT_S3_*)", "an endpoint needs a bucket and credentials")
	}
	seen := map[string]bool{}
	for i, cam := range c.Cameras {
		field := fmt.Sprintf("cameras[%d]", i)
		if !event.ValidDeviceID(cam.ID) {
			bad(field+".id", "%q must be 1-50 of [A-Za-z0-9_.-]", cam.ID)
		}
		if seen[cam.ID] {
			bad(field+".id", "%q appears twice", cam.ID)
		}
		seen[cam.ID] = true
		if cam.URL == "" && cam.URLEnv == "" {
			bad(field, "needs url or url_env")
		}
		if cam.URL != "" && !strings.HasPrefix(string(cam.URL), "rtsp://") && !strings.HasPrefix(string(cam.URL), "rtsps://") {
			bad(field+".url", "must start with rtsp:// or rtsps://")
		}
		if !oneOf(cam.Transport, "", "tcp", "udp") {
			bad(field+".transport", "%q is not tcp or udp", cam.Transport)
		}
		if !oneOf(cam.PlateFormat, "", "peru", "brazil", "any", "none") {
			bad(field+".plate_format", "%q is not peru, brazil, any or none", cam.PlateFormat)
		}
		switch cam.SignalSource() {
		case SignalNone:
		case SignalMQTT, SignalHTTP, SignalLightRegion:
			if cam.Calibration == "" {
				bad(field+".signal", "%q needs a calibration with a stop_line", cam.Signal)
			}
		default:
			bad(field+".signal", "%q is not none, mqtt, http or light-region", cam.Signal)
		}
		if cam.SignalSource() == SignalLightRegion {
			if r := cam.LightRegion; len(r) != 4 || r[0] < 0 || r[1] < 0 || r[2] <= r[0] || r[3] <= r[1] {
				bad(field+".light_region", "signal light-region needs [x1, y1, x2, y2] with x2 > x1 >= 0 and y2 > y1 >= 0")
			}
		} else if len(cam.LightRegion) > 0 {
			bad(field+".light_region", "only used with signal: light-region")
		}
		if cam.SignalStaleAfter < 0 || cam.SignalStaleAfter > 10*time.Minute {
			bad(field+".signal_stale_after", "must be within 0..10m")
		}
		if cam.SpeedLimitKmh < 0 || cam.SpeedLimitKmh > 200 || cam.ToleranceKmh < 0 || cam.ToleranceKmh > 50 {
			bad(field, "speed_limit_kmh must be within 0..200 and tolerance_kmh within 0..50")
		}
	}
	if !oneOf(c.LogLevel, "debug", "info", "warn", "error") {
		bad("log_level (AGENT_LOG_LEVEL)", "%q is not debug, info, warn or error", c.LogLevel)
	}
	if len(errs) > 0 {
		return errors.New("invalid configuration:\n  - " + strings.Join(errs, "\n  - "))
	}
	return nil
}

// ModelFile returns the path of a model file under ModelsDir, or an error
// that says exactly which file is missing and where to get it.
func (c Config) ModelFile(rel string) (string, error) {
	p := filepath.Join(c.ModelsDir, rel)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("model file %s is missing from the models directory %s: copy it from ../shared/models/%s "+
			"(or from the hub's model store) or point AGENT_MODELS_DIR at a directory that has it", rel, c.ModelsDir, rel)
	}
	return p, nil
}

// Logger builds the slog logger the configuration asks for.
func (c Config) Logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.LogLevel))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}

func oneOf(s string, opts ...string) bool {
	for _, o := range opts {
		if s == o {
			return true
		}
	}
	return false
}
