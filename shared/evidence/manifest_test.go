package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

var update = flag.Bool("update", false, "add missing golden files (existing ones are never rewritten)")

// testKey derives a fixed key so golden manifests are reproducible.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("vigia evidence test key: " + label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func sampleManifest(seq uint64, prev string) *Manifest {
	t0 := time.Date(2026, 11, 28, 14, 3, 7, 250_000_000, time.UTC)
	return &Manifest{
		EventID:    "01JDX3K9Q0000000000000000" + string(rune('A'+seq%26)),
		DeviceID:   "edge-lima-01",
		CameraID:   "CAM001",
		Infraction: "SPEED_VIOLATION",
		DetectedAt: t0,
		Files: []File{
			{Name: "clip.mp4", Role: RoleVideoClip, Size: 5, SHA256: sha256Hex("clip!"), ContentType: "video/mp4"},
			{Name: "snapshot.jpg", Role: RoleSnapshot, Size: 4, SHA256: sha256Hex("snap"), ContentType: "image/jpeg"},
		},
		Calibration:  Calibration{ID: "CAM001-2026-11-01", SHA256: sha256Hex("calibration")},
		Models:       map[string]Model{"detector": {Version: "yolox-nano-1", SHA256: sha256Hex("det")}, "ocr": {Version: "cct-xs-1"}},
		AgentVersion: "v0.1.0",
		Clock:        Clock{Synced: true, Source: ClockRTCPNTP, OffsetMS: -12},
		Clip: &ClipWindow{RequestedBeforeMS: 10000, RequestedAfterMS: 5000,
			Start: t0.Add(-7 * time.Second), End: t0.Add(5 * time.Second), Short: true,
			ShortReason: "buffer held 7.0 s before the event <since start>"},
		Sequence:  seq,
		PrevHash:  prev,
		CreatedAt: t0.Add(6 * time.Second),
	}
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	const hexd = "0123456789abcdef"
	out := make([]byte, 64)
	for i, b := range sum {
		out[2*i], out[2*i+1] = hexd[b>>4], hexd[b&15]
	}
	return string(out)
}

func TestGoldenManifest(t *testing.T) {
	priv := testKey("golden")
	pub := priv.Public().(ed25519.PublicKey)
	golden := filepath.Join("testdata", "v1", "manifest.json")
	goldenPub := filepath.Join("testdata", "v1", "manifest.pub.pem")
	if _, err := os.Stat(golden); os.IsNotExist(err) && *update {
		m := sampleManifest(1, "")
		if err := Sign(m, priv); err != nil {
			t.Fatal(err)
		}
		b, _ := m.Encode()
		p, _ := MarshalPublicKey(pub)
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPub, p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("golden manifest: %v (add it with -update)", err)
	}
	pb, err := os.ReadFile(goldenPub)
	if err != nil {
		t.Fatal(err)
	}
	gpub, err := ParsePublicKey(pb)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatalf("golden manifest no longer decodes: %v", err)
	}
	if err := Verify(m, gpub); err != nil {
		t.Fatalf("golden manifest no longer verifies: %v", err)
	}
	out, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", out, b)
	}
	// Signing the same content again with the same key reproduces the file:
	// Ed25519 is deterministic and the encoding canonical.
	m2 := sampleManifest(1, "")
	if err := Sign(m2, priv); err != nil {
		t.Fatal(err)
	}
	if again, _ := m2.Encode(); !bytes.Equal(again, b) {
		t.Fatalf("re-signing the sample differs from the golden file:\n got %s\nwant %s", again, b)
	}
	if !strings.Contains(string(b), `"prev_hash":"`+ZeroHash+`"`) {
		t.Fatal("first manifest must carry the all-zero prev_hash")
	}
}

func TestSignVerifyTamper(t *testing.T) {
	priv := testKey("a")
	pub := priv.Public().(ed25519.PublicKey)
	other := testKey("b").Public().(ed25519.PublicKey)
	cases := []struct {
		name   string
		mutate func(m *Manifest)
		key    ed25519.PublicKey
		want   string // substring of the error; "" means valid
	}{
		{"untouched", func(*Manifest) {}, pub, ""},
		{"wrong key", func(*Manifest) {}, other, "signed by key"},
		{"file hash", func(m *Manifest) { m.Files[0].SHA256 = sha256Hex("other") }, pub, "does not match"},
		{"sequence", func(m *Manifest) { m.Sequence++ }, pub, "does not match"},
		{"prev hash", func(m *Manifest) { m.PrevHash = sha256Hex("x") }, pub, "does not match"},
		{"detected at", func(m *Manifest) { m.DetectedAt = m.DetectedAt.Add(time.Second) }, pub, "does not match"},
		{"clock", func(m *Manifest) { m.Clock.Synced = false }, pub, "does not match"},
		{"model", func(m *Manifest) { m.Models["ocr"] = Model{Version: "other"} }, pub, "does not match"},
		{"signature garbage", func(m *Manifest) { m.Signature = "!!" }, pub, "not a base64"},
		{"key id", func(m *Manifest) { m.KeyID = KeyID(other) }, pub, "signed by key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest(3, sha256Hex("prev"))
			if err := Sign(m, priv); err != nil {
				t.Fatal(err)
			}
			tc.mutate(m)
			err := Verify(m, tc.key)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(m *Manifest)
		want   string
	}{
		{"path in file name", func(m *Manifest) { m.Files[0].Name = "../x.mp4" }, "files[0].name"},
		{"manifest as file", func(m *Manifest) { m.Files[0].Name = ManifestFile }, "reserved"},
		{"duplicate file", func(m *Manifest) { m.Files[1].Name = m.Files[0].Name }, "listed twice"},
		{"unknown role", func(m *Manifest) { m.Files[0].Role = "audio" }, "unknown role"},
		{"bad hash", func(m *Manifest) { m.Files[0].SHA256 = "ABC" }, "sha256"},
		{"sequence zero", func(m *Manifest) { m.Sequence = 0 }, "sequence must start at 1"},
		{"first with prev", func(m *Manifest) { m.Sequence = 1; m.PrevHash = sha256Hex("p") }, "all-zero"},
		{"camera slash", func(m *Manifest) { m.CameraID = "a/b" }, "camera_id"},
		{"event dot", func(m *Manifest) { m.EventID = ".." }, "event_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := sampleManifest(2, sha256Hex("p"))
			tc.mutate(m)
			err := Sign(m, testKey("a"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Sign error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	m := sampleManifest(1, "")
	if err := Sign(m, testKey("a")); err != nil {
		t.Fatal(err)
	}
	good, _ := m.Encode()
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"unknown field", bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":1,"extra":2,`), 1), "unknown field"},
		{"trailing data", append(append([]byte{}, good...), []byte(` {}`)...), "trailing data"},
		{"other version", bytes.Replace(good, []byte(`{"v":1,`), []byte(`{"v":2,`), 1), "v is 2"},
		{"not json", []byte("PK\x03\x04"), "decode manifest"},
		{"too large", bytes.Repeat([]byte(" "), MaxManifestBytes+1), "exceeds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Decode error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := Decode(good); err != nil {
		t.Fatalf("good manifest refused: %v", err)
	}
}

func TestPublicKeyFormats(t *testing.T) {
	pub := testKey("a").Public().(ed25519.PublicKey)
	pemBytes, err := MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"pem", pemBytes, true},
		{"raw base64", []byte("  " + b64(pub) + "\n"), true},
		{"short base64", []byte(b64(pub[:16])), false},
		{"private pem", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), false},
		{"garbage", []byte("hello"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePublicKey(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("ok=%v, err=%v", tc.ok, err)
			}
			if tc.ok && !got.Equal(pub) {
				t.Fatal("parsed a different key")
			}
		})
	}
}

// TestStdlibOnly keeps the package importable by any verifier: standard
// library only.
func TestStdlibOnly(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/vigia-pe/vigia/shared/evidence" {
			t.Errorf("shared/evidence depends on non-standard package %s", p)
		}
	}
}

func FuzzDecode(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("testdata", "v1", "manifest.json")); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"files":[{"name":"a","role":"snapshot","size":-1}]}`))
	pub := testKey("golden").Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted manifest does not re-encode: %v", err)
		}
		m2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		if Hash(m) != Hash(m2) {
			t.Fatal("hash changed across re-encode")
		}
		_ = Verify(m, pub) // must not panic
	})
}

// TestAuditorRecipe runs the shell + OpenSSL recipe of the package comment
// on the golden manifest: an auditor needs neither Go nor a JSON library.
func TestAuditorRecipe(t *testing.T) {
	testenv.RequireTool(t, "openssl")
	testenv.RequireTool(t, "sh")
	src, err := os.ReadFile(filepath.Join("testdata", "v1", "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := filepath.Abs(filepath.Join("testdata", "v1", "manifest.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	recipe := `sed 's/"signature":"[^"]*"}$/"signature":""}/' manifest.json | tr -d '\n' > signed.bin
grep -o '"signature":"[^"]*"' manifest.json | cut -d'"' -f4 | base64 -d > sig.bin
openssl pkeyutl -verify -pubin -inkey "$PUB" -rawin -in signed.bin -sigfile sig.bin`
	cases := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"golden", src, true},
		{"one byte changed", bytes.Replace(src, []byte(`"offset_ms":-12`), []byte(`"offset_ms":-13`), 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "manifest.json"), tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("sh", "-c", recipe)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PUB="+pub)
			out, err := cmd.CombinedOutput()
			if tc.ok != (err == nil) {
				t.Fatalf("recipe ok=%v, want %v: %s", err == nil, tc.ok, out)
			}
			if tc.ok && !strings.Contains(string(out), "Signature Verified Successfully") {
				t.Fatalf("unexpected openssl output %s", out)
			}
		})
	}
}
