package modelmanifest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the decoder (manifests arrive over the
// air): it must never panic, and whatever it accepts must re-encode to a
// manifest that parses again to the same encoding.
func FuzzParse(f *testing.F) {
	root := repoRoot(f)
	for _, glob := range []string{"testdata/*.json", "testdata/invalid/*.json",
		filepath.Join(root, "models", "*", "manifest.json")} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if b, err := os.ReadFile(file); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		out, err := m.Encode()
		if err != nil {
			t.Fatalf("accepted manifest does not encode: %v", err)
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded manifest refused: %v", err)
		}
		out2, err := m2.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("encoding not stable:\n%s\n---\n%s", out, out2)
		}
	})
}
