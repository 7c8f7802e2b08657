package track

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// span is a half-open time interval [from, to) from the start of a scenario.
type span struct{ from, to time.Duration }

func (s span) has(d time.Duration) bool { return d >= s.from && d < s.to }

func inAny(spans []span, d time.Duration) bool {
	for _, s := range spans {
		if s.has(d) {
			return true
		}
	}
	return false
}

// object is one simulated road user moving at constant velocity.
type object struct {
	label    string
	x, y     float32 // top-left at time 0, px
	w, h     float32
	vx, vy   float32 // px/s
	life     span    // when it is in view
	gaps     []span  // no detection (occlusion)
	lowScore []span  // detected with a low score (partial occlusion)
	lowValue float32 // the low score; 0.3 if unset
	altLabel string  // label used with probability altProb
	altProb  float64
}

func (o object) box(d time.Duration) infer.Box {
	s := float32(d.Seconds())
	x, y := o.x+o.vx*s, o.y+o.vy*s
	return infer.Box{X1: x, Y1: y, X2: x + o.w, Y2: y + o.h}
}

// scenario is a synthetic sequence of detections with known identities.
type scenario struct {
	objects  []object
	frames   []time.Duration // capture times from t0
	jitter   float32         // uniform box-edge noise, px
	drop     float64         // probability of missing a detection
	clutter  int             // one-frame false positives per frame
	seed     uint64
	override func(*Config)
}

// result is what the harness measured.
type result struct {
	ids        [][]int64 // per object, the track ID matched in each frame it was detected (0: none)
	switches   int       // changes of ID within an object's sequence
	started    int       // Started events
	lostEvents int
	ended      []*Track // ended tracks, Update and Flush
	endTimes   map[int64]time.Time
	coverage   float64 // fraction of high-score detections reported under a confirmed track
	labels     map[int64]string
}

func run(t *testing.T, sc scenario) result {
	t.Helper()
	cfg := DefaultConfig()
	if sc.override != nil {
		sc.override(&cfg)
	}
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(sc.seed, 99))
	res := result{ids: make([][]int64, len(sc.objects)), endTimes: map[int64]time.Time{}, labels: map[int64]string{}}
	highDets, covered := 0, 0
	for fi, at := range sc.frames {
		ts := t0.Add(at)
		var dets []infer.Detection
		var owner []int
		for i, o := range sc.objects {
			if !o.life.has(at) || inAny(o.gaps, at) || rng.Float64() < sc.drop {
				continue
			}
			b := o.box(at)
			n := func() float32 { return sc.jitter * float32(2*rng.Float64()-1) }
			b.X1, b.Y1, b.X2, b.Y2 = b.X1+n(), b.Y1+n(), b.X2+n(), b.Y2+n()
			score := float32(0.75 + 0.2*rng.Float64())
			if inAny(o.lowScore, at) {
				score = o.lowValue
				if score == 0 {
					score = 0.3
				}
			}
			label := o.label
			if o.altLabel != "" && rng.Float64() < o.altProb {
				label = o.altLabel
			}
			dets = append(dets, infer.Detection{Box: b, Score: score, Label: label})
			owner = append(owner, i)
		}
		for range sc.clutter {
			if fi == 0 {
				break // the first frame confirms everything, by design
			}
			x, y := float32(rng.Float64()*3000), float32(rng.Float64()*2000)
			dets = append(dets, infer.Detection{Box: infer.Box{X1: x, Y1: y, X2: x + 40, Y2: y + 40}, Score: 0.7, Label: "car"})
			owner = append(owner, -1)
		}
		// Shuffle so that detection order carries no identity.
		rng.Shuffle(len(dets), func(a, b int) {
			dets[a], dets[b] = dets[b], dets[a]
			owner[a], owner[b] = owner[b], owner[a]
		})

		active := tr.Update(ts, dets)
		byBox := map[infer.Box]int64{}
		for _, tk := range active {
			if tk.State() != StateTracked || tk.ID() == 0 {
				t.Fatalf("Update returned a track in state %v with ID %d", tk.State(), tk.ID())
			}
			h := tk.History()
			if last := h[len(h)-1]; last.Time.Equal(ts) {
				byBox[last.Box] = tk.ID()
			} else {
				t.Fatalf("track %d returned as tracked but last observed at %v, not %v", tk.ID(), last.Time, ts)
			}
		}
		for k, d := range dets {
			o := owner[k]
			if o < 0 {
				continue
			}
			id := byBox[d.Box]
			res.ids[o] = append(res.ids[o], id)
			if d.Score >= cfg.HighScore {
				highDets++
				if id != 0 {
					covered++
				}
			}
		}
		res.collect(tr)
	}
	tr.Flush()
	res.collect(tr)
	for _, seq := range res.ids {
		var prev int64
		for _, id := range seq {
			if id == 0 {
				continue
			}
			if prev != 0 && id != prev {
				res.switches++
			}
			prev = id
		}
	}
	if highDets > 0 {
		res.coverage = float64(covered) / float64(highDets)
	}
	return res
}

func (r *result) collect(tr *Tracker) {
	for _, e := range tr.Events() {
		switch e.Kind {
		case EventStarted:
			r.started++
		case EventLost:
			r.lostEvents++
		case EventEnded:
			r.ended = append(r.ended, e.Track)
			r.endTimes[e.Track.ID()] = e.Time
			r.labels[e.Track.ID()] = e.Track.Label()
		}
	}
}

// every returns frame times every dt over [0, d).
func every(dt, d time.Duration) []time.Duration {
	var out []time.Duration
	for at := time.Duration(0); at < d; at += dt {
		out = append(out, at)
	}
	return out
}

// irregular returns frame times with random intervals in [lo, hi) and the
// given skipped stretches (as motion gating or a stalled decoder would).
func irregular(seed uint64, lo, hi, d time.Duration, skips ...span) []time.Duration {
	rng := rand.New(rand.NewPCG(seed, 3))
	var out []time.Duration
	for at := time.Duration(0); at < d; at += lo + time.Duration(rng.Int64N(int64(hi-lo))) {
		if !inAny(skips, at) {
			out = append(out, at)
		}
	}
	return out
}

const fps25 = 40 * time.Millisecond

func car(x, y, vx, vy float32, life span) object {
	return object{label: "car", x: x, y: y, w: 120, h: 80, vx: vx, vy: vy, life: life}
}

func TestTrackerScenarios(t *testing.T) {
	all := func(d time.Duration) span { return span{0, d} }
	tests := []struct {
		name         string
		sc           scenario
		wantStarted  int // exact number of confirmed tracks
		maxSwitches  int
		minCoverage  float64
		wantNoLost   bool
		check        func(t *testing.T, sc scenario, r result)
		reportSwitch bool // a hard case: log the switch count
	}{
		{
			name:        "single car at constant speed",
			sc:          scenario{objects: []object{car(100, 500, 300, 0, all(4*time.Second))}, frames: every(fps25, 4*time.Second)},
			wantStarted: 1, minCoverage: 0.99, wantNoLost: true,
			check: func(t *testing.T, sc scenario, r result) {
				if len(r.ended) != 1 {
					t.Fatalf("ended %d tracks, want 1", len(r.ended))
				}
				tk := r.ended[0]
				last := sc.frames[len(sc.frames)-1]
				if got, want := tk.Lifetime(), last; got != want {
					t.Errorf("lifetime %v, want %v", got, want)
				}
				if !tk.Start().Equal(t0) {
					t.Errorf("start %v, want %v", tk.Start(), t0)
				}
				h := tk.History()
				if last, ok := tk.Last(); !ok || last != h[len(h)-1] || tk.Ground() != last.Ground {
					t.Errorf("Last() = %+v, %v; want the final history entry", last, ok)
				}
				if len(h) != len(sc.frames) {
					t.Errorf("history has %d observations, want %d", len(h), len(sc.frames))
				}
				for _, o := range h {
					b := o.Box
					if o.Ground.X != (b.X1+b.X2)/2 || o.Ground.Y != b.Y2 {
						t.Fatalf("ground %+v is not the bottom centre of %+v", o.Ground, b)
					}
				}
				vx, vy := tk.Velocity()
				if math.Abs(vx-300) > 3 || math.Abs(vy) > 3 {
					t.Errorf("velocity (%.1f, %.1f) px/s, want (300, 0)", vx, vy)
				}
			},
		},
		{
			name: "three parallel lanes with jitter",
			sc: scenario{objects: []object{
				car(0, 100, 400, 0, all(5*time.Second)),
				car(300, 200, 350, 0, all(5*time.Second)),
				car(2000, 300, -450, 0, all(5*time.Second)),
			}, frames: every(fps25, 5*time.Second), jitter: 3, seed: 1},
			wantStarted: 3, minCoverage: 0.99, wantNoLost: true,
		},
		{
			name: "crossing paths at right angles",
			sc: scenario{objects: []object{
				car(0, 500, 400, 0, all(5*time.Second)), // left to right, crosses x=1000 at 2.35 s
				car(940, 0, 0, 250, all(5*time.Second)), // top to bottom, crosses y=500 at 2 s
			}, frames: every(fps25, 5*time.Second), jitter: 2, seed: 2},
			wantStarted: 2, maxSwitches: 0, minCoverage: 0.95,
		},
		{
			name: "head-on on the same line (hard)",
			sc: scenario{objects: []object{
				car(0, 500, 400, 0, all(5*time.Second)),
				car(2000, 505, -400, 0, all(5*time.Second)),
			}, frames: every(fps25, 5*time.Second), jitter: 2, seed: 3},
			wantStarted: 2, maxSwitches: 1, minCoverage: 0.9, reportSwitch: true,
		},
		{
			name: "occlusion gap of six frames",
			sc: scenario{objects: []object{
				{label: "car", x: 0, y: 400, w: 120, h: 80, vx: 350, life: all(4 * time.Second),
					gaps: []span{{1600 * time.Millisecond, 1840 * time.Millisecond}}},
			}, frames: every(fps25, 4*time.Second)},
			wantStarted: 1, minCoverage: 0.99,
			check: func(t *testing.T, _ scenario, r result) {
				if r.lostEvents != 1 {
					t.Errorf("%d lost events, want 1 (lost during the gap, then found)", r.lostEvents)
				}
			},
		},
		{
			name: "random missed detections (20%)",
			sc: scenario{objects: []object{
				car(0, 100, 300, 0, all(6*time.Second)),
				car(0, 400, 500, 50, all(6*time.Second)),
			}, frames: every(fps25, 6*time.Second), drop: 0.2, jitter: 2, seed: 4},
			wantStarted: 2, minCoverage: 0.97,
		},
		{
			name: "low-score detections bridge a partial occlusion",
			sc: scenario{objects: []object{
				{label: "car", x: 0, y: 400, w: 120, h: 80, vx: 350, life: all(4 * time.Second),
					lowScore: []span{{time.Second, 1400 * time.Millisecond}}},
			}, frames: every(fps25, 4*time.Second), jitter: 1, seed: 5},
			wantStarted: 1, minCoverage: 0.99, wantNoLost: true,
		},
		{
			name: "scores below the floor do not bridge",
			sc: scenario{objects: []object{
				{label: "car", x: 0, y: 400, w: 120, h: 80, vx: 350, life: all(4 * time.Second),
					lowScore: []span{{time.Second, 1400 * time.Millisecond}}, lowValue: 0.05},
			}, frames: every(fps25, 4*time.Second), jitter: 1, seed: 5},
			wantStarted: 1, minCoverage: 0.99,
			check: func(t *testing.T, _ scenario, r result) {
				if r.lostEvents != 1 {
					t.Errorf("%d lost events, want 1", r.lostEvents)
				}
			},
		},
		{
			name: "irregular frame times with a 0.6 s skip at high speed",
			sc: scenario{objects: []object{
				car(0, 400, 600, 40, all(5*time.Second)),
				car(3000, 600, -500, 0, all(5*time.Second)),
			}, frames: irregular(6, 20*time.Millisecond, 100*time.Millisecond, 5*time.Second,
				span{2 * time.Second, 2600 * time.Millisecond}), jitter: 2, seed: 6},
			wantStarted: 2, minCoverage: 0.97,
		},
		{
			name: "person walking past a car is never matched to it",
			sc: scenario{objects: []object{
				car(200, 400, 150, 0, all(4*time.Second)),
				{label: "person", x: 900, y: 380, w: 40, h: 100, vx: -180, life: all(4 * time.Second)},
			}, frames: every(fps25, 4*time.Second), jitter: 1, seed: 7},
			wantStarted: 2, minCoverage: 0.99,
			check: func(t *testing.T, _ scenario, r result) {
				counts := map[string]int{}
				for _, l := range r.labels {
					counts[l]++
				}
				if counts["car"] != 1 || counts["person"] != 1 {
					t.Errorf("track labels %v, want one car and one person", r.labels)
				}
			},
		},
		{
			name: "label flicker keeps one track with the majority label",
			sc: scenario{objects: []object{
				{label: "car", x: 0, y: 400, w: 120, h: 80, vx: 300, life: all(4 * time.Second), altLabel: "truck", altProb: 0.3},
			}, frames: every(fps25, 4*time.Second), seed: 8},
			wantStarted: 1, minCoverage: 0.99, wantNoLost: true,
			check: func(t *testing.T, _ scenario, r result) {
				if got := r.ended[0].Label(); got != "car" {
					t.Errorf("majority label %q, want car", got)
				}
			},
		},
		{
			name: "gap longer than the lost buffer starts a new ID",
			sc: scenario{objects: []object{
				{label: "car", x: 0, y: 400, w: 120, h: 80, vx: 100, life: all(8 * time.Second),
					gaps: []span{{2 * time.Second, 5 * time.Second}}},
			}, frames: every(fps25, 8*time.Second)},
			wantStarted: 2, maxSwitches: 1, minCoverage: 0.97,
			check: func(t *testing.T, _ scenario, r result) {
				first := r.ended[0]
				end := r.endTimes[first.ID()]
				if lag := end.Sub(first.LastSeen()); lag <= 2*time.Second || lag > 2*time.Second+fps25 {
					t.Errorf("track ended %v after it was last seen, want just over LostTTL (2s)", lag)
				}
			},
		},
		{
			name: "one-frame false positives are never confirmed",
			sc: scenario{objects: []object{
				car(0, 100, 300, 0, all(4*time.Second)),
			}, frames: every(fps25, 4*time.Second), clutter: 3, seed: 9},
			wantStarted: 1, minCoverage: 0.99,
		},
		{
			name: "MinHits 1 confirms at once",
			sc: scenario{objects: []object{
				car(0, 100, 300, 0, span{time.Second, 3 * time.Second}),
			}, frames: every(fps25, 4*time.Second), override: func(c *Config) { c.MinHits = 1 }},
			wantStarted: 1, minCoverage: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.sc)
			if r.started != tc.wantStarted {
				t.Errorf("confirmed %d tracks, want %d", r.started, tc.wantStarted)
			}
			if len(r.ended) != r.started {
				t.Errorf("%d tracks ended (after Flush), %d started", len(r.ended), r.started)
			}
			if r.switches > tc.maxSwitches {
				t.Errorf("%d ID switches, want at most %d (ids %v)", r.switches, tc.maxSwitches, r.ids)
			}
			if r.coverage < tc.minCoverage {
				t.Errorf("coverage %.3f, want >= %.3f", r.coverage, tc.minCoverage)
			}
			if tc.wantNoLost && r.lostEvents != 0 {
				t.Errorf("%d lost events, want none", r.lostEvents)
			}
			if tc.reportSwitch {
				t.Logf("ID switches: %d", r.switches)
			}
			if tc.check != nil {
				tc.check(t, tc.sc, r)
			}
		})
	}
}

// TestTrackerNoIDStorm runs a crowd of randomly moving objects with noise and
// missed detections and checks that the number of tracks stays close to the
// number of objects.
func TestTrackerNoIDStorm(t *testing.T) {
	tests := []struct {
		name    string
		objects int
		drop    float64
		jitter  float32
		frames  []time.Duration
	}{
		{name: "30 objects, 25 fps", objects: 30, drop: 0.05, jitter: 2, frames: every(fps25, 6*time.Second)},
		{name: "30 objects, irregular frames", objects: 30, drop: 0.05, jitter: 2,
			frames: irregular(11, 30*time.Millisecond, 120*time.Millisecond, 6*time.Second)},
		{name: "15 objects, 15% missed", objects: 15, drop: 0.15, jitter: 3, frames: every(fps25, 6*time.Second)},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(i), 5))
			sc := scenario{frames: tc.frames, drop: tc.drop, jitter: tc.jitter, seed: uint64(i)}
			for k := range tc.objects {
				// Lanes 55 px apart (boxes 50-80 px high overlap their neighbours), random speeds and directions, random entry times.
				dir := float32(1)
				if k%2 == 1 {
					dir = -1
				}
				from := time.Duration(rng.Int64N(int64(2 * time.Second)))
				o := car(float32(rng.Float64()*2000), float32(100+55*k), dir*float32(100+500*rng.Float64()),
					float32(20*rng.Float64()-10), span{from, from + 3*time.Second})
				o.w, o.h = float32(60+80*rng.Float64()), float32(50+30*rng.Float64())
				sc.objects = append(sc.objects, o)
			}
			r := run(t, sc)
			t.Logf("objects %d, tracks %d, ID switches %d, coverage %.3f", tc.objects, r.started, r.switches, r.coverage)
			if maxTracks := tc.objects + tc.objects/10; r.started < tc.objects || r.started > maxTracks {
				t.Errorf("%d tracks for %d objects, want %d..%d", r.started, tc.objects, tc.objects, maxTracks)
			}
			if r.switches > tc.objects/10 {
				t.Errorf("%d ID switches for %d objects", r.switches, tc.objects)
			}
			if r.coverage < 0.95 {
				t.Errorf("coverage %.3f, want >= 0.95", r.coverage)
			}
		})
	}
}

func TestTrackerLifecycle(t *testing.T) {
	tr, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	box := func(x float32) infer.Detection {
		return infer.Detection{Box: infer.Box{X1: x, Y1: 10, X2: x + 50, Y2: 50}, Score: 0.9, Label: "car"}
	}
	kinds := func() string {
		var s []string
		for _, e := range tr.Events() {
			s = append(s, e.Kind.String())
		}
		return strings.Join(s, ",")
	}
	steps := []struct {
		name       string
		at         time.Duration
		dets       []infer.Detection
		wantActive int
		wantLive   int
		wantEvents string
	}{
		{name: "first frame confirms at once", at: 0, dets: []infer.Detection{box(0)}, wantActive: 1, wantLive: 1, wantEvents: "started"},
		{name: "matched", at: 40 * time.Millisecond, dets: []infer.Detection{box(4)}, wantActive: 1, wantLive: 1, wantEvents: "updated"},
		{name: "second object is tentative", at: 80 * time.Millisecond, dets: []infer.Detection{box(8), box(500)}, wantActive: 1, wantLive: 2, wantEvents: "updated"},
		{name: "second object confirmed", at: 120 * time.Millisecond, dets: []infer.Detection{box(12), box(500)}, wantActive: 2, wantLive: 2, wantEvents: "updated,started"},
		{name: "both missed", at: 160 * time.Millisecond, dets: nil, wantActive: 0, wantLive: 2, wantEvents: "lost,lost"},
		{name: "one refound", at: 200 * time.Millisecond, dets: []infer.Detection{box(20)}, wantActive: 1, wantLive: 2, wantEvents: "updated"},
		// The first track coasts at its estimated 100 px/s and meets box(220);
		// the second has been lost for 2.04 s, longer than LostTTL.
		{name: "coasting track refound, the other ends", at: 2200 * time.Millisecond, dets: []infer.Detection{box(220)}, wantActive: 1, wantLive: 1, wantEvents: "updated,ended"},
		{name: "a gap longer than the buffer loses and ends at once", at: 4300 * time.Millisecond, dets: nil, wantActive: 0, wantLive: 0, wantEvents: "lost,ended"},
	}
	for _, st := range steps {
		active := tr.Update(t0.Add(st.at), st.dets)
		if len(active) != st.wantActive || tr.Live() != st.wantLive || kinds() != st.wantEvents {
			t.Fatalf("%s: %d active, %d live, events %q; want %d, %d, %q",
				st.name, len(active), tr.Live(), kinds(), st.wantActive, st.wantLive, st.wantEvents)
		}
	}
	// Not a first frame any more: the new object is tentative for one frame,
	// then gets the next ID. IDs never repeat.
	tr.Update(t0.Add(5*time.Second), []infer.Detection{box(0)})
	active := tr.Update(t0.Add(5040*time.Millisecond), []infer.Detection{box(4)})
	if len(active) != 1 || active[0].ID() != 3 {
		t.Fatalf("after the old tracks ended, new track %v, want one track with ID 3", active)
	}
	flushed := tr.Flush()
	if len(flushed) != 1 || flushed[0].State() != StateEnded || kinds() != "ended" || tr.Live() != 0 {
		t.Fatalf("Flush returned %d tracks, events %q, live %d", len(flushed), kinds(), tr.Live())
	}
	if got := tr.Ended(); len(got) != 1 || got[0] != flushed[0] {
		t.Fatalf("Ended() = %v after Flush", got)
	}
}

func TestTrackerIgnoresInvalidDetections(t *testing.T) {
	tr, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	dets := []infer.Detection{
		{Box: infer.Box{X1: nan, Y1: 0, X2: 10, Y2: 10}, Score: 0.9, Label: "car"},
		{Box: infer.Box{X1: 0, Y1: 0, X2: inf, Y2: 10}, Score: 0.9, Label: "car"},
		{Box: infer.Box{X1: 0, Y1: 0, X2: 10, Y2: 10}, Score: nan, Label: "car"},
		{Box: infer.Box{X1: 10, Y1: 0, X2: 0, Y2: 10}, Score: 0.9, Label: "car"}, // inverted
		{Box: infer.Box{X1: 0, Y1: 5, X2: 10, Y2: 5}, Score: 0.9, Label: "car"},  // empty
	}
	for i := range 3 {
		if got := tr.Update(t0.Add(time.Duration(i)*fps25), dets); len(got) != 0 || tr.Live() != 0 {
			t.Fatalf("frame %d: %d tracks from invalid detections", i, len(got))
		}
	}
}

func TestTrackerTimestampGoingBackwards(t *testing.T) {
	tr, err := New(DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := infer.Detection{Box: infer.Box{X1: 0, Y1: 0, X2: 50, Y2: 40}, Score: 0.9, Label: "car"}
	tr.Update(t0, []infer.Detection{d})
	got := tr.Update(t0.Add(-time.Second), []infer.Detection{d})
	if len(got) != 1 || got[0].ID() != 1 {
		t.Fatalf("after a backwards timestamp got %v, want track 1 kept", got)
	}
	if b := got[0].Box(); math.IsNaN(float64(b.X1)) || b.IoU(d.Box) < 0.9 {
		t.Fatalf("box after a backwards timestamp %+v", b)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string // substrings, all reported at once
	}{
		{name: "defaults are valid", mutate: func(*Config) {}},
		{name: "bad scores and hits", mutate: func(c *Config) {
			c.HighScore, c.LowScore, c.MinHits = 1.5, 0.9, 0
		}, wantErr: []string{"HighScore", "MinHits"}},
		{name: "low above high", mutate: func(c *Config) { c.LowScore, c.HighScore = 0.6, 0.4 }, wantErr: []string{"LowScore"}},
		{name: "negative durations and sizes", mutate: func(c *Config) {
			c.LostTTL, c.MaxHistory = -time.Second, -1
		}, wantErr: []string{"LostTTL", "MaxHistory"}},
		{name: "bad kalman noise", mutate: func(c *Config) { c.Kalman.AccelerationStd = 0 }, wantErr: []string{"Kalman"}},
		{name: "NaN threshold", mutate: func(c *Config) { c.MatchIoU = float32(math.NaN()) }, wantErr: []string{"MatchIoU"}},
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
			if _, err := New(cfg, nil); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestHistoryIsCapped(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxHistory = 40
	tr, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tk *Track
	for i := range 500 {
		x := float32(i)
		got := tr.Update(t0.Add(time.Duration(i)*fps25), []infer.Detection{{Box: infer.Box{X1: x, Y1: 0, X2: x + 50, Y2: 40}, Score: 0.9, Label: "car"}})
		if len(got) != 1 {
			t.Fatalf("frame %d: %d tracks", i, len(got))
		}
		tk = got[0]
		if n := len(tk.History()); n > cfg.MaxHistory+cfg.MaxHistory/4 {
			t.Fatalf("frame %d: history of %d observations, cap %d", i, n, cfg.MaxHistory)
		}
	}
	h := tk.History()
	if last := h[len(h)-1]; !last.Time.Equal(t0.Add(499 * fps25)) {
		t.Fatalf("latest observation at %v, want the last frame", last.Time)
	}
	if tk.Hits() != 500 || tk.Lifetime() != 499*fps25 {
		t.Fatalf("hits %d, lifetime %v after trimming", tk.Hits(), tk.Lifetime())
	}
}

func TestDefaultClassGroup(t *testing.T) {
	tests := []struct {
		name string
		a, b infer.Detection
		same bool
	}{
		{name: "car and truck", a: infer.Detection{Label: "car"}, b: infer.Detection{Label: "Truck"}, same: true},
		{name: "car and person", a: infer.Detection{Label: "car"}, b: infer.Detection{Label: "person"}, same: false},
		{name: "motorcycle and bicycle", a: infer.Detection{Label: "motorcycle"}, b: infer.Detection{Label: "bicycle"}, same: true},
		{name: "motorcycle and car", a: infer.Detection{Label: "motorcycle"}, b: infer.Detection{Label: "car"}, same: false},
		{name: "unlabelled, same class", a: infer.Detection{Class: 3}, b: infer.Detection{Class: 3}, same: true},
		{name: "unlabelled, different class", a: infer.Detection{Class: 3}, b: infer.Detection{Class: 4}, same: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultClassGroup(tc.a) == DefaultClassGroup(tc.b); got != tc.same {
				t.Fatalf("same group = %v, want %v (%q, %q)", got, tc.same, DefaultClassGroup(tc.a), DefaultClassGroup(tc.b))
			}
		})
	}
}

// FuzzTrackerUpdate feeds arbitrary detections and timestamps: the tracker
// must not panic, must keep IDs unique and must never report non-finite boxes.
func FuzzTrackerUpdate(f *testing.F) {
	f.Add([]byte{0, 10, 20, 30, 40, 200, 1, 5, 10, 20, 30, 41, 200, 2})
	f.Add([]byte{255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := New(DefaultConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		ts := t0
		seen := map[*Track]int64{}
		// 7 bytes per detection: x, y, w, h, score, time step, flags.
		var dets []infer.Detection
		for len(data) >= 7 {
			c := data[:7]
			data = data[7:]
			x, y := float32(c[0])*8, float32(c[1])*8
			dets = append(dets, infer.Detection{
				Box:   infer.Box{X1: x, Y1: y, X2: x + float32(c[2]) - 20, Y2: y + float32(c[3]) - 20},
				Score: float32(c[4]) / 255,
				Label: []string{"car", "truck", "person", ""}[c[6]%4],
			})
			if c[6]&4 != 0 || len(data) < 7 {
				ts = ts.Add(time.Duration(int(c[5])-16) * 10 * time.Millisecond)
				for _, tk := range tr.Update(ts, dets) {
					b := tk.Box()
					for _, v := range []float32{b.X1, b.Y1, b.X2, b.Y2} {
						if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
							t.Fatalf("track %d has box %+v", tk.ID(), b)
						}
					}
					if id, ok := seen[tk]; ok && id != tk.ID() {
						t.Fatalf("track changed ID from %d to %d", id, tk.ID())
					}
					seen[tk] = tk.ID()
				}
				dets = dets[:0]
			}
		}
		ids := map[int64]bool{}
		for _, tk := range tr.Flush() {
			if ids[tk.ID()] {
				t.Fatalf("ID %d used twice", tk.ID())
			}
			ids[tk.ID()] = true
		}
	})
}

// BenchmarkUpdate30Objects measures one tracker update with 30 moving objects
// (plus low-score and clutter detections) at 25 fps.
func BenchmarkUpdate30Objects(b *testing.B) {
	const n, period = 30, 250 // objects; frames per cycle of the periodic motion
	rng := rand.New(rand.NewPCG(1, 1))
	frames := make([][]infer.Detection, period)
	type orbit struct{ cx, cy, r, phase, w, h float64 }
	orbits := make([]orbit, n)
	for i := range orbits {
		orbits[i] = orbit{cx: 200 + 400*float64(i%6), cy: 200 + 250*float64(i/6), r: 80 + 40*rng.Float64(),
			phase: 2 * math.Pi * rng.Float64(), w: 60 + 60*rng.Float64(), h: 50 + 30*rng.Float64()}
	}
	for f := range frames {
		for i, o := range orbits {
			a := o.phase + 2*math.Pi*float64(f)/period
			x, y := o.cx+o.r*math.Cos(a), o.cy+o.r*math.Sin(a)
			score := float32(0.8)
			if (f+i)%10 == 0 {
				score = 0.3 // some low-score detections for the second association
			}
			frames[f] = append(frames[f], infer.Detection{
				Box:   infer.Box{X1: float32(x), Y1: float32(y), X2: float32(x + o.w), Y2: float32(y + o.h)},
				Score: score, Label: "car",
			})
		}
	}
	tr, err := New(DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		tr.Update(t0.Add(time.Duration(k)*fps25), frames[k%period])
		k++
	}
	if tr.Live() < n {
		b.Fatalf("%d live tracks, want %d", tr.Live(), n)
	}
}
