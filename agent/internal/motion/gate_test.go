package motion

import (
	"image"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

// vehicle is a coloured block following a path; pos reports its top-left
// corner at a time from the start of the scene, and whether it exists then.
type vehicle struct {
	w, h int
	bgr  [3]uint8
	pos  func(at time.Duration) (x, y float64, ok bool)
}

// linear moves from (x, y) at `from` with velocity (vx, vy) px/s until `to`.
func linear(x, y, vx, vy float64, from, to time.Duration) func(time.Duration) (float64, float64, bool) {
	return func(at time.Duration) (float64, float64, bool) {
		if at < from || at >= to {
			return 0, 0, false
		}
		s := (at - from).Seconds()
		return x + vx*s, y + vy*s, true
	}
}

// scene renders synthetic frames: a textured road with lane markings and
// bright specks, per-frame sensor noise, optional camera shake and global
// brightness changes, and vehicles.
type scene struct {
	w, h       int
	vehicles   []vehicle
	brightness func(at time.Duration) float64 // nil: 1
	shake      int                            // max camera shift per frame, px
	noise      int                            // sensor noise amplitude, grey levels
	seed       uint64

	backgrounds [][]byte // pre-rendered road, each with its own noise and shift
	dimmed      map[dimKey][]byte
	rngVal      uint64
}

// dimKey names a background variant at a brightness (in 1/1000).
type dimKey struct{ variant, milli int }

// backgroundVariants is the number of pre-rendered backgrounds the frames
// cycle through at random: drawing noise per pixel for every frame would
// make the tests crawl under -race.
const backgroundVariants = 8

func (s *scene) init() {
	pad := s.shake
	bw, bh := s.w+2*pad, s.h+2*pad
	base := make([]uint8, bw*bh)
	s.rngVal = s.seed*2654435761 + 1
	for y := range bh {
		for x := range bw {
			v := 95 + 25*math.Sin(float64(x)/41)*math.Cos(float64(y)/29) + float64(s.rand()%25) - 12
			// Dashed lane markings, 3 px thick, and sparse bright specks.
			if ((y-pad)%120 >= 58 && (y-pad)%120 < 61 && (x/40)%2 == 0) || s.rand()%997 == 0 {
				v = 230
			}
			base[y*bw+x] = clamp8(v)
		}
	}
	s.backgrounds = make([][]byte, backgroundVariants)
	for k := range s.backgrounds {
		dx, dy := 0, 0
		if s.shake > 0 {
			dx = int(s.rand()%uint64(2*s.shake+1)) - s.shake
			dy = int(s.rand()%uint64(2*s.shake+1)) - s.shake
		}
		buf := make([]byte, 3*s.w*s.h)
		for y := range s.h {
			src := base[(y+pad+dy)*bw+pad+dx:]
			dst := buf[3*y*s.w:]
			for x := range s.w {
				v := int(src[x])
				if s.noise > 0 {
					v += int(s.rand()%uint64(2*s.noise+1)) - s.noise
				}
				g := uint8(min(max(v, 0), 255))
				dst[3*x], dst[3*x+1], dst[3*x+2] = g, g, g
			}
		}
		s.backgrounds[k] = buf
	}
}

// rand is a xorshift generator.
func (s *scene) rand() uint64 {
	s.rngVal ^= s.rngVal << 13
	s.rngVal ^= s.rngVal >> 7
	s.rngVal ^= s.rngVal << 17
	return s.rngVal
}

func clamp8(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }

// render draws the scene at time at into f (allocating its buffer once).
func (s *scene) render(f *frame.Frame, i int, at time.Duration) {
	if s.backgrounds == nil {
		s.init()
	}
	if f.BGR == nil {
		*f = frame.Frame{Width: s.w, Height: s.h, Stride: 3 * s.w, BGR: make([]byte, 3*s.w*s.h)}
	}
	f.Seq, f.PTS, f.Captured = int64(i), at, t0.Add(at)
	variant := int(s.rand() % backgroundVariants)
	gain := 1.0
	if s.brightness != nil {
		gain = s.brightness(at)
	}
	var lut [256]uint8
	for v := range lut {
		lut[v] = clamp8(float64(v) * gain)
	}
	bg := s.backgrounds[variant]
	if gain != 1 {
		// Cache dimmed backgrounds: constant stretches reuse them.
		key := dimKey{variant, int(math.Round(gain * 1000))}
		if s.dimmed[key] == nil {
			if len(s.dimmed) >= 64 || s.dimmed == nil {
				s.dimmed = map[dimKey][]byte{}
			}
			d := make([]byte, len(bg))
			for k, v := range bg {
				d[k] = lut[v]
			}
			s.dimmed[key] = d
		}
		bg = s.dimmed[key]
	}
	copy(f.BGR, bg)
	for _, v := range s.vehicles {
		x, y, ok := v.pos(at)
		if !ok {
			continue
		}
		r := image.Rect(int(x), int(y), int(x)+v.w, int(y)+v.h).Intersect(image.Rect(0, 0, s.w, s.h))
		for py := r.Min.Y; py < r.Max.Y; py++ {
			for px := r.Min.X; px < r.Max.X; px++ {
				p := f.BGR[py*f.Stride+3*px:]
				p[0], p[1], p[2] = lut[v.bgr[0]], lut[v.bgr[1]], lut[v.bgr[2]]
			}
		}
	}
}

// movingInView reports whether some moving vehicle has at least the given
// fraction of its area inside the frame at time at. A vehicle moves when its
// position changed since the previous frame (at-step) and, if it was already
// in the scene a second ago, it has since moved at least minVisibleShift: a
// vehicle that stood still long enough to fade into the background can only
// be seen once it has moved a couple of thumbnail pixels.
func (s *scene) movingInView(at, step time.Duration, fraction float64) bool {
	for _, v := range s.vehicles {
		x, y, ok := v.pos(at)
		if !ok {
			continue
		}
		if px, py, okPrev := v.pos(at - step); okPrev && px == x && py == y {
			continue // standing still
		}
		if ox, oy, okOld := v.pos(at - time.Second); okOld && math.Hypot(x-ox, y-oy) < minVisibleShift(s.w) {
			continue // just starting off
		}
		in := image.Rect(int(x), int(y), int(x)+v.w, int(y)+v.h).Intersect(image.Rect(0, 0, s.w, s.h))
		if a := in.Dx() * in.Dy(); a > 0 && float64(a) >= fraction*float64(v.w*v.h) {
			return true
		}
	}
	return false
}

// minVisibleShift is two thumbnail pixels of the default configuration, in
// source pixels of a frame w pixels wide.
func minVisibleShift(w int) float64 { return 2 * float64(w) / float64(DefaultConfig().ThumbWidth) }

// everyN returns frame times every dt over [0, d).
func everyN(dt, d time.Duration) []time.Duration { return between(0, d, dt) }

// between returns frame times every dt over [from, to).
func between(from, to, dt time.Duration) []time.Duration {
	var out []time.Duration
	for at := from; at < to; at += dt {
		out = append(out, at)
	}
	return out
}

// irregularTimes returns frame times with pseudo-random intervals in [lo, hi).
func irregularTimes(lo, hi, d time.Duration) []time.Duration {
	var out []time.Duration
	x := uint64(88172645463325252)
	for at := time.Duration(0); at < d; {
		out = append(out, at)
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		at += lo + time.Duration(x%uint64(hi-lo))
	}
	return out
}

const (
	fps12 = 80 * time.Millisecond
	w640  = 640
	h360  = 360
)

var (
	red   = [3]uint8{40, 40, 190}
	white = [3]uint8{220, 220, 220}
	dark  = [3]uint8{30, 30, 30}
)

func TestGateScenes(t *testing.T) {
	type counts struct{ settledProcessed, settled, motionFlagged int }
	tests := []struct {
		name   string
		scene  scene
		frames []time.Duration
		live   func(at time.Duration) int // nil: 0
		mutate func(*Config)
		check  func(t *testing.T, c counts, g *Gate)
		// motionExpected: the scene changes without vehicles (a control
		// case), so frames processed while settled are not errors.
		motionExpected bool
		// unwatched: the vehicles move outside the ROI or mask only.
		unwatched bool
	}{
		{
			name: "car crosses an empty scene",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 80, h: 50, bgr: red, pos: linear(-80, 150, 200, 0, 6*time.Second, 10*time.Second)},
			}},
			frames: everyN(fps12, 24*time.Second),
		},
		{
			name: "small slow car (0.6 px per frame at 25 fps)",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 24, h: 16, bgr: dark, pos: linear(300, 40, 15, 0, 3*time.Second, 12*time.Second)},
			}},
			frames: everyN(40*time.Millisecond, 14*time.Second),
		},
		{
			name: "camera shake on lane markings is not motion",
			scene: scene{w: w640, h: h360, noise: 4, shake: 2, vehicles: []vehicle{
				{w: 80, h: 50, bgr: white, pos: linear(700, 230, -250, 0, 10*time.Second, 14*time.Second)},
			}},
			frames: everyN(fps12, 20*time.Second),
		},
		{
			name: "global brightness step and ramp are not motion",
			scene: scene{w: w640, h: h360, noise: 3, brightness: func(at time.Duration) float64 {
				switch {
				case at < 5*time.Second:
					return 1
				case at < 10*time.Second:
					return 0.7 // exposure step
				case at < 11*time.Second:
					return 0.7 + 0.6*(at-10*time.Second).Seconds() // fast ramp up to 1.3
				}
				return 1.3
			}},
			frames: everyN(fps12, 20*time.Second),
			check: func(t *testing.T, c counts, _ *Gate) {
				if c.motionFlagged != 0 {
					t.Errorf("%d frames flagged as motion in a static scene with brightness changes", c.motionFlagged)
				}
			},
		},
		{
			name: "without normalisation a brightness step is motion (control)",
			scene: scene{w: w640, h: h360, noise: 3, brightness: func(at time.Duration) float64 {
				if at < 5*time.Second {
					return 1
				}
				return 0.7
			}},
			frames:         everyN(fps12, 10*time.Second),
			mutate:         func(c *Config) { c.NormalizeLighting = false },
			motionExpected: true,
			check: func(t *testing.T, c counts, _ *Gate) {
				if c.motionFlagged == 0 {
					t.Error("a 30% brightness step was not flagged without normalisation: the lighting tests prove nothing")
				}
			},
		},
		{
			name: "car during a brightness change is still seen",
			scene: scene{w: w640, h: h360, noise: 3, brightness: func(at time.Duration) float64 {
				return 1 - 0.4*min(max((at-4*time.Second).Seconds(), 0), 1)
			}, vehicles: []vehicle{
				{w: 80, h: 50, bgr: white, pos: linear(-80, 150, 250, 0, 4*time.Second, 8*time.Second)},
			}},
			frames: everyN(fps12, 14*time.Second),
		},
		{
			name: "car stops, fades into the background, then drives off",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 80, h: 50, bgr: red, pos: func(at time.Duration) (float64, float64, bool) {
					switch {
					case at < 2*time.Second:
						return 0, 0, false
					case at < 4*time.Second: // drive in
						return -80 + 150*(at-2*time.Second).Seconds(), 200, true
					case at < 40*time.Second: // parked at x=220
						return 220, 200, true
					case at < 46*time.Second: // drive off
						return 220 + 150*(at-40*time.Second).Seconds(), 200, true
					}
					return 0, 0, false
				}},
			}},
			// 12.5 fps while it moves, 2.5 fps while it is parked (to keep the
			// test fast; the model runs on real time, not frame counts).
			frames: append(append(between(0, 8*time.Second, fps12),
				between(8*time.Second, 39*time.Second, 400*time.Millisecond)...),
				between(39*time.Second, 50*time.Second, fps12)...),
			check: func(t *testing.T, c counts, g *Gate) {
				if c.settled == 0 || c.settledProcessed*3 > c.settled {
					t.Errorf("processed %d of %d settled frames: the parked car never faded into the background", c.settledProcessed, c.settled)
				}
			},
		},
		{
			name: "irregular frame intervals",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 60, h: 40, bgr: red, pos: linear(-60, 100, 300, 0, 5*time.Second, 8*time.Second)},
			}},
			frames: irregularTimes(20*time.Millisecond, 250*time.Millisecond, 20*time.Second),
		},
		{
			name:   "live tracks keep every frame flowing",
			scene:  scene{w: w640, h: h360, noise: 4},
			frames: everyN(fps12, 12*time.Second),
			live: func(at time.Duration) int {
				if at >= 3*time.Second && at < 9*time.Second {
					return 2
				}
				return 0
			},
			check: func(t *testing.T, _ counts, g *Gate) {
				// 6 s of live tracks at 12.5 fps.
				if st := g.Stats(); st.Tracks != 75 {
					t.Errorf("%d frames processed for live tracks, want 75", st.Tracks)
				}
			},
		},
		{
			name: "motion outside the ROI is ignored",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 80, h: 50, bgr: red, pos: linear(-80, 20, 200, 0, 2*time.Second, 8*time.Second)},
			}},
			frames:    everyN(fps12, 10*time.Second),
			mutate:    func(c *Config) { c.ROI = image.Rect(0, 120, w640, h360) },
			unwatched: true,
			check: func(t *testing.T, _ counts, g *Gate) {
				if st := g.Stats(); st.Motion != 0 {
					t.Errorf("%d motion frames from a car outside the ROI", st.Motion)
				}
			},
		},
		{
			name: "motion under a zero mask is ignored",
			scene: scene{w: w640, h: h360, noise: 4, vehicles: []vehicle{
				{w: 80, h: 50, bgr: red, pos: linear(-80, 20, 200, 0, 2*time.Second, 8*time.Second)},
			}},
			frames: everyN(fps12, 10*time.Second),
			mutate: func(c *Config) {
				// A 64x36 mask covering the frame: the top third is off.
				m := image.NewGray(image.Rect(0, 0, 64, 36))
				for y := 12; y < 36; y++ {
					for x := range 64 {
						m.Pix[y*m.Stride+x] = 255
					}
				}
				c.Mask = m
			},
			unwatched: true,
			check: func(t *testing.T, _ counts, g *Gate) {
				if st := g.Stats(); st.Motion != 0 {
					t.Errorf("%d motion frames from a car under the mask", st.Motion)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.mutate != nil {
				tc.mutate(&cfg)
			}
			g, err := NewGate(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			sc := tc.scene
			var f frame.Frame
			var c counts
			var missed []time.Duration
			var lastProcessed time.Duration
			var longestStaticGap time.Duration
			lastMoving := time.Duration(-1) // last time any part of a moving vehicle was in view
			for i, at := range tc.frames {
				sc.render(&f, i, at)
				live := 0
				if tc.live != nil {
					live = tc.live(at)
				}
				ok, reason := g.ShouldProcess(&f, live)
				if ok != (reason != ReasonStatic) {
					t.Fatalf("frame %d: process=%v with reason %v", i, ok, reason)
				}
				if g.Last().Motion {
					c.motionFlagged++
				}
				moving := !tc.unwatched && sc.movingInView(at, fps12, 0.5)
				if moving && !ok {
					missed = append(missed, at)
				}
				// Settled: no live track and no movement for Holdover plus
				// 3*BackgroundTau, the time for the trace of even a stopped,
				// high-contrast vehicle to fade below the threshold
				// (tau*ln(255/20) = 2.5 tau). Only keep-alive frames should be
				// processed then.
				if sc.movingInView(at, fps12, 0) {
					lastMoving = at
				}
				if live == 0 && i > 0 && lastMoving != at && (lastMoving < 0 || at-lastMoving > cfg.Holdover+3*cfg.BackgroundTau) {
					c.settled++
					if ok {
						c.settledProcessed++
						if reason != ReasonKeepAlive && !tc.motionExpected {
							t.Errorf("frame %d at %v processed in a settled scene for %v (changed %d)", i, at, reason, g.Last().Changed)
						}
					}
				}
				if ok {
					longestStaticGap = max(longestStaticGap, at-lastProcessed)
					lastProcessed = at
				}
			}
			if len(missed) > 0 {
				t.Errorf("skipped %d frames with a moving vehicle, first at %v", len(missed), missed[0])
			}
			if gap := cfg.KeepAlive + 250*time.Millisecond; longestStaticGap > gap {
				t.Errorf("longest gap between processed frames %v, keep-alive %v", longestStaticGap, cfg.KeepAlive)
			}
			t.Logf("frames %d: %+v; settled %d, processed %d", len(tc.frames), g.Stats(), c.settled, c.settledProcessed)
			if tc.check != nil {
				tc.check(t, c, g)
			}
		})
	}
}

func TestGateEdgeCases(t *testing.T) {
	cfg := DefaultConfig()
	static := scene{w: 320, h: 180, noise: 2}
	render := func(at time.Duration) *frame.Frame {
		var f frame.Frame
		static.render(&f, 0, at)
		return &f
	}
	// withBlock paints a bright 64x48 block in the middle of f.
	withBlock := func(f *frame.Frame) *frame.Frame {
		for y := 60; y < 108; y++ {
			for x := 120; x < 184; x++ {
				p := f.BGR[y*f.Stride+3*x:]
				p[0], p[1], p[2] = 240, 240, 240
			}
		}
		return f
	}
	tests := []struct {
		name  string
		steps []func(g *Gate) (bool, Reason)
		want  []Reason
	}{
		{
			name: "first frame warms up, the next is static",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(fps12), 0) },
			},
			want: []Reason{ReasonWarmup, ReasonStatic},
		},
		{
			name: "keep-alive after KeepAlive",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(cfg.KeepAlive-time.Millisecond), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(cfg.KeepAlive), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(cfg.KeepAlive+fps12), 0) },
			},
			want: []Reason{ReasonWarmup, ReasonStatic, ReasonKeepAlive, ReasonStatic},
		},
		{
			name: "clock going backwards re-warms",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(time.Second), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
			},
			want: []Reason{ReasonWarmup, ReasonWarmup},
		},
		{
			name: "after the clock jumps back, holdover and keep-alive restart from the new time",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(time.Hour), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(withBlock(render(time.Hour+fps12)), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(fps12), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(cfg.Holdover+fps12), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(cfg.KeepAlive+2*fps12), 0) },
			},
			want: []Reason{ReasonWarmup, ReasonMotion, ReasonWarmup, ReasonHoldover, ReasonStatic, ReasonKeepAlive},
		},
		{
			name: "new frame size re-warms",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
				func(g *Gate) (bool, Reason) {
					s := scene{w: 160, h: 90}
					var f frame.Frame
					s.render(&f, 1, fps12)
					return g.ShouldProcess(&f, 0)
				},
			},
			want: []Reason{ReasonWarmup, ReasonWarmup},
		},
		{
			name: "malformed frames are processed, then it recovers",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(nil, 0) },
				func(g *Gate) (bool, Reason) {
					f := render(0)
					f.BGR = f.BGR[:len(f.BGR)-1]
					return g.ShouldProcess(f, 0)
				},
				func(g *Gate) (bool, Reason) {
					f := render(0)
					f.Stride = 3*f.Width - 1
					return g.ShouldProcess(f, 0)
				},
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(0), 0) },
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(fps12), 0) },
			},
			want: []Reason{ReasonInvalid, ReasonInvalid, ReasonInvalid, ReasonWarmup, ReasonStatic},
		},
		{
			name: "ROI outside the frame processes everything",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) {
					c := DefaultConfig()
					c.ROI = image.Rect(1000, 1000, 1100, 1100)
					g2, err := NewGate(c, nil)
					if err != nil {
						t.Fatal(err)
					}
					*g = *g2
					return g.ShouldProcess(render(0), 0)
				},
				func(g *Gate) (bool, Reason) { return g.ShouldProcess(render(fps12), 0) },
			},
			want: []Reason{ReasonInvalid, ReasonInvalid},
		},
		{
			name: "zero capture time falls back to PTS",
			steps: []func(*Gate) (bool, Reason){
				func(g *Gate) (bool, Reason) { f := render(0); f.Captured = time.Time{}; return g.ShouldProcess(f, 0) },
				func(g *Gate) (bool, Reason) {
					f := render(cfg.KeepAlive)
					f.Captured = time.Time{}
					return g.ShouldProcess(f, 0)
				},
			},
			want: []Reason{ReasonWarmup, ReasonKeepAlive},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := NewGate(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i, step := range tc.steps {
				ok, r := step(g)
				if r != tc.want[i] || ok != (r != ReasonStatic) {
					t.Fatalf("step %d: got (%v, %v), want %v", i, ok, r, tc.want[i])
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string
	}{
		{name: "defaults are valid", mutate: func(*Config) {}},
		{name: "ROI and mask", mutate: func(c *Config) {
			c.ROI = image.Rect(10, 10, 200, 100)
			c.Mask = image.NewGray(image.Rect(0, 0, 4, 4))
		}},
		{name: "zero config reports everything", mutate: func(c *Config) { *c = Config{} },
			wantErr: []string{"ThumbWidth", "Samples", "PixelThreshold", "MinChangedPixels", "BackgroundTau", "KeepAlive"}},
		{name: "negative ROI and holdover", mutate: func(c *Config) {
			c.ROI = image.Rect(-5, 0, 100, 100)
			c.Holdover = -time.Second
		}, wantErr: []string{"ROI", "Holdover"}},
		{name: "empty mask", mutate: func(c *Config) { c.Mask = &image.Gray{} }, wantErr: []string{"Mask"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			if _, err := NewGate(cfg, nil); err == nil {
				t.Error("NewGate accepted an invalid config")
			}
		})
	}
}

// TestThumbnailAverages checks the sampler against a direct computation on a
// frame with a known pattern, with padding in the stride and an ROI.
func TestThumbnailAverages(t *testing.T) {
	tests := []struct {
		name          string
		w, h, stride  int
		roi           image.Rectangle
		samples       int // 0: default
		wantTW, wantT int
	}{
		{name: "full frame 1280x720", w: 1280, h: 720, stride: 3 * 1280, wantTW: 160, wantT: 90},
		{name: "padded stride", w: 640, h: 480, stride: 3*640 + 64, wantTW: 160, wantT: 120},
		{name: "ROI", w: 1920, h: 1080, stride: 3 * 1920, roi: image.Rect(960, 540, 1920, 1080), wantTW: 160, wantT: 90},
		{name: "frame narrower than the thumbnail", w: 100, h: 50, stride: 300, wantTW: 100, wantT: 50},
		{name: "one sample per cell", w: 1280, h: 720, stride: 3 * 1280, samples: 1, wantTW: 160, wantT: 90},
		{name: "4x4 samples per cell", w: 2560, h: 1440, stride: 3 * 2560, samples: 4, wantTW: 160, wantT: 90},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ROI = tc.roi
			if tc.samples != 0 {
				cfg.Samples = tc.samples
			}
			d, err := NewDetector(cfg)
			if err != nil {
				t.Fatal(err)
			}
			f := &frame.Frame{Width: tc.w, Height: tc.h, Stride: tc.stride, BGR: make([]byte, tc.stride*tc.h), Captured: t0}
			// Pixel (x, y) has B = x mod 256, G = y mod 256, R = 128.
			for y := range tc.h {
				for x := range tc.w {
					p := f.BGR[y*tc.stride+3*x:]
					p[0], p[1], p[2] = uint8(x), uint8(y), 128
				}
			}
			if _, err := d.Measure(f); err != nil {
				t.Fatal(err)
			}
			if d.tw != tc.wantTW || d.th != tc.wantT {
				t.Fatalf("thumbnail %dx%d, want %dx%d", d.tw, d.th, tc.wantTW, tc.wantT)
			}
			// Reference: average the samples of each cell, then smooth with
			// [1 2 1]/4 in both directions (edges replicated).
			s := cfg.Samples
			raw := make([][2]float64, d.n)
			for ty := range d.th {
				for tx := range d.tw {
					var luma, rb float64
					for ky := range s {
						y := d.ys[ty*s+ky]
						for kx := range s {
							x := d.xoff[tx*s+kx] / 3
							if !image.Pt(x, y).In(d.roi) {
								t.Fatalf("sample (%d,%d) outside ROI %v", x, y, d.roi)
							}
							b, g, r := f.At(x, y)
							luma += (29*float64(b) + 150*float64(g) + 77*float64(r)) / 256
							rb += float64(r) - float64(b)
						}
					}
					n := float64(s * s)
					raw[ty*d.tw+tx] = [2]float64{math.Floor(luma/n + 0.5), math.Min(math.Floor(rb/(2*n)+128+0.5), 255)}
				}
			}
			at := func(x, y, p int) float64 {
				x, y = min(max(x, 0), d.tw-1), min(max(y, 0), d.th-1)
				return raw[y*d.tw+x][p]
			}
			for ty := range d.th {
				for tx := range d.tw {
					for p := range 2 {
						want := 0.0
						for dy := -1; dy <= 1; dy++ {
							for dx := -1; dx <= 1; dx++ {
								want += at(tx+dx, ty+dy, p) * float64((2-abs(dx))*(2-abs(dy)))
							}
						}
						want /= 16
						got := float64(d.cur[p*d.n+ty*d.tw+tx])
						if math.Abs(got-want) > 0.5+1e-9 {
							t.Fatalf("thumb (%d,%d) plane %d = %v, want %.2f", tx, ty, p, got, want)
						}
					}
				}
			}
		})
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// FuzzShouldProcess feeds frames with arbitrary geometry and contents: the
// gate must never panic and must process whatever it cannot measure.
func FuzzShouldProcess(f *testing.F) {
	f.Add(uint16(4), uint16(3), uint16(12), []byte("0123456789abcdefghijklmnopqrstuvwxyz0123"))
	f.Add(uint16(0), uint16(0), uint16(0), []byte{})
	f.Add(uint16(200), uint16(2), uint16(600), make([]byte, 1200))
	f.Fuzz(func(t *testing.T, w, h, stride uint16, data []byte) {
		g, err := NewGate(DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			fr := &frame.Frame{Width: int(w), Height: int(h), Stride: int(stride), BGR: data, PTS: time.Duration(i) * fps12}
			ok, r := g.ShouldProcess(fr, 0)
			if checkFrame(fr) != nil && (!ok || r != ReasonInvalid) {
				t.Fatalf("malformed frame %dx%d stride %d len %d: got (%v, %v)", w, h, stride, len(data), ok, r)
			}
		}
	})
}

func benchmarkGate(b *testing.B, w, h int) {
	s := scene{w: w, h: h, noise: 4}
	frames := make([]frame.Frame, 8)
	for i := range frames {
		s.render(&frames[i], i, time.Duration(i)*40*time.Millisecond)
	}
	g, err := NewGate(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := &frames[i%len(frames)]
		f.Captured = t0.Add(time.Duration(i) * 40 * time.Millisecond)
		g.ShouldProcess(f, 0)
		i++
	}
}

// BenchmarkShouldProcess2560x1440 is the gate's per-frame cost on a 4 MP camera.
func BenchmarkShouldProcess2560x1440(b *testing.B) { benchmarkGate(b, 2560, 1440) }

// BenchmarkShouldProcess1920x1080 is the gate's per-frame cost on a 1080p camera.
func BenchmarkShouldProcess1920x1080(b *testing.B) { benchmarkGate(b, 1920, 1080) }
