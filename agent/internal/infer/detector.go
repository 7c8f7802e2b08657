package infer

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// Detector finds objects in a frame.
type Detector interface {
	// Detect returns the kept detections in source-frame pixels.
	Detect(f *frame.Frame) ([]Detection, error)
	// Close releases the model.
	Close() error
}

var _ Detector = (*ORTDetector)(nil)

// Timings are the stage durations of one Detect call, summed over its views.
type Timings struct {
	Preprocess, Inference, Postprocess time.Duration
	// Views is the number of views run; Runs the number of inference calls
	// (1 when the model takes all views as one batch).
	Views, Runs int
}

// Total returns the sum of the stage durations.
func (t Timings) Total() time.Duration { return t.Preprocess + t.Inference + t.Postprocess }

// Info describes a loaded detector, for logs and metrics.
type Info struct {
	Model, Version, Provider string
	// InputW, InputH are the model input size.
	InputW, InputH int
	// Batch is the batch size of one inference call.
	Batch int
	// ViewsPerFrame is the number of views (tiles, whole ROI) per frame.
	ViewsPerFrame int
}

// cutMargin is how close (in model input pixels) a box edge must be to an
// interior tile edge to count as cut by it.
const cutMargin = 3

// ORTDetector runs a manifest-described detector on ONNX Runtime. Detect
// calls are serialised; buffers are reused between frames.
type ORTDetector struct {
	mu     sync.Mutex
	logger *slog.Logger
	rt     *Runtime
	m      *modelmanifest.Manifest
	cfg    Config
	eng    *engine
	pre    *preprocessor
	dec    decoder
	keep   *keepSet
	groups nmsGroups

	// View plan for the last frame size.
	planW, planH int
	views        []View
	boxes        []Letterbox

	cands   []candidate
	timings Timings
	closed  bool
}

// New loads the model described by m from modelsDir (m.Weights.File is
// resolved against it and its sha256 checked) into a session of rt.
func New(rt *Runtime, cfg Config, m *modelmanifest.Manifest, modelsDir string, logger *slog.Logger) (*ORTDetector, error) {
	if rt == nil {
		return nil, errors.New("infer: nil runtime")
	}
	if m == nil {
		return nil, errors.New("infer: nil manifest")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	dec, err := newDecoder(m)
	if err != nil {
		return nil, err
	}
	if err := checkWeights(m, modelsDir); err != nil {
		return nil, err
	}
	if err := rt.acquire(); err != nil {
		return nil, err
	}
	eng, err := newORTEngine(cfg, m, modelsDir, dec, cfg.Tiling.NumViews())
	if err != nil {
		rt.release()
		return nil, err
	}
	d := newDetector(cfg, m, dec, eng, logger)
	d.rt = rt
	d.logger.Info("detector loaded", "model", m.Name, "version", m.Version, "provider", cfg.provider(),
		"threads", cfg.IntraOpThreads, "batch", eng.batch, "views_per_frame", cfg.Tiling.NumViews(), "roi", cfg.ROI)
	return d, nil
}

// newDetector assembles a detector around an engine (the seam for tests).
func newDetector(cfg Config, m *modelmanifest.Manifest, dec decoder, eng *engine, logger *slog.Logger) *ORTDetector {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &ORTDetector{
		logger: logger.With("component", "infer", "model", m.Name),
		m:      m,
		cfg:    cfg,
		eng:    eng,
		pre:    newPreprocessor(m),
		dec:    dec,
		keep:   newKeepSet(m),
		groups: newNMSGroups(m),
	}
}

// Info describes the loaded detector.
func (d *ORTDetector) Info() Info {
	w, h := d.m.InputSize()
	return Info{Model: d.m.Name, Version: d.m.Version, Provider: d.cfg.provider(), InputW: w, InputH: h,
		Batch: d.eng.batch, ViewsPerFrame: d.cfg.Tiling.NumViews()}
}

// LastTimings returns the stage durations of the last Detect call.
func (d *ORTDetector) LastTimings() Timings {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.timings
}

// Views returns the views a frame of the given size is split into.
func (d *ORTDetector) Views(width, height int) ([]View, error) {
	return PlanViews(width, height, d.cfg.ROI, d.cfg.Tiling)
}

// plan computes (or reuses) the views and letterboxes for a frame size.
func (d *ORTDetector) plan(w, h int) error {
	if w == d.planW && h == d.planH && d.views != nil {
		return nil
	}
	views, err := PlanViews(w, h, d.cfg.ROI, d.cfg.Tiling)
	if err != nil {
		return err
	}
	inW, inH := d.m.InputSize()
	d.boxes = d.boxes[:0]
	for _, v := range views {
		d.boxes = append(d.boxes, NewLetterbox(v.Rect, inW, inH, d.m.Input.Resize.Mode, d.m.Input.Resize.Align))
	}
	d.views, d.planW, d.planH = views, w, h
	return nil
}

// Detect runs the model on every view of f and returns the merged detections
// in source pixels, sorted by descending score.
func (d *ORTDetector) Detect(f *frame.Frame) ([]Detection, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, errors.New("infer: detector is closed")
	}
	if err := checkFrame(f); err != nil {
		return nil, err
	}
	if err := d.plan(f.Width, f.Height); err != nil {
		return nil, err
	}
	t := Timings{Views: len(d.views)}
	d.cands = d.cands[:0]
	item := d.pre.inputLen()
	for start := 0; start < len(d.views); start += d.eng.batch {
		n := min(d.eng.batch, len(d.views)-start)
		t0 := time.Now()
		for i := range n {
			if err := d.pre.run(f, d.boxes[start+i], d.eng.input[i*item:(i+1)*item]); err != nil {
				return nil, err
			}
		}
		t1 := time.Now()
		if err := d.eng.run(); err != nil {
			return nil, fmt.Errorf("infer: run %s on frame %d: %w", d.m.Name, f.Seq, err)
		}
		t2 := time.Now()
		for i := range n {
			d.cands = d.decodeView(i, start+i, d.cands)
		}
		t.Preprocess += t1.Sub(t0)
		t.Inference += t2.Sub(t1)
		t.Postprocess += time.Since(t2)
		t.Runs++
	}
	t3 := time.Now()
	if len(d.views) > 1 {
		d.cands = mergeViews(d.cands, d.m.NMS.IoU, d.groups, d.m.MaxDetections)
	}
	out := make([]Detection, len(d.cands))
	for i, c := range d.cands {
		out[i] = c.Detection
	}
	t.Postprocess += time.Since(t3)
	d.timings = t
	return out, nil
}

// decodeView decodes batch item b (view v), runs NMS within the view, maps
// the boxes to source pixels clipped to the view, and flags boxes cut by an
// interior tile edge.
func (d *ORTDetector) decodeView(b, v int, dst []candidate) []candidate {
	mark := len(dst)
	dst = d.dec.decode(d.eng.outputs, b, d.keep, dst)
	kept := nmsCandidates(dst[mark:], d.m.NMS.IoU, d.groups, d.m.MaxDetections)
	dst = dst[:mark+len(kept)]
	view, lb := d.views[v], d.boxes[v]
	mx, my := cutMargin*lb.ScaleX(), cutMargin*lb.ScaleY()
	r := view.Rect
	n := mark
	for _, c := range dst[mark:] {
		c.Box = clip(lb.ToSource(c.Box), r)
		// !(x > 0) also drops NaN boxes and scores from a corrupt output.
		if !(c.Box.W() > 0) || !(c.Box.H() > 0) || !(c.Score > 0) || c.Score > math.MaxFloat32 {
			continue
		}
		c.view = v
		c.cut = (view.Interior[0] && c.Box.X1 <= float32(r.Min.X)+mx) ||
			(view.Interior[1] && c.Box.Y1 <= float32(r.Min.Y)+my) ||
			(view.Interior[2] && c.Box.X2 >= float32(r.Max.X)-mx) ||
			(view.Interior[3] && c.Box.Y2 >= float32(r.Max.Y)-my)
		dst[n] = c
		n++
	}
	return dst[:n]
}

// Close releases the session and its tensors. It is safe to call twice.
func (d *ORTDetector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var err error
	if d.eng.close != nil {
		if e := d.eng.close(); e != nil {
			err = fmt.Errorf("infer: close %s: %w", d.m.Name, e)
		}
	}
	if d.rt != nil {
		d.rt.release()
	}
	return err
}
