package scenegen

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
)

var rulePresets = []string{"redlight", "lane"}

func TestRulePresets(t *testing.T) {
	for _, name := range rulePresets {
		t.Run(name, func(t *testing.T) {
			for seed := uint64(1); seed <= 5; seed++ {
				s, err := Preset(name, seed, PresetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Validate(); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if s.Camera.Width != 1280 || s.Camera.Height != 720 || s.FPS != 25 || s.Duration != 10 {
					t.Errorf("seed %d: %dx%d at %v fps for %v s, want 1280x720, 25 fps, 10 s", seed, s.Camera.Width, s.Camera.Height, s.FPS, s.Duration)
				}
				// No two cars come within minGapM along y while less than a
				// lane apart across it (lane changes included).
				for _, tt := range newTiming(s).t {
					for i, a := range s.Cars {
						xa, ya := s.groundPoint(a, tt)
						for _, b := range s.Cars[i+1:] {
							xb, yb := s.groundPoint(b, tt)
							if math.Abs(xa-xb) < 0.8*s.Road.LaneWidthM && math.Abs(ya-yb) < minGapM {
								t.Fatalf("seed %d: cars %d and %d collide at t=%.2f s: (%.1f, %.1f) and (%.1f, %.1f)", seed, a.ID, b.ID, tt, xa, ya, xb, yb)
							}
						}
					}
				}
			}
			s1, _ := Preset(name, 1, PresetOptions{})
			again, _ := Preset(name, 1, PresetOptions{})
			if !reflect.DeepEqual(s1, again) {
				t.Error("the same seed gave another scene")
			}
			other, _ := Preset(name, 2, PresetOptions{})
			if reflect.DeepEqual(s1.Cars, other.Cars) {
				t.Error("another seed gave the same cars")
			}
		})
	}
}

func TestCarStops(t *testing.T) {
	c := Car{ID: 1, Lane: 0, SpeedKmh: 36, AccelMS2: -2, Stops: true, PassTime: 1}
	// 10 m/s braking at 2 m/s²: rest 5 s after PassTime, 25 m further.
	cases := []struct {
		name      string
		t         float64
		wantDist  float64
		wantSpeed float64
	}{
		{"at pass", 1, 0, 36},
		{"braking", 3, 16, 21.6},
		{"at rest", 6, 25, 0},
		{"stays", 9, 25, 0},
	}
	for _, k := range cases {
		t.Run(k.name, func(t *testing.T) {
			if d := c.distance(k.t); math.Abs(d-k.wantDist) > 1e-9 {
				t.Errorf("distance(%v) = %v, want %v", k.t, d, k.wantDist)
			}
			if v := c.speedAt(k.t); math.Abs(v-k.wantSpeed) > 1e-9 {
				t.Errorf("speedAt(%v) = %v, want %v", k.t, v, k.wantSpeed)
			}
		})
	}
	// Without Stops the same car would reverse.
	c.Stops = false
	if d := c.distance(9); d >= 25 {
		t.Errorf("a car that does not stop should turn back, got %v m", d)
	}
}

func TestLaneChangeMotion(t *testing.T) {
	s := LaneScene(1)
	var c Car
	for _, k := range s.Cars {
		if k.LaneChange != nil {
			c = k
		}
	}
	if c.LaneChange == nil {
		t.Fatal("no lane changer")
	}
	lc := c.LaneChange
	from, to := s.Road.LaneCentreX(c.Lane), s.Road.LaneCentreX(lc.ToLane)
	prev := from
	for tt := 0.0; tt <= s.Duration; tt += 0.01 {
		x, _ := s.groundPoint(c, tt)
		switch {
		case tt <= lc.AtS && x != from:
			t.Fatalf("x = %v at %.2f s, before the change; want %v", x, tt, from)
		case tt >= lc.AtS+lc.DurationS && x != to:
			t.Fatalf("x = %v at %.2f s, after the change; want %v", x, tt, to)
		}
		// Monotonic and at most 1.5x the mean lateral speed (smoothstep).
		step := math.Abs(x - prev)
		if (x-prev)*(to-from) < 0 || step > 1.5*math.Abs(to-from)/lc.DurationS*0.01+1e-9 {
			t.Fatalf("x jumps from %v to %v at %.2f s", prev, x, tt)
		}
		prev = x
	}
}

func TestSceneValidateRules(t *testing.T) {
	base := LaneScene(1)
	cases := []struct {
		name string
		edit func(s *Scene)
	}{
		{"stops without braking", func(s *Scene) { s.Cars[1].Stops = true }},
		{"lane change across the centre", func(s *Scene) { s.Cars[0].LaneChange.ToLane = 2 }},
		{"lane change outside the road", func(s *Scene) { s.Cars[0].LaneChange.ToLane = -1 }},
		{"lane change of no duration", func(s *Scene) { s.Cars[0].LaneChange.DurationS = 0 }},
		{"solid centre line", func(s *Scene) { s.Road.SolidDividers = []int{2} }},
		{"solid divider off the road", func(s *Scene) { s.Road.SolidDividers = []int{4} }},
		{"bus lane off the road", func(s *Scene) { s.Road.BusLanes = []int{-1} }},
		{"bad stop direction", func(s *Scene) { s.Road.StopLineDir = "up" }},
		{"stop line without lanes", func(s *Scene) { s.Road.StopLine, s.Road.LanesAway, s.Road.StopLineDir = true, 0, Away }},
		{"bad signal", func(s *Scene) { s.Signal = []SignalPhase{{PhaseRed, 2}} }},
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := LaneScene(1)
			c.edit(&s)
			if err := s.Validate(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestRedLightTruth checks the red-light preset's contract against its
// truth for a few seeds.
func TestRedLightTruth(t *testing.T) {
	r := NewRenderer(testLibrary(t), nil)
	for seed := uint64(1); seed <= 3; seed++ {
		s := RedLightScene(seed)
		tr, err := r.Truth(s)
		if err != nil {
			t.Fatal(err)
		}
		red := RedFrom(tr.Signal)
		if !reflect.DeepEqual(tr.Signal, s.Signal) || math.IsInf(red, 1) {
			t.Fatalf("seed %d: truth signal %v, scene %v", seed, tr.Signal, s.Signal)
		}
		stop, ok := tr.Geometry.Line(GeometryStopLine)
		if !ok || stop.Kind != calibration.LineStop {
			t.Fatalf("seed %d: no stop line in %+v", seed, tr.Geometry)
		}
		if _, ok := tr.Geometry.Line(GeometryExitLine); !ok {
			t.Fatalf("seed %d: no exit line", seed)
		}
		lineY := stop.Ground[0][1]
		var runners, stoppers, legal int
		for i, c := range tr.Cars {
			car := s.Cars[i]
			if c.ExpectedViolations == nil {
				t.Fatalf("seed %d: car %d has no expected_violations", seed, c.ID)
			}
			runs := slices.Contains(c.ExpectedViolations, ViolationRedLight)
			switch {
			case car.Stops:
				stoppers++
				if runs || c.StopLineCrossT != nil || c.StoppedAtS == nil {
					t.Errorf("seed %d: stopping car %d: expected %v, crosses at %v, stops at %v", seed, c.ID, c.ExpectedViolations, c.StopLineCrossT, c.StoppedAtS)
					continue
				}
				// Speed reaches 0 before the line and stays there.
				var restY float64
				atRest := false
				for _, f := range c.Track {
					if f.T >= *c.StoppedAtS {
						if f.SpeedKmh != 0 || (atRest && f.Y != restY) {
							t.Errorf("seed %d: car %d moves at %.2f s after stopping at %.2f s: %.2f km/h, y %.3f", seed, c.ID, f.T, *c.StoppedAtS, f.SpeedKmh, f.Y)
							break
						}
						atRest, restY = true, f.Y
					} else if !(f.SpeedKmh > 0) {
						t.Errorf("seed %d: car %d stands still at %.2f s, before its stop", seed, c.ID, f.T)
						break
					}
					if (f.Y-lineY)*c.Direction.sign() >= 0 {
						t.Errorf("seed %d: car %d passes the stop line: y %.2f at %.2f s", seed, c.ID, f.Y, f.T)
						break
					}
				}
				if !atRest || *c.StoppedAtS < red {
					t.Errorf("seed %d: car %d at rest in clip %v, stops at %.2f s (red from %v)", seed, c.ID, atRest, *c.StoppedAtS, red)
				}
			case c.StopLineCrossT == nil:
				if runs || c.Direction == s.Road.StopDirection() {
					t.Errorf("seed %d: car %d never crosses the stop line: expected %v", seed, c.ID, c.ExpectedViolations)
				}
			default:
				tc := *c.StopLineCrossT
				// The truth's crossing time is where the track passes the line.
				_, y := s.groundPoint(car, tc)
				if math.Abs(y-lineY) > 1e-6 {
					t.Errorf("seed %d: car %d at y %.4f when crossing the line at %.4f", seed, c.ID, y, lineY)
				}
				if runs != (tc >= red) {
					t.Errorf("seed %d: car %d crosses at %.2f s (red from %v): expected %v", seed, c.ID, tc, red, c.ExpectedViolations)
				}
				if runs {
					runners++
					if tc < red+1 {
						t.Errorf("seed %d: runner %d crosses %.2f s after red began, want > 1 s", seed, c.ID, tc-red)
					}
				} else {
					legal++
					if tc > red-1 {
						t.Errorf("seed %d: car %d crosses %.2f s before red, want > 1 s", seed, c.ID, red-tc)
					}
				}
			}
			for _, f := range c.Track {
				if f.SpeedKmh > GeometrySpeedLimitKmh {
					t.Errorf("seed %d: car %d at %.1f km/h, over the zone's limit", seed, c.ID, f.SpeedKmh)
					break
				}
			}
		}
		if runners != 1 || stoppers != 1 || legal < 2 {
			t.Errorf("seed %d: %d runners, %d stoppers, %d legal crossings; want 1, 1, >= 2", seed, runners, stoppers, legal)
		}
	}
}

func TestLaneTruth(t *testing.T) {
	r := NewRenderer(testLibrary(t), nil)
	for seed := uint64(1); seed <= 3; seed++ {
		s := LaneScene(seed)
		tr, err := r.Truth(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Signal) != 0 {
			t.Errorf("seed %d: lane scene has a signal", seed)
		}
		var solid []GeometryLine
		for _, l := range tr.Geometry.Lines {
			if l.Kind == calibration.LineSolidLane {
				solid = append(solid, l)
			}
		}
		if len(solid) != 1 {
			t.Fatalf("seed %d: %d solid lines in the geometry, want 1", seed, len(solid))
		}
		lineX := solid[0].Ground[0][0]
		changers := 0
		for i, c := range tr.Cars {
			car := s.Cars[i]
			first, last := c.Track[0], c.Track[len(c.Track)-1]
			invades := slices.Contains(c.ExpectedViolations, ViolationLaneInvasion)
			if c.ExpectedViolations == nil {
				t.Fatalf("seed %d: car %d has no expected_violations", seed, c.ID)
			}
			if car.LaneChange == nil {
				if invades || c.SolidLineCrossT != nil || first.X != last.X {
					t.Errorf("seed %d: car %d keeps its lane, yet x %.2f→%.2f, expected %v", seed, c.ID, first.X, last.X, c.ExpectedViolations)
				}
				continue
			}
			changers++
			from, to := s.Road.LaneCentreX(car.Lane), s.Road.LaneCentreX(car.LaneChange.ToLane)
			if math.Abs(first.X-from) > 1e-9 || math.Abs(last.X-to) > 1e-9 {
				t.Errorf("seed %d: lane changer %d goes x %.2f→%.2f, want %.2f→%.2f", seed, c.ID, first.X, last.X, from, to)
			}
			if (first.X-lineX)*(last.X-lineX) >= 0 {
				t.Errorf("seed %d: lane changer %d stays on one side of the solid line x=%.2f", seed, c.ID, lineX)
			}
			if !invades || c.SolidLineCrossT == nil {
				t.Errorf("seed %d: lane changer %d: expected %v, crossing %v", seed, c.ID, c.ExpectedViolations, c.SolidLineCrossT)
				continue
			}
			x, y := s.groundPoint(car, *c.SolidLineCrossT)
			if math.Abs(x-lineX) > 1e-6 || y < solid[0].Ground[0][1] || y > solid[0].Ground[1][1] {
				t.Errorf("seed %d: car %d at (%.3f, %.2f) when crossing the solid line x=%v", seed, c.ID, x, y, lineX)
			}
			// Visible while it crosses.
			for _, f := range c.Track {
				if math.Abs(f.T-*c.SolidLineCrossT) < 0.02 && !f.Full {
					t.Errorf("seed %d: car %d not fully in view when crossing", seed, c.ID)
				}
			}
		}
		if changers != 1 {
			t.Errorf("seed %d: %d lane changers, want 1", seed, changers)
		}
	}
}

// TestRuleGeometryPaint checks that the geometry's lines lie on the paint:
// points of the stop line and of the solid line project onto paint-coloured
// pixels of the rendered road, and points a little off them do not.
func TestRuleGeometryPaint(t *testing.T) {
	paint := defaultPalette().paint
	isPaint := func(px [3]uint8) bool {
		for i, v := range [3]float64{paint.B, paint.G, paint.R} {
			if math.Abs(float64(px[i])-v) > 40 {
				return false
			}
		}
		return true
	}
	for _, name := range rulePresets {
		t.Run(name, func(t *testing.T) {
			s, _ := Preset(name, 1, PresetOptions{})
			s.NoiseSigma = 0
			cam := s.Camera
			bg := renderBackground(newScenery(cam, s.Road, s.Seed))
			// pixel returns the background colour nearest to paint within
			// ±1 pixel of the projection of (x, y) (lines are a few pixels
			// wide and the projection falls anywhere inside a pixel).
			pixel := func(x, y float64, near bool) (paint bool, ok bool) {
				u, v, vis := cam.GroundToPixel(x, y)
				if !vis || u < 1 || v < 1 || u >= float64(cam.Width-1) || v >= float64(cam.Height-1) {
					return false, false
				}
				r := 0
				if near {
					r = 1
				}
				for dv := -r; dv <= r; dv++ {
					for du := -r; du <= r; du++ {
						i := 3 * ((int(v)+dv)*cam.Width + int(u) + du)
						if isPaint([3]uint8{bg[i], bg[i+1], bg[i+2]}) {
							return true, true
						}
					}
				}
				return false, true
			}
			g := s.Geometry()
			checked := 0
			for _, l := range g.Lines {
				a, b := l.Ground[0], l.Ground[len(l.Ground)-1]
				along := [2]float64{b[0] - a[0], b[1] - a[1]}
				n := math.Hypot(along[0], along[1])
				normal := [2]float64{-along[1] / n, along[0] / n}
				for k := 1; k < 20; k++ {
					f := float64(k) / 20
					x, y := a[0]+f*along[0], a[1]+f*along[1]
					switch l.Kind {
					case calibration.LineStop, calibration.LineSolidLane:
						on, ok := pixel(x, y, true)
						if !ok {
							continue
						}
						checked++
						if !on {
							t.Errorf("%s line %q: (%.2f, %.2f) is not on paint", name, l.Name, x, y)
						}
						// 0.8 m to either side is bare road (the crosswalk
						// starts 1.5 m beyond the stop line).
						for _, side := range []float64{-0.8, 0.8} {
							if off, ok := pixel(x+side*normal[0], y+side*normal[1], false); ok && off {
								t.Errorf("%s line %q: (%.2f, %.2f) %+.1f m off it is paint", name, l.Name, x, y, side)
							}
						}
					}
				}
			}
			if checked < 15 {
				t.Errorf("%s: only %d line points checked", name, checked)
			}
		})
	}
}

// TestRuleSceneFiles renders a short low-resolution clip of each rule
// preset and checks geometry.json (accepted by the calibration, as by
// `agent calibrate solve --geometry`) and signal.txt.
func TestRuleSceneFiles(t *testing.T) {
	lib := testLibrary(t)
	for _, name := range rulePresets {
		t.Run(name, func(t *testing.T) {
			s, _ := Preset(name, 1, PresetOptions{Duration: 0.4, FPS: 5})
			s.Camera.Width, s.Camera.Height = 640, 360
			dir := t.TempDir()
			tr, err := NewRenderer(lib, nil).Render(t.Context(), s, dir)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, GeometryFile))
			if err != nil {
				t.Fatal(err)
			}
			var g struct {
				Zones []calibration.Zone `json:"zones"`
				Lines []calibration.Line `json:"lines"`
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&g); err != nil {
				t.Fatal(err)
			}
			var pairs []calibration.PointPair
			for _, m := range tr.Markers {
				if m.Clickable {
					pairs = append(pairs, calibration.PointPair{Image: calibration.Point{X: m.U, Y: m.V}, Ground: calibration.Point{X: m.X, Y: m.Y}})
				}
			}
			cal, err := calibration.New(pairs, calibration.Options{Image: calibration.ImageSize{Width: s.Camera.Width, Height: s.Camera.Height}})
			if err != nil {
				t.Fatal(err)
			}
			for _, z := range g.Zones {
				if err := cal.AddZone(z); err != nil {
					t.Error(err)
				}
			}
			for _, l := range g.Lines {
				if err := cal.AddLine(l); err != nil {
					t.Error(err)
				}
			}
			kinds := map[string]bool{}
			for _, z := range g.Zones {
				kinds[string(z.Kind)] = true
				if z.Kind == calibration.ZoneSpeed && z.SpeedLimitKmh != GeometrySpeedLimitKmh {
					t.Errorf("speed zone limit %v", z.SpeedLimitKmh)
				}
			}
			for _, l := range g.Lines {
				kinds[string(l.Kind)] = true
			}
			want := map[string][]string{"redlight": {"speed", "stop_line", "count_line"}, "lane": {"speed", "solid_lane_line", "bus_lane"}}[name]
			for _, k := range want {
				if !kinds[k] {
					t.Errorf("geometry lacks a %s: %s", k, data)
				}
			}
			sig, err := os.ReadFile(filepath.Join(dir, SignalFile))
			if len(s.Signal) == 0 {
				if err == nil {
					t.Error("signal.txt written without a signal")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			WriteSignal(&b, s.Signal)
			if !bytes.Equal(sig, b.Bytes()) || !bytes.HasPrefix(sig, []byte("0 green\n")) || !bytes.Contains(sig, []byte(" red\n")) {
				t.Errorf("signal.txt = %q", sig)
			}
			// Deterministic: the same scene gives the same truth.
			again, err := NewRenderer(lib, nil).Truth(s)
			if err != nil {
				t.Fatal(err)
			}
			var j1, j2 bytes.Buffer
			tr.Clip, tr.Encoder = "", ""
			tr.WriteJSON(&j1)
			again.WriteJSON(&j2)
			if !bytes.Equal(j1.Bytes(), j2.Bytes()) {
				t.Error("the same scene gave another truth")
			}
		})
	}
}
