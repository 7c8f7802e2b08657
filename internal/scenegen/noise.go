package scenegen

import "math"

// splitmix64 is a strong 64-bit mixing function (Steele et al., "Fast
// splittable pseudorandom number generators", 2014); every procedural
// texture here is a pure function of coordinates and the seed through it.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// hash2 returns a uniform value in [0, 1) for lattice point (i, j).
func hash2(i, j int64, seed uint64) float64 {
	h := splitmix64(seed ^ splitmix64(uint64(i)*0x632be59bd9b4e019^uint64(j)))
	return float64(h>>11) / (1 << 53)
}

// valueNoise is smooth lattice noise in [−1, 1] with unit wavelength.
func valueNoise(x, y float64, seed uint64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	i, j := int64(fx), int64(fy)
	tx, ty := x-fx, y-fy
	tx, ty = tx*tx*(3-2*tx), ty*ty*(3-2*ty)
	a := hash2(i, j, seed)
	b := hash2(i+1, j, seed)
	c := hash2(i, j+1, seed)
	d := hash2(i+1, j+1, seed)
	return 2*((a*(1-tx)+b*tx)*(1-ty)+(c*(1-tx)+d*tx)*ty) - 1
}

// octave is one band of fractal noise: wavelength in metres and amplitude
// in 8-bit grey levels.
type octave struct {
	wavelength, amplitude float64
	seed                  uint64
}

// fractal sums the octaves at (x, y), fading each one out as the pixel's
// footprint (metres) approaches its wavelength, so distant road does not
// shimmer (a cheap stand-in for mip-mapping a texture).
func fractal(oct []octave, x, y, footprint float64) float64 {
	var s float64
	for _, o := range oct {
		k := 1 - 2*footprint/o.wavelength
		if k <= 0 {
			continue
		}
		s += k * o.amplitude * valueNoise(x/o.wavelength, y/o.wavelength, o.seed)
	}
	return s
}

// grainTable is a table of triangular-distributed noise values (standard
// deviation sigma grey levels) indexed cyclically to add sensor noise to a
// frame quickly and reproducibly.
type grainTable struct {
	v []int8
}

const grainSize = 1 << 20

func newGrainTable(sigma float64, seed uint64) *grainTable {
	g := &grainTable{v: make([]int8, grainSize)}
	// The sum of two uniform bytes minus 255 has standard deviation
	// sqrt(2·(256²−1)/12) ≈ 104.5.
	k := sigma / 104.5
	s := seed
	for i := range g.v {
		s = splitmix64(s)
		n := float64(int(s&0xff)+int((s>>8)&0xff)-255) * k
		g.v[i] = int8(max(-127, min(127, math.Round(n))))
	}
	return g
}

// apply adds noise to buf starting at a frame-dependent offset.
func (g *grainTable) apply(buf []byte, frame int, seed uint64) {
	off := int(splitmix64(seed^uint64(frame)*0x9e3779b97f4a7c15) & (grainSize - 1))
	// A large odd step decorrelates neighbouring bytes from the table order.
	for i, b := range buf {
		v := int(b) + int(g.v[(off+i*7919)&(grainSize-1)])
		buf[i] = uint8(max(0, min(255, v)))
	}
}
