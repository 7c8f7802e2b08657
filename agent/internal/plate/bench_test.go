package plate

import (
	"image"
	"path/filepath"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func BenchmarkResolve(b *testing.B) {
	probs := slotProbs(with(sure("ABC123", 0.98), 0, map[byte]float32{'8': 0.55, 'B': 0.44})...)
	b.ReportAllocs()
	for b.Loop() {
		Resolve(probs, FormatPeru, DefaultMinConfidence)
	}
}

func BenchmarkDecodeLPD(b *testing.B) {
	priors := lpdPriors(lpdW, lpdH)
	n := len(priors)
	loc, conf, iou := make([]float32, 14*n), make([]float32, 2*n), make([]float32, n)
	for i := range n {
		conf[2*i+1] = float32(i%100) / 100
		iou[i] = 0.9
	}
	var dst []Plate
	b.ReportAllocs()
	for b.Loop() {
		dst = decodeLPD(priors, loc, conf, iou, lpdW, lpdH, 0.5, dst[:0])
	}
}

// BenchmarkPreprocessLPD measures resampling a 640x480 vehicle crop to the
// detector's planar float input.
func BenchmarkPreprocessLPD(b *testing.B) {
	f := &frame.Frame{Width: 1280, Height: 720, Stride: 3 * 1280, BGR: make([]byte, 3*1280*720)}
	in := make([]float32, 3*lpdW*lpdH)
	q := rectQuad(300, 200, 940, 680)
	b.ReportAllocs()
	for b.Loop() {
		sampleQuad(f, q, lpdW, lpdH, func(x, y int, bl, g, r float32) {
			i := y*lpdW + x
			in[i], in[lpdW*lpdH+i], in[2*lpdW*lpdH+i] = bl, g, r
		})
	}
}

// BenchmarkRecognizeVehicle measures plate detection and reading on one
// vehicle region of a real photo (both models on ONNX Runtime, 2 threads).
func BenchmarkRecognizeVehicle(b *testing.B) {
	rec := newTestRecognizer(b, Config{Format: FormatBrazil})
	f := loadFrame(b, testenv.RequireData(b, filepath.Join("plates-br-openalpr", "full", "AYO9034.jpg")))
	reg := image.Rect(330, 32, 946, 533)
	b.ReportAllocs()
	for b.Loop() {
		res, err := rec.Recognize(f, reg)
		if err != nil || len(res) == 0 {
			b.Fatalf("Recognize: %v, %d plates", err, len(res))
		}
	}
}
