package scenegen

import (
	"math"
	"strings"
	"testing"
)

func TestRoadLayout(t *testing.T) {
	r := DefaultRoad()
	cases := []struct {
		lane int
		x    float64
		dir  Direction
	}{
		{0, -5.25, Toward}, {1, -1.75, Toward}, {2, 1.75, Away}, {3, 5.25, Away},
	}
	for _, tc := range cases {
		if x := r.LaneCentreX(tc.lane); x != tc.x {
			t.Errorf("lane %d centre %v, want %v", tc.lane, x, tc.x)
		}
		if d := r.LaneDirection(tc.lane); d != tc.dir {
			t.Errorf("lane %d direction %v, want %v", tc.lane, d, tc.dir)
		}
	}
	if l, rr := r.LeftEdgeX(), r.RightEdgeX(); l != -7 || rr != 7 {
		t.Errorf("edges %v..%v, want -7..7", l, rr)
	}
	if l, rr := r.FacadeX(); math.Abs(l+11.35) > 1e-12 || math.Abs(rr-11.35) > 1e-12 {
		t.Errorf("facades at %v, %v, want ±11.35", l, rr)
	}
}

func TestMarkerPoints(t *testing.T) {
	r := DefaultRoad()
	r.Markers = MarkerGrid{FromY: 10, ToY: 25, StepM: 5, SizeM: 1}
	pts := r.MarkerPoints()
	if len(pts) != 8 {
		t.Fatalf("%d markers, want 4 rows of 2", len(pts))
	}
	for i, p := range pts {
		wantX := -7.6
		if i%2 == 1 {
			wantX = 7.6
		}
		if p[0] != wantX || p[1] != 10+5*float64(i/2) {
			t.Errorf("marker %d at %v, want (%v, %v)", i, p, wantX, 10+5*float64(i/2))
		}
	}
	r.Markers = MarkerGrid{}
	if pts := r.MarkerPoints(); pts != nil {
		t.Errorf("no grid gave %v", pts)
	}
}

func TestRoadValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Road)
		want string
	}{
		{"default", func(*Road) {}, ""},
		{"one way", func(r *Road) { r.LanesToward = 0 }, ""},
		{"no lanes", func(r *Road) { r.LanesToward, r.LanesAway = 0, 0 }, "lanes"},
		{"narrow lanes", func(r *Road) { r.LaneWidthM = 1 }, "lane width"},
		{"fat lines", func(r *Road) { r.LineWidthM = 1 }, "line width"},
		{"marker too big", func(r *Road) { r.Markers.SizeM = 2 }, "marker size"},
		{"markers backwards", func(r *Road) { r.Markers.FromY, r.Markers.ToY = 40, 10 }, "markers"},
		{"no dashes", func(r *Road) { r.DashM = 0 }, "dash"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := DefaultRoad()
			tc.edit(&r)
			err := r.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
