package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSampleConfigLoadsAndValidates(t *testing.T) {
	path := filepath.Join(testenv.RepoRoot(), "deploy", "hub", "hub.sample.yaml")
	cfg, err := Load(path, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:8080" || cfg.MQTT.SessionExpiry != 24*time.Hour || cfg.Evidence.S3.Bucket != "evidence" {
		t.Fatalf("sample not read as written: %+v", cfg)
	}
	// Every HUB_* variable the sample documents must be one Load reads.
	b, _ := os.ReadFile(path)
	for _, word := range strings.Fields(string(b)) {
		word = strings.Trim(word, ".,:()")
		if !strings.HasPrefix(word, "HUB_") {
			continue
		}
		// A value of the variable's type that differs from the sample's.
		value := "probe-value"
		switch {
		case word == "HUB_S3_USE_TLS" || word == "HUB_TWO_PERSON_RULE" || word == "HUB_VERIFY_DISABLED":
			value = "true"
		case strings.HasSuffix(word, "_TTL") || strings.HasSuffix(word, "_EXPIRY") || strings.HasSuffix(word, "_LOCKOUT") ||
			strings.HasSuffix(word, "_AFTER") || strings.HasSuffix(word, "_INTERVAL") || strings.HasSuffix(word, "_TIMEOUT"):
			value = "7m"
		case word == "HUB_MAX_FAILED_LOGINS":
			value = "7"
		case word == "HUB_SUNARP_URL":
			value = "https://registry.example/api"
		case word == "HUB_CORS_ORIGINS":
			value = "https://panel.example"
		}
		if word == "HUB_ACCESS_TTL" {
			value = "5m"
		}
		got, err := Load(path, env(map[string]string{word: value}))
		if err != nil {
			t.Fatalf("%s: %v", word, err)
		}
		// Secrets print redacted; the JWT key variables are read by SigningKey.
		if fmt.Sprintf("%+v", got) == fmt.Sprintf("%+v", cfg) && word != "HUB_DATABASE_URL" && word != "HUB_MQTT_PASSWORD" &&
			word != "HUB_S3_SECRET_KEY" && word != "HUB_SUNARP_TOKEN" && word != "HUB_JWT_KEY" {
			t.Errorf("the sample documents %s but Load ignores it", word)
		}
	}
}

func TestEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(p, []byte("http_addr: 127.0.0.1:9000\nmqtt:\n  url: mqtt://a:1883\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(p, env(map[string]string{"HUB_HTTP_ADDR": "127.0.0.1:9100"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != "127.0.0.1:9100" || cfg.MQTT.URL != "mqtt://a:1883" {
		t.Fatalf("precedence wrong: %+v", cfg)
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(p, []byte("http_adr: 127.0.0.1:9000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p, env(nil)); err == nil || !strings.Contains(err.Error(), "http_adr") {
		t.Fatalf("typo accepted: %v", err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	cfg := Default()
	cfg.DatabaseURL = "mysql://root:hunter2@db/x"
	cfg.HTTPAddr = "8080"
	cfg.MQTT.URL = "http://user:hunter2@broker"
	cfg.Evidence.S3.Endpoint = "https://minio:9000"
	cfg.Evidence.S3.Bucket = ""
	cfg.LogLevel = "loud"
	err := cfg.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"HUB_DATABASE_URL", "HUB_HTTP_ADDR", "HUB_MQTT_URL", "HUB_S3_ENDPOINT", "HUB_S3_BUCKET", "HUB_S3_ACCESS_KEY", "HUB_LOG_LEVEL"} {
		if !strings.Contains(msg, want) {
			t.Errorf("problem with %s not reported:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("a password leaked into the error:\n%s", msg)
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg := Default()
	cfg.DatabaseURL = "postgres://u:dbpass@h/db"
	cfg.Evidence.S3.SecretKey = "s3pass"
	cfg.MQTT.Password = "mqttpass"
	var sb strings.Builder
	slog.New(slog.NewJSONHandler(&sb, nil)).Info("cfg", "cfg", cfg, "db", cfg.DatabaseURL)
	j, _ := json.Marshal(cfg)
	for _, out := range []string{sb.String(), string(j), fmt.Sprintf("%v %+v", cfg, cfg)} {
		for _, secret := range []string{"dbpass", "s3pass", "mqttpass"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s printed in %q", secret, out)
			}
		}
	}
}
