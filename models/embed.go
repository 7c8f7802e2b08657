// Package models embeds the model manifests (layout, normalisation, classes,
// thresholds, weights hash) so the agent knows every supported model without
// extra files; weights come from the models directory. A manifest placed in
// the models directory (<dir>/<name>/manifest.json, e.g. pushed over the air)
// takes precedence over the embedded one.
package models

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

//go:embed */manifest.json
var embedded embed.FS

// Names lists the embedded models.
func Names() []string {
	dirs, _ := fs.ReadDir(embedded, ".")
	var out []string
	for _, d := range dirs {
		if d.IsDir() {
			out = append(out, d.Name())
		}
	}
	sort.Strings(out)
	return out
}

// Manifest returns the manifest of model name: from modelsDir when it holds
// one, else the embedded copy. name may also be a path to a manifest file.
func Manifest(name, modelsDir string) (*modelmanifest.Manifest, error) {
	if filepath.Ext(name) == ".json" {
		return modelmanifest.Load(name)
	}
	if modelsDir != "" {
		p := filepath.Join(modelsDir, name, "manifest.json")
		if _, err := os.Stat(p); err == nil {
			return modelmanifest.Load(p)
		}
	}
	b, err := embedded.ReadFile(name + "/manifest.json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("models: unknown model %q (known: %v; or give a manifest.json path)", name, Names())
	}
	if err != nil {
		return nil, fmt.Errorf("models: %s: %w", name, err)
	}
	m, err := modelmanifest.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("models: embedded manifest %s: %w", name, err)
	}
	return m, nil
}
