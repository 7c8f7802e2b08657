package config

import (
	"strings"
	"testing"
	"time"
)

func TestIntegrityEnv(t *testing.T) {
	cfg, err := Load("", env(map[string]string{
		"HUB_VERIFY_GIVE_UP_AFTER": "2h", "HUB_VERIFY_INTERVAL": "1s", "HUB_VERIFY_DISABLED": "true",
		"HUB_LIVENESS_SILENT_AFTER": "90s", "HUB_LIVENESS_INTERVAL": "10s",
		"HUB_SUNARP_URL": "https://sunarp.example.gob.pe/api", "HUB_SUNARP_TOKEN": "tok-123",
		"HUB_SUNARP_TIMEOUT": "3s", "HUB_SUNARP_TTL": "12h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{}
	want.Verify = Verify{Disabled: true, GiveUpAfter: 2 * time.Hour, Interval: time.Second}
	want.Liveness = Liveness{SilentAfter: 90 * time.Second, Interval: 10 * time.Second}
	want.SUNARP = SUNARP{URL: "https://sunarp.example.gob.pe/api", Token: "tok-123", Timeout: 3 * time.Second, TTL: 12 * time.Hour}
	if cfg.Verify != want.Verify || cfg.Liveness != want.Liveness || cfg.SUNARP != want.SUNARP {
		t.Fatalf("got %+v %+v %+v", cfg.Verify, cfg.Liveness, cfg.SUNARP)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrityInvalid(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"bad duration":         {map[string]string{"HUB_LIVENESS_SILENT_AFTER": "soon"}, "HUB_LIVENESS_SILENT_AFTER"},
		"bad bool":             {map[string]string{"HUB_VERIFY_DISABLED": "maybe"}, "HUB_VERIFY_DISABLED"},
		"negative":             {map[string]string{"HUB_SUNARP_TTL": "-1h"}, "sunarp.ttl"},
		"not http":             {map[string]string{"HUB_SUNARP_URL": "ftp://x"}, "sunarp.url"},
		"credentials in URL":   {map[string]string{"HUB_SUNARP_URL": "https://u:hunter2@x/api"}, "sunarp.url"},
		"negative give up":     {map[string]string{"HUB_VERIFY_GIVE_UP_AFTER": "-5m"}, "verify.give_up_after"},
		"negative scan period": {map[string]string{"HUB_LIVENESS_INTERVAL": "-1s"}, "liveness.interval"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := Load("", env(c.env))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want mention of %s", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error echoes a password: %v", err)
			}
		})
	}
}
