package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func TestLoadOrCreateKey(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, dataDir string)
		want    string // error substring; "" means the key loads
	}{
		{name: "created on first use", prepare: func(*testing.T, string) {}},
		{name: "existing key reused", prepare: func(t *testing.T, d string) {
			if _, err := LoadOrCreateKey(d); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "group readable key refused", prepare: func(t *testing.T, d string) {
			mustKey(t, d)
			chmod(t, KeyPath(d), 0o640)
		}, want: "chmod 600"},
		{name: "world readable key refused", prepare: func(t *testing.T, d string) {
			mustKey(t, d)
			chmod(t, KeyPath(d), 0o644)
		}, want: "permissions 0644"},
		{name: "open key directory refused", prepare: func(t *testing.T, d string) {
			mustKey(t, d)
			chmod(t, filepath.Dir(KeyPath(d)), 0o755)
		}, want: "chmod 700"},
		{name: "not a key", prepare: func(t *testing.T, d string) {
			if err := os.MkdirAll(filepath.Dir(KeyPath(d)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(KeyPath(d), []byte("hello"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, want: "not a PEM PRIVATE KEY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			tc.prepare(t, d)
			key, err := LoadOrCreateKey(d)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(KeyPath(d))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
			}
			di, _ := os.Stat(filepath.Dir(KeyPath(d)))
			if di.Mode().Perm() != 0o700 {
				t.Errorf("key directory mode %04o, want 0700", di.Mode().Perm())
			}
			again, err := LoadKey(d)
			if err != nil || !bytes.Equal(again, key) {
				t.Fatalf("reloaded key differs (err %v)", err)
			}
			pemBytes, err := PublicKeyPEM(key)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := shared.ParsePublicKey(pemBytes)
			if err != nil || !pub.Equal(key.Public()) {
				t.Fatalf("exported public key does not round-trip (err %v)", err)
			}
			if strings.Contains(err2s(err), "PRIVATE") || bytes.Contains(pemBytes, []byte("PRIVATE")) {
				t.Fatal("public export mentions private material")
			}
		})
	}
}

func mustKey(t *testing.T, d string) {
	t.Helper()
	if _, err := LoadOrCreateKey(d); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}

func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
