package infer

import (
	"fmt"
	"image"
	"math"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// preprocessor fills an NCHW float32 input item from a view of a packed BGR24
// frame: bilinear resize with OpenCV's half-pixel convention (what
// cv2.resize INTER_LINEAR, used to train both YOLOX and NanoDet, does),
// channel reordering, per-channel (v-mean)/std, and the letterbox padding.
// Pure Go into a caller-owned buffer: no allocation per frame once the
// resize tables for a geometry exist (see BenchmarkPreprocess for the gocv
// comparison).
type preprocessor struct {
	inW, inH int
	// plane[c] is the output plane of byte c of a BGR pixel (B=0, G=1, R=2).
	plane [3]int
	// Per byte channel: out = v*scale + bias.
	scale, bias [3]float32
	// pad[p] is the normalised padding value of plane p; padRow[p] one
	// input row of it, copied (memmove) rather than stored value by value.
	pad    [3]float32
	padRow [3][]float32

	// Resize tables, valid for geometry key.
	key  Letterbox
	xtab []xtap
	ytab []ytap
}

// Bilinear weights are fixed point with weightBits fractional bits, as in
// OpenCV's INTER_LINEAR (INTER_RESIZE_COEF_BITS = 11): integer products of
// bytes stay below 2^31 and the result is within 1/8 grey level of the exact
// interpolation, about twice as fast as float arithmetic here.
const (
	weightBits = 11
	weightOne  = 1 << weightBits
)

// xtap holds the two source byte offsets (within a row) and the weight of
// the right one for an output column.
type xtap struct {
	o0, o1 int32
	w      int32
}

// ytap holds the two source rows and the weight of the lower one for an output row.
type ytap struct {
	r0, r1 int32
	w      int32
}

func newPreprocessor(m *modelmanifest.Manifest) *preprocessor {
	w, h := m.InputSize()
	p := &preprocessor{inW: w, inH: h}
	if m.Input.ColourOrder == "RGB" {
		p.plane = [3]int{2, 1, 0}
	} else {
		p.plane = [3]int{0, 1, 2}
	}
	mean, std := [3]float32{}, [3]float32{1, 1, 1}
	if n := m.Input.Normalize; n != nil {
		copy(mean[:], n.Mean)
		copy(std[:], n.Std)
	}
	for c := range 3 {
		pl := p.plane[c]
		p.scale[c] = 1 / std[pl]
		p.bias[c] = -mean[pl] / std[pl]
	}
	for pl := range 3 {
		v := float32(0)
		if len(m.Input.Resize.Pad) == 3 {
			v = m.Input.Resize.Pad[pl]
		}
		p.pad[pl] = (v - mean[pl]) / std[pl]
		p.padRow[pl] = make([]float32, w)
		fill(p.padRow[pl], p.pad[pl])
	}
	p.xtab = make([]xtap, 0, w)
	p.ytab = make([]ytap, 0, h)
	return p
}

// inputLen returns the number of float32 values of one input item.
func (p *preprocessor) inputLen() int { return 3 * p.inW * p.inH }

// tables (re)builds the resize tables for a geometry.
func (p *preprocessor) tables(lb Letterbox) {
	if lb == p.key && len(p.xtab) == lb.W {
		return
	}
	p.key = lb
	p.xtab = p.xtab[:0]
	sx := float64(lb.Src.Dx()) / float64(lb.W)
	for dx := range lb.W {
		i0, i1, w := bilinearTap(dx, sx, lb.Src.Dx())
		p.xtab = append(p.xtab, xtap{
			o0: int32(3 * (lb.Src.Min.X + i0)),
			o1: int32(3 * (lb.Src.Min.X + i1)),
			w:  w,
		})
	}
	p.ytab = p.ytab[:0]
	sy := float64(lb.Src.Dy()) / float64(lb.H)
	for dy := range lb.H {
		i0, i1, w := bilinearTap(dy, sy, lb.Src.Dy())
		p.ytab = append(p.ytab, ytap{r0: int32(lb.Src.Min.Y + i0), r1: int32(lb.Src.Min.Y + i1), w: w})
	}
}

// bilinearTap returns the two source indices and the fixed-point weight of
// the second for output index d, with scale source/output and n source
// samples: src = (d+0.5)*scale - 0.5, clamped to the edges.
func bilinearTap(d int, scale float64, n int) (i0, i1 int, w int32) {
	f := (float64(d)+0.5)*scale - 0.5
	if f <= 0 {
		return 0, 0, 0
	}
	i0 = int(f)
	if i0 >= n-1 {
		return n - 1, n - 1, 0
	}
	return i0, i0 + 1, int32(math.Round((f - float64(i0)) * weightOne))
}

// run writes one input item (3 planes of inW*inH) for view lb of f into dst.
func (p *preprocessor) run(f *frame.Frame, lb Letterbox, dst []float32) error {
	if len(dst) != p.inputLen() {
		return fmt.Errorf("infer: preprocess: buffer has %d values, want %d", len(dst), p.inputLen())
	}
	if err := checkFrame(f); err != nil {
		return err
	}
	if !lb.Src.In(image.Rect(0, 0, f.Width, f.Height)) || lb.Src.Empty() {
		return fmt.Errorf("infer: preprocess: view %v outside the %dx%d frame", lb.Src, f.Width, f.Height)
	}
	if lb.InW != p.inW || lb.InH != p.inH || lb.W < 1 || lb.H < 1 ||
		lb.OffX < 0 || lb.OffY < 0 || lb.OffX+lb.W > p.inW || lb.OffY+lb.H > p.inH {
		return fmt.Errorf("infer: preprocess: bad letterbox %+v for input %dx%d", lb, p.inW, p.inH)
	}
	p.tables(lb)
	plane := p.inW * p.inH
	planes := [3][]float32{dst[:plane], dst[plane : 2*plane], dst[2*plane:]}
	p.fillPad(planes, lb)

	dB, dG, dR := planes[p.plane[0]], planes[p.plane[1]], planes[p.plane[2]]
	// The interpolated value carries a factor weightOne^2.
	const unit = 1.0 / (weightOne * weightOne)
	sB, sG, sR := p.scale[0]*unit, p.scale[1]*unit, p.scale[2]*unit
	bB, bG, bR := p.bias[0], p.bias[1], p.bias[2]
	stride := f.Stride
	src := f.BGR
	xtab := p.xtab[:lb.W]
	for dy, yt := range p.ytab[:lb.H] {
		r0, r1 := int(yt.r0)*stride, int(yt.r1)*stride
		row0 := src[r0:min(r0+stride, len(src))]
		row1 := src[r1:min(r1+stride, len(src))]
		wy, iwy := yt.w, weightOne-yt.w
		base := (lb.OffY+dy)*p.inW + lb.OffX
		oB, oG, oR := dB[base:base+lb.W], dG[base:base+lb.W], dR[base:base+lb.W]
		for dx, t := range xtab {
			a := row0[t.o0 : t.o0+3 : t.o0+3]
			b := row0[t.o1 : t.o1+3 : t.o1+3]
			c := row1[t.o0 : t.o0+3 : t.o0+3]
			d := row1[t.o1 : t.o1+3 : t.o1+3]
			wx, iwx := t.w, weightOne-t.w
			v0 := (int32(a[0])*iwx+int32(b[0])*wx)*iwy + (int32(c[0])*iwx+int32(d[0])*wx)*wy
			v1 := (int32(a[1])*iwx+int32(b[1])*wx)*iwy + (int32(c[1])*iwx+int32(d[1])*wx)*wy
			v2 := (int32(a[2])*iwx+int32(b[2])*wx)*iwy + (int32(c[2])*iwx+int32(d[2])*wx)*wy
			oB[dx] = float32(v0)*sB + bB
			oG[dx] = float32(v1)*sG + bG
			oR[dx] = float32(v2)*sR + bR
		}
	}
	return nil
}

// fillPad writes the padding value outside the letterboxed content.
func (p *preprocessor) fillPad(planes [3][]float32, lb Letterbox) {
	if lb.W == p.inW && lb.H == p.inH {
		return
	}
	for pl, d := range planes {
		row := p.padRow[pl]
		copyPattern(d[:lb.OffY*p.inW], row)
		copyPattern(d[(lb.OffY+lb.H)*p.inW:], row)
		if lb.W == p.inW {
			continue
		}
		for y := lb.OffY; y < lb.OffY+lb.H; y++ {
			r := d[y*p.inW : (y+1)*p.inW]
			copy(r[:lb.OffX], row)
			copy(r[lb.OffX+lb.W:], row)
		}
	}
}

// copyPattern fills dst with repetitions of pattern.
func copyPattern(dst, pattern []float32) {
	for len(dst) > 0 {
		dst = dst[copy(dst, pattern):]
	}
}

func fill(s []float32, v float32) {
	for i := range s {
		s[i] = v
	}
}

// checkFrame verifies that a frame's buffer holds its declared picture.
func checkFrame(f *frame.Frame) error {
	switch {
	case f == nil:
		return fmt.Errorf("infer: nil frame")
	case f.Width <= 0 || f.Height <= 0:
		return fmt.Errorf("infer: frame %d has size %dx%d", f.Seq, f.Width, f.Height)
	case f.Stride < 3*f.Width:
		return fmt.Errorf("infer: frame %d stride %d < 3*width %d", f.Seq, f.Stride, 3*f.Width)
	case len(f.BGR) < (f.Height-1)*f.Stride+3*f.Width:
		return fmt.Errorf("infer: frame %d buffer has %d bytes, %dx%d stride %d needs %d",
			f.Seq, len(f.BGR), f.Width, f.Height, f.Stride, (f.Height-1)*f.Stride+3*f.Width)
	}
	return nil
}
