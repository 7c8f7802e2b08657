package models

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestEmbeddedManifestsValidAndWeightsMatch(t *testing.T) {
	names := Names()
	if len(names) < 2 {
		t.Fatalf("embedded models: %v", names)
	}
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			m, err := Manifest(n, "")
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != n {
				t.Fatalf("manifest in %s/ names itself %q", n, m.Name)
			}
			// The weights in ../shared/models must be exactly the ones the manifest pins.
			testenv.RequireFile(t, m.WeightsPath(testenv.ModelsDir()))
			if err := m.CheckWeights(testenv.ModelsDir()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestUnknownModelAndOverride(t *testing.T) {
	if _, err := Manifest("no-such-model", ""); err == nil || !strings.Contains(err.Error(), "yolox-nano") {
		t.Fatalf("unknown model: %v", err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "yolox-nano"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "yolox-nano", "manifest.json"), []byte(`{"broken":`), 0o644); err != nil {
		t.Fatal(err)
	}
	// A manifest in the models directory wins over the embedded one: here it is broken, so loading fails.
	if _, err := Manifest("yolox-nano", dir); err == nil {
		t.Fatal("the models directory's manifest was ignored")
	}
}
