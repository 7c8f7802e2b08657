package infer

import (
	"image"
	"strings"
	"testing"
)

func TestPlanViews(t *testing.T) {
	tests := []struct {
		name    string
		w, h    int
		roi     image.Rectangle
		tiling  Tiling
		want    []image.Rectangle // nil: only check invariants
		views   int
		wantErr string
	}{
		{"whole frame", 2560, 1440, image.Rectangle{}, Tiling{}, []image.Rectangle{image.Rect(0, 0, 2560, 1440)}, 1, ""},
		{"roi", 2560, 1440, image.Rect(100, 600, 2400, 1400), Tiling{}, []image.Rectangle{image.Rect(100, 600, 2400, 1400)}, 1, ""},
		{"roi clipped", 1920, 1080, image.Rect(1000, 500, 3000, 2000), Tiling{}, []image.Rectangle{image.Rect(1000, 500, 1920, 1080)}, 1, ""},
		{"1x1 is no tiling", 640, 480, image.Rectangle{}, Tiling{Cols: 1, Rows: 1, Whole: true}, []image.Rectangle{image.Rect(0, 0, 640, 480)}, 1, ""},
		{"2x1 no overlap", 1000, 500, image.Rectangle{}, Tiling{Cols: 2, Rows: 1}, []image.Rectangle{image.Rect(0, 0, 500, 500), image.Rect(500, 0, 1000, 500)}, 2, ""},
		{"2x1 overlap", 1000, 500, image.Rectangle{}, Tiling{Cols: 2, Rows: 1, Overlap: 0.25},
			[]image.Rectangle{image.Rect(0, 0, 572, 500), image.Rect(428, 0, 1000, 500)}, 2, ""},
		{"4x2 overlap whole", 2560, 1440, image.Rect(0, 400, 2560, 1440), Tiling{Cols: 4, Rows: 2, Overlap: 0.2, Whole: true}, nil, 9, ""},
		{"3x3 odd sizes", 1001, 777, image.Rect(3, 5, 1001, 777), Tiling{Cols: 3, Rows: 3, Overlap: 0.1}, nil, 9, ""},
		{"roi outside", 640, 480, image.Rect(700, 0, 800, 100), Tiling{}, nil, 0, "outside"},
		{"empty frame", 0, 480, image.Rectangle{}, Tiling{}, nil, 0, "empty frame"},
		{"bad overlap", 640, 480, image.Rectangle{}, Tiling{Cols: 2, Rows: 2, Overlap: 0.7}, nil, 0, "overlap"},
		{"half grid", 640, 480, image.Rectangle{}, Tiling{Cols: 2}, nil, 0, "both"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			views, err := PlanViews(tc.w, tc.h, tc.roi, tc.tiling)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(views) != tc.views || len(views) != tc.tiling.NumViews() {
				t.Fatalf("%d views, want %d (NumViews %d)", len(views), tc.views, tc.tiling.NumViews())
			}
			for i, w := range tc.want {
				if views[i].Rect != w {
					t.Errorf("view %d = %v, want %v", i, views[i].Rect, w)
				}
			}
			roi := tc.roi
			if roi.Empty() {
				roi = image.Rect(0, 0, tc.w, tc.h)
			}
			roi = roi.Intersect(image.Rect(0, 0, tc.w, tc.h))
			checkTiles(t, views, roi, tc.tiling)
		})
	}
}

// checkTiles verifies the tiling invariants: tiles lie in the ROI, cover it,
// have equal sizes, overlap their neighbours by at least the configured
// fraction, and flag exactly the edges that are not on the ROI border.
func checkTiles(t *testing.T, views []View, roi image.Rectangle, tl Tiling) {
	t.Helper()
	tiles := views
	if tl.Enabled() && tl.Whole {
		last := views[len(views)-1]
		if last.Rect != roi || last.Interior != [4]bool{} {
			t.Errorf("whole view = %+v, want the ROI %v without interior edges", last, roi)
		}
		tiles = views[:len(views)-1]
	}
	covered := image.Rectangle{}
	for i, v := range tiles {
		if !v.Rect.In(roi) {
			t.Errorf("tile %d %v leaves the ROI %v", i, v.Rect, roi)
		}
		if v.Rect.Size() != tiles[0].Rect.Size() {
			t.Errorf("tile %d size %v differs from %v", i, v.Rect.Size(), tiles[0].Rect.Size())
		}
		covered = covered.Union(v.Rect)
		want := [4]bool{v.Rect.Min.X > roi.Min.X, v.Rect.Min.Y > roi.Min.Y, v.Rect.Max.X < roi.Max.X, v.Rect.Max.Y < roi.Max.Y}
		if v.Interior != want {
			t.Errorf("tile %d %v interior %v, want %v", i, v.Rect, v.Interior, want)
		}
	}
	if covered != roi {
		t.Errorf("tiles cover %v, want %v", covered, roi)
	}
	if !tl.Enabled() {
		return
	}
	// Horizontal neighbours in the first row, vertical in the first column.
	tw, th := tiles[0].Rect.Dx(), tiles[0].Rect.Dy()
	for i := 1; i < tl.Cols; i++ {
		ov := tiles[i-1].Rect.Max.X - tiles[i].Rect.Min.X
		if float64(ov) < tl.Overlap*float64(tw)-1 {
			t.Errorf("columns %d/%d overlap %d px < %.2f of %d", i-1, i, ov, tl.Overlap, tw)
		}
	}
	for j := 1; j < tl.Rows; j++ {
		ov := tiles[(j-1)*tl.Cols].Rect.Max.Y - tiles[j*tl.Cols].Rect.Min.Y
		if float64(ov) < tl.Overlap*float64(th)-1 {
			t.Errorf("rows %d/%d overlap %d px < %.2f of %d", j-1, j, ov, tl.Overlap, th)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"zero is valid", Config{}, nil},
		{"full", Config{Provider: ProviderTensorRT, IntraOpThreads: 4, ROI: image.Rect(0, 0, 10, 10),
			Tiling: Tiling{Cols: 3, Rows: 2, Overlap: 0.2, Whole: true}}, nil},
		{"provider", Config{Provider: "gpu"}, []string{`provider "gpu"`}},
		{"threads", Config{IntraOpThreads: -1}, []string{"intra-op threads -1"}},
		{"empty roi", Config{ROI: image.Rect(10, 10, 10, 50)}, []string{"is empty"}},
		{"negative roi", Config{ROI: image.Rect(-5, 0, 10, 10)}, []string{"negative"}},
		{"all at once", Config{Provider: "x", DeviceID: -1, Tiling: Tiling{Cols: 20, Rows: 1}},
			[]string{"provider", "device id", "tiling 20x1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.cfg)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
