package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestShareGroup(t *testing.T) {
	dir := t.TempDir()
	noShare := filepath.Join(dir, "noshare.yaml")
	if err := os.WriteFile(noShare, []byte("mqtt:\n  share_group: \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	shareFile := filepath.Join(dir, "share.yaml")
	if err := os.WriteFile(shareFile, []byte("mqtt:\n  share_group: vigia-hub\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"default: off (see MQTT.ShareGroup)", "", nil, ""},
		{"file", shareFile, nil, DefaultShareGroup},
		{"environment", "", map[string]string{"HUB_MQTT_SHARE_GROUP": "city-a"}, "city-a"},
		{"disabled by environment", "", map[string]string{"HUB_MQTT_SHARE_GROUP": "none"}, ""},
		{"disabled by file", noShare, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.file, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MQTT.ShareGroup != tc.want {
				t.Fatalf("share group %q, want %q", cfg.MQTT.ShareGroup, tc.want)
			}
		})
	}
	bad := Default()
	bad.MQTT.ShareGroup = "a/b"
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "share_group") {
		t.Fatalf("a share group with /: %v", err)
	}
}
