package infer

import (
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// testManifest returns a small valid manifest for pure-Go tests.
func testManifest(inW, inH int, colour string, norm *modelmanifest.Normalize, resize modelmanifest.Resize) *modelmanifest.Manifest {
	return &modelmanifest.Manifest{
		SchemaVersion: 1, Name: "test", Version: "1", License: modelmanifest.License{SPDX: "MIT"},
		Weights: modelmanifest.Weights{File: "t/t.onnx", SHA256: strings.Repeat("0", 64)},
		Input: modelmanifest.Input{Name: "x", Shape: []int64{1, 3, int64(inH), int64(inW)}, Layout: "NCHW",
			DType: "float32", ColourOrder: colour, Normalize: norm, Resize: resize},
		Outputs: []modelmanifest.Output{{Name: "y", Role: modelmanifest.RolePredictions}},
		Decoder: modelmanifest.Decoder{Kind: modelmanifest.DecoderYOLOX, Strides: []int{8, 16, 32}},
		Classes: []string{"person", "car", "truck", "dog"},
		Keep:    []modelmanifest.Keep{{Class: "person", Score: 0.3}, {Class: "car", Score: 0.3}, {Class: "truck", Score: 0.5}},
		NMS:     modelmanifest.NMS{IoU: 0.45},
	}
}

// resizeTL is YOLOX's letterbox: top-left, grey 114 padding.
func resizeTL() modelmanifest.Resize {
	return modelmanifest.Resize{Mode: modelmanifest.ResizeLetterbox, Align: modelmanifest.AlignTopLeft, Pad: []float32{114, 114, 114}}
}

func randomFrame(rng *rand.Rand, w, h, pad int) *frame.Frame {
	f := &frame.Frame{Width: w, Height: h, Stride: 3*w + pad}
	f.BGR = make([]byte, (h-1)*f.Stride+3*w) // last row without padding
	for i := range f.BGR {
		f.BGR[i] = byte(rng.IntN(256))
	}
	return f
}

// referencePreprocess is a slow, direct float64 transcription of bilinear
// resize with half-pixel centres, channel order, normalisation and padding.
func referencePreprocess(f *frame.Frame, lb Letterbox, m *modelmanifest.Manifest) []float64 {
	inW, inH := m.InputSize()
	out := make([]float64, 3*inW*inH)
	mean, std := []float64{0, 0, 0}, []float64{1, 1, 1}
	if n := m.Input.Normalize; n != nil {
		for c := range 3 {
			mean[c], std[c] = float64(n.Mean[c]), float64(n.Std[c])
		}
	}
	byteOf := [3]int{0, 1, 2} // plane -> BGR byte
	if m.Input.ColourOrder == "RGB" {
		byteOf = [3]int{2, 1, 0}
	}
	sample := func(x, y, c int) float64 { return float64(f.BGR[y*f.Stride+3*x+c]) }
	coord := func(d int, scale float64, n int) (int, int, float64) {
		s := (float64(d)+0.5)*scale - 0.5
		s = math.Max(s, 0)
		i := int(math.Floor(s))
		if i >= n-1 {
			return n - 1, n - 1, 0
		}
		return i, i + 1, s - float64(i)
	}
	sx := float64(lb.Src.Dx()) / float64(lb.W)
	sy := float64(lb.Src.Dy()) / float64(lb.H)
	for p := range 3 {
		pad := 0.0
		if len(m.Input.Resize.Pad) == 3 {
			pad = float64(m.Input.Resize.Pad[p])
		}
		for y := range inH {
			for x := range inW {
				v := pad
				dx, dy := x-lb.OffX, y-lb.OffY
				if dx >= 0 && dx < lb.W && dy >= 0 && dy < lb.H {
					x0, x1, wx := coord(dx, sx, lb.Src.Dx())
					y0, y1, wy := coord(dy, sy, lb.Src.Dy())
					ox, oy := lb.Src.Min.X, lb.Src.Min.Y
					c := byteOf[p]
					top := sample(ox+x0, oy+y0, c)*(1-wx) + sample(ox+x1, oy+y0, c)*wx
					bot := sample(ox+x0, oy+y1, c)*(1-wx) + sample(ox+x1, oy+y1, c)*wx
					v = top*(1-wy) + bot*wy
				}
				out[p*inW*inH+y*inW+x] = (v - mean[p]) / std[p]
			}
		}
	}
	return out
}

func TestPreprocessMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	yoloxResize := modelmanifest.Resize{Mode: modelmanifest.ResizeLetterbox, Align: modelmanifest.AlignTopLeft, Pad: []float32{114, 114, 114}}
	nanoResize := modelmanifest.Resize{Mode: modelmanifest.ResizeLetterbox, Align: modelmanifest.AlignCentre, Pad: []float32{0, 0, 0}}
	norm := &modelmanifest.Normalize{Mean: []float32{103.53, 116.28, 123.675}, Std: []float32{57.375, 57.12, 58.395}}
	tests := []struct {
		name   string
		fw, fh int
		view   image.Rectangle
		m      *modelmanifest.Manifest
	}{
		{"downscale wide top-left raw", 320, 180, image.Rect(0, 0, 320, 180), testManifest(64, 64, "BGR", nil, yoloxResize)},
		{"downscale view centred normalised", 300, 200, image.Rect(37, 11, 237, 171), testManifest(64, 64, "BGR", norm, nanoResize)},
		{"upscale tall RGB", 20, 50, image.Rect(0, 0, 20, 50), testManifest(64, 32, "RGB", nil, nanoResize)},
		{"identity", 64, 64, image.Rect(0, 0, 64, 64), testManifest(64, 64, "BGR", nil, yoloxResize)},
		{"stretch", 100, 30, image.Rect(10, 5, 90, 30), testManifest(32, 32, "BGR", norm, modelmanifest.Resize{Mode: modelmanifest.ResizeStretch})},
		{"single pixel view", 10, 10, image.Rect(4, 4, 5, 5), testManifest(32, 32, "BGR", nil, yoloxResize)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := randomFrame(rng, tc.fw, tc.fh, 5)
			inW, inH := tc.m.InputSize()
			lb := NewLetterbox(tc.view, inW, inH, tc.m.Input.Resize.Mode, tc.m.Input.Resize.Align)
			p := newPreprocessor(tc.m)
			got := make([]float32, p.inputLen())
			// Twice: the second call reuses the tables and must overwrite everything.
			for range 2 {
				for i := range got {
					got[i] = float32(math.NaN())
				}
				if err := p.run(f, lb, got); err != nil {
					t.Fatal(err)
				}
			}
			want := referencePreprocess(f, lb, tc.m)
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(got[i])-want[i]))
				if math.IsNaN(float64(got[i])) {
					t.Fatalf("value %d not written", i)
				}
			}
			// float32 arithmetic on 0..255 values: well under one grey level.
			if worst > 1e-3*255 {
				t.Fatalf("max deviation from reference %.5f", worst)
			}
		})
	}
}

// TestPreprocessIdentityExact checks the byte-exact case (view = input size):
// every input value is the source byte, with channels in model order.
func TestPreprocessIdentityExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	f := randomFrame(rng, 32, 32, 0)
	for _, order := range []string{"BGR", "RGB"} {
		t.Run(order, func(t *testing.T) {
			m := testManifest(32, 32, order, nil, modelmanifest.Resize{Mode: modelmanifest.ResizeStretch})
			p := newPreprocessor(m)
			dst := make([]float32, p.inputLen())
			if err := p.run(f, NewLetterbox(image.Rect(0, 0, 32, 32), 32, 32, modelmanifest.ResizeStretch, ""), dst); err != nil {
				t.Fatal(err)
			}
			for y := range 32 {
				for x := range 32 {
					b, g, r := f.At(x, y)
					want := [3]byte{b, g, r}
					if order == "RGB" {
						want = [3]byte{r, g, b}
					}
					for c := range 3 {
						if got := dst[c*32*32+y*32+x]; got != float32(want[c]) {
							t.Fatalf("(%d,%d) plane %d = %v, want %d", x, y, c, got, want[c])
						}
					}
				}
			}
		})
	}
}

func TestPreprocessErrors(t *testing.T) {
	m := testManifest(32, 32, "BGR", nil, modelmanifest.Resize{Mode: modelmanifest.ResizeStretch})
	p := newPreprocessor(m)
	good := &frame.Frame{Width: 10, Height: 10, Stride: 30, BGR: make([]byte, 300)}
	lb := NewLetterbox(image.Rect(0, 0, 10, 10), 32, 32, modelmanifest.ResizeStretch, "")
	tests := []struct {
		name string
		f    *frame.Frame
		lb   Letterbox
		dst  int
		want string
	}{
		{"nil frame", nil, lb, 3 * 32 * 32, "nil frame"},
		{"short buffer", &frame.Frame{Width: 10, Height: 10, Stride: 30, BGR: make([]byte, 299)}, lb, 3 * 32 * 32, "needs 300"},
		{"small stride", &frame.Frame{Width: 10, Height: 10, Stride: 29, BGR: make([]byte, 300)}, lb, 3 * 32 * 32, "stride"},
		{"view outside", good, NewLetterbox(image.Rect(5, 5, 15, 15), 32, 32, modelmanifest.ResizeStretch, ""), 3 * 32 * 32, "outside"},
		{"wrong dst", good, lb, 100, "buffer has 100"},
		{"wrong input size", good, NewLetterbox(image.Rect(0, 0, 10, 10), 64, 64, modelmanifest.ResizeStretch, ""), 3 * 32 * 32, "bad letterbox"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.run(tc.f, tc.lb, make([]float32, tc.dst))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
