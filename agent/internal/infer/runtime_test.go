package infer

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestRuntimeMissingLibrary(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "libonnxruntime.so.1")
	rt := NewRuntime(lib, nil)
	err := rt.Start()
	if err == nil || !strings.Contains(err.Error(), lib) || !strings.Contains(err.Error(), "scripts/setup.sh") {
		t.Fatalf("err = %v, want it to name %s and the setup script", err, lib)
	}
	if err2 := rt.Start(); err2 != err {
		t.Errorf("second Start = %v, want the first error again", err2)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("Close of a failed runtime: %v", err)
	}
}

func TestRuntimeClosedBeforeStart(t *testing.T) {
	rt := NewRuntime(testenv.ORTLibrary(), nil)
	if err := rt.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Start after Close: err = %v, want a closed error", err)
	}
}

// TestIntegrationRuntimeLifecycle checks the one-environment-per-process
// rule and that Close waits for every detector.
func TestIntegrationRuntimeLifecycle(t *testing.T) {
	testenv.RequireORT(t)
	if err := testRT.Start(); err != nil {
		t.Fatal(err)
	}
	if v := testRT.Version(); v == "" {
		t.Error("Version is empty after Start")
	}
	second := NewRuntime(testenv.ORTLibrary(), nil)
	if err := second.Start(); err == nil || !strings.Contains(err.Error(), "already initialised") {
		t.Errorf("second runtime Start: err = %v, want already-initialised error", err)
	}
	if err := second.Close(); err != nil {
		t.Errorf("closing the second runtime: %v", err)
	}

	d := newRealDetector(t, "yolox-nano", Config{})
	if err := testRT.Close(); err == nil || !strings.Contains(err.Error(), "still open") {
		t.Errorf("Close with an open detector: err = %v, want still-open error", err)
	}
	// The shared environment survived the second runtime's Close.
	if _, err := d.Detect(dogFrame(t)); err != nil {
		t.Errorf("Detect after the second runtime closed: %v", err)
	}
	info := d.Info()
	if info.Model != "yolox-nano" || info.InputW != 416 || info.InputH != 416 || info.Batch != 1 || info.Provider != ProviderCPU {
		t.Errorf("Info = %+v", info)
	}
}
