package cli

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/shared/evidence"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Execute(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestDeviceKeyCommandsIntegration(t *testing.T) {
	t.Setenv("HUB_DATABASE_URL", testdb.New(t))
	t.Setenv("USER", "tester")
	out, e, code := run(t, "migrate")
	if code != 0 {
		t.Fatalf("migrate: %s", e)
	}
	// The local PostgreSQL has no TimescaleDB: the report says which storage the time series use.
	if !strings.Contains(out, "schema version") || !strings.Contains(out, "time series: native daily partitions") {
		t.Fatalf("migrate printed %q", out)
	}
	if _, e, code := run(t, "device", "add", "CAM001"); code != 0 {
		t.Fatalf("device add: %s", e)
	}
	pub1, _, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	pem, err := evidence.MarshalPublicKey(pub1)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := filepath.Join(t.TempDir(), "pub.pem")
	if err := os.WriteFile(pemFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	id1, id2 := evidence.KeyID(pub1), evidence.KeyID(pub2)
	b64 := base64.StdEncoding.EncodeToString(pub2)

	steps := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // substrings of stdout (code 0) or stderr
		wantNot  []string
	}{
		{"add from PEM file", []string{"device", "key", "add", "CAM001", "--file", pemFile}, 0, []string{"key " + id1 + " registered"}, nil},
		{"add again is a no-op", []string{"device", "key", "add", "CAM001", "--file", pemFile}, 0, []string{id1}, nil},
		{"add base64", []string{"device", "key", "add", "CAM001", "--public-key", b64}, 0, []string{id2}, nil},
		{"both sources", []string{"device", "key", "add", "CAM001", "--public-key", b64, "--file", pemFile}, 1, []string{"exactly one"}, nil},
		{"no source", []string{"device", "key", "add", "CAM001"}, 1, []string{"exactly one"}, nil},
		{"not a key", []string{"device", "key", "add", "CAM001", "--public-key", "bm90IGEga2V5"}, 1, []string{"raw public key of 9 bytes"}, nil},
		{"unknown device", []string{"device", "key", "add", "CAM999", "--public-key", b64}, 1, []string{"unknown device"}, nil},
		{"list", []string{"device", "key", "list"}, 0, []string{id1, id2, "active", b64}, []string{"revoked"}},
		{"revoke", []string{"device", "key", "revoke", "CAM001", id1, "--reason", "device stolen"}, 0, []string{"revoked"}, nil},
		{"revoke unknown", []string{"device", "key", "revoke", "CAM001", "ffffffffffffffff"}, 1, []string{"not found"}, nil},
		{"list shows revoked", []string{"device", "key", "list", "CAM001"}, 0, []string{"revoked", id2}, nil},
		{"revoked key cannot come back", []string{"device", "key", "add", "CAM001", "--file", pemFile}, 1, []string{"revoked"}, nil},
		{"list json", []string{"device", "key", "list", "--json"}, 0, []string{`"key_id":"` + id1 + `"`, `"revoked_at"`}, nil},
	}
	for _, s := range steps {
		out, errOut, code := run(t, s.args...)
		if code != s.wantCode {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.wantCode, out, errOut)
		}
		text := out
		if code != 0 {
			text = errOut
		}
		for _, w := range s.want {
			if !strings.Contains(text, w) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, w, text)
			}
		}
		for _, w := range s.wantNot {
			if strings.Contains(text, w) {
				t.Fatalf("%s: output holds %q:\n%s", s.name, w, text)
			}
		}
	}
}
