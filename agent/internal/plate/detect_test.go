package plate

import (
	"image"
	"math"
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

func near(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }

func TestLPDPriors(t *testing.T) {
	p := lpdPriors(lpdW, lpdH)
	// 30x40 cells x3 sizes + 15x20 x2 + 7x10 x2 + 3x5 x3, the model's 4385 rows.
	if len(p) != 4385 {
		t.Fatalf("%d priors, want 4385", len(p))
	}
	tests := []struct {
		name string
		i    int
		want prior
	}{
		{"first cell, size 10", 0, prior{0.5 * 8 / 320., 0.5 * 8 / 240., 10 / 320., 10 / 240.}},
		{"first cell, size 24", 2, prior{0.5 * 8 / 320., 0.5 * 8 / 240., 24 / 320., 24 / 240.}},
		{"second column", 3, prior{1.5 * 8 / 320., 0.5 * 8 / 240., 10 / 320., 10 / 240.}},
		{"second row", 3 * 40, prior{0.5 * 8 / 320., 1.5 * 8 / 240., 10 / 320., 10 / 240.}},
		{"stride 16 starts", 3600, prior{0.5 * 16 / 320., 0.5 * 16 / 240., 32 / 320., 32 / 240.}},
		{"stride 64 last", 4384, prior{4.5 * 64 / 320., 2.5 * 64 / 240., 256 / 320., 256 / 240.}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := p[tc.i]
			if !near(g.cx, tc.want.cx) || !near(g.cy, tc.want.cy) || !near(g.w, tc.want.w) || !near(g.h, tc.want.h) {
				t.Errorf("prior %d = %+v, want %+v", tc.i, g, tc.want)
			}
		})
	}
}

// TestDecodeLPD checks the decode on a hand-computed case: prior centred at
// (0.5, 0.5) of size (0.1, 0.2) in a 320x240 input.
func TestDecodeLPD(t *testing.T) {
	priors := []prior{{0.5, 0.5, 0.1, 0.2}, {0.2, 0.2, 0.1, 0.1}, {0.3, 0.3, 0.1, 0.1}}
	loc := make([]float32, 14*len(priors))
	// Corner k of prior 0 at offsets 4, 6, 10, 12.
	copy(loc[4:], []float32{-1, -0.5, 1, -0.5})
	copy(loc[10:], []float32{1, 0.5, -1, 0.5})
	conf := []float32{0.19, 0.81, 0.5, 0.5, 0.1, 0.9}
	iou := []float32{1.5, -0.2, 0.64}
	got := decodeLPD(priors, loc, conf, iou, 320, 240, 0.5, nil)
	// Prior 0: score sqrt(0.81*1) = 0.9 (iou clamped to 1); x = (0.5 - 1*0.1*0.1)*320 = 156.8,
	// y = (0.5 - 0.5*0.1*0.2)*240 = 117.6. Prior 1: iou clamped to 0, score 0. Prior 2:
	// sqrt(0.9*0.64) = 0.759, all offsets 0, so every corner at the prior centre (96, 72).
	if len(got) != 2 {
		t.Fatalf("%d candidates, want 2: %+v", len(got), got)
	}
	want := Quad{{156.8, 117.6}, {163.2, 117.6}, {163.2, 122.4}, {156.8, 122.4}}
	if !near(got[0].Score, 0.9) {
		t.Errorf("score %v, want 0.9", got[0].Score)
	}
	for k := range want {
		if !near(got[0].Corners[k].X, want[k].X) || !near(got[0].Corners[k].Y, want[k].Y) {
			t.Errorf("corner %d = %v, want %v", k, got[0].Corners[k], want[k])
		}
	}
	if !near(got[1].Score, float32(math.Sqrt(0.9*0.64))) || !near(got[1].Corners[2].X, 96) || !near(got[1].Corners[2].Y, 72) {
		t.Errorf("second candidate %+v, want score %.3f at (96,72)", got[1], math.Sqrt(0.9*0.64))
	}
}

func TestOrderCorners(t *testing.T) {
	want := Quad{{10, 10}, {50, 12}, {52, 30}, {8, 28}}
	tests := []struct {
		name string
		in   Quad
	}{
		{"already ordered", want},
		{"clockwise from top-right", Quad{want[1], want[2], want[3], want[0]}},
		{"reversed", Quad{want[3], want[2], want[1], want[0]}},
		{"shuffled", Quad{want[2], want[0], want[3], want[1]}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := orderCorners(tc.in); got != want {
				t.Errorf("orderCorners = %v, want %v", got, want)
			}
		})
	}
}

func TestNMSPlates(t *testing.T) {
	c := []Plate{
		{Box: infer.Box{X1: 0, Y1: 0, X2: 10, Y2: 4}, Score: 0.6},
		{Box: infer.Box{X1: 1, Y1: 0, X2: 11, Y2: 4}, Score: 0.9},
		{Box: infer.Box{X1: 50, Y1: 50, X2: 60, Y2: 54}, Score: 0.7},
	}
	got := nmsPlates(c, 0.3, 5)
	if len(got) != 2 || got[0].Score != 0.9 || got[1].Score != 0.7 {
		t.Errorf("nmsPlates = %+v, want the 0.9 and 0.7 plates", got)
	}
	if got := nmsPlates(c, 0.3, 1); len(got) != 1 {
		t.Errorf("maxDet 1: %d plates", len(got))
	}
}

func TestVehicleRegion(t *testing.T) {
	tests := []struct {
		name string
		box  infer.Box
		pad  float32
		want image.Rectangle
	}{
		{"4:3 box is only padded", infer.Box{X1: 100, Y1: 100, X2: 500, Y2: 400}, 0.1, image.Rect(60, 70, 540, 430)},
		{"wide box grows around its centre", infer.Box{X1: 100, Y1: 100, X2: 500, Y2: 200}, 0, image.Rect(100, 0, 500, 300)},
		{"tall box keeps its lower part", infer.Box{X1: 100, Y1: 100, X2: 400, Y2: 400}, 0, image.Rect(100, 175, 400, 400)},
		{"very tall box keeps its lower half", infer.Box{X1: 100, Y1: 0, X2: 200, Y2: 600}, 0, image.Rect(100, 300, 200, 600)},
		{"clipped to the frame", infer.Box{X1: -50, Y1: 500, X2: 300, Y2: 700}, 0.1, image.Rect(0, 442, 335, 720)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VehicleRegion(tc.box, tc.pad, 1280, 720); got != tc.want {
				t.Errorf("VehicleRegion = %v, want %v", got, tc.want)
			}
		})
	}
}
