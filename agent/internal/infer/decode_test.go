package infer

import (
	"encoding/binary"
	"image"
	"math"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// yoloxRow writes one anchor row: offsets, log sizes, objectness, classes.
func yoloxRow(out []float32, nc, anchor int, p0, p1, p2, p3, obj float32, cls map[int]float32) {
	row := out[anchor*(5+nc) : (anchor+1)*(5+nc)]
	row[0], row[1], row[2], row[3], row[4] = p0, p1, p2, p3, obj
	for c, s := range cls {
		row[5+c] = s
	}
}

func TestYOLOXDecode(t *testing.T) {
	// Classes: person 0, car 1, truck 2, dog 3. Keep person/car at 0.3, truck at 0.5.
	m := testManifest(64, 64, "BGR", nil, resizeTL())
	d := newYOLOXDecoder(64, 64, m.Decoder.Strides, len(m.Classes))
	if len(d.anchors) != 64+16+4 {
		t.Fatalf("%d anchors, want 84", len(d.anchors))
	}
	nc := len(m.Classes)
	const second = 1 // batch item under test; item 0 holds a decoy
	out := make([]float32, 2*84*(5+nc))
	item := out[second*84*(5+nc):]
	ln2 := float32(math.Ln2)
	// Stride 8, cell (3,2): a car at (20,14)-(36,22).
	yoloxRow(item, nc, 2*8+3, 0.5, 0.25, ln2, 0, 0.9, map[int]float32{1: 0.8})
	// Truck under its own threshold (0.9*0.5 = 0.45 < 0.5): dropped.
	yoloxRow(item, nc, 10, 0, 0, 0, 0, 0.9, map[int]float32{2: 0.5})
	// Dog is not kept: dropped.
	yoloxRow(item, nc, 11, 0, 0, 0, 0, 0.99, map[int]float32{3: 0.99})
	// Stride 32, cell (1,1): truck beats car; box (32,32)-(64,64).
	yoloxRow(item, nc, 64+16+3, 0.5, 0.5, 0, 0, 1, map[int]float32{1: 0.8, 2: 0.9})
	// Low objectness: dropped by the first filter.
	yoloxRow(item, nc, 12, 0, 0, 0, 0, 0.2, map[int]float32{1: 1})
	// Decoy in batch item 0.
	yoloxRow(out, nc, 0, 0, 0, 0, 0, 1, map[int]float32{0: 1})

	got := d.decode([][]float32{out}, second, newKeepSet(m), nil)
	want := []Detection{
		{Box: Box{20, 14, 36, 22}, Score: 0.9 * 0.8, Class: 1, Label: "car"},
		{Box: Box{32, 32, 64, 64}, Score: 0.9, Class: 2, Label: "truck"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if !boxNear(got[i].Box, want[i].Box, 1e-4) || got[i].Label != want[i].Label || math.Abs(float64(got[i].Score-want[i].Score)) > 1e-6 {
			t.Errorf("detection %d = %+v, want %+v", i, got[i].Detection, want[i])
		}
	}
}

func nanoDetTestManifest() *modelmanifest.Manifest {
	m := testManifest(32, 32, "BGR", nil, resizeTL())
	m.Decoder = modelmanifest.Decoder{Kind: modelmanifest.DecoderNanoDet, Strides: []int{8, 16}, RegMax: 3}
	m.Outputs = []modelmanifest.Output{
		{Name: "s8", Role: modelmanifest.RoleScores, Stride: 8}, {Name: "s16", Role: modelmanifest.RoleScores, Stride: 16},
		{Name: "b8", Role: modelmanifest.RoleBoxes, Stride: 8}, {Name: "b16", Role: modelmanifest.RoleBoxes, Stride: 16},
	}
	return m
}

func TestNanoDetDecode(t *testing.T) {
	m := nanoDetTestManifest()
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	dec, err := newDecoder(m)
	if err != nil {
		t.Fatal(err)
	}
	shapes := dec.outputShapes(1)
	wantShapes := [][]int64{{1, 16, 4}, {1, 4, 4}, {1, 16, 16}, {1, 4, 16}}
	outs := make([][]float32, len(shapes))
	for i, s := range shapes {
		if len(s) != 3 || s[0] != wantShapes[i][0] || s[1] != wantShapes[i][1] || s[2] != wantShapes[i][2] {
			t.Fatalf("output %d shape %v, want %v", i, s, wantShapes[i])
		}
		outs[i] = make([]float32, s[0]*s[1]*s[2])
	}
	const nc, bins = 4, 4
	// Stride 8, cell (1,1) = anchor 5, centre (11.5, 11.5): a car at 0.7.
	outs[0][5*nc+1] = 0.7
	dist := outs[2][5*4*bins : 6*4*bins]
	copy(dist[0:4], []float32{0, 0, 0, 0})           // left: uniform -> 1.5 bins = 12 px
	copy(dist[4:8], []float32{-100, 0, -100, -100})  // top: bin 1 -> 8 px
	copy(dist[8:12], []float32{-100, -100, -100, 0}) // right: bin 3 -> 24 px
	copy(dist[12:16], []float32{0, -100, -100, -100})
	// Stride 16, anchor 0: truck at 0.4 < 0.5 dropped; anchor 3: person at 0.31.
	outs[1][0*nc+2] = 0.4
	outs[1][3*nc+0] = 0.31
	got := dec.decode(outs, 0, newKeepSet(m), nil)
	want := []Detection{
		{Box: Box{0, 3.5, 32, 11.5}, Score: 0.7, Class: 1, Label: "car"}, // x clipped to the input
		// Centre (23.5, 23.5), uniform bins: 1.5*16 = 24 px each side, clipped.
		{Box: Box{0, 0, 32, 32}, Score: 0.31, Class: 0, Label: "person"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if !boxNear(got[i].Box, want[i].Box, 1e-3) || got[i].Label != want[i].Label || got[i].Score != want[i].Score {
			t.Errorf("detection %d = %+v, want %+v", i, got[i].Detection, want[i])
		}
	}
}

func TestDFLExpectation(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		want   float32
	}{
		{"uniform", []float32{1, 1, 1, 1, 1, 1, 1, 1}, 3.5},
		{"one-hot", []float32{0, 0, 50, 0}, 2},
		{"two equal", []float32{-50, 3, 3, -50}, 1.5},
		{"large logits stay finite", []float32{1000, 1000}, 0.5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dflExpectation(tc.logits); math.Abs(float64(got-tc.want)) > 1e-4 {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzDecode feeds arbitrary bytes as model outputs (a corrupt or hostile
// model file) through decoding, mapping and merging: no panic, and every
// returned box must be finite and inside the region of interest.
func FuzzDecode(f *testing.F) {
	f.Add(false, []byte{0, 0, 128, 63, 0, 0, 128, 63})
	f.Add(true, []byte{0, 0, 192, 127, 0, 0, 128, 255, 0, 0, 128, 127})
	f.Fuzz(func(t *testing.T, nanodet bool, data []byte) {
		m := testManifest(64, 64, "BGR", nil, resizeTL())
		if nanodet {
			m = nanoDetTestManifest()
		}
		dec, err := newDecoder(m)
		if err != nil {
			t.Fatal(err)
		}
		eng := &engine{batch: 3, input: make([]float32, 3*3*64*64)}
		for _, s := range dec.outputShapes(3) {
			o := make([]float32, s[0]*s[1]*s[2])
			for i := range o {
				if len(data) >= 4 {
					j := (4 * i) % (len(data) - len(data)%4)
					o[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[j:]))
				}
			}
			eng.outputs = append(eng.outputs, o)
		}
		eng.run = func() error { return nil }
		roi := image.Rect(3, 2, 90, 70)
		d := newDetector(Config{ROI: roi, Tiling: Tiling{Cols: 2, Rows: 1, Overlap: 0.2, Whole: true}}, m, dec, eng, nil)
		fr := &frame.Frame{Width: 100, Height: 80, Stride: 300, BGR: make([]byte, 300*80)}
		dets, err := d.Detect(fr)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range dets {
			b := x.Box
			for _, v := range []float32{b.X1, b.Y1, b.X2, b.Y2, x.Score} {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("non-finite detection %+v", x)
				}
			}
			if !b.in(roi) || b.W() <= 0 || b.H() <= 0 {
				t.Fatalf("box %v empty or outside the ROI %v", b, roi)
			}
		}
	})
}
