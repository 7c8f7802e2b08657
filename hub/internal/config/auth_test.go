package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuthSettings(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "jwt.key")
	if err := os.WriteFile(keyFile, []byte("file-key-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	_ = os.WriteFile(short, []byte("tiny"), 0o600)
	cases := []struct {
		name    string
		env     map[string]string
		key     string // expected key, "" when an error is expected
		keyErr  string
		invalid string // expected Validate() substring, "" when valid
	}{
		{"no key", nil, "", "HUB_JWT_KEY", ""},
		{"env key", map[string]string{"HUB_JWT_KEY": "env-key-0123456789abcdef0123456789"}, "env-key-0123456789abcdef0123456789", "", ""},
		{"file wins", map[string]string{"HUB_JWT_KEY": "env-key-0123456789abcdef0123456789", "HUB_JWT_KEY_FILE": keyFile}, "file-key-0123456789abcdef0123456789", "", ""},
		{"short env key", map[string]string{"HUB_JWT_KEY": "short"}, "", "at least 32", "jwt_key"},
		{"short file key", map[string]string{"HUB_JWT_KEY_FILE": short}, "", "at least 32", ""},
		{"bad ttl", map[string]string{"HUB_ACCESS_TTL": "10s"}, "", "HUB_JWT_KEY", "access_ttl"},
		{"bad origin", map[string]string{"HUB_CORS_ORIGINS": "https://ok.pe, ftp://nope"}, "", "HUB_JWT_KEY", "cors_origins"},
		{"lockout zero", map[string]string{"HUB_MAX_FAILED_LOGINS": "0"}, "", "HUB_JWT_KEY", "max_failed_logins"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load("", env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			key, err := cfg.Auth.SigningKey()
			if tc.key != "" && (err != nil || string(key) != tc.key) {
				t.Fatalf("key %q err %v", key, err)
			}
			if tc.key == "" && (err == nil || !strings.Contains(err.Error(), tc.keyErr)) {
				t.Fatalf("key err %v, want %q", err, tc.keyErr)
			}
			if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
				t.Fatal("error leaks the key")
			}
			verr := cfg.Validate()
			if (tc.invalid == "") != (verr == nil) || (verr != nil && !strings.Contains(verr.Error(), tc.invalid)) {
				t.Fatalf("Validate: %v, want %q", verr, tc.invalid)
			}
		})
	}
	cfg, _ := Load("", env(map[string]string{"HUB_TWO_PERSON_RULE": "true", "HUB_DEV_EPHEMERAL_KEY": "1", "HUB_REFRESH_TTL": "48h",
		"HUB_CORS_ORIGINS": "https://a.pe, https://b.pe"}))
	if !cfg.Auth.TwoPersonRule || !cfg.Auth.DevEphemeralKey || cfg.Auth.RefreshTTL != 48*time.Hour || len(cfg.CORSOrigins) != 2 || cfg.CORSOrigins[1] != "https://b.pe" {
		t.Fatalf("%+v %v", cfg.Auth, cfg.CORSOrigins)
	}
	if _, err := (Auth{}).SigningKey(); !errors.Is(err, ErrNoJWTKey) {
		t.Fatal(err)
	}
	if _, err := Load("", env(map[string]string{"HUB_TWO_PERSON_RULE": "maybe"})); err == nil {
		t.Fatal("bad boolean accepted")
	}
}
