package scenegen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/vigia-pe/vigia/calibration"
)

// Jitter formula constants (see the package comment); ffmpeg evaluates the
// same expression, so they are kept as the strings it receives.
const (
	jitterMul  = "12.9898"
	jitterHash = "43758.5453"
	// ptsRate is the MP4 time base of jittered clips.
	ptsRate = 90000
)

// timing holds the frame times of a scene and, when jittered, the ffmpeg
// setpts expression producing the same times.
type timing struct {
	t    []float64
	expr string
}

func fmtFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

func newTiming(s Scene) timing {
	n := s.Frames()
	tm := timing{t: make([]float64, n)}
	if s.JitterMs == 0 {
		for i := range tm.t {
			tm.t[i] = float64(i) / s.FPS
		}
		return tm
	}
	// Strings first, then the values parsed back, so that Go and ffmpeg
	// compute with identical doubles.
	fpsS := fmtFloat(s.FPS)
	ampS := fmtFloat(s.JitterMs / 1000)
	phaseS := fmtFloat(float64(s.Seed%100000) / 100)
	fps, _ := strconv.ParseFloat(fpsS, 64)
	amp, _ := strconv.ParseFloat(ampS, 64)
	phase, _ := strconv.ParseFloat(phaseS, 64)
	mul, _ := strconv.ParseFloat(jitterMul, 64)
	hash, _ := strconv.ParseFloat(jitterHash, 64)
	for i := range tm.t {
		t := float64(i) / fps
		if i > 0 {
			x := math.Abs(math.Sin(float64(i)*mul+phase) * hash)
			t += amp * (2*(x-math.Floor(x)) - 1)
		}
		tm.t[i] = math.Round(t*ptsRate) / ptsRate
	}
	tm.expr = fmt.Sprintf("settb=1/%d,setpts='st(0,abs(sin(N*%s+%s)*%s));(N/%s+if(N,%s*(2*(ld(0)-floor(ld(0)))-1)))/TB'",
		ptsRate, jitterMul, phaseS, jitterHash, fpsS, ampS)
	return tm
}

// placedCar is a scene car with its photo and billboard size resolved.
type placedCar struct {
	car    Car
	dir    Direction
	photo  Photo
	spr    *sprite
	facing Facing
	w, h   float64
}

// carPose is a car's projection in one frame.
type carPose struct {
	ok          bool // the whole billboard is in front of the camera
	x, y, speed float64
	corners     [4][2]float64 // TL, TR, BR, BL in pixels
	box         [4]float64    // unclipped bounding box of the corners
	depth       float64
	spriteToImg calibration.Homography // level-0 sprite pixels → image
}

// nearDepth is the closest a billboard may come to the camera (metres along
// the optical axis) and still be drawn.
const nearDepth = 1.0

// wantFacing returns the side of a car driving in dir that the camera sees.
func wantFacing(cam Camera, dir Direction) Facing {
	dot := dir.sign() * math.Cos(cam.YawDeg*math.Pi/180)
	switch {
	case dot < -0.5:
		return FacingFront
	case dot > 0.5:
		return FacingRear
	}
	return FacingUnknown
}

// placeCars resolves every car's photo and sprite.
func placeCars(s *Scene, lib *Library) ([]placedCar, error) {
	pools := map[Facing][]Photo{}
	next := map[Facing]int{}
	pool := func(f Facing) []Photo {
		if p, ok := pools[f]; ok {
			return p
		}
		p := lib.Usable(f)
		if len(p) == 0 {
			p = lib.Usable(FacingUnknown)
		}
		rng := rand.New(rand.NewPCG(s.Seed, 0xface+uint64(len(f))))
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		pools[f] = p
		return p
	}
	out := make([]placedCar, len(s.Cars))
	for i, c := range s.Cars {
		pc := placedCar{car: c, dir: s.Road.LaneDirection(c.Lane)}
		want := wantFacing(s.Camera, pc.dir)
		if c.Photo != "" {
			p, ok := lib.Photo(c.Photo)
			if !ok {
				return nil, fmt.Errorf("scenegen: car %d: no photo %q in %s", c.ID, c.Photo, lib.Dir())
			}
			pc.photo = p
		} else {
			p := pool(want)
			if len(p) == 0 {
				return nil, fmt.Errorf("scenegen: no photo of a whole car in %s", lib.Dir())
			}
			pc.photo = p[next[want]%len(p)]
			next[want]++
		}
		spr, err := lib.sprite(pc.photo.Name)
		if err != nil {
			return nil, err
		}
		pc.spr, pc.facing = spr, pc.photo.Facing
		pc.w = c.width()
		pc.h = pc.w * float64(spr.h()) / float64(spr.w())
		out[i] = pc
	}
	return out, nil
}

// poser computes car poses for one scene.
type poser struct {
	s       *Scene
	cam     Camera
	F       float64
	c       Vec3
	r, d, f Vec3
	// e and up span the billboards: the camera's unrolled right and up
	// axes, so a billboard is parallel to the image plane (it leans back by
	// the pitch) and is drawn as an upright rectangle, like the photo it is.
	e, up Vec3
}

func newPoser(s *Scene) *poser {
	p := &poser{s: s, cam: s.Camera, F: s.Camera.FocalPx(), c: s.Camera.Centre()}
	p.r, p.d, p.f = s.Camera.axes()
	psi := s.Camera.YawDeg * math.Pi / 180
	p.e = Vec3{math.Cos(psi), -math.Sin(psi), 0}
	p.up = p.e.cross(p.f) // = −(f × e): the image's up direction without roll
	return p
}

// camK returns K·R·q (homogeneous image coordinates of direction q).
func (p *poser) camK(q Vec3) [3]float64 {
	x, y, z := q.dot(p.r), q.dot(p.d), q.dot(p.f)
	return [3]float64{p.F*x + float64(p.cam.Width)/2*z, p.F*y + float64(p.cam.Height)/2*z, z}
}

func (p *poser) pose(pc *placedCar, t float64) carPose {
	var cp carPose
	cp.x, cp.y = p.s.groundPoint(pc.car, t)
	cp.speed = pc.car.speedAt(t)
	G := Vec3{cp.x, cp.y, 0}
	half := p.e.scale(pc.w / 2)
	up := p.up.scale(pc.h)
	pts := [4]Vec3{G.sub(half).add(up), G.add(half).add(up), G.add(half), G.sub(half)}
	cp.depth = G.sub(p.c).dot(p.f)
	cp.box = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for i, q := range pts {
		if q.sub(p.c).dot(p.f) < nearDepth {
			return carPose{}
		}
		u, v, _ := p.cam.Project(q)
		cp.corners[i] = [2]float64{u, v}
		cp.box[0], cp.box[1] = math.Min(cp.box[0], u), math.Min(cp.box[1], v)
		cp.box[2], cp.box[3] = math.Max(cp.box[2], u), math.Max(cp.box[3], v)
	}
	// Sprite (s, t) ↦ O + s·a + t·b with O the top-left corner.
	W0, H0 := float64(pc.spr.w()), float64(pc.spr.h())
	a := p.e.scale(pc.w / W0)
	b := p.up.scale(-pc.h / H0)
	ca, cb, co := p.camK(a), p.camK(b), p.camK(pts[0].sub(p.c))
	for i := range 3 {
		cp.spriteToImg[i] = [3]float64{ca[i], cb[i], co[i]}
	}
	cp.ok = true
	return cp
}

// clipBox clips b to the image and returns it with the fraction kept.
func clipBox(b [4]float64, w, h int) ([4]float64, float64) {
	c := [4]float64{math.Max(0, b[0]), math.Max(0, b[1]), math.Min(float64(w), b[2]), math.Min(float64(h), b[3])}
	area := (b[2] - b[0]) * (b[3] - b[1])
	if c[2] <= c[0] || c[3] <= c[1] || area <= 0 {
		return c, 0
	}
	return c, (c[2] - c[0]) * (c[3] - c[1]) / area
}

// occludedFraction estimates the fraction of box b covered by any of the
// boxes in front, on a 24x24 grid of sample points.
func occludedFraction(b [4]float64, front [][4]float64) float64 {
	if len(front) == 0 {
		return 0
	}
	const n = 24
	var hit int
	for j := range n {
		y := b[1] + (float64(j)+0.5)/n*(b[3]-b[1])
		for i := range n {
			x := b[0] + (float64(i)+0.5)/n*(b[2]-b[0])
			for _, o := range front {
				if x >= o[0] && x < o[2] && y >= o[1] && y < o[3] {
					hit++
					break
				}
			}
		}
	}
	return float64(hit) / (n * n)
}

// buildTruth computes the ground truth of a scene (no pixels are rendered).
func buildTruth(s *Scene, cars []placedCar, tm timing) (*Truth, error) {
	cam := s.Camera
	i2g, err := cam.ImageToGround()
	if err != nil {
		return nil, err
	}
	r, d, f := cam.axes()
	tr := &Truth{
		Version: TruthVersion, Generator: "vigia scenegen", Scene: *s, PixelConvention: PixelConvention,
		FocalPx: cam.FocalPx(), PrincipalPoint: [2]float64{float64(cam.Width) / 2, float64(cam.Height) / 2},
		Rotation:      [3][3]float64{{r.X, r.Y, r.Z}, {d.X, d.Y, d.Z}, {f.X, f.Y, f.Z}},
		ImageToGround: i2g, GroundToImage: cam.GroundToImage(),
	}
	tr.Scene.Cars = slices.Clone(s.Cars)
	for i, t := range tm.t {
		tr.Frames = append(tr.Frames, FrameTime{Index: i, T: t})
	}
	tr.Markers = markerTruth(s)

	p := newPoser(s)
	tr.Cars = make([]CarTruth, len(cars))
	for i, pc := range cars {
		tr.Cars[i] = CarTruth{
			ID: pc.car.ID, Photo: pc.photo.Name, Plate: pc.photo.Plate, Facing: pc.facing, BoxSource: pc.photo.BoxSource, SpriteBox: pc.spr.photoBox,
			Lane: pc.car.Lane, Direction: pc.dir, SpeedKmh: pc.car.SpeedKmh, AccelMS2: pc.car.AccelMS2,
			PassTime: pc.car.PassTime, WidthM: pc.w, HeightM: pc.h, FullFrom: -1, FullTo: -1, FullFromT: -1, FullToT: -1,
		}
		if s.HasRules() {
			s.ruleTruth(&tr.Cars[i], pc.car, tm.t)
		}
	}
	if s.HasRules() {
		g := s.Geometry()
		tr.Geometry, tr.Signal = &g, slices.Clone(s.Signal)
	}
	poses := make([]carPose, len(cars))
	order := make([]int, 0, len(cars))
	for n, t := range tm.t {
		order = order[:0]
		for i := range cars {
			poses[i] = p.pose(&cars[i], t)
			if poses[i].ok {
				if _, in := clipBox(poses[i].box, cam.Width, cam.Height); in > 0 {
					order = append(order, i)
				}
			}
		}
		// Nearest first, so each car's occluders are the ones before it.
		slices.SortStableFunc(order, func(a, b int) int { return cmpFloat(poses[a].depth, poses[b].depth) })
		var front [][4]float64
		for _, i := range order {
			cp := &poses[i]
			box, in := clipBox(cp.box, cam.Width, cam.Height)
			occ := occludedFraction(cp.box, front)
			front = append(front, cp.box)
			ct := &tr.Cars[i]
			cf := CarFrame{Frame: n, T: t, X: cp.x, Y: cp.y, SpeedKmh: cp.speed, Box: box, InFrame: in, Occluded: occ,
				Full: in >= 1-1e-12 && occ == 0, PlateBox: plateBox(cp, cars[i].spr), Depth: cp.depth}
			if cf.Full {
				if ct.FullFrom < 0 {
					ct.FullFrom, ct.FullFromT = n, t
				}
				ct.FullTo, ct.FullToT = n, t
			}
			ct.Track = append(ct.Track, cf)
		}
	}
	return tr, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// plateBox maps the sprite's plate box into the image.
func plateBox(cp *carPose, spr *sprite) [4]float64 {
	b := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, c := range [4][2]float64{{spr.plate[0], spr.plate[1]}, {spr.plate[2], spr.plate[1]}, {spr.plate[2], spr.plate[3]}, {spr.plate[0], spr.plate[3]}} {
		u, v, _ := applyH(&cp.spriteToImg, c[0], c[1])
		b[0], b[1], b[2], b[3] = math.Min(b[0], u), math.Min(b[1], v), math.Max(b[2], u), math.Max(b[3], v)
	}
	return b
}

// markerTruth projects the markers and draws the technician's clicks.
func markerTruth(s *Scene) []MarkerTruth {
	cam := s.Camera
	rng := rand.New(rand.NewPCG(s.Seed, 0xc11c))
	h := s.Road.Markers.SizeM / 2
	var out []MarkerTruth
	for _, m := range s.Road.MarkerPoints() {
		mt := MarkerTruth{X: m[0], Y: m[1]}
		u, v, ok := cam.GroundToPixel(m[0], m[1])
		if ok {
			mt.U, mt.V = u, v
			x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
			all := true
			for _, c := range [4][2]float64{{-h, -h}, {h, -h}, {h, h}, {-h, h}} {
				cu, cv, ok := cam.GroundToPixel(m[0]+c[0], m[1]+c[1])
				all = all && ok
				x0, y0, x1, y1 = math.Min(x0, cu), math.Min(y0, cv), math.Max(x1, cu), math.Max(y1, cv)
			}
			mt.Clickable = all && x0 >= 2 && y0 >= 2 && x1 <= float64(cam.Width)-2 && y1 <= float64(cam.Height)-2 &&
				x1-x0 >= 8 && y1-y0 >= 5
		}
		// Draw the noise for every marker so that clicks do not depend on
		// which others are visible.
		nu, nv := rng.NormFloat64()*s.ClickNoisePx, rng.NormFloat64()*s.ClickNoisePx
		mt.ClickU, mt.ClickV = mt.U+nu, mt.V+nv
		out = append(out, mt)
	}
	return out
}
