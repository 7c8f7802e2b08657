package evidence

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func TestVerifyTree(t *testing.T) {
	day := time.Now().UTC().Format("2006/01/02")
	pkg := func(d, id string) string {
		return filepath.Join(d, "evidence", filepath.FromSlash(day), "CAM001", id)
	}
	var afterTwo []byte // chain.json as it was after the second package
	cases := []struct {
		name   string
		tamper func(t *testing.T, d string)
		key    func(w *Writer) ed25519.PublicKey
		kinds  []string // expected problem kinds, in order
		msg    string   // substring of the first problem
		note   string
	}{
		{name: "intact", tamper: func(*testing.T, string) {}},
		{name: "newest package deleted", tamper: func(t *testing.T, d string) {
			if err := os.RemoveAll(pkg(d, "ev3")); err != nil {
				t.Fatal(err)
			}
		}, kinds: []string{shared.ProblemChainHead}, msg: "sequence 3"},
		{name: "middle package deleted", tamper: func(t *testing.T, d string) {
			if err := os.RemoveAll(pkg(d, "ev2")); err != nil {
				t.Fatal(err)
			}
		}, kinds: []string{shared.ProblemChainGap}, msg: "sequence 2 missing"},
		{name: "clip byte changed", tamper: func(t *testing.T, d string) {
			p := filepath.Join(pkg(d, "ev1"), "clip.mp4")
			b, _ := os.ReadFile(p)
			b[0] ^= 0x20
			os.WriteFile(p, b, 0o640)
		}, kinds: []string{shared.ProblemFileChanged}, msg: "clip.mp4 changed"},
		{name: "wrong key", tamper: func(*testing.T, string) {},
			key: func(*Writer) ed25519.PublicKey {
				pub, _, _ := ed25519.GenerateKey(nil)
				return pub
			},
			kinds: []string{shared.ProblemSignature, shared.ProblemSignature, shared.ProblemSignature}, msg: "signed by key"},
		{name: "chain.json behind after a crash", tamper: func(t *testing.T, d string) {
			if err := os.WriteFile(filepath.Join(d, "evidence", chainFile), afterTwo, 0o640); err != nil {
				t.Fatal(err)
			}
		}, note: "newer than chain.json"},
		{name: "chain.json head altered", tamper: func(t *testing.T, d string) {
			p := filepath.Join(d, "evidence", chainFile)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, []byte(strings.Replace(string(b), `"sequence": 3`, `"sequence": 2`, 1)), 0o640)
		}, kinds: []string{shared.ProblemChainHead}, msg: "chain.json recorded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			w := newTestWriter(t, d)
			for _, id := range []string{"ev1", "ev2", "ev3"} {
				mustWrite(t, w, id)
				if id == "ev2" {
					afterTwo, _ = os.ReadFile(filepath.Join(d, "evidence", chainFile))
				}
			}
			tc.tamper(t, d)
			pub := w.PublicKey()
			if tc.key != nil {
				pub = tc.key(w)
			}
			r := VerifyTree(w.Dir(), pub)
			var kinds []string
			for _, p := range r.Problems {
				kinds = append(kinds, p.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tc.kinds, ",") {
				t.Fatalf("problems %v, want %v:\n%s", kinds, tc.kinds, r.String())
			}
			if len(tc.kinds) == 0 && !r.OK() {
				t.Fatalf("want OK:\n%s", r.String())
			}
			if len(tc.kinds) > 0 && !strings.Contains(r.Problems[0].Message, tc.msg) {
				t.Fatalf("first problem %q lacks %q", r.Problems[0].Message, tc.msg)
			}
			if tc.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tc.note) {
				t.Fatalf("notes %q lack %q", r.Notes, tc.note)
			}
		})
	}
}
