package infer

import (
	"testing"
)

func det(label string, class int, score float32, x1, y1, x2, y2 float32) Detection {
	return Detection{Box: Box{x1, y1, x2, y2}, Score: score, Class: class, Label: label}
}

func TestNMS(t *testing.T) {
	tests := []struct {
		name     string
		in       []Detection
		iou      float32
		agnostic bool
		maxDet   int
		want     []Detection
	}{
		{"empty", nil, 0.5, false, 0, nil},
		{"overlapping same class keeps best",
			[]Detection{det("car", 2, 0.6, 0, 0, 100, 100), det("car", 2, 0.9, 5, 5, 105, 105)}, 0.5, false, 0,
			[]Detection{det("car", 2, 0.9, 5, 5, 105, 105)}},
		{"overlapping other class kept",
			[]Detection{det("car", 2, 0.6, 0, 0, 100, 100), det("person", 0, 0.9, 5, 5, 105, 105)}, 0.5, false, 0,
			[]Detection{det("person", 0, 0.9, 5, 5, 105, 105), det("car", 2, 0.6, 0, 0, 100, 100)}},
		{"agnostic suppresses other class",
			[]Detection{det("car", 2, 0.6, 0, 0, 100, 100), det("person", 0, 0.9, 5, 5, 105, 105)}, 0.5, true, 0,
			[]Detection{det("person", 0, 0.9, 5, 5, 105, 105)}},
		{"below threshold kept",
			[]Detection{det("car", 2, 0.6, 0, 0, 100, 100), det("car", 2, 0.9, 60, 0, 160, 100)}, 0.5, false, 0,
			[]Detection{det("car", 2, 0.9, 60, 0, 160, 100), det("car", 2, 0.6, 0, 0, 100, 100)}},
		{"suppressed box does not suppress",
			// b is suppressed by a; c overlaps b but not a, so c survives.
			[]Detection{det("car", 2, 0.9, 0, 0, 100, 100), det("car", 2, 0.8, 20, 0, 120, 100), det("car", 2, 0.7, 70, 0, 170, 100)}, 0.5, false, 0,
			[]Detection{det("car", 2, 0.9, 0, 0, 100, 100), det("car", 2, 0.7, 70, 0, 170, 100)}},
		{"max detections",
			[]Detection{det("car", 2, 0.5, 0, 0, 10, 10), det("car", 2, 0.7, 20, 0, 30, 10), det("car", 2, 0.6, 40, 0, 50, 10)}, 0.5, false, 2,
			[]Detection{det("car", 2, 0.7, 20, 0, 30, 10), det("car", 2, 0.6, 40, 0, 50, 10)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := NMS(append([]Detection(nil), tc.in...), tc.iou, tc.agnostic, tc.maxDet)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d detections %v, want %d %v", len(got), got, len(tc.want), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("detection %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestNMSGroups(t *testing.T) {
	m := testManifest(64, 64, "BGR", nil, resizeTL())
	m.NMS.Groups = [][]string{{"car", "truck"}}
	g := newNMSGroups(m)
	// classes: person 0, car 1, truck 2, dog 3
	c := []candidate{
		{Detection: det("truck", 2, 0.8, 0, 0, 100, 100)},
		{Detection: det("car", 1, 0.7, 2, 2, 100, 100)},
		{Detection: det("person", 0, 0.6, 2, 2, 100, 100)},
	}
	got := nmsCandidates(c, 0.5, g, 0)
	if len(got) != 2 || got[0].Label != "truck" || got[1].Label != "person" {
		t.Fatalf("got %+v, want the truck (suppressing the grouped car) and the person", got)
	}
}

func TestMergeViews(t *testing.T) {
	groups := nmsGroups{}
	tests := []struct {
		name string
		in   []candidate
		want []Box
	}{
		{"cut fragment dropped for whole box of another view",
			[]candidate{
				{Detection: det("car", 2, 0.9, 480, 100, 500, 140), view: 0, cut: true},
				{Detection: det("car", 2, 0.7, 470, 100, 540, 140), view: 1},
			},
			[]Box{{470, 100, 540, 140}}},
		{"cut fragment kept without counterpart",
			[]candidate{
				{Detection: det("car", 2, 0.9, 480, 100, 500, 140), view: 0, cut: true},
				{Detection: det("car", 2, 0.7, 100, 100, 140, 140), view: 1},
			},
			[]Box{{480, 100, 500, 140}, {100, 100, 140, 140}}},
		{"counterpart from the same view does not count",
			[]candidate{
				{Detection: det("car", 2, 0.9, 480, 100, 500, 140), view: 0, cut: true},
				{Detection: det("car", 2, 0.7, 470, 100, 540, 140), view: 0},
			},
			[]Box{{480, 100, 500, 140}, {470, 100, 540, 140}}},
		{"two cut halves with a whole view",
			[]candidate{
				{Detection: det("truck", 7, 0.6, 400, 100, 500, 200), view: 0, cut: true},
				{Detection: det("truck", 7, 0.6, 500, 100, 620, 200), view: 1, cut: true},
				{Detection: det("truck", 7, 0.5, 398, 98, 622, 203), view: 2},
			},
			[]Box{{398, 98, 622, 203}}},
		{"duplicates across overlapping tiles",
			[]candidate{
				{Detection: det("car", 2, 0.8, 100, 100, 150, 130), view: 0},
				{Detection: det("car", 2, 0.85, 101, 100, 151, 131), view: 1},
			},
			[]Box{{101, 100, 151, 131}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeViews(tc.in, 0.5, groups, 0)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d boxes %+v, want %v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].Box != w {
					t.Errorf("box %d = %v, want %v", i, got[i].Box, w)
				}
			}
		})
	}
}
