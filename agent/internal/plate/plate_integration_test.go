package plate

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// TestRecognizeFrameIntegration runs the real models on one labelled photo
// (plate AYO9034 at 528,412 162x52) through each search path.
func TestRecognizeFrameIntegration(t *testing.T) {
	rec := newTestRecognizer(t, Config{Format: FormatBrazil})
	f := loadFrame(t, testenv.RequireData(t, filepath.Join("plates-br-openalpr", "full", "AYO9034.jpg")))
	label := infer.Box{X1: 528, Y1: 412, X2: 690, Y2: 464}
	car := infer.Box{X1: 330, Y1: 32, X2: 946, Y2: 533}
	far := infer.Box{X1: 0, Y1: 0, X2: 60, Y2: 40}
	tests := []struct {
		name     string
		vehicles []infer.Box
		wantVeh  *infer.Box
	}{
		{"no vehicle searches the whole photo", nil, nil},
		{"plate found in the vehicle crop", []infer.Box{car}, &car},
		{"vehicle without plate falls back to the whole photo", []infer.Box{far}, nil},
		{"duplicate vehicles give one plate", []infer.Box{car, car}, &car},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := rec.RecognizeFrame(f, tc.vehicles)
			if err != nil {
				t.Fatal(err)
			}
			if len(res) != 1 {
				t.Fatalf("%d plates, want 1: %+v", len(res), res)
			}
			r := res[0]
			if iou := r.Box.IoU(label); iou < 0.5 {
				t.Errorf("plate box %v has IoU %.2f with the label %v", r.Box, iou, label)
			}
			if !r.Readable || r.Text != "AYO-9034" || r.Layout != "brazil-old" {
				t.Errorf("read %+v, want readable AYO-9034 (brazil-old)", r.Read)
			}
			if (r.Vehicle == nil) != (tc.wantVeh == nil) || (r.Vehicle != nil && *r.Vehicle != *tc.wantVeh) {
				t.Errorf("vehicle %v, want %v", r.Vehicle, tc.wantVeh)
			}
		})
	}
	if res, err := rec.Recognize(f, image.Rect(10, 10, 14, 14)); err != nil || len(res) != 0 {
		t.Errorf("tiny region: %v, %v; want no plate and no error", res, err)
	}
}

func TestClosedModelsIntegration(t *testing.T) {
	testenv.RequireORT(t)
	testenv.RequireModel(t, DetectorModel)
	testenv.RequireModel(t, ReaderModel)
	rec, err := New(testRT, Config{ModelsDir: testenv.ModelsDir(), Threads: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	f := loadFrame(t, testenv.RequireData(t, filepath.Join("plates-br-openalpr", "full", "AYO9034.jpg")))
	if _, err := rec.Recognize(f, image.Rectangle{}); err == nil {
		t.Error("Recognize after Close: want an error")
	}
	if _, err := rec.rd.Read(f, Plate{Box: infer.Box{X1: 1, Y1: 1, X2: 50, Y2: 20}}); err == nil {
		t.Error("Read after Close: want an error")
	}
}

func TestNewMissingModel(t *testing.T) {
	testenv.RequireORT(t)
	if _, err := New(testRT, Config{ModelsDir: t.TempDir()}, nil); err == nil {
		t.Error("New with an empty models directory: want an error")
	}
}
