package event

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the decoder: it must never panic, and
// whatever it accepts must survive a re-encode and a second parse.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"testdata/v1/*.json", "testdata/v1/invalid/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, err := os.ReadFile(file)
			if err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, p, err := Parse(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("error without a reason code: %v", err)
			}
			return
		}
		out, err := env.Encode()
		if err != nil {
			t.Fatalf("accepted message does not re-encode: %v", err)
		}
		env2, p2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		if env2.ID != env.ID || p2.Kind() != p.Kind() {
			t.Fatalf("identity changed: %s/%s vs %s/%s", env.ID, p.Kind(), env2.ID, p2.Kind())
		}
	})
}
