package infer

import (
	"image"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// benchFrame is a 2560x1440 frame: a real intersection frame enlarged (so
// the model sees real vehicles), or random pixels when the clip is missing.
func benchFrame(b *testing.B, real bool) *frame.Frame {
	b.Helper()
	if real {
		return areaResize(intersectionFrames(b, 1, 1)[0], 2560, 1440)
	}
	return randomFrame(rand.New(rand.NewPCG(5, 6)), 2560, 1440, 0)
}

// benchViews are the view set-ups measured on a 2560x1440 frame.
var benchViews = []struct {
	name string
	cfg  Config
}{
	{"full", Config{}},
	{"roi-1280x540", Config{ROI: image.Rect(640, 800, 1920, 1340)}},
	{"tiles-4x2+whole", Config{Tiling: Tiling{Cols: 4, Rows: 2, Overlap: 0.2, Whole: true}}},
}

// BenchmarkPreprocess measures letterbox resize + normalisation of every
// view of a 2560x1440 frame into the YOLOX input (pure Go, no model).
func BenchmarkPreprocess(b *testing.B) {
	f := benchFrame(b, false)
	m := loadManifest(b, "yolox-nano")
	inW, inH := m.InputSize()
	for _, bv := range benchViews {
		b.Run(bv.name, func(b *testing.B) {
			views, err := PlanViews(f.Width, f.Height, bv.cfg.ROI, bv.cfg.Tiling)
			if err != nil {
				b.Fatal(err)
			}
			p := newPreprocessor(m)
			dst := make([]float32, p.inputLen())
			lbs := make([]Letterbox, len(views))
			for i, v := range views {
				lbs[i] = NewLetterbox(v.Rect, inW, inH, m.Input.Resize.Mode, m.Input.Resize.Align)
			}
			b.ReportAllocs()
			for b.Loop() {
				for _, lb := range lbs {
					if err := p.run(f, lb, dst); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkPostprocess measures decode + per-view NMS + mapping + the
// cross-view merge on real YOLOX outputs of a 2560x1440 frame (captured once).
func BenchmarkPostprocess(b *testing.B) {
	f := benchFrame(b, true)
	for _, bv := range benchViews {
		b.Run(bv.name, func(b *testing.B) {
			d := newRealDetector(b, "yolox-nano", bv.cfg)
			if err := d.plan(f.Width, f.Height); err != nil {
				b.Fatal(err)
			}
			// Capture the raw output of every view.
			item := d.pre.inputLen()
			outs := make([][]float32, len(d.views))
			for v := range d.views {
				if err := d.pre.run(f, d.boxes[v], d.eng.input[:item]); err != nil {
					b.Fatal(err)
				}
				if err := d.eng.run(); err != nil {
					b.Fatal(err)
				}
				outs[v] = append([]float32(nil), d.eng.outputs[0]...)
			}
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				d.cands = d.cands[:0]
				for v := range d.views {
					copy(d.eng.outputs[0], outs[v])
					d.cands = d.decodeView(0, v, d.cands)
				}
				if len(d.views) > 1 {
					d.cands = mergeViews(d.cands, d.m.NMS.IoU, d.groups, d.m.MaxDetections)
				}
				n = len(d.cands)
			}
			b.ReportMetric(float64(n), "dets")
		})
	}
}

// BenchmarkDetect measures whole Detect calls (preprocess, ONNX Runtime
// inference with 2 threads, postprocess) and reports each stage per frame.
func BenchmarkDetect(b *testing.B) {
	f := benchFrame(b, true)
	for _, bv := range benchViews {
		b.Run(bv.name, func(b *testing.B) {
			d := newRealDetector(b, "yolox-nano", bv.cfg)
			if _, err := d.Detect(f); err != nil { // warm-up
				b.Fatal(err)
			}
			var pre, inf, post time.Duration
			dets := 0
			b.ReportAllocs()
			for b.Loop() {
				out, err := d.Detect(f)
				if err != nil {
					b.Fatal(err)
				}
				tm := d.LastTimings()
				pre += tm.Preprocess
				inf += tm.Inference
				post += tm.Postprocess
				dets = len(out)
			}
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(b.N) }
			b.ReportMetric(ms(pre), "pre-ms")
			b.ReportMetric(ms(inf), "infer-ms")
			b.ReportMetric(ms(post), "post-ms")
			b.ReportMetric(float64(dets), "dets")
		})
	}
}

// BenchmarkNMS measures NMS on 300 overlapping candidates of 3 classes.
func BenchmarkNMS(b *testing.B) {
	rng := rand.New(rand.NewPCG(8, 9))
	src := make([]candidate, 300)
	for i := range src {
		x, y := rng.Float32()*2000, rng.Float32()*1000
		src[i] = candidate{Detection: Detection{Box: Box{x, y, x + 40 + rng.Float32()*60, y + 30 + rng.Float32()*40},
			Score: rng.Float32(), Class: rng.IntN(3)}}
	}
	c := make([]candidate, len(src))
	b.ReportAllocs()
	for b.Loop() {
		copy(c, src)
		nmsCandidates(c, 0.45, nmsGroups{}, 0)
	}
}
