package scenegen

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
)

// bgr is a colour in 8-bit BGR units, kept in floating point while shading.
type bgr struct{ B, G, R float64 }

func (c bgr) mix(o bgr, a float64) bgr {
	return bgr{c.B + (o.B-c.B)*a, c.G + (o.G-c.G)*a, c.R + (o.R-c.R)*a}
}
func (c bgr) add(k float64) bgr { return bgr{c.B + k, c.G + k, c.R + k} }
func (c bgr) mul(k float64) bgr { return bgr{c.B * k, c.G * k, c.R * k} }
func (c bgr) plus(o bgr) bgr    { return bgr{c.B + o.B, c.G + o.G, c.R + o.R} }
func clamp8(v float64) uint8    { return uint8(max(0, min(255, math.Round(v)))) }
func (c bgr) bytes() [3]uint8   { return [3]uint8{clamp8(c.B), clamp8(c.G), clamp8(c.R)} }
func rgb(r, g, b float64) bgr   { return bgr{b, g, r} }

// palette holds the scene's colours (overcast daylight, as in Lima most of
// the year).
type palette struct {
	asphalt, paint, yellow, kerb, sidewalk, verge bgr
	skyLow, skyHigh, window, shutter              bgr
	markWhite, markBlack                          bgr
	facades                                       []bgr
}

func defaultPalette() palette {
	return palette{
		asphalt: rgb(92, 92, 90), paint: rgb(222, 222, 216), yellow: rgb(222, 180, 40),
		kerb: rgb(190, 188, 182), sidewalk: rgb(165, 162, 155), verge: rgb(150, 135, 112),
		skyLow: rgb(206, 208, 210), skyHigh: rgb(178, 192, 212), window: rgb(58, 64, 70), shutter: rgb(120, 118, 112),
		markWhite: rgb(238, 238, 234), markBlack: rgb(24, 24, 24),
		facades: []bgr{rgb(214, 196, 160), rgb(190, 160, 130), rgb(200, 200, 190), rgb(170, 185, 200),
			rgb(215, 180, 150), rgb(160, 150, 140), rgb(225, 215, 190), rgb(180, 120, 100)},
	}
}

// hitKind is what a camera ray meets first.
type hitKind uint8

const (
	hitSky hitKind = iota
	hitGround
	hitFacadeLeft
	hitFacadeRight
)

// building is one facade segment along y.
type building struct {
	y0, y1, height float64
	colour         bgr
	windowP        float64 // window pitch along y
}

// scenery shades the static part of a scene: road, markings, markers,
// sidewalks, facades and sky.
type scenery struct {
	cam         Camera
	road        Road
	seed        uint64
	F           float64
	c           Vec3
	r, d, f     Vec3
	facL, facR  float64
	left, right []building
	markers     [][2]float64
	asphalt     []octave
	concrete    []octave
	pal         palette
}

const (
	buildingFromY = -60
	buildingToY   = 1500
)

func newScenery(cam Camera, road Road, seed uint64) *scenery {
	s := &scenery{cam: cam, road: road, seed: seed, F: cam.FocalPx(), c: cam.Centre(), markers: road.MarkerPoints(), pal: defaultPalette()}
	s.r, s.d, s.f = cam.axes()
	s.facL, s.facR = road.FacadeX()
	s.asphalt = []octave{{0.07, 6, seed ^ 1}, {0.35, 4, seed ^ 2}, {1.8, 5, seed ^ 3}, {9, 6, seed ^ 4}}
	s.concrete = []octave{{0.1, 4, seed ^ 5}, {1.5, 5, seed ^ 6}}
	rng := rand.New(rand.NewPCG(seed, 0xb11d))
	left, right := makeBuildings(rng, s.pal.facades), makeBuildings(rng, s.pal.facades)
	if road.BuildingsLeft {
		s.left = left
	}
	if road.BuildingsRight {
		s.right = right
	}
	return s
}

func makeBuildings(rng *rand.Rand, colours []bgr) []building {
	var out []building
	for y := float64(buildingFromY); y < buildingToY; {
		l := 6 + rng.Float64()*14
		floors := 2 + rng.IntN(4)
		out = append(out, building{
			y0: y, y1: y + l, height: float64(floors)*3 + 0.4 + rng.Float64()*0.8,
			colour:  colours[rng.IntN(len(colours))].add(rng.Float64()*16 - 8),
			windowP: 2.2 + rng.Float64()*1.2,
		})
		y += l
	}
	return out
}

func findBuilding(bs []building, y float64) *building {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].y1 > y })
	if i == len(bs) || bs[i].y0 > y {
		return nil
	}
	return &bs[i]
}

// ray returns the (unnormalised) world direction through image point (u, v).
func (s *scenery) ray(u, v float64) Vec3 {
	x, y := (u-float64(s.cam.Width)/2)/s.F, (v-float64(s.cam.Height)/2)/s.F
	return s.r.scale(x).add(s.d.scale(y)).add(s.f)
}

// trace finds what the ray D meets first and the ray parameter t.
func (s *scenery) trace(D Vec3) (hitKind, float64) {
	kind, best := hitSky, math.Inf(1)
	if D.Z < 0 {
		kind, best = hitGround, -s.c.Z/D.Z
	}
	if D.X != 0 {
		for _, side := range []struct {
			x    float64
			kind hitKind
			bs   []building
		}{{s.facL, hitFacadeLeft, s.left}, {s.facR, hitFacadeRight, s.right}} {
			t := (side.x - s.c.X) / D.X
			if t <= 0 || t >= best {
				continue
			}
			y, z := s.c.Y+t*D.Y, s.c.Z+t*D.Z
			if b := findBuilding(side.bs, y); b != nil && z >= 0 && z <= b.height {
				kind, best = side.kind, t
			}
		}
	}
	return kind, best
}

// shade returns the colour seen along D (one sample).
func (s *scenery) shade(D Vec3, kind hitKind, t float64, sub float64) bgr {
	dn := D.norm()
	switch kind {
	case hitGround:
		P := s.c.add(D.scale(t))
		// Footprint of the (sub)pixel on the ground: P(u) = C − H·D/D.z, so
		// dP/du = −H·(Du·D.z − D·Du.z)/D.z² with Du = r/F (Dv = d/F).
		ex, ey := groundFootprint(D, s.r, s.d, s.c.Z, s.F)
		ex, ey = ex/sub, ey/sub
		var col bgr
		if (s.left != nil && P.X < s.facL) || (s.right != nil && P.X > s.facR) {
			// Seen over a facade: the flat roofs of the blocks behind it.
			col = s.roof(P.X, P.Y, 2*max(ex, ey))
		} else {
			col = s.ground(P.X, P.Y, ex, ey)
		}
		return col.mix(s.pal.skyLow, 1-math.Exp(-t*dn/900))
	case hitFacadeLeft, hitFacadeRight:
		P := s.c.add(D.scale(t))
		cosi := math.Abs(D.X) / dn
		fp := min(t*dn/s.F/max(cosi, 0.15), 4) / sub
		bs, shadeK := s.left, 1.0
		if kind == hitFacadeRight {
			bs, shadeK = s.right, 0.88
		}
		b := findBuilding(bs, P.Y)
		col := s.facade(b, P.Y, P.Z, fp).mul(shadeK)
		return col.mix(s.pal.skyLow, 1-math.Exp(-t*dn/900))
	}
	e := max(0, D.Z/dn)
	return s.pal.skyLow.mix(s.pal.skyHigh, math.Min(1, e*2.5))
}

func groundFootprint(D, r, d Vec3, h, F float64) (ex, ey float64) {
	z2 := D.Z * D.Z
	du := r.scale(1 / F)
	dv := d.scale(1 / F)
	pu := du.scale(D.Z).sub(D.scale(du.Z)).scale(h / z2)
	pv := dv.scale(D.Z).sub(D.scale(dv.Z)).scale(h / z2)
	return 0.5 * (math.Abs(pu.X) + math.Abs(pv.X)), 0.5 * (math.Abs(pu.Y) + math.Abs(pv.Y))
}

// cov returns the fraction of [x−h, x+h] inside [a, b].
func cov(a, b, x, h float64) float64 {
	if h <= 1e-9 {
		if x >= a && x < b {
			return 1
		}
		return 0
	}
	lo, hi := max(a, x-h), min(b, x+h)
	if hi <= lo {
		return 0
	}
	return (hi - lo) / (2 * h)
}

// periodicCov returns the fraction of [x−h, x+h] covered by the pattern
// "on for duty, off for period−duty", starting on at x = 0.
func periodicCov(x, h, period, duty float64) float64 {
	F := func(x float64) float64 {
		k := math.Floor(x / period)
		return k*duty + min(x-k*period, duty)
	}
	if h <= 1e-9 {
		if x-math.Floor(x/period)*period < duty {
			return 1
		}
		return 0
	}
	return (F(x+h) - F(x-h)) / (2 * h)
}

// ground shades the road plane at (x, y), box-filtered over ±ex, ±ey.
func (s *scenery) ground(x, y, ex, ey float64) bgr {
	r := &s.road
	xl, xr := r.LeftEdgeX(), r.RightEdgeX()
	sh, kb, sw := r.ShoulderM, r.KerbM, r.SidewalkM
	fp := 2 * max(ex, ey)

	asphalt := s.pal.asphalt.add(fractal(s.asphalt, x, y, fp))
	// Darker wheel paths 0.85 m either side of each lane centre.
	for i := range r.Lanes() {
		c := r.LaneCentreX(i)
		for _, w := range [2]float64{c - 0.85, c + 0.85} {
			if d := (x - w) / 0.4; d > -3 && d < 3 {
				asphalt = asphalt.add(-7 * math.Exp(-d*d))
			}
		}
	}
	concrete := s.pal.sidewalk.add(fractal(s.concrete, x, y, fp) - 45*periodicCov(y+0.01, ey, 1.2, 0.03))
	kerb := s.pal.kerb.add(fractal(s.concrete[:1], x, y, fp))
	verge := s.pal.verge.add(1.5 * fractal(s.asphalt, x, y, fp))

	bands := [...]struct {
		a, b float64
		c    bgr
	}{
		{math.Inf(-1), xl - sh - kb - sw, verge},
		{xl - sh - kb - sw, xl - sh - kb, concrete},
		{xl - sh - kb, xl - sh, kerb},
		{xl - sh, xr + sh, asphalt},
		{xr + sh, xr + sh + kb, kerb},
		{xr + sh + kb, xr + sh + kb + sw, concrete},
		{xr + sh + kb + sw, math.Inf(1), verge},
	}
	var col bgr
	for _, b := range bands {
		if w := cov(b.a, b.b, x, ex); w > 0 {
			col = col.plus(b.c.mul(w))
		}
	}

	// Markings are drawn only on the carriageway and shoulders.
	if x < xl-sh-ex || x > xr+sh+ex {
		return col
	}
	lw := r.LineWidthM
	paint := s.pal.paint.add(0.4 * fractal(s.asphalt[:2], x, y, fp))
	yellow := s.pal.yellow.add(0.4 * fractal(s.asphalt[:2], x, y, fp))
	col = col.mix(paint, cov(xl, xl+lw, x, ex)+cov(xr-lw, xr, x, ex))
	if r.LanesToward > 0 && r.LanesAway > 0 {
		col = col.mix(yellow, cov(r.CentreX-0.06-lw, r.CentreX-0.06, x, ex)+cov(r.CentreX+0.06, r.CentreX+0.06+lw, x, ex))
	}
	for i := 1; i < r.Lanes(); i++ {
		if i == r.LanesToward {
			continue
		}
		lx := r.DividerX(i)
		if c := cov(lx-lw/2, lx+lw/2, x, ex); c > 0 {
			if r.solidDivider(i) {
				col = col.mix(paint, c)
			} else {
				col = col.mix(paint, c*periodicCov(y, ey, r.DashM+r.GapM, r.DashM))
			}
		}
	}
	if r.StopLine {
		a, b, _ := r.StopLineSpan()
		y0 := r.StopLineY
		if r.StopDirection() == Toward {
			y0 -= 0.5
		}
		col = col.mix(paint, cov(a, b, x, ex)*cov(y0, y0+0.5, y, ey))
	}
	if r.Crosswalk {
		y0 := r.StopLineY + 1.5
		if r.StopDirection() == Toward {
			y0 = r.StopLineY - 5.5
		}
		if c := cov(y0, y0+4, y, ey); c > 0 {
			col = col.mix(paint, c*cov(xl, xr, x, ex)*periodicCov(x-xl-0.25, ex, 1.0, 0.5))
		}
	}
	return s.paintMarkers(col, x, y, ex, ey)
}

// paintMarkers draws the X-corner targets: a square of side SizeM split in
// four, white where (x < mx) == (y < my), black elsewhere.
func (s *scenery) paintMarkers(col bgr, x, y, ex, ey float64) bgr {
	m := s.road.Markers
	if len(s.markers) == 0 {
		return col
	}
	row := int(math.Round((y - m.FromY) / m.StepM))
	if row < 0 || 2*row+1 >= len(s.markers) {
		return col
	}
	h := m.SizeM / 2
	for _, p := range s.markers[2*row : 2*row+2] {
		mx, my := p[0], p[1]
		if math.Abs(x-mx) > h+ex || math.Abs(y-my) > h+ey {
			continue
		}
		cxl, cxr := cov(mx-h, mx, x, ex), cov(mx, mx+h, x, ex)
		cyl, cyh := cov(my-h, my, y, ey), cov(my, my+h, y, ey)
		white := cxl*cyl + cxr*cyh
		black := cxl*cyh + cxr*cyl
		col = col.mul(1 - white - black).plus(s.pal.markWhite.mul(white)).plus(s.pal.markBlack.mul(black))
	}
	return col
}

// roof shades the roofscape behind a row of facades (rays that pass above a
// facade reach the ground plane beyond it; there they stand for the flat
// roofs of the blocks, a fair picture from a few metres up).
func (s *scenery) roof(x, y, fp float64) bgr {
	base := rgb(150, 140, 128)
	if b := findBuilding(s.right, y); b != nil && x > 0 {
		base = base.mix(b.colour, 0.3)
	} else if b := findBuilding(s.left, y); b != nil {
		base = base.mix(b.colour, 0.3)
	}
	return base.mul(0.8).add(1.5 * fractal(s.asphalt[1:], x, y, fp))
}

// facade shades a building front at along-road position y and height z.
func (s *scenery) facade(b *building, y, z, fp float64) bgr {
	if b == nil {
		return s.pal.skyLow
	}
	col := b.colour.add(fractal(s.concrete[:1], y, z, fp))
	ly := y - b.y0
	floors := math.Floor(b.height / 3)
	// Ground floor: a shop shutter across most of the front.
	shut := cov(0.6, b.y1-b.y0-0.6, ly, fp) * cov(0.15, 2.6, z, fp)
	col = col.mix(s.pal.shutter.add(-20*periodicCov(z, fp, 0.12, 0.02)), shut)
	// Upper floors: rows of windows.
	for k := 1.0; k < floors; k++ {
		if c := cov(3*k+0.9, 3*k+2.3, z, fp); c > 0 {
			col = col.mix(s.pal.window, c*cov(0.5, b.y1-b.y0-0.5, ly, fp)*periodicCov(ly-0.6, fp, b.windowP, 1.3))
		}
	}
	// A lighter parapet at the top.
	return col.mix(b.colour.add(25), cov(b.height-0.35, b.height, z, fp))
}

// renderBackground renders the static scene into a packed BGR buffer.
// Each pixel is shaded once at its centre with box-filtered textures; pixels
// where the surface changes (sky/facade/road edges) are supersampled 4×4.
func renderBackground(s *scenery) []byte {
	w, h := s.cam.Width, s.cam.Height
	out := make([]byte, 3*w*h)
	workers := max(1, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	rows := make(chan int, h)
	for y := range h {
		rows <- y
	}
	close(rows)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Kinds at the pixel corners of the current and next row.
			top := make([]hitKind, w+1)
			bot := make([]hitKind, w+1)
			for y := range rows {
				for x := 0; x <= w; x++ {
					top[x], _ = s.trace(s.ray(float64(x), float64(y)))
					bot[x], _ = s.trace(s.ray(float64(x), float64(y+1)))
				}
				for x := range w {
					var c bgr
					if top[x] == top[x+1] && top[x] == bot[x] && top[x] == bot[x+1] {
						D := s.ray(float64(x)+0.5, float64(y)+0.5)
						k, t := s.trace(D)
						c = s.shade(D, k, t, 1)
					} else {
						const n = 4
						for j := range n {
							for i := range n {
								D := s.ray(float64(x)+(float64(i)+0.5)/n, float64(y)+(float64(j)+0.5)/n)
								k, t := s.trace(D)
								c = c.plus(s.shade(D, k, t, n).mul(1.0 / (n * n)))
							}
						}
					}
					b := c.bytes()
					copy(out[3*(y*w+x):], b[:])
				}
			}
		}()
	}
	wg.Wait()
	return out
}
