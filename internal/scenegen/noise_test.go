package scenegen

import (
	"math"
	"testing"
)

func TestCoverage(t *testing.T) {
	cases := []struct {
		name       string
		a, b, x, h float64
		want       float64
	}{
		{"inside", 0, 1, 0.5, 0.1, 1},
		{"outside", 0, 1, 2, 0.1, 0},
		{"half over the edge", 0, 1, 1, 0.1, 0.5},
		{"footprint wider than the band", 0, 1, 0.5, 1, 0.5},
		{"point sample in", 0, 1, 0.5, 0, 1},
		{"point sample at the end", 0, 1, 1, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := cov(tc.a, tc.b, tc.x, tc.h); math.Abs(got-tc.want) > 1e-12 {
				t.Errorf("cov(%v,%v,%v,%v) = %v, want %v", tc.a, tc.b, tc.x, tc.h, got, tc.want)
			}
		})
	}
}

func TestPeriodicCoverage(t *testing.T) {
	cases := []struct {
		name          string
		x, h, p, duty float64
		want          float64
	}{
		{"in a dash", 1, 0.5, 8, 3, 1},
		{"in a gap", 5, 0.5, 8, 3, 0},
		{"across a dash end", 3, 0.5, 8, 3, 0.5},
		{"many periods", 100, 40, 8, 3, 3.0 / 8},
		{"negative x", -7, 0.5, 8, 3, 1},
		{"point in a gap", -1, 0, 8, 3, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := periodicCov(tc.x, tc.h, tc.p, tc.duty); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("periodicCov(%v,%v,%v,%v) = %v, want %v", tc.x, tc.h, tc.p, tc.duty, got, tc.want)
			}
		})
	}
}

func TestValueNoise(t *testing.T) {
	var lo, hi, sum float64
	n := 0
	for y := -5.0; y < 5; y += 0.137 {
		for x := -5.0; x < 5; x += 0.113 {
			v := valueNoise(x, y, 7)
			if v != valueNoise(x, y, 7) {
				t.Fatal("not deterministic")
			}
			lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
			n++
		}
	}
	if lo < -1 || hi > 1 || hi-lo < 1 || math.Abs(sum/float64(n)) > 0.2 {
		t.Errorf("noise range [%v, %v], mean %v: want within [-1,1], spread > 1, mean near 0", lo, hi, sum/float64(n))
	}
	if valueNoise(0.5, 0.5, 7) == valueNoise(0.5, 0.5, 8) {
		t.Error("the seed does not change the noise")
	}
	// Fractal octaves fade out when the footprint reaches the wavelength.
	oct := []octave{{1, 10, 1}}
	if f := fractal(oct, 0.3, 0.7, 0.6); f != 0 {
		t.Errorf("octave not faded at a large footprint: %v", f)
	}
}

func TestGrain(t *testing.T) {
	g := newGrainTable(3, 1)
	buf := make([]byte, 200000)
	for i := range buf {
		buf[i] = 128
	}
	g.apply(buf, 0, 9)
	var s, s2 float64
	for _, b := range buf {
		d := float64(b) - 128
		s, s2 = s+d, s2+d*d
	}
	mean := s / float64(len(buf))
	sd := math.Sqrt(s2/float64(len(buf)) - mean*mean)
	if math.Abs(mean) > 0.1 || math.Abs(sd-3) > 0.3 {
		t.Errorf("grain mean %.3f sd %.3f, want 0 and 3", mean, sd)
	}
	other := make([]byte, 1000)
	for i := range other {
		other[i] = 128
	}
	g.apply(other, 1, 9)
	if string(other) == string(buf[:1000]) {
		t.Error("two frames got the same noise")
	}
}
