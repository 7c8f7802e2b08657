package infer

import (
	"image"
	"testing"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

func TestNewLetterbox(t *testing.T) {
	const lb, st = modelmanifest.ResizeLetterbox, modelmanifest.ResizeStretch
	const tl, ce = modelmanifest.AlignTopLeft, modelmanifest.AlignCentre
	tests := []struct {
		name             string
		src              image.Rectangle
		mode, align      string
		w, h, offX, offY int
	}{
		{"wide top-left", image.Rect(0, 0, 2560, 1440), lb, tl, 416, 234, 0, 0},
		{"wide centred", image.Rect(0, 0, 2560, 1440), lb, ce, 416, 234, 0, 91},
		{"tall centred", image.Rect(0, 0, 300, 600), lb, ce, 208, 416, 104, 0},
		{"square", image.Rect(10, 20, 110, 120), lb, ce, 416, 416, 0, 0},
		{"dog top-left", image.Rect(0, 0, 768, 576), lb, tl, 416, 312, 0, 0},
		{"offset view", image.Rect(500, 300, 1140, 660), lb, tl, 416, 234, 0, 0},
		{"upscale", image.Rect(0, 0, 320, 240), lb, tl, 416, 312, 0, 0},
		{"stretch", image.Rect(0, 0, 2560, 1440), st, "", 416, 416, 0, 0},
		{"one pixel high", image.Rect(0, 0, 5000, 1), lb, ce, 416, 1, 0, 207},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLetterbox(tc.src, 416, 416, tc.mode, tc.align)
			if l.W != tc.w || l.H != tc.h || l.OffX != tc.offX || l.OffY != tc.offY {
				t.Fatalf("got %dx%d at (%d,%d), want %dx%d at (%d,%d)", l.W, l.H, l.OffX, l.OffY, tc.w, tc.h, tc.offX, tc.offY)
			}
			// The content rectangle maps exactly onto the source view.
			content := Box{float32(l.OffX), float32(l.OffY), float32(l.OffX + l.W), float32(l.OffY + l.H)}
			want := Box{float32(tc.src.Min.X), float32(tc.src.Min.Y), float32(tc.src.Max.X), float32(tc.src.Max.Y)}
			if got := l.ToSource(content); !boxNear(got, want, 1e-3) {
				t.Errorf("content maps to %v, want %v", got, want)
			}
			// Round trip of an arbitrary box.
			b := Box{float32(tc.src.Min.X) + 3.25, float32(tc.src.Min.Y) + 0.5, float32(tc.src.Max.X) - 7, float32(tc.src.Max.Y)}
			if got := l.ToSource(l.ToInput(b)); !boxNear(got, b, 1e-2) {
				t.Errorf("round trip %v -> %v", b, got)
			}
		})
	}
}

func TestClip(t *testing.T) {
	r := image.Rect(10, 20, 110, 220)
	tests := []struct {
		name string
		in   Box
		want Box
	}{
		{"inside", Box{20, 30, 40, 50}, Box{20, 30, 40, 50}},
		{"over every edge", Box{-5, 0, 500, 900}, Box{10, 20, 110, 220}},
		{"fully outside", Box{200, 300, 250, 350}, Box{110, 220, 110, 220}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := clip(tc.in, r); got != tc.want {
				t.Fatalf("clip(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
