package plate

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"
	"sync"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// LPD-YuNet's fixed input size (OpenCV Zoo license_plate_detection_yunet).
const (
	lpdW = 320
	lpdH = 240
)

// Plate is one plate found in a frame.
type Plate struct {
	// Box is the axis-aligned bounding box of Corners, in frame pixels.
	Box infer.Box
	// Corners are the plate corners (top-left, top-right, bottom-right,
	// bottom-left) in frame pixels; see decodeLPD about their accuracy.
	Corners Quad
	// Score is the detector's score, sqrt(cls * clamp(iou, 0, 1)).
	Score float32
}

// prior is one YuNet prior box, normalised to the input size.
type prior struct {
	cx, cy, w, h float32
}

// lpdPriors generates LPD-YuNet's 4385 priors for a w x h input, as in the
// OpenCV Zoo demo (lpd_yunet.py _priorGen): feature maps at strides 8, 16,
// 32, 64 obtained by repeated integer halving, row-major cells, one prior
// per min size.
func lpdPriors(w, h int) []prior {
	minSizes := [][]float32{{10, 16, 24}, {32, 48}, {64, 96}, {128, 192, 256}}
	steps := []float32{8, 16, 32, 64}
	fh, fw := ((h+1)/2)/2, ((w+1)/2)/2 // stride 4
	var out []prior
	for k := range steps {
		fh, fw = fh/2, fw/2
		for i := 0; i < fh; i++ {
			for j := 0; j < fw; j++ {
				for _, s := range minSizes[k] {
					out = append(out, prior{
						cx: (float32(j) + 0.5) * steps[k] / float32(w),
						cy: (float32(i) + 0.5) * steps[k] / float32(h),
						w:  s / float32(w),
						h:  s / float32(h),
					})
				}
			}
		}
	}
	return out
}

// lpdVariance is the prior-box variance used by the model's training.
const lpdVariance = 0.1

// decodeLPD turns the raw outputs into candidates in input pixels (w x h)
// with a score of at least minScore, as the OpenCV Zoo demo decodes them
// (lpd_yunet.py _decode). loc rows hold 14 values: a box (0:4, unused), then
// landmark offsets from the prior centre in units of variance x prior size:
// the corners at 4:6, 6:8, 10:12 and 12:14 (8:10 is the plate centre).
// Measured on Brazilian plates, 4:6 and 10:12 land on the top-left and
// bottom-right corners while 6:8 and 12:14 fall well inside the plate (the
// model was trained on Chinese plates), which is why the reader cuts the
// padded bounding box by default instead of rectifying the quadrilateral.
func decodeLPD(priors []prior, loc, conf, iou []float32, w, h int, minScore float32, dst []Plate) []Plate {
	for i, p := range priors {
		cls := conf[2*i+1]
		q := min(max(iou[i], 0), 1)
		score := float32(math.Sqrt(float64(max(cls, 0) * q)))
		if score < minScore {
			continue
		}
		l := loc[14*i : 14*i+14]
		var c Quad
		for k, off := range [4]int{4, 6, 10, 12} {
			c[k] = Point{
				X: (p.cx + l[off]*lpdVariance*p.w) * float32(w),
				Y: (p.cy + l[off+1]*lpdVariance*p.h) * float32(h),
			}
		}
		dst = append(dst, Plate{Corners: c, Score: score})
	}
	return dst
}

// orderCorners sorts four corners into top-left, top-right, bottom-right,
// bottom-left whatever order the model emitted them in: the two with the
// smallest y are the top pair, each pair ordered by x.
func orderCorners(q Quad) Quad {
	idx := []int{0, 1, 2, 3}
	sort.Slice(idx, func(a, b int) bool { return q[idx[a]].Y < q[idx[b]].Y })
	t0, t1, b0, b1 := q[idx[0]], q[idx[1]], q[idx[2]], q[idx[3]]
	if t0.X > t1.X {
		t0, t1 = t1, t0
	}
	if b0.X > b1.X {
		b0, b1 = b1, b0
	}
	return Quad{t0, t1, b1, b0}
}

func quadBox(q Quad) infer.Box {
	b := infer.Box{X1: q[0].X, Y1: q[0].Y, X2: q[0].X, Y2: q[0].Y}
	for _, p := range q[1:] {
		b.X1, b.Y1 = min(b.X1, p.X), min(b.Y1, p.Y)
		b.X2, b.Y2 = max(b.X2, p.X), max(b.Y2, p.Y)
	}
	return b
}

// nmsPlates keeps the best-scoring plates whose boxes overlap a kept one by
// less than iou, best first.
func nmsPlates(c []Plate, iou float32, maxDet int) []Plate {
	sort.SliceStable(c, func(a, b int) bool { return c[a].Score > c[b].Score })
	var keep []Plate
	for _, p := range c {
		ok := true
		for _, k := range keep {
			if p.Box.IoU(k.Box) > iou {
				ok = false
				break
			}
		}
		if ok {
			keep = append(keep, p)
			if len(keep) == maxDet {
				break
			}
		}
	}
	return keep
}

// DetectorConfig tunes the plate detector.
type DetectorConfig struct {
	// ModelPath is the LPD-YuNet fp32 ONNX file.
	ModelPath string
	// Threads is the ONNX Runtime intra-op thread count (0: its default).
	Threads int
	// MinScore drops weaker plates (default 0.5).
	MinScore float32
	// NMSIoU is the overlap above which the weaker of two plates is dropped
	// (default 0.3, OpenCV Zoo's value).
	NMSIoU float32
	// MaxPlates caps the plates returned per region (default 5).
	MaxPlates int
}

func (c *DetectorConfig) defaults() {
	if c.MinScore <= 0 {
		c.MinScore = 0.5
	}
	if c.NMSIoU <= 0 {
		c.NMSIoU = 0.3
	}
	if c.MaxPlates <= 0 {
		c.MaxPlates = 5
	}
}

// Detector finds licence plates with LPD-YuNet. Detect calls are serialised.
type Detector struct {
	mu     sync.Mutex
	cfg    DetectorConfig
	s      *session
	priors []prior
	cands  []Plate
}

// NewDetector loads LPD-YuNet into the ONNX Runtime environment of rt.
// Close it before closing rt.
func NewDetector(rt *infer.Runtime, cfg DetectorConfig) (*Detector, error) {
	cfg.defaults()
	priors := lpdPriors(lpdW, lpdH)
	n := int64(len(priors))
	s, err := newSession(rt, cfg.ModelPath, cfg.Threads,
		tensorSpec{"input", []int64{1, 3, lpdH, lpdW}}, false,
		[]tensorSpec{{"loc", []int64{n, 14}}, {"conf", []int64{n, 2}}, {"iou", []int64{n, 1}}})
	if err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg, s: s, priors: priors}, nil
}

// Detect finds plates inside region of f (the whole frame when region is
// empty); the region is stretched to the model input, as the model expects.
// Boxes and corners are in frame pixels.
func (d *Detector) Detect(f *frame.Frame, region image.Rectangle) ([]Plate, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.s == nil {
		return nil, errors.New("plate: detector is closed")
	}
	full := image.Rect(0, 0, f.Width, f.Height)
	if region.Empty() {
		region = full
	}
	region = region.Intersect(full)
	if region.Dx() < 8 || region.Dy() < 8 {
		return nil, nil
	}
	in := d.s.float32Input()
	plane := lpdW * lpdH
	q := rectQuad(float32(region.Min.X), float32(region.Min.Y), float32(region.Max.X), float32(region.Max.Y))
	err := sampleQuad(f, q, lpdW, lpdH, func(x, y int, b, g, r float32) {
		i := y*lpdW + x
		in[i], in[plane+i], in[2*plane+i] = b, g, r
	})
	if err != nil {
		return nil, err
	}
	if err := d.s.sess.Run(); err != nil {
		return nil, fmt.Errorf("plate: run detector: %w", err)
	}
	d.cands = decodeLPD(d.priors, d.s.output(0), d.s.output(1), d.s.output(2), lpdW, lpdH, d.cfg.MinScore, d.cands[:0])
	sx := float32(region.Dx()) / lpdW
	sy := float32(region.Dy()) / lpdH
	for i := range d.cands {
		c := &d.cands[i]
		for k := range c.Corners {
			c.Corners[k].X = float32(region.Min.X) + c.Corners[k].X*sx
			c.Corners[k].Y = float32(region.Min.Y) + c.Corners[k].Y*sy
		}
		c.Corners = orderCorners(c.Corners)
		c.Box = quadBox(c.Corners)
	}
	return nmsPlates(d.cands, d.cfg.NMSIoU, d.cfg.MaxPlates), nil
}

// Close releases the model.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.s.close(); err != nil {
		return fmt.Errorf("plate: close detector: %w", err)
	}
	d.s = nil
	return nil
}
