package infer

import (
	"image"
	"math"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// Letterbox is the exact geometry that fits a source rectangle into the
// model input: the source view is resized to W x H input pixels placed at
// (OffX, OffY); the rest of the input is padding. Mapping back uses the
// per-axis ratio of the integer sizes actually used, so a box edge at input
// x lands on source x exactly (no 1/r rounding drift).
type Letterbox struct {
	// Src is the view in source pixels.
	Src image.Rectangle
	// InW, InH are the model input size.
	InW, InH int
	// OffX, OffY are the top-left corner of the resized content in the input.
	OffX, OffY int
	// W, H are the size of the resized content in input pixels.
	W, H int
}

// NewLetterbox computes the geometry for a view and an input size, for a
// manifest resize mode (letterbox or stretch) and alignment (top_left or centre).
func NewLetterbox(src image.Rectangle, inW, inH int, mode, align string) Letterbox {
	l := Letterbox{Src: src, InW: inW, InH: inH, W: inW, H: inH}
	sw, sh := src.Dx(), src.Dy()
	if mode == modelmanifest.ResizeStretch || sw <= 0 || sh <= 0 {
		return l
	}
	r := math.Min(float64(inW)/float64(sw), float64(inH)/float64(sh))
	l.W = min(max(int(math.Round(float64(sw)*r)), 1), inW)
	l.H = min(max(int(math.Round(float64(sh)*r)), 1), inH)
	if align == modelmanifest.AlignCentre {
		l.OffX = (inW - l.W) / 2
		l.OffY = (inH - l.H) / 2
	}
	return l
}

// ScaleX returns source pixels per input pixel horizontally.
func (l Letterbox) ScaleX() float32 { return float32(l.Src.Dx()) / float32(l.W) }

// ScaleY returns source pixels per input pixel vertically.
func (l Letterbox) ScaleY() float32 { return float32(l.Src.Dy()) / float32(l.H) }

// ToSource maps a box in input pixels to source pixels (not clipped).
func (l Letterbox) ToSource(b Box) Box {
	sx, sy := l.ScaleX(), l.ScaleY()
	ox, oy := float32(l.Src.Min.X), float32(l.Src.Min.Y)
	return Box{
		X1: ox + (b.X1-float32(l.OffX))*sx,
		Y1: oy + (b.Y1-float32(l.OffY))*sy,
		X2: ox + (b.X2-float32(l.OffX))*sx,
		Y2: oy + (b.Y2-float32(l.OffY))*sy,
	}
}

// ToInput maps a box in source pixels to input pixels (the inverse of ToSource).
func (l Letterbox) ToInput(b Box) Box {
	sx, sy := l.ScaleX(), l.ScaleY()
	ox, oy := float32(l.Src.Min.X), float32(l.Src.Min.Y)
	return Box{
		X1: (b.X1-ox)/sx + float32(l.OffX),
		Y1: (b.Y1-oy)/sy + float32(l.OffY),
		X2: (b.X2-ox)/sx + float32(l.OffX),
		Y2: (b.Y2-oy)/sy + float32(l.OffY),
	}
}

// clip limits a box to a rectangle.
func clip(b Box, r image.Rectangle) Box {
	x1, y1, x2, y2 := float32(r.Min.X), float32(r.Min.Y), float32(r.Max.X), float32(r.Max.Y)
	return Box{
		X1: min(max(b.X1, x1), x2),
		Y1: min(max(b.Y1, y1), y2),
		X2: min(max(b.X2, x1), x2),
		Y2: min(max(b.Y2, y1), y2),
	}
}
