package rules

import (
	"math"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
)

func TestCrossing(t *testing.T) {
	bent := []calibration.Point{pt(0, 0), pt(10, 0), pt(10, 10)}
	cases := []struct {
		name string
		a, b calibration.Point
		ok   bool
		s    float64
		side int
	}{
		{"left to right", pt(5, 2), pt(5, -2), true, 0.5, 1},
		{"right to left", pt(5, -1), pt(5, 3), true, 0.25, -1},
		{"ends on the line", pt(5, 2), pt(5, 0), true, 1, 1},
		{"starts on the line", pt(5, 0), pt(5, -2), false, 0, 0},
		{"parallel along it", pt(1, 0), pt(6, 0), false, 0, 0},
		{"misses past the end", pt(12, 12), pt(12, 14), false, 0, 0},
		{"second segment", pt(8, 5), pt(12, 5), true, 0.5, 1},
		{"first of two crossings", pt(5, -1), pt(12, 6), true, 1.0 / 7, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, side, ok := crossing(tc.a, tc.b, bent)
			if ok != tc.ok || (ok && (math.Abs(s-tc.s) > 1e-12 || side != tc.side)) {
				t.Fatalf("crossing = %g, %d, %v; want %g, %d, %v", s, side, ok, tc.s, tc.side, tc.ok)
			}
		})
	}
}

func TestSideDist(t *testing.T) {
	line := []calibration.Point{pt(0, 0), pt(10, 0)}
	cases := []struct {
		name   string
		p      calibration.Point
		d      float64
		within bool
	}{
		{"left", pt(3, 2), 2, true},
		{"right", pt(3, -1.5), -1.5, true},
		{"before the start", pt(-1, 1), math.Sqrt2, false},
		{"past the end", pt(13, -4), -5, false},
		{"on the line", pt(4, 0), 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, within := sideDist(tc.p, line)
			if math.Abs(d-tc.d) > 1e-12 || within != tc.within {
				t.Fatalf("sideDist = %g, %v; want %g, %v", d, within, tc.d, tc.within)
			}
		})
	}
}
