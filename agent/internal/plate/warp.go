package plate

import (
	"errors"
	"image"
	"image/draw"
	"math"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Point is a position in source-frame pixels.
type Point struct {
	X, Y float32
}

// Quad is four corners in the order top-left, top-right, bottom-right,
// bottom-left.
type Quad [4]Point

// rectQuad returns the corners of a rectangle given as floats.
func rectQuad(x1, y1, x2, y2 float32) Quad {
	return Quad{{x1, y1}, {x2, y1}, {x2, y2}, {x1, y2}}
}

// homography maps destination pixel centres to source positions.
type homography [9]float64

func (h *homography) apply(x, y float64) (float64, float64) {
	w := h[6]*x + h[7]*y + h[8]
	if w == 0 {
		w = 1e-12
	}
	return (h[0]*x + h[1]*y + h[2]) / w, (h[3]*x + h[4]*y + h[5]) / w
}

var errDegenerate = errors.New("plate: degenerate quadrilateral")

// quadHomography returns the homography taking the dstW x dstH rectangle's
// corners (0,0) (dstW,0) (dstW,dstH) (0,dstH) to q, by solving the 8x8
// direct linear system with partial pivoting.
func quadHomography(q Quad, dstW, dstH int) (homography, error) {
	src := [4][2]float64{{0, 0}, {float64(dstW), 0}, {float64(dstW), float64(dstH)}, {0, float64(dstH)}}
	var a [8][9]float64
	for i := 0; i < 4; i++ {
		x, y := src[i][0], src[i][1]
		u, v := float64(q[i].X), float64(q[i].Y)
		a[2*i] = [9]float64{x, y, 1, 0, 0, 0, -u * x, -u * y, u}
		a[2*i+1] = [9]float64{0, 0, 0, x, y, 1, -v * x, -v * y, v}
	}
	for c := 0; c < 8; c++ {
		p := c
		for r := c + 1; r < 8; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-9 {
			return homography{}, errDegenerate
		}
		a[c], a[p] = a[p], a[c]
		for r := 0; r < 8; r++ {
			if r == c {
				continue
			}
			k := a[r][c] / a[c][c]
			for j := c; j < 9; j++ {
				a[r][j] -= k * a[c][j]
			}
		}
	}
	var h homography
	for i := 0; i < 8; i++ {
		h[i] = a[i][8] / a[i][i]
	}
	h[8] = 1
	return h, nil
}

// sampleQuad resamples the quadrilateral q of f into a dstW x dstH picture
// with bilinear interpolation (no anti-aliasing: plates and vehicle crops
// shrink by small factors), calling put for each destination pixel with its
// B, G, R values. Positions outside the frame clamp to the border.
func sampleQuad(f *frame.Frame, q Quad, dstW, dstH int, put func(x, y int, b, g, r float32)) error {
	if f.Width <= 0 || f.Height <= 0 || len(f.BGR) < (f.Height-1)*f.Stride+3*f.Width {
		return errors.New("plate: empty or short frame")
	}
	h, err := quadHomography(q, dstW, dstH)
	if err != nil {
		return err
	}
	if h[1] == 0 && h[3] == 0 && h[6] == 0 && h[7] == 0 {
		sampleAxis(f, h, dstW, dstH, put)
		return nil
	}
	maxX, maxY := float64(f.Width-1), float64(f.Height-1)
	for y := 0; y < dstH; y++ {
		for x := 0; x < dstW; x++ {
			// Pixel centres on both sides: (x+0.5) in the destination maps to
			// a continuous source position, minus 0.5 to index pixel centres.
			sx, sy := h.apply(float64(x)+0.5, float64(y)+0.5)
			x0, x1, fx := tap(sx, maxX)
			y0, y1, fy := tap(sy, maxY)
			bilinear(f, x0, x1, fx, y0, y1, fy, x, y, put)
		}
	}
	return nil
}

// sampleAxis is sampleQuad for an axis-aligned rectangle (a plain resize):
// the taps of each column and row are computed once.
func sampleAxis(f *frame.Frame, h homography, dstW, dstH int, put func(x, y int, b, g, r float32)) {
	type taps struct {
		i0, i1 int
		w      float32
	}
	maxX, maxY := float64(f.Width-1), float64(f.Height-1)
	cols := make([]taps, dstW)
	for x := range cols {
		x0, x1, fx := tap((h[0]*(float64(x)+0.5)+h[2])/h[8], maxX)
		cols[x] = taps{x0, x1, fx}
	}
	for y := 0; y < dstH; y++ {
		y0, y1, fy := tap((h[4]*(float64(y)+0.5)+h[5])/h[8], maxY)
		for x, c := range cols {
			bilinear(f, c.i0, c.i1, c.w, y0, y1, fy, x, y, put)
		}
	}
}

// tap returns the two source indices around continuous position s (in
// pixel-edge coordinates) and the weight of the second, clamped to [0, max].
func tap(s, maxV float64) (int, int, float32) {
	s = math.Min(math.Max(s-0.5, 0), maxV)
	i := int(s)
	return i, min(i+1, int(maxV)), float32(s - float64(i))
}

func bilinear(f *frame.Frame, x0, x1 int, fx float32, y0, y1 int, fy float32, x, y int, put func(x, y int, b, g, r float32)) {
	r0, r1 := f.BGR[y0*f.Stride:], f.BGR[y1*f.Stride:]
	a, b := r0[3*x0:3*x0+3], r0[3*x1:3*x1+3]
	c, d := r1[3*x0:3*x0+3], r1[3*x1:3*x1+3]
	var v [3]float32
	for k := 0; k < 3; k++ {
		top := float32(a[k]) + fx*(float32(b[k])-float32(a[k]))
		bot := float32(c[k]) + fx*(float32(d[k])-float32(c[k]))
		v[k] = top + fy*(bot-top)
	}
	put(x, y, v[0], v[1], v[2])
}

// FromImage converts a decoded picture to a packed BGR frame.
func FromImage(img image.Image) *frame.Frame {
	b := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok || b.Min != (image.Point{}) {
		rgba = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(rgba, rgba.Bounds(), img, b.Min, draw.Src)
	}
	w, h := b.Dx(), b.Dy()
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for y := range h {
		src := rgba.Pix[y*rgba.Stride : y*rgba.Stride+4*w]
		dst := f.BGR[y*f.Stride : y*f.Stride+3*w]
		for x := range w {
			dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x+2], src[4*x+1], src[4*x]
		}
	}
	return f
}
