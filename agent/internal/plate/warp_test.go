package plate

import (
	"math"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

func TestQuadHomography(t *testing.T) {
	tests := []struct {
		name string
		q    Quad
	}{
		{"axis-aligned rectangle", rectQuad(10, 20, 138, 84)},
		{"scaled rectangle", rectQuad(0, 0, 64, 32)},
		{"perspective quad", Quad{{5, 5}, {120, 15}, {130, 70}, {0, 60}}},
		{"rolled plate", Quad{{10, 30}, {110, 10}, {120, 60}, {20, 80}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := quadHomography(tc.q, 128, 64)
			if err != nil {
				t.Fatal(err)
			}
			dst := [4][2]float64{{0, 0}, {128, 0}, {128, 64}, {0, 64}}
			for i, d := range dst {
				x, y := h.apply(d[0], d[1])
				if math.Abs(x-float64(tc.q[i].X)) > 1e-3 || math.Abs(y-float64(tc.q[i].Y)) > 1e-3 {
					t.Errorf("corner %d: (%v,%v) -> (%.3f,%.3f), want %v", i, d[0], d[1], x, y, tc.q[i])
				}
			}
		})
	}
	if _, err := quadHomography(Quad{{1, 1}, {1, 1}, {1, 1}, {1, 1}}, 128, 64); err == nil {
		t.Error("degenerate quad: want an error")
	}
}

// TestSampleQuadIdentity checks that resampling a rectangle to its own size
// returns the pixels unchanged, and that the orientation is preserved.
func TestSampleQuadIdentity(t *testing.T) {
	w, h := 7, 5
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for i := range f.BGR {
		f.BGR[i] = byte(i * 7)
	}
	err := sampleQuad(f, rectQuad(0, 0, float32(w), float32(h)), w, h, func(x, y int, b, g, r float32) {
		wb, wg, wr := f.At(x, y)
		if u8(b) != wb || u8(g) != wg || u8(r) != wr {
			t.Errorf("pixel (%d,%d) = %v,%v,%v, want %d,%d,%d", x, y, b, g, r, wb, wg, wr)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSampleAxisMatchesGeneral checks the resize fast path against the
// general homography path on a quad a hair away from a rectangle.
func TestSampleAxisMatchesGeneral(t *testing.T) {
	w, h := 50, 40
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for i := range f.BGR {
		f.BGR[i] = byte((i * 31) % 251)
	}
	const dw, dh = 23, 17
	var fast, slow [dw * dh * 3]float32
	rect := rectQuad(3.5, 2.25, 44, 37)
	skew := rect
	skew[2].X += 1e-3
	for _, c := range []struct {
		q   Quad
		dst *[dw * dh * 3]float32
	}{{rect, &fast}, {skew, &slow}} {
		err := sampleQuad(f, c.q, dw, dh, func(x, y int, b, g, r float32) {
			i := 3 * (y*dw + x)
			c.dst[i], c.dst[i+1], c.dst[i+2] = b, g, r
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range fast {
		if math.Abs(float64(fast[i]-slow[i])) > 0.1 {
			t.Fatalf("value %d: fast path %v, general path %v", i, fast[i], slow[i])
		}
	}
}
