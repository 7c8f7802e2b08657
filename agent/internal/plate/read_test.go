package plate

import (
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

func TestCropQuad(t *testing.T) {
	p := Plate{
		Box:     infer.Box{X1: 100, Y1: 50, X2: 200, Y2: 80},
		Corners: Quad{{100, 50}, {200, 50}, {200, 80}, {100, 80}},
	}
	tests := []struct {
		name string
		crop CropMode
		padX float32
		padY float32
		want Quad
	}{
		{"axis-aligned padded box", CropAxisAligned, 0.1, 0.2, Quad{{90, 44}, {210, 44}, {210, 86}, {90, 86}}},
		{"rectified rectangle equals the padded box", CropRectify, 0.1, 0.2, Quad{{90, 44}, {210, 44}, {210, 86}, {90, 86}}},
		{"defaults", CropAxisAligned, 0, 0, Quad{{95, 45.5}, {205, 45.5}, {205, 84.5}, {95, 84.5}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ReaderConfig{Crop: tc.crop, PadX: tc.padX, PadY: tc.padY}
			cfg.defaults()
			r := &Reader{cfg: cfg}
			got := r.cropQuad(p)
			for i := range got {
				if !near(got[i].X, tc.want[i].X) || !near(got[i].Y, tc.want[i].Y) {
					t.Fatalf("cropQuad = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPadQuadRolled(t *testing.T) {
	// A plate rolled by 90 degrees: padding must follow the plate's own axes.
	q := Quad{{10, 0}, {10, 100}, {0, 100}, {0, 0}}
	got := padQuad(q, 0.1, 0.5)
	want := Quad{{15, -10}, {15, 110}, {-5, 110}, {-5, -10}}
	for i := range got {
		if !near(got[i].X, want[i].X) || !near(got[i].Y, want[i].Y) {
			t.Fatalf("padQuad = %v, want %v", got, want)
		}
	}
}

func TestU8(t *testing.T) {
	tests := []struct {
		in   float32
		want uint8
	}{{-3, 0}, {0.4, 0}, {0.5, 1}, {254.6, 255}, {300, 255}}
	for _, tc := range tests {
		if got := u8(tc.in); got != tc.want {
			t.Errorf("u8(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
