// Package motion decides which frames need inference: a Detector measures
// motion cheaply and a Gate turns the measurements into a skip/process
// decision that never skips a frame which may hold a moving vehicle.
//
// The Detector samples each frame into a small thumbnail (ThumbWidth pixels
// wide over the ROI, Samples x Samples points averaged per pixel, never a
// full-frame conversion) with two planes, luma and the chroma difference R-B,
// so that a red car as bright as the asphalt still shows. It compares them
// with a running-average background whose learning rate follows the real time
// between frames. Three measures keep a static scene quiet:
//   - lighting: each frame is scaled by median(background)/median(frame)
//     before comparing, so a global brightness change (auto-exposure reacting
//     to a white car, a cloud) is not motion; the background itself follows
//     the exposure at the learning rate. A change covering more than half the
//     view defeats the median and shows as motion, which errs on the safe side.
//   - camera shake: a pixel only counts when it falls outside the range of the
//     background over its 3x3 neighbourhood, after a [1 2 1] smoothing that
//     stops thin lines from aliasing.
//   - noise: only pixels in a 2x2 block of changed pixels count, which drops
//     specks and the one-pixel streaks shake leaves along edges.
//
// The smallest moving object it sees is a blob of a few thumbnail pixels
// (MinChangedPixels, in 2x2 blocks, after smoothing): with the defaults on a
// 2560 px wide view, measured on synthetic scenes, about 40 px across for a
// white or coloured vehicle and 60 px for a dark one on asphalt. An ROI on the
// road raises the resolution. Once a vehicle has been detected, the caller's
// live tracks keep frames flowing regardless of motion.
package motion

import (
	"errors"
	"fmt"
	"image"
	"math"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Measurement is the motion found in one frame.
type Measurement struct {
	// Time is the frame's timestamp as the detector read it.
	Time time.Time
	// Warmup is set when the frame (re)started the background model (first
	// frame, new size, clock going backwards): nothing could be compared.
	Warmup bool
	// Motion is set when Changed reached the configured minimum.
	Motion bool
	// Changed counts the thumbnail pixels that differ from the background and
	// belong to a 2x2 block of such pixels; Watched is the number of pixels
	// inside the ROI and mask.
	Changed, Watched int
	// Gain is the brightness correction applied to the frame before comparing
	// (background median / frame median); 1 without lighting normalisation.
	Gain float64
}

// chromaZero is the chroma plane's value for a grey pixel.
const chromaZero = 128

// Detector measures motion against a running-average background of two
// thumbnail planes: luma, and the chroma difference R-B (so that a red or blue
// vehicle as bright as the road is still seen). It keeps its buffers between
// frames: after the first frame (and every size change) Measure does not
// allocate. Not safe for concurrent use.
type Detector struct {
	cfg Config

	// Geometry, rebuilt when the frame size changes: the byte offset in a row
	// and the row of every sample point, and the watched pixels.
	w, h      int
	roi       image.Rectangle
	tw, th, n int // thumbnail size; n = tw*th
	xoff      []int
	ys        []int
	rows      [][]byte
	mask      []bool // n; true = watched
	watched   int

	cur     []uint8   // 2n: luma plane then chroma plane
	bg      []float32 // 2n: background of both planes
	changed []uint8   // n: 1 where either plane differs from the background
	kept    []uint8   // n: changed pixels that survive the 2x2 opening
	tmp     []uint16  // n: scratch for smoothing
	last    time.Time
	primed  bool
}

// NewDetector returns a motion detector for cfg.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// frameTime is the clock the detector and gate use: the capture time, or the
// presentation time from an arbitrary epoch when the capture time is unset.
func frameTime(f *frame.Frame) time.Time {
	if !f.Captured.IsZero() {
		return f.Captured
	}
	return time.Unix(0, 0).Add(f.PTS)
}

// errFrame reports a frame whose buffer does not match its declared geometry.
var errFrame = errors.New("malformed frame")

func checkFrame(f *frame.Frame) error {
	if f == nil {
		return fmt.Errorf("%w: nil", errFrame)
	}
	if f.Width <= 0 || f.Height <= 0 || f.Stride < 3*f.Width {
		return fmt.Errorf("%w: %dx%d stride %d", errFrame, f.Width, f.Height, f.Stride)
	}
	// Compare in int64 to be safe from overflow on absurd sizes.
	if need := int64(f.Height-1)*int64(f.Stride) + 3*int64(f.Width); int64(len(f.BGR)) < need {
		return fmt.Errorf("%w: %dx%d stride %d needs %d bytes, has %d", errFrame, f.Width, f.Height, f.Stride, need, len(f.BGR))
	}
	return nil
}

// Measure compares f with the background, then folds f into it.
func (d *Detector) Measure(f *frame.Frame) (Measurement, error) {
	if err := checkFrame(f); err != nil {
		return Measurement{}, fmt.Errorf("motion: %w", err)
	}
	now := frameTime(f)
	m := Measurement{Time: now, Gain: 1}
	if !d.primed || f.Width != d.w || f.Height != d.h || now.Before(d.last) {
		if err := d.setup(f); err != nil {
			d.primed = false
			return m, err
		}
		d.thumbnail(f)
		for i, v := range d.cur {
			d.bg[i] = float32(v)
		}
		d.last, d.primed = now, true
		m.Warmup, m.Watched = true, d.watched
		return m, nil
	}
	dt := now.Sub(d.last).Seconds()
	d.last = now
	d.thumbnail(f)

	gain := 1.0
	if d.cfg.NormalizeLighting {
		gain = d.gain()
	}
	m.Gain = gain
	m.Watched = d.watched
	m.Changed = d.compare(gain)
	m.Motion = m.Changed >= d.cfg.MinChangedPixels
	d.learn(dt, gain)
	return m, nil
}

// setup computes the sampling grid for a new frame size.
func (d *Detector) setup(f *frame.Frame) error {
	full := image.Rect(0, 0, f.Width, f.Height)
	roi := full
	if !d.cfg.ROI.Empty() {
		roi = d.cfg.ROI.Intersect(full)
		if roi.Empty() {
			return fmt.Errorf("motion: ROI %v lies outside the %dx%d frame", d.cfg.ROI, f.Width, f.Height)
		}
	}
	d.w, d.h, d.roi = f.Width, f.Height, roi
	rw, rh := roi.Dx(), roi.Dy()
	d.tw = min(d.cfg.ThumbWidth, rw)
	d.th = max(1, min(rh, int(math.Round(float64(d.tw)*float64(rh)/float64(rw)))))
	d.n = d.tw * d.th
	s := d.cfg.Samples
	// Sample s x s points spread evenly inside each thumbnail cell: a cheap box
	// filter that averages away sensor and compression noise.
	d.xoff = resize(d.xoff, d.tw*s)
	for tx := range d.tw {
		for k := range s {
			x := roi.Min.X + ((2*tx*s+2*k+1)*rw)/(2*d.tw*s)
			d.xoff[tx*s+k] = 3 * x
		}
	}
	d.ys = resize(d.ys, d.th*s)
	for ty := range d.th {
		for k := range s {
			d.ys[ty*s+k] = roi.Min.Y + ((2*ty*s+2*k+1)*rh)/(2*d.th*s)
		}
	}
	d.rows = resize(d.rows, s)
	d.cur = resize(d.cur, 2*d.n)
	d.bg = resize(d.bg, 2*d.n)
	d.changed = resize(d.changed, d.n)
	d.kept = resize(d.kept, d.n)
	d.tmp = resize(d.tmp, d.n)
	d.mask = resize(d.mask, d.n)
	d.watched = 0
	for ty := range d.th {
		for tx := range d.tw {
			in := true
			if m := d.cfg.Mask; m != nil {
				b := m.Bounds()
				mx := b.Min.X + ((2*tx+1)*b.Dx())/(2*d.tw)
				my := b.Min.Y + ((2*ty+1)*b.Dy())/(2*d.th)
				in = m.GrayAt(mx, my).Y != 0
			}
			d.mask[ty*d.tw+tx] = in
			if in {
				d.watched++
			}
		}
	}
	if d.watched == 0 {
		return fmt.Errorf("motion: the mask leaves no pixel to watch at thumbnail size %dx%d", d.tw, d.th)
	}
	return nil
}

// thumbnail samples f into d.cur: luma (ITU-R BT.601 weights in 8-bit fixed
// point, 29 B + 150 G + 77 R summing to 256) and chroma 128 + (R-B)/2, each
// the mean of Samples x Samples points per cell, then smoothed.
func (d *Detector) thumbnail(f *frame.Frame) {
	s := d.cfg.Samples
	ss := s * s
	// Samples is 1, 2 or 4, so ss is a power of two and the means are shifts.
	log := 0
	for 1<<log < ss {
		log++
	}
	shY, shC := uint(8+log), uint(1+log)
	for ty := range d.th {
		for k := range s {
			y := d.ys[ty*s+k]
			d.rows[k] = f.BGR[y*f.Stride : y*f.Stride+3*f.Width]
		}
		luma := d.cur[ty*d.tw : (ty+1)*d.tw]
		chroma := d.cur[d.n+ty*d.tw : d.n+(ty+1)*d.tw]
		if s == 2 {
			thumbRow2(luma, chroma, d.rows[0], d.rows[1], d.xoff)
			continue
		}
		for tx := range luma {
			xs := d.xoff[tx*s : (tx+1)*s]
			sy, sc := 128*ss, 257*ss // rounding terms; sc also offsets R-B >= -255
			for _, row := range d.rows {
				for _, x := range xs {
					p := row[x : x+3 : x+3]
					b, g, r := int(p[0]), int(p[1]), int(p[2])
					sy += 29*b + 150*g + 77*r
					sc += r - b
				}
			}
			luma[tx] = uint8(sy >> shY)
			chroma[tx] = uint8(min(sc>>shC, 255))
		}
	}
	d.smooth(d.cur[:d.n])
	d.smooth(d.cur[d.n:])
}

// thumbRow2 is thumbnail's inner loop for the default 2x2 samples per cell.
func thumbRow2(luma, chroma []uint8, r0, r1 []byte, xoff []int) {
	xoff = xoff[:2*len(luma)]
	for tx := range luma {
		x0, x1 := xoff[2*tx], xoff[2*tx+1]
		a, b := r0[x0:x0+3:x0+3], r0[x1:x1+3:x1+3]
		c, e := r1[x0:x0+3:x0+3], r1[x1:x1+3:x1+3]
		bs := int(a[0]) + int(b[0]) + int(c[0]) + int(e[0])
		gs := int(a[1]) + int(b[1]) + int(c[1]) + int(e[1])
		rs := int(a[2]) + int(b[2]) + int(c[2]) + int(e[2])
		luma[tx] = uint8((29*bs + 150*gs + 77*rs + 512) >> 10)
		chroma[tx] = uint8(min((rs-bs+1028)>>3, 255))
	}
}

// smooth filters a thumbnail plane in place with the separable [1 2 1]/4
// kernel (edges replicated). Point sampling aliases fine structure (lane
// markings, specks): under a sub-pixel camera shift a one-pixel line can move
// wholly from one thumbnail row to the next. Smoothing spreads it over its
// neighbours, so that the shift shows as a small change that the
// neighbourhood range in compare absorbs; vehicle-sized blobs keep their
// contrast.
func (d *Detector) smooth(p []uint8) {
	tw, th := d.tw, d.th
	t := d.tmp
	for y := range th {
		row, out := p[y*tw:(y+1)*tw], t[y*tw:(y+1)*tw]
		if tw == 1 {
			out[0] = 4 * uint16(row[0])
			continue
		}
		out[0] = 3*uint16(row[0]) + uint16(row[1])
		for x := 1; x < tw-1; x++ {
			out[x] = uint16(row[x-1]) + 2*uint16(row[x]) + uint16(row[x+1])
		}
		out[tw-1] = uint16(row[tw-2]) + 3*uint16(row[tw-1])
	}
	for y := range th {
		up, mid, down := t[max(y-1, 0)*tw:][:tw], t[y*tw:][:tw], t[min(y+1, th-1)*tw:][:tw]
		out := p[y*tw : (y+1)*tw]
		for x := range out {
			out[x] = uint8((up[x] + 2*mid[x] + down[x] + 8) >> 4)
		}
	}
}

// gain returns median(background) / median(frame) of the luma over the
// watched pixels, clamped to [1/2, 2]. A global exposure or cloud change
// scales every level by about the same factor; the median ignores a moving
// object that covers less than half of the view.
func (d *Detector) gain() float64 {
	var hc, hb [256]int
	for i, v := range d.cur[:d.n] {
		if d.mask[i] {
			hc[v]++
			hb[uint8(min(max(d.bg[i]+0.5, 0), 255))]++
		}
	}
	mc, mb := median(&hc, d.watched), median(&hb, d.watched)
	if mc < 4 || mb < 4 {
		return 1 // too dark for a ratio to mean anything
	}
	return min(max(float64(mb)/float64(mc), 0.5), 2)
}

func median(h *[256]int, n int) int {
	half, acc := (n+1)/2, 0
	for v, c := range h {
		acc += c
		if acc >= half {
			return v
		}
	}
	return 255
}

// compare marks the pixels whose value, in either plane, lies more than the
// threshold outside the range of the background over their 3x3
// neighbourhood, and returns how many marked pixels belong to a 2x2 block of
// marked pixels (a morphological opening).
//
// The neighbourhood range absorbs camera shake of up to about one thumbnail
// pixel, including the sub-pixel shifts that make fine structure flicker in a
// sampled thumbnail. What shake still leaves behind are one-pixel-thin streaks
// along high-contrast edges such as lane markings, and isolated specks; the
// opening removes both, while anything the size of a vehicle has 2x2 blocks.
func (d *Detector) compare(gain float64) int {
	g := float32(gain)
	thr := float32(d.cfg.PixelThreshold)
	tw, th, n := d.tw, d.th, d.n
	changed := d.changed
	clear(changed)
	for p := range 2 {
		cur, bg := d.cur[p*n:(p+1)*n], d.bg[p*n:(p+1)*n]
		// v = zero + g*(cur - zero): the gain scales luma about 0 and chroma
		// about its grey value.
		off := float32(0)
		if p == 1 {
			off = chromaZero - g*chromaZero
		}
		for y := range th {
			y0, y1 := max(y-1, 0), min(y+1, th-1)
			row, bgRow := cur[y*tw:(y+1)*tw], bg[y*tw:(y+1)*tw]
			for x, c := range row {
				v := g*float32(c) + off
				lo, hi := bgRow[x], bgRow[x]
				if v >= lo-thr && v <= hi+thr {
					continue // the common case: matches its own background
				}
				i := y*tw + x
				if changed[i] != 0 || !d.mask[i] {
					continue
				}
				x0, x1 := max(x-1, 0), min(x+1, tw-1)
				for ny := y0; ny <= y1; ny++ {
					for _, b := range bg[ny*tw+x0 : ny*tw+x1+1] {
						lo, hi = min(lo, b), max(hi, b)
					}
				}
				if v < lo-thr || v > hi+thr {
					changed[i] = 1
				}
			}
		}
	}
	kept := d.kept
	clear(kept)
	for y := range th - 1 {
		for x := range tw - 1 {
			i := y*tw + x
			if changed[i]&changed[i+1]&changed[i+tw]&changed[i+tw+1] != 0 {
				kept[i], kept[i+1], kept[i+tw], kept[i+tw+1] = 1, 1, 1, 1
			}
		}
	}
	count := 0
	for _, k := range kept {
		count += int(k)
	}
	return count
}

// learn folds the frame into the background. The background keeps its own
// exposure: each pixel moves toward the gain-corrected frame, and then the
// whole background follows the camera's exposure at the same rate
// (gain^-alpha), so slow illumination drifts are absorbed everywhere alike
// while fast ones are bridged by the gain. Every pixel learns at the same
// rate, moving or not: a selective update (learning foreground pixels more
// slowly) leaves fewer ghosts behind a passing vehicle, but locks in any
// pixel that is often flagged (shake, flicker) and keeps a parked vehicle in
// the foreground far longer. The rate comes from the real interval dt, so
// irregular frame times are handled.
func (d *Detector) learn(dt, gain float64) {
	a := float32(1 - math.Exp(-dt/d.cfg.BackgroundTau.Seconds()))
	g := float32(gain)
	exposure := float32(math.Pow(gain, -float64(a)))
	n := d.n
	for p := range 2 {
		cur, bg := d.cur[p*n:(p+1)*n], d.bg[p*n:(p+1)*n]
		zero := float32(0)
		if p == 1 {
			zero = chromaZero
		}
		for i, v := range cur {
			b := bg[i] + a*(zero+g*(float32(v)-zero)-bg[i])
			bg[i] = zero + (b-zero)*exposure
		}
	}
}

// resize returns s with length n, reusing its storage when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
