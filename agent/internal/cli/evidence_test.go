package cli

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/evidence"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func TestEvidenceCommands(t *testing.T) {
	dataDir := t.TempDir()
	t.Setenv("AGENT_DATA_DIR", dataDir)
	t.Setenv("AGENT_DEVICE_ID", "edge-1")
	w, err := evidence.NewWriter(evidence.Config{DataDir: dataDir, DeviceID: "edge-1"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var clip string
	for _, id := range []string{"ev1", "ev2"} {
		m, _, err := w.Write(evidence.Infraction{EventID: id, CameraID: "CAM001", Type: "SPEED_VIOLATION", DetectedAt: time.Now(),
			Files: []evidence.File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: []byte("clip " + id)}}})
		if err != nil {
			t.Fatal(err)
		}
		clip = filepath.Join(w.Dir(), time.Now().UTC().Format("2006/01/02"), "CAM001", m.EventID, "clip.mp4")
	}
	otherPub, _, _ := ed25519.GenerateKey(nil)
	otherPEM, _ := shared.MarshalPublicKey(otherPub)
	otherFile := filepath.Join(t.TempDir(), "other.pem")
	os.WriteFile(otherFile, otherPEM, 0o644)

	pubOut, _, err := runAgent(t, "evidence", "pubkey")
	if err != nil || !strings.HasPrefix(pubOut, "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("pubkey: %q, %v", pubOut, err)
	}
	pubFile := filepath.Join(t.TempDir(), "device.pem")
	os.WriteFile(pubFile, []byte(pubOut), 0o644)

	cases := []struct {
		name   string
		before func()
		args   []string
		ok     bool
		want   string
	}{
		{"device key, whole tree", nil, []string{"evidence", "verify"}, true, "OK 2 package(s)"},
		{"exported key, one package", nil, []string{"evidence", "verify", filepath.Dir(clip), "--pubkey", pubFile}, true, "chain starts at sequence 2"},
		{"wrong key", nil, []string{"evidence", "verify", w.Dir(), "--pubkey", otherFile}, false, "signed by key"},
		{"clip changed", func() { os.WriteFile(clip, []byte("clip ev9"), 0o640) }, []string{"evidence", "verify"}, false, "clip.mp4 changed"},
		{"json report", nil, []string{"evidence", "verify", "--json"}, false, `"kind": "file-changed"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			out, _, err := runAgent(t, tc.args...)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, errSilent)) {
				t.Fatalf("err %v, want ok=%v; output:\n%s", err, tc.ok, out)
			}
			if !strings.Contains(out, tc.want) {
				t.Fatalf("output lacks %q:\n%s", tc.want, out)
			}
			if os.Getenv("H7SHOW") != "" {
				t.Log(out)
			}
		})
	}
}
