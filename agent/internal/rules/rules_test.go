package rules

import (
	"math"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/speed"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

// The test scene, in ground metres: traffic runs along +x. Lanes are
// y∈[−3.5,0] and y∈[0,3.5], split by a solid line from x=0 to x=200; a bus
// lane is y∈[3.5,7]; the speed zone covers x∈[0,200]; a stop line at x=230
// and an exit line at x=250 span the road.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func pt(x, y float64) calibration.Point { return calibration.Point{X: x, Y: y} }

func rect(x0, y0, x1, y1 float64) []calibration.Point {
	return []calibration.Point{pt(x0, y0), pt(x1, y0), pt(x1, y1), pt(x0, y1)}
}

func scene() *calibration.Calibration {
	return &calibration.Calibration{
		Zones: []calibration.Zone{
			{Name: "tramo", Kind: calibration.ZoneSpeed, SpeedLimitKmh: 60, Ground: rect(0, -7, 200, 7)},
			{Name: "bus", Kind: calibration.ZoneBusLane, Ground: rect(0, 3.5, 200, 7)},
			{Name: "road", Kind: calibration.ZoneRoad, Ground: rect(-50, -7, 300, 7)},
		},
		Lines: []calibration.Line{
			{Name: "solid", Kind: calibration.LineSolidLane, Ground: []calibration.Point{pt(0, 0), pt(200, 0)}},
			{Name: "stop", Kind: calibration.LineStop, Ground: []calibration.Point{pt(230, -7), pt(230, 7)}},
			{Name: "exit", Kind: calibration.LineCount, Ground: []calibration.Point{pt(250, -7), pt(250, 7)}},
		},
	}
}

// path samples a trajectory at 10 Hz from t0 for the given duration.
func path(d time.Duration, f func(t float64) calibration.Point) []Observation {
	const dt = 100 * time.Millisecond
	var obs []Observation
	for at := time.Duration(0); at <= d; at += dt {
		g := f(at.Seconds())
		obs = append(obs, Observation{At: t0.Add(at), Ground: g})
	}
	return obs
}

// run feeds a track through the engine, ends it and returns every violation.
func run(t testing.TB, e *Engine, id int64, class string, obs []Observation, est *speed.Estimate) []Violation {
	t.Helper()
	var out []Violation
	for _, o := range obs {
		out = append(out, e.Update(Update{TrackID: id, Class: class, Observation: o})...)
	}
	out = append(out, e.End(id, est)...)
	if e.Live() != 0 {
		t.Fatalf("engine still holds %d tracks after End", e.Live())
	}
	return out
}

func rulesOf(vs []Violation) []string {
	var r []string
	for _, v := range vs {
		r = append(r, v.Rule)
	}
	return r
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSpeed(t *testing.T) {
	inZone := path(3*time.Second, func(s float64) calibration.Point { return pt(20+20*s, -1.75) })
	outside := path(3*time.Second, func(s float64) calibration.Point { return pt(-40+5*s, -1.75) })
	cases := []struct {
		name     string
		obs      []Observation
		speed    float64
		sigma    float64
		k        float64
		override float64
		limit    float64 // expected limit when cited
		cite     bool
	}{
		{"speeder cited once", inZone, 80, 2, 1, 0, 60, true},
		{"under limit plus tolerance", inZone, 64, 1, 1, 0, 0, false},
		{"over tolerance but within uncertainty", inZone, 67, 4, 1, 0, 0, false},
		{"cited with k=1", inZone, 70, 3, 1, 0, 60, true},
		{"not cited with k=2", inZone, 70, 3, 2, 0, 0, false},
		{"override limit replaces the zone's", inZone, 52, 1, 1, 40, 40, true},
		{"override applies outside zones", outside, 52, 1, 1, 40, 40, true},
		{"outside any speed zone", outside, 150, 1, 1, 0, 0, false},
		{"no speed estimate", inZone, -1, 0, 1, 0, 0, false},
		{"NaN sigma never cites", inZone, 120, math.NaN(), 1, 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Speed.CoverageK = tc.k
			cfg.Speed.OverrideLimitKmh = tc.override
			e, err := New(scene(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			var est *speed.Estimate
			if tc.speed >= 0 {
				est = &speed.Estimate{SpeedKmh: tc.speed, SigmaKmh: tc.sigma, End: tc.obs[len(tc.obs)-1].At}
			}
			got := run(t, e, 7, "car", tc.obs, est)
			// A second End for the same track must not cite again.
			got = append(got, e.End(7, est)...)
			if !tc.cite {
				if len(got) != 0 {
					t.Fatalf("got %v, want no violation", rulesOf(got))
				}
				return
			}
			if len(got) != 1 || got[0].Type != event.SpeedViolation || got[0].TrackID != 7 || got[0].Class != "car" {
				t.Fatalf("got %+v, want one speed violation of track 7", got)
			}
			v := got[0]
			wantMargin := tc.speed - tc.k*tc.sigma - 5 - tc.limit
			if v.LimitKmh != tc.limit || v.ToleranceKmh != 5 || v.SpeedKmh != tc.speed || v.SigmaKmh != tc.sigma ||
				v.CoverageK != tc.k || math.Abs(v.MarginKmh-wantMargin) > 1e-9 || v.Details["uncertainty_kmh"] != tc.k*tc.sigma {
				t.Fatalf("violation %+v: want limit %g, tolerance 5, margin %g", v, tc.limit, wantMargin)
			}
			if !v.At.Equal(est.End) {
				t.Fatalf("At = %v, want the measurement's end %v", v.At, est.End)
			}
		})
	}
}

func TestCheckSpeedBoundary(t *testing.T) {
	cases := []struct {
		name                     string
		speed, sigma, limit, tol float64
		k                        float64
		want                     bool
	}{
		{"exactly at threshold", 68, 3, 60, 5, 1, false},
		{"just above threshold", 68.01, 3, 60, 5, 1, true},
		{"zero limit", 100, 1, 0, 5, 1, false},
		{"negative speed", -100, 1, 60, 5, 1, false},
		{"infinite speed", math.Inf(1), 1, 60, 5, 1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := CheckSpeed(tc.speed, tc.sigma, tc.limit, tc.tol, tc.k)
			if ok != tc.want {
				t.Fatalf("CheckSpeed = %v, want %v", ok, tc.want)
			}
			if ok && !(v.MarginKmh > 0) {
				t.Fatalf("cited with margin %g", v.MarginKmh)
			}
		})
	}
}

func TestRedLight(t *testing.T) {
	const v = 10.0                // m/s
	const cross = 3 * time.Second // a steady vehicle from x=200 crosses x=230 at 3 s
	steady := path(6*time.Second, func(s float64) calibration.Point { return pt(200+v*s, 1) })
	// stopAt drives at v then brakes at 5 m/s² to stand still at x.
	stopAt := func(x float64, resume time.Duration) []Observation {
		brake := v * v / (2 * 5)
		tb := (x - brake - 200) / v
		tStop := tb + v/5
		return path(12*time.Second, func(s float64) calibration.Point {
			switch {
			case s < tb:
				return pt(200+v*s, 1)
			case s < tStop:
				u := s - tb
				return pt(x-brake+v*u-2.5*u*u, 1)
			case resume > 0 && s > resume.Seconds():
				return pt(x+v*(s-resume.Seconds()), 1)
			}
			return pt(x, 1)
		})
	}
	type change struct {
		p  Phase
		at time.Duration
	}
	cases := []struct {
		name     string
		signal   []change
		obs      []Observation
		exitLine bool
		cite     bool
	}{
		{"red-light runner cited", []change{{PhaseGreen, 0}, {PhaseAmber, 0}, {PhaseRed, cross - 2*time.Second}}, steady, true, true},
		{"runner cited by exit distance", []change{{PhaseRed, cross - 2*time.Second}}, steady, false, true},
		{"stopped at the line in time", []change{{PhaseRed, time.Second}}, stopAt(228, 0), true, false},
		{"stopped just past the line, left on green", []change{{PhaseRed, 2 * time.Second}, {PhaseGreen, 9 * time.Second}}, stopAt(231, 10*time.Second), true, false},
		{"stopped just past the line, exit distance", []change{{PhaseRed, 2 * time.Second}, {PhaseGreen, 9 * time.Second}}, stopAt(231, 10*time.Second), false, false},
		{"crossed in amber", []change{{PhaseGreen, 0}, {PhaseAmber, cross - time.Second}}, steady, true, false},
		{"crossed within the grace after red", []change{{PhaseAmber, 0}, {PhaseRed, cross - 300*time.Millisecond}}, steady, true, false},
		{"crossed on green, then red", []change{{PhaseGreen, 0}, {PhaseRed, cross + 500*time.Millisecond}}, steady, true, false},
		{"signal unknown", nil, steady, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tl := NewTimeline(0, 0)
			for _, c := range tc.signal {
				tl.Set(c.p, t0.Add(c.at))
			}
			rl := RedLightConfig{StopLine: "stop", Signal: tl}
			if tc.exitLine {
				rl.ExitLine = "exit"
			}
			cfg := DefaultConfig()
			cfg.RedLights = []RedLightConfig{rl}
			e, err := New(scene(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, e, 3, "car", tc.obs, nil)
			if !tc.cite {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no violation", got)
				}
				return
			}
			if !equal(rulesOf(got), []string{RuleRedLight}) || got[0].Type != event.RedLight {
				t.Fatalf("got %v, want one red-light violation", rulesOf(got))
			}
			r := got[0]
			if r.Before == nil || r.After == nil || !(r.Before.Ground.X < 230 && r.After.Ground.X >= 230) {
				t.Fatalf("evidence observations %+v / %+v do not straddle the stop line", r.Before, r.After)
			}
			if r.At.Before(r.Before.At) || r.At.After(r.After.At) || r.At.Sub(t0.Add(cross)).Abs() > time.Millisecond {
				t.Fatalf("crossing time %v, want %v between the evidence frames", r.At, t0.Add(cross))
			}
			if into := r.Details["time_into_red_s"].(float64); math.Abs(into-2) > 1e-3 {
				t.Fatalf("time into red %g s, want 2", into)
			}
		})
	}
}

func TestLaneInvasion(t *testing.T) {
	straight := func(y float64) func(float64) calibration.Point {
		return func(s float64) calibration.Point { return pt(10+15*s, y) }
	}
	// lane change from y0 to y1 over 2 s starting at 1 s.
	change := func(y0, y1 float64) func(float64) calibration.Point {
		return func(s float64) calibration.Point {
			u := min(max((s-1)/2, 0), 1)
			return pt(10+15*s, y0+(y1-y0)*u)
		}
	}
	// touch: drifts to y=peak and back.
	touch := func(peak float64) func(float64) calibration.Point {
		return func(s float64) calibration.Point {
			u := min(max((s-1)/2, 0), 1)
			return pt(10+15*s, -1.75+(peak+1.75)*math.Sin(math.Pi*u))
		}
	}
	parked := func(s float64) calibration.Point { // jitters ±0.3 m around one spot
		return pt(50+0.3*math.Sin(7*s), 5+0.3*math.Cos(5*s))
	}
	cases := []struct {
		name  string
		class string
		obs   []Observation
		want  []string
	}{
		{"lane change over solid line cited once", "car", path(6*time.Second, change(-1.75, 1.75)), []string{RuleSolidLine}},
		{"change and back still cited once", "car", append(path(4*time.Second, change(-1.75, 1.75)), shift(path(4*time.Second, change(1.75, -1.75)), 4100*time.Millisecond, 60)...), []string{RuleSolidLine}},
		{"brief touch of the line not cited", "car", path(5*time.Second, touch(0.3)), nil},
		{"lane change beyond the solid line's end not cited", "car", shift(path(5*time.Second, change(-1.75, 1.75)), 0, 200), nil},
		{"straight in lane not cited", "car", path(5*time.Second, straight(-1.75)), nil},
		{"bus in bus lane exempt", "bus", path(6*time.Second, straight(5)), nil},
		{"car in bus lane over 20 m cited", "car", path(6*time.Second, straight(5)), []string{RuleLaneZone}},
		{"car in bus lane under 20 m not cited", "car", path(1200*time.Millisecond, straight(5)), nil},
		{"car parked in bus lane not cited", "car", path(30*time.Second, parked), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(scene(), DefaultConfig(), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := run(t, e, 11, tc.class, tc.obs, nil)
			if !equal(rulesOf(got), tc.want) {
				t.Fatalf("got %v, want %v", rulesOf(got), tc.want)
			}
			for _, v := range got {
				if v.Type != event.LaneInvasion || v.Before == nil || v.After == nil || v.Class != tc.class {
					t.Fatalf("violation %+v: want a lane invasion with evidence", v)
				}
				if v.Rule == RuleSolidLine && (v.Before.Ground.Y >= 0 || v.After.Ground.Y < 0) {
					t.Fatalf("evidence %+v / %+v does not straddle the line", v.Before, v.After)
				}
				if v.Rule == RuleLaneZone && !(v.Details["distance_m"].(float64) > 20) {
					t.Fatalf("cited at %v m", v.Details["distance_m"])
				}
			}
		})
	}
}

// shift delays observations by d and moves them dx metres along x.
func shift(obs []Observation, d time.Duration, dx float64) []Observation {
	out := make([]Observation, len(obs))
	for i, o := range obs {
		o.At = o.At.Add(d)
		o.Ground.X += dx
		out[i] = o
	}
	return out
}

func TestExemptByZoneName(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Lane.Exempt = map[string][]string{"bus": {"bus", "ambulance"}}
	e, err := New(scene(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	lane := path(6*time.Second, func(s float64) calibration.Point { return pt(10+15*s, 5) })
	for _, tc := range []struct {
		class string
		cited bool
	}{{"ambulance", false}, {"bus", false}, {"truck", true}, {"", true}} {
		got := run(t, e, 1, tc.class, lane, nil)
		if (len(got) == 1) != tc.cited {
			t.Errorf("class %q: got %v, cited want %v", tc.class, rulesOf(got), tc.cited)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RedLights = []RedLightConfig{{StopLine: "nope", ExitLine: "nada"}}
	cfg.Speed.ToleranceKmh = -1
	_, err := New(scene(), cfg, nil)
	if err == nil {
		t.Fatal("New accepted a bad config")
	}
	for _, want := range []string{`"nope"`, `"nada"`, "no signal source", "speed:"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := New(nil, DefaultConfig(), nil); err == nil {
		t.Fatal("New accepted a nil calibration")
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestUpdateIgnoresOutOfOrder(t *testing.T) {
	e, err := New(scene(), DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	obs := path(6*time.Second, func(s float64) calibration.Point { return pt(10+15*s, 5) })
	var n int
	for i, o := range obs {
		n += len(e.Update(Update{TrackID: 1, Class: "car", Observation: o}))
		if i > 0 { // a stale repeat of the previous frame far away must be ignored
			n += len(e.Update(Update{TrackID: 1, Class: "car", Observation: Observation{At: obs[i-1].At, Ground: pt(500, 500)}}))
		}
	}
	if n != 1 {
		t.Fatalf("got %d violations, want 1", n)
	}
}

func BenchmarkEngineUpdate30Tracks(b *testing.B) {
	tl := NewTimeline(0, 0)
	tl.Set(PhaseRed, t0)
	cfg := DefaultConfig()
	cfg.RedLights = []RedLightConfig{{StopLine: "stop", ExitLine: "exit", Signal: tl}}
	e, err := New(scene(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	const tracks = 30
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		at := t0.Add(time.Duration(i+1) * 40 * time.Millisecond)
		for id := int64(1); id <= tracks; id++ {
			// Each track drives along its own lane offset, wrapping around the scene.
			x := math.Mod(float64(i)*0.5+float64(id)*9, 280) - 20
			e.Update(Update{TrackID: id, Class: "car", Observation: Observation{At: at, Ground: pt(x, float64(id%4)*3.5-5)}})
		}
	}
}

func TestPrune(t *testing.T) {
	e, err := New(scene(), DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		e.Update(Update{TrackID: id, Class: "car", Observation: Observation{At: t0.Add(time.Duration(id) * time.Second), Ground: pt(0, 0)}})
	}
	if n := e.Prune(t0.Add(2500 * time.Millisecond)); n != 2 || e.Live() != 1 {
		t.Fatalf("pruned %d, %d live; want 2 pruned, 1 live", n, e.Live())
	}
}

// TestRedLightFromCamera runs the red-light rule on the picture classifier:
// the light's frames and the vehicle's observations come from the same clock.
func TestRedLightFromCamera(t *testing.T) {
	cases := []struct {
		name  string
		redAt int64 // frame (25 fps) at which the lamp turns red
		cite  bool
	}{
		{"lamp red 2 s before the crossing", 25, true},
		{"lamp red 0.2 s before the crossing", 70, false}, // within the grace
		{"lamp still green", 1000, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lc, err := NewLightClassifier(LightConfig{Region: lightRegion})
			if err != nil {
				t.Fatal(err)
			}
			cfg := DefaultConfig()
			cfg.RedLights = []RedLightConfig{{StopLine: "stop", ExitLine: "exit", Signal: lc}}
			e, err := New(scene(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			// The vehicle crosses x=230 at 3 s (frame 75), as lampFrame's clock runs at 25 fps.
			var got []Violation
			for seq := int64(0); seq < 150; seq++ {
				f := lampFrame(seq, 2, 170, 235, 40)
				if seq >= tc.redAt {
					f = lampFrame(seq, 0, 40, 30, 235)
				}
				lc.Observe(f)
				s := f.Captured.Sub(t0).Seconds()
				got = append(got, e.Update(Update{TrackID: 9, Class: "car", Observation: Observation{At: f.Captured, Ground: pt(200+10*s, -1)}})...)
			}
			got = append(got, e.End(9, nil)...)
			if cited := len(got) == 1 && got[0].Rule == RuleRedLight; cited != tc.cite || len(got) > 1 {
				t.Fatalf("got %v, want cited=%v", rulesOf(got), tc.cite)
			}
		})
	}
}
