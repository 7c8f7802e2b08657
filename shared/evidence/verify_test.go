package evidence

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeChain writes n signed packages of one device under root, chained.
func writeChain(t testing.TB, root string, priv ed25519.PrivateKey, n int) []string {
	t.Helper()
	prev := ZeroHash
	var dirs []string
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("ev%03d", i)
		dir := filepath.Join(root, "2026", "11", "28", "CAM001", id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		clip := []byte(fmt.Sprintf("clip bytes of %s", id))
		snap := []byte(fmt.Sprintf("jpeg of %s", id))
		m := &Manifest{EventID: id, DeviceID: "edge-1", CameraID: "CAM001", Infraction: "SPEED_VIOLATION",
			DetectedAt: time.Date(2026, 11, 28, 10, i, 0, 0, time.UTC), AgentVersion: "test",
			Files: []File{
				{Name: "clip.mp4", Role: RoleVideoClip, Size: int64(len(clip)), SHA256: sha256Hex(string(clip)), ContentType: "video/mp4"},
				{Name: "snap.jpg", Role: RoleSnapshot, Size: int64(len(snap)), SHA256: sha256Hex(string(snap)), ContentType: "image/jpeg"},
			},
			Clock:    Clock{Source: ClockSystem},
			Sequence: uint64(i), PrevHash: prev, CreatedAt: time.Date(2026, 11, 28, 10, i, 6, 0, time.UTC)}
		if err := Sign(m, priv); err != nil {
			t.Fatal(err)
		}
		b, _ := m.Encode()
		for name, data := range map[string][]byte{"clip.mp4": clip, "snap.jpg": snap, ManifestFile: b} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		prev = Hash(m)
		dirs = append(dirs, dir)
	}
	return dirs
}

func resign(t *testing.T, dir string, priv ed25519.PrivateKey, mutate func(m *Manifest)) {
	t.Helper()
	p := filepath.Join(dir, ManifestFile)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	mutate(m)
	if err := Sign(m, priv); err != nil {
		t.Fatal(err)
	}
	b, _ = m.Encode()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDir(t *testing.T) {
	priv := testKey("device")
	pub := priv.Public().(ed25519.PublicKey)
	type want struct {
		kind, path, msg string
	}
	cases := []struct {
		name   string
		tamper func(t *testing.T, root string, dirs []string)
		verify func(root string, dirs []string) string // directory to verify
		key    ed25519.PublicKey
		want   []want // every problem expected, in any order; none means OK
		note   string
	}{
		{name: "intact", tamper: func(*testing.T, string, []string) {}},
		{name: "one byte of a clip", tamper: func(t *testing.T, _ string, d []string) {
			flipByte(t, filepath.Join(d[1], "clip.mp4"), 3)
		}, want: []want{{ProblemFileChanged, "ev002/clip.mp4", "video_clip clip.mp4 changed"}}},
		{name: "one byte of a manifest", tamper: func(t *testing.T, _ string, d []string) {
			replaceIn(t, filepath.Join(d[2], ManifestFile), `"infraction":"SPEED_VIOLATION"`, `"infraction":"SPEED_VIOLATIOM"`)
		}, want: []want{
			{ProblemSignature, "ev003/manifest.json", "signature does not match"},
			// The next link stored the hash of the original manifest.
			{ProblemChainBroken, "ev004", "link 3->4 broken"},
		}},
		{name: "file deleted", tamper: func(t *testing.T, _ string, d []string) {
			rm(t, filepath.Join(d[0], "snap.jpg"))
		}, want: []want{{ProblemFileMissing, "ev001/snap.jpg", "snapshot snap.jpg is listed in the manifest but missing"}}},
		{name: "extra file", tamper: func(t *testing.T, _ string, d []string) {
			write(t, filepath.Join(d[0], "other.jpg"), "x")
		}, want: []want{{ProblemFileExtra, "ev001/other.jpg", "not listed"}}},
		{name: "package deleted from the middle", tamper: func(t *testing.T, _ string, d []string) {
			if err := os.RemoveAll(d[2]); err != nil {
				t.Fatal(err)
			}
		}, want: []want{{ProblemChainGap, "ev004", "sequence 3 missing between"}}},
		{name: "manifest deleted, files left", tamper: func(t *testing.T, _ string, d []string) {
			rm(t, filepath.Join(d[1], ManifestFile))
		}, want: []want{
			{ProblemChainGap, "ev003", "sequence 2 missing"},
			{ProblemFileExtra, "ev002/clip.mp4", "outside any evidence package"},
			{ProblemFileExtra, "ev002/snap.jpg", "outside any evidence package"},
		}},
		{name: "manifests swapped between packages", tamper: func(t *testing.T, _ string, d []string) {
			a, b := filepath.Join(d[0], ManifestFile), filepath.Join(d[1], ManifestFile)
			tmp := a + ".x"
			for _, mv := range [][2]string{{a, tmp}, {b, a}, {tmp, b}} {
				if err := os.Rename(mv[0], mv[1]); err != nil {
					t.Fatal(err)
				}
			}
		}, want: []want{
			{ProblemMisplaced, "ev001", `holds the manifest of event "ev002"`},
			{ProblemMisplaced, "ev002", `holds the manifest of event "ev001"`},
			{ProblemFileChanged, "ev001/clip.mp4", "changed"}, {ProblemFileChanged, "ev001/snap.jpg", "changed"},
			{ProblemFileChanged, "ev002/clip.mp4", "changed"}, {ProblemFileChanged, "ev002/snap.jpg", "changed"},
		}},
		{name: "re-signed out of order", tamper: func(t *testing.T, _ string, d []string) {
			// Someone holding the key renumbers a package: the chain still shows it.
			resign(t, d[3], priv, func(m *Manifest) { m.Sequence = 2 })
		}, want: []want{
			{ProblemDuplicate, "ev00", "sequence 2 is used by both"},
			{ProblemChainBroken, "ev003", "link 2->3 broken"},
			{ProblemChainGap, "ev005", "sequence 4 missing"},
		}},
		{name: "re-signed with a forged link", tamper: func(t *testing.T, _ string, d []string) {
			resign(t, d[4], priv, func(m *Manifest) { m.PrevHash = sha256Hex("forged") })
		}, want: []want{{ProblemChainBroken, "ev005", "link 4->5 broken"}}},
		{name: "wrong key", tamper: func(*testing.T, string, []string) {}, key: testKey("other").Public().(ed25519.PublicKey),
			want: []want{{ProblemSignature, "ev001", "signed by key"}, {ProblemSignature, "ev002", "signed by key"},
				{ProblemSignature, "ev003", "signed by key"}, {ProblemSignature, "ev004", "signed by key"}, {ProblemSignature, "ev005", "signed by key"}}},
		{name: "single package", tamper: func(*testing.T, string, []string) {},
			verify: func(_ string, d []string) string { return d[3] }, note: "chain starts at sequence 4"},
		{name: "not json manifest", tamper: func(t *testing.T, _ string, d []string) {
			write(t, filepath.Join(d[4], ManifestFile), "{")
		}, want: []want{{ProblemManifest, "ev005/manifest.json", "decode manifest"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dirs := writeChain(t, root, priv, 5)
			write(t, filepath.Join(root, "chain.json"), "{}")
			tc.tamper(t, root, dirs)
			target := root
			if tc.verify != nil {
				target = tc.verify(root, dirs)
			}
			key := pub
			if tc.key != nil {
				key = tc.key
			}
			r := VerifyDir(target, key)
			if len(tc.want) == 0 && !r.OK() {
				t.Fatalf("want OK, got:\n%s", r.String())
			}
			if len(r.Problems) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%s", len(r.Problems), len(tc.want), r.String())
			}
			for _, w := range tc.want {
				found := false
				for _, p := range r.Problems {
					if p.Kind == w.kind && strings.Contains(filepath.ToSlash(p.Path), w.path) && strings.Contains(p.Message, w.msg) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing problem %s at %s containing %q; report:\n%s", w.kind, w.path, w.msg, r.String())
				}
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Errorf("notes %q lack %q", r.Notes, tc.note)
			}
			if s := r.String(); (len(tc.want) == 0) != strings.Contains(s, "OK ") {
				t.Errorf("summary does not match the problems:\n%s", s)
			}
		})
	}
}

func TestVerifyDirEmpty(t *testing.T) {
	r := VerifyDir(t.TempDir(), testKey("a").Public().(ed25519.PublicKey))
	if r.OK() || !strings.Contains(r.String(), "no evidence package") {
		t.Fatalf("an empty directory must not verify OK:\n%s", r.String())
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[at] ^= 0x01
	write(t, path, string(b))
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s lacks %q", path, old)
	}
	write(t, path, strings.Replace(string(b), old, new, 1))
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func rm(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerifyDir measures verifying 20 small packages (mostly hashing
// and file system work; not a per-frame path, kept to catch regressions).
func BenchmarkVerifyDir(b *testing.B) {
	root := b.TempDir()
	priv := testKey("bench")
	writeChain(b, root, priv, 20)
	pub := priv.Public().(ed25519.PublicKey)
	b.ReportAllocs()
	for b.Loop() {
		if r := VerifyDir(root, pub); !r.OK() {
			b.Fatal(r.String())
		}
	}
}
