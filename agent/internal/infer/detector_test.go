package infer

import (
	"image"
	"math"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// brightBoxEngine is a stand-in model (no ONNX Runtime) for the detector's
// plumbing: for every batch item it finds the bounding box of input pixels
// brighter than 200 in plane 0 and reports it as one "car" in YOLOX's raw
// output format. It runs the real preprocessing, batching, decoding,
// mapping and merging, so the output must land on the bright rectangle.
func brightBoxEngine(m *modelmanifest.Manifest, batch int, runs *int) *engine {
	inW, inH := m.InputSize()
	dec := newYOLOXDecoder(inW, inH, m.Decoder.Strides, len(m.Classes))
	nc := len(m.Classes)
	item := 3 * inW * inH
	e := &engine{batch: batch, input: make([]float32, batch*item),
		outputs: [][]float32{make([]float32, batch*len(dec.anchors)*(5+nc))}}
	e.run = func() error {
		*runs++
		out := e.outputs[0]
		clear(out)
		for b := range batch {
			plane := e.input[b*item : b*item+inW*inH]
			x1, y1, x2, y2 := inW, inH, -1, -1
			for y := range inH {
				for x := range inW {
					if plane[y*inW+x] > 200 {
						x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x), max(y2, y)
					}
				}
			}
			if x2 < 0 {
				continue
			}
			// Anchor 0 is stride 8, cell (0,0): cx = p0*8, w = exp(p2)*8.
			w, h := float64(x2+1-x1), float64(y2+1-y1)
			row := out[b*len(dec.anchors)*(5+nc):]
			row[0] = float32((float64(x1) + w/2) / 8)
			row[1] = float32((float64(y1) + h/2) / 8)
			row[2] = float32(math.Log(w / 8))
			row[3] = float32(math.Log(h / 8))
			row[4] = 1
			row[5+1] = 0.9 // car
		}
		return nil
	}
	e.close = func() error { return nil }
	return e
}

// rectFrame is a black frame with one white rectangle.
func rectFrame(w, h int, r image.Rectangle) *frame.Frame {
	f := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			i := y*f.Stride + 3*x
			f.BGR[i], f.BGR[i+1], f.BGR[i+2] = 255, 255, 255
		}
	}
	return f
}

func TestDetectorPlumbing(t *testing.T) {
	tiles := Tiling{Cols: 2, Rows: 1, Overlap: 0.3, Whole: true}
	tests := []struct {
		name      string
		cfg       Config
		batch     int
		rect      image.Rectangle
		wantRuns  int
		wantViews int
		wantNone  bool
	}{
		{"whole frame", Config{}, 1, image.Rect(100, 50, 300, 150), 1, 1, false},
		{"roi", Config{ROI: image.Rect(64, 32, 576, 320)}, 1, image.Rect(100, 50, 300, 150), 1, 1, false},
		{"object outside roi", Config{ROI: image.Rect(320, 0, 640, 360)}, 1, image.Rect(100, 50, 300, 150), 1, 1, true},
		{"tiles looped, object in one tile", Config{Tiling: tiles}, 1, image.Rect(40, 100, 120, 160), 3, 3, false},
		{"tiles batched, object in one tile", Config{Tiling: tiles}, 3, image.Rect(40, 100, 120, 160), 1, 3, false},
		// Tiles are 356 px wide: [0,356) and [284,640). The object spans the
		// overlap and both borders, so each tile sees a cut fragment; the
		// whole view sees it complete and wins.
		{"tiles looped, object across the border", Config{Tiling: tiles}, 1, image.Rect(250, 100, 400, 200), 3, 3, false},
		{"tiles batched, object across the border", Config{Tiling: tiles}, 3, image.Rect(250, 100, 400, 200), 1, 3, false},
		{"fixed batch 2 with 3 views", Config{Tiling: tiles}, 2, image.Rect(250, 100, 400, 200), 2, 3, false},
		// Tiles [0,320) and [320,640) without overlap: the left fragment
		// (40 of 120 px) overlaps the whole box too little for NMS, only the
		// cut-fragment rule removes it.
		{"fragment removed by the cut rule", Config{Tiling: Tiling{Cols: 2, Rows: 1, Whole: true}}, 3,
			image.Rect(280, 100, 400, 200), 1, 3, false},
	}
	// Without overlap or a whole view nothing sees the object complete: both
	// fragments are reported (the configuration must avoid this).
	t.Run("fragments kept without a complete view", func(t *testing.T) {
		m := testManifest(128, 128, "BGR", nil, resizeTL())
		runs := 0
		d := newDetector(Config{Tiling: Tiling{Cols: 2, Rows: 1}}, m, newYOLOXDecoder(128, 128, m.Decoder.Strides, len(m.Classes)),
			brightBoxEngine(m, 2, &runs), nil)
		dets, err := d.Detect(rectFrame(640, 360, image.Rect(280, 100, 400, 200)))
		if err != nil {
			t.Fatal(err)
		}
		if len(dets) != 2 {
			t.Fatalf("got %+v, want the two fragments", dets)
		}
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := testManifest(128, 128, "BGR", nil, resizeTL())
			m.NMS.IoU = 0.5
			runs := 0
			eng := brightBoxEngine(m, tc.batch, &runs)
			d := newDetector(tc.cfg, m, newYOLOXDecoder(128, 128, m.Decoder.Strides, len(m.Classes)), eng, nil)
			f := rectFrame(640, 360, tc.rect)
			dets, err := d.Detect(f)
			if err != nil {
				t.Fatal(err)
			}
			tm := d.LastTimings()
			if runs != tc.wantRuns || tm.Runs != tc.wantRuns || tm.Views != tc.wantViews {
				t.Errorf("runs %d (timings %+v), want %d runs of %d views", runs, tm, tc.wantRuns, tc.wantViews)
			}
			if tc.wantNone {
				if len(dets) != 0 {
					t.Fatalf("got %+v, want nothing outside the ROI", dets)
				}
				return
			}
			if len(dets) != 1 {
				t.Fatalf("got %d detections %+v, want exactly one", len(dets), dets)
			}
			want := Box{float32(tc.rect.Min.X), float32(tc.rect.Min.Y), float32(tc.rect.Max.X), float32(tc.rect.Max.Y)}
			// Tolerance: one input pixel of the coarsest view (640/128 = 5 px).
			if got := dets[0]; !boxNear(got.Box, want, 5.01) || got.Label != "car" || got.Score != 0.9 {
				t.Errorf("got %s %.2f %v, want car 0.90 %v", got.Label, got.Score, got.Box, want)
			}
		})
	}
}

func TestDetectorErrors(t *testing.T) {
	m := testManifest(64, 64, "BGR", nil, resizeTL())
	runs := 0
	d := newDetector(Config{ROI: image.Rect(0, 0, 100, 100)}, m, newYOLOXDecoder(64, 64, m.Decoder.Strides, len(m.Classes)),
		brightBoxEngine(m, 1, &runs), nil)
	if _, err := d.Detect(&frame.Frame{Width: 10, Height: 10, Stride: 30, BGR: make([]byte, 10)}); err == nil || !strings.Contains(err.Error(), "buffer") {
		t.Errorf("short frame: err = %v", err)
	}
	if _, err := d.Detect(rectFrame(200, 200, image.Rect(0, 0, 1, 1))); err != nil {
		t.Errorf("frame with ROI inside: %v", err)
	}
	if _, err := d.Detect(rectFrame(50, 50, image.Rect(0, 0, 1, 1))); err != nil {
		t.Errorf("frame smaller than the ROI (ROI clipped): %v", err)
	}
	d.cfg.ROI = image.Rect(300, 300, 400, 400)
	d.views = nil
	if _, err := d.Detect(rectFrame(200, 200, image.Rect(0, 0, 1, 1))); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("ROI outside the frame: err = %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := d.Detect(rectFrame(200, 200, image.Rect(0, 0, 1, 1))); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Detect after Close: err = %v", err)
	}
}
