package plate

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// fast-plate-ocr CCT-XS v2 global input and output sizes (its plate config
// yaml): uint8 NHWC RGB 64x128, 10 slots over Alphabet.
const (
	ocrW     = 128
	ocrH     = 64
	ocrSlots = 10
	// ocrRegions is the size of the model's country head (unused here).
	ocrRegions = 66
)

// DefaultMinConfidence is the confidence below which a read is unreadable.
const DefaultMinConfidence = 0.7

// ReaderConfig tunes the plate reader.
type ReaderConfig struct {
	// ModelPath is the fast-plate-ocr CCT-XS v2 global ONNX file.
	ModelPath string
	// Threads is the ONNX Runtime intra-op thread count (0: its default).
	Threads int
	// Format selects the accepted plate layouts.
	Format Format
	// MinConfidence marks weaker reads unreadable (default 0.7).
	MinConfidence float32
	// Crop chooses how the plate is cut out of the frame.
	Crop CropMode
	// PadX and PadY enlarge the plate on each side by these fractions of its
	// width and height before cutting (defaults 0.05 and 0.15): the
	// detector's corners sit on the plate border and the reader was trained
	// on crops with a little margin.
	PadX, PadY float32
}

// CropMode chooses how a plate is cut out before reading.
type CropMode int

const (
	// CropAxisAligned resizes the padded bounding box of the corners.
	CropAxisAligned CropMode = iota
	// CropRectify warps the padded corner quadrilateral to the reader's
	// input (undoes perspective and roll). With LPD-YuNet's corners it reads
	// worse (see decodeLPD): kept for detectors with accurate corners.
	CropRectify
)

func (c *ReaderConfig) defaults() {
	if c.MinConfidence <= 0 {
		c.MinConfidence = DefaultMinConfidence
	}
	if c.PadX == 0 {
		c.PadX = 0.05
	}
	if c.PadY == 0 {
		c.PadY = 0.15
	}
}

// Reader reads plate text with fast-plate-ocr. Read calls are serialised.
type Reader struct {
	mu  sync.Mutex
	cfg ReaderConfig
	s   *session
}

// NewReader loads the reader into the ONNX Runtime environment of rt.
// Close it before closing rt.
func NewReader(rt *infer.Runtime, cfg ReaderConfig) (*Reader, error) {
	cfg.defaults()
	s, err := newSession(rt, cfg.ModelPath, cfg.Threads,
		tensorSpec{"input", []int64{1, ocrH, ocrW, 3}}, true,
		[]tensorSpec{{"plate", []int64{1, ocrSlots, int64(len(Alphabet))}}, {"region", []int64{1, ocrRegions}}})
	if err != nil {
		return nil, err
	}
	return &Reader{cfg: cfg, s: s}, nil
}

// Format returns the reader's plate format.
func (r *Reader) Format() Format { return r.cfg.Format }

// cropQuad returns the padded region of p to cut out.
func (r *Reader) cropQuad(p Plate) Quad {
	if r.cfg.Crop == CropRectify {
		return padQuad(p.Corners, r.cfg.PadX, r.cfg.PadY)
	}
	b := p.Box
	px, py := r.cfg.PadX*b.W(), r.cfg.PadY*b.H()
	return rectQuad(b.X1-px, b.Y1-py, b.X2+px, b.Y2+py)
}

// padQuad pushes each corner away from the opposite sides by the given
// fractions of the mean top/bottom and left/right edge vectors.
func padQuad(q Quad, fx, fy float32) Quad {
	ux := Point{((q[1].X - q[0].X) + (q[2].X - q[3].X)) / 2, ((q[1].Y - q[0].Y) + (q[2].Y - q[3].Y)) / 2}
	uy := Point{((q[3].X - q[0].X) + (q[2].X - q[1].X)) / 2, ((q[3].Y - q[0].Y) + (q[2].Y - q[1].Y)) / 2}
	sign := [4][2]float32{{-1, -1}, {1, -1}, {1, 1}, {-1, 1}}
	var out Quad
	for i, p := range q {
		out[i] = Point{
			X: p.X + sign[i][0]*fx*ux.X + sign[i][1]*fy*uy.X,
			Y: p.Y + sign[i][0]*fx*ux.Y + sign[i][1]*fy*uy.Y,
		}
	}
	return out
}

// Probabilities runs the reader on plate p of f and returns a copy of the
// per-slot probabilities (ocrSlots x len(Alphabet), row-major).
func (r *Reader) Probabilities(f *frame.Frame, p Plate) ([]float32, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.s == nil {
		return nil, errors.New("plate: reader is closed")
	}
	in := r.s.uint8Input()
	err := sampleQuad(f, r.cropQuad(p), ocrW, ocrH, func(x, y int, b, g, rd float32) {
		i := 3 * (y*ocrW + x)
		in[i], in[i+1], in[i+2] = u8(rd), u8(g), u8(b)
	})
	if err != nil {
		return nil, err
	}
	if err := r.s.sess.Run(); err != nil {
		return nil, fmt.Errorf("plate: run reader: %w", err)
	}
	return append([]float32(nil), r.s.output(0)...), nil
}

// Read reads plate p of f under the reader's format.
func (r *Reader) Read(f *frame.Frame, p Plate) (Read, error) {
	probs, err := r.Probabilities(f, p)
	if err != nil {
		return Read{}, err
	}
	return Resolve(probs, r.cfg.Format, r.cfg.MinConfidence), nil
}

func u8(v float32) uint8 {
	return uint8(min(max(v+0.5, 0), 255))
}

// Close releases the model.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.s.close(); err != nil {
		return fmt.Errorf("plate: close reader: %w", err)
	}
	r.s = nil
	return nil
}
