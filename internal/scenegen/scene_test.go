package scenegen

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestSceneValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Scene)
		want string
	}{
		{"small", func(*Scene) {}, ""},
		{"fps", func(s *Scene) { s.FPS = 0 }, "fps"},
		{"too long", func(s *Scene) { s.Duration = 1e6 }, "duration"},
		{"jitter reorders frames", func(s *Scene) { s.JitterMs = 50 }, "jitter"},
		{"noise", func(s *Scene) { s.NoiseSigma = -1 }, "noise"},
		{"duplicate id", func(s *Scene) { s.Cars[1].ID = 1 }, "unique"},
		{"lane", func(s *Scene) { s.Cars[0].Lane = 9 }, "lane 9"},
		{"speed", func(s *Scene) { s.Cars[0].SpeedKmh = 0 }, "speed"},
		{"stops in the clip", func(s *Scene) { s.Cars[0].SpeedKmh, s.Cars[0].AccelMS2 = 20, -9 }, "positive over the clip"},
		{"wide car", func(s *Scene) { s.Cars[0].WidthM = 5 }, "width"},
		{"bad camera and road", func(s *Scene) { s.Camera.PitchDeg, s.Road.LaneWidthM = 0, 0 }, "camera"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := smallScene(1)
			tc.edit(&s)
			err := s.Validate()
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
	// Every problem is reported at once.
	s := smallScene(1)
	s.FPS, s.Cars[0].Lane = 0, 9
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), "fps") || !strings.Contains(err.Error(), "lane 9") {
		t.Errorf("error %v, want both problems", err)
	}
}

func TestFrames(t *testing.T) {
	cases := []struct {
		fps, dur float64
		want     int
	}{{25, 14, 350}, {10, 2, 20}, {15, 1.01, 16}, {30, 0.5, 15}}
	for _, tc := range cases {
		s := Scene{FPS: tc.fps, Duration: tc.dur}
		if n := s.Frames(); n != tc.want {
			t.Errorf("%v fps × %v s: %d frames, want %d", tc.fps, tc.dur, n, tc.want)
		}
	}
}

// TestPresets checks what the presets promise, from the scene alone.
func TestPresets(t *testing.T) {
	for _, name := range []string{"speed", "side", "2k"} {
		t.Run(name, func(t *testing.T) {
			s, err := Preset(name, 1, PresetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(); err != nil {
				t.Fatal(err)
			}
			lo, hi := math.Inf(1), math.Inf(-1)
			dirs := map[Direction]int{}
			for _, c := range s.Cars {
				lo, hi = math.Min(lo, c.SpeedKmh), math.Max(hi, c.SpeedKmh)
				dirs[s.Road.LaneDirection(c.Lane)]++
				// The car covers the marker zone within the clip.
				m := s.Road.Markers
				for _, y := range []float64{m.FromY, m.ToY} {
					dist := s.Road.LaneDirection(c.Lane).sign() * (y - s.RefY)
					tt := c.PassTime + dist/(c.SpeedKmh/3.6)
					if tt < 0 || tt > s.Duration {
						t.Errorf("car %d (%.1f km/h) reaches y=%v at t=%.2f s, outside the %v s clip", c.ID, c.SpeedKmh, y, tt, s.Duration)
					}
				}
			}
			if lo < 20 || hi > 120 || lo > 35 || hi < 105 {
				t.Errorf("speeds span %v..%v km/h, want spread over 20..120", lo, hi)
			}
			if dirs[Away] == 0 || dirs[Toward] == 0 {
				t.Errorf("directions %v: want both", dirs)
			}
			for i, a := range s.Cars {
				for _, b := range s.Cars[i+1:] {
					if a.Lane == b.Lane && conflicts(s, []Car{a}, b) {
						t.Errorf("cars %d and %d come closer than %v m in lane %d", a.ID, b.ID, minGapM, a.Lane)
					}
				}
			}
			again, _ := Preset(name, 1, PresetOptions{})
			if !reflect.DeepEqual(s, again) {
				t.Error("the same seed gave another scene")
			}
			other, _ := Preset(name, 2, PresetOptions{})
			if reflect.DeepEqual(s.Cars, other.Cars) {
				t.Error("another seed gave the same cars")
			}
		})
	}
	if _, err := Preset("nope", 1, PresetOptions{}); err == nil {
		t.Error("unknown preset accepted")
	}
	s, _ := Preset("speed", 1, PresetOptions{Duration: 20, FPS: 15})
	if s.Duration != 20 || s.FPS != 15 || s.Validate() != nil {
		t.Errorf("options not applied: %v s at %v fps", s.Duration, s.FPS)
	}
}

// TestDefaultSpeedSceneGolden pins the scene of seed 1, which other
// packages' tests and the demo refer to (regenerate with -update).
func TestDefaultSpeedSceneGolden(t *testing.T) {
	s := DefaultSpeedScene(1)
	s.PhotoDir = ""
	got, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "speed-seed1.golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("DefaultSpeedScene(1) changed; if intended, run go test -run Golden -update\ngot:\n%s", got)
	}
}
