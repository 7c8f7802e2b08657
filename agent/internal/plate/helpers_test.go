package plate

import (
	"fmt"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// testRT is the one ONNX Runtime of this test binary (the library allows a
// single environment per process); TestMain closes it.
var testRT *infer.Runtime

func TestMain(m *testing.M) {
	testRT = infer.NewRuntime(testenv.ORTLibrary(), nil)
	code := m.Run()
	if err := testRT.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "close runtime:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// newTestRecognizer loads both plate models, or skips (fails under CI) when
// the runtime or weights are missing.
func newTestRecognizer(t testing.TB, cfg Config) *Recognizer {
	t.Helper()
	testenv.RequireORT(t)
	testenv.RequireModel(t, DetectorModel)
	testenv.RequireModel(t, ReaderModel)
	cfg.ModelsDir = testenv.ModelsDir()
	if cfg.Threads == 0 {
		cfg.Threads = 2
	}
	r, err := New(testRT, cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func loadFrame(t testing.TB, path string) *frame.Frame {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return FromImage(img)
}
