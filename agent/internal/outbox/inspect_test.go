package outbox

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInspect(t *testing.T) {
	valid := validOutbox(t, 200)
	clobbered := append([]byte{}, valid...)
	for i := 4 * 4096; i < len(clobbered); i++ {
		clobbered[i] = byte(i*7 + 3)
	}
	tests := []struct {
		name        string
		data        []byte
		wantErr     bool
		wantEntries int    // -1: any number
		wantProblem string // "" = no problem expected
	}{
		{"healthy", valid, false, 200, ""},
		{"truncated to half", valid[:len(valid)/2], false, 0, "truncated"},
		{"data pages clobbered", clobbered, false, -1, "panicked"},
		{"foreign bbolt file", foreignBolt(t), false, 0, "not an outbox"},
		{"text file", bytes.Repeat([]byte("not a bbolt file\n"), 1000), true, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.db.corrupt")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			rep, err := Inspect(path, 0)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Inspect err = %v, want error %t", err, tc.wantErr)
			}
			if tc.wantEntries >= 0 && len(rep.Entries) != tc.wantEntries {
				t.Errorf("%d entries, want %d", len(rep.Entries), tc.wantEntries)
			}
			joined := strings.Join(rep.Problems, "\n")
			if tc.wantProblem == "" && !tc.wantErr && len(rep.Problems) > 0 {
				t.Errorf("unexpected problems: %s", joined)
			}
			if tc.wantProblem != "" && !strings.Contains(joined, tc.wantProblem) {
				t.Errorf("problems %q lack %q", joined, tc.wantProblem)
			}
			if rep.Size != int64(len(tc.data)) {
				t.Errorf("Size %d, want %d", rep.Size, len(tc.data))
			}
			after, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(after, tc.data) {
				t.Errorf("Inspect changed the file (%v)", err)
			}
		})
	}
	// Entries come back in order with their payloads.
	path := filepath.Join(t.TempDir(), "ok.db")
	if err := os.WriteFile(path, valid, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(path, 0)
	if err != nil || len(rep.Entries) != 200 {
		t.Fatalf("Inspect: %d entries, %v", len(rep.Entries), err)
	}
	for i, e := range rep.Entries {
		if len(e.Payload) != 900 || (i > 0 && e.Seq <= rep.Entries[i-1].Seq) {
			t.Fatalf("entry %d: seq %d, %d payload bytes", i, e.Seq, len(e.Payload))
		}
	}
}
