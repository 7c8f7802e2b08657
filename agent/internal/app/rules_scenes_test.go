package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/internal/scenegen"
	"github.com/vigia-pe/vigia/internal/speedcheck"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// calibrateScene solves the scene's calibration from its points.csv, as a
// technician would, and adds its zones and lines (geometry.json) in metres.
func calibrateScene(t *testing.T, dir string, s scenegen.Scene, g *scenegen.Geometry) string {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "points.csv"))
	if err != nil {
		t.Fatal(err)
	}
	pairs, _, err := calibration.ReadPointsCSV(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	cal, err := calibration.New(pairs, calibration.Options{DeviceID: "SCENE", Image: calibration.ImageSize{Width: s.Camera.Width, Height: s.Camera.Height}})
	if err != nil {
		t.Fatal(err)
	}
	pts := func(g [][2]float64) []calibration.Point {
		out := make([]calibration.Point, len(g))
		for i, p := range g {
			out[i] = calibration.Point{X: p[0], Y: p[1]}
		}
		return out
	}
	if g != nil {
		for _, z := range g.Zones {
			if err := cal.AddZone(calibration.Zone{Name: z.Name, Kind: z.Kind, SpeedLimitKmh: z.SpeedLimitKmh, Ground: pts(z.Ground)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range g.Lines {
			if err := cal.AddLine(calibration.Line{Name: l.Name, Kind: l.Kind, Ground: pts(l.Ground)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	cal.Seal()
	p := filepath.Join(dir, "cal.json")
	if err := cal.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIntegrationRuleScenes renders the red-light and lane-invasion scenes
// and checks that exactly the cars that commit an infraction are cited, for
// the right rule, through the whole pipeline with the real detector.
func TestIntegrationRuleScenes(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: renders and replays two clips")
	}
	testenv.RequireORT(t)
	testenv.RequireTool(t, "ffmpeg")
	testenv.RequireFile(t, scenegen.DefaultPhotoDir())
	cases := []struct {
		preset string
		typ    event.InfractionType
	}{
		{"redlight", event.RedLight},
		{"lane", event.LaneInvasion},
	}
	for _, tc := range cases {
		t.Run(tc.preset, func(t *testing.T) {
			scene, err := scenegen.Preset(tc.preset, 1, scenegen.PresetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			truth, err := scenegen.Render(ctx, scene, dir)
			if err != nil {
				t.Fatal(err)
			}
			opt := replayOpts(t, filepath.Join(dir, "clip.mp4"))
			opt.Calibration = calibrateScene(t, dir, scene, truth.Geometry)
			if sig := filepath.Join(dir, "signal.txt"); fileExists(sig) {
				opt.Signal = sig
			}
			if _, err := Replay(ctx, opt, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				t.Fatal(err)
			}
			tracks, err := speedcheck.ReadTracks(opt.Events)
			if err != nil {
				t.Fatal(err)
			}
			carOf := map[int64]int{}
			for _, tr := range tracks {
				if car, _ := speedcheck.MatchTrack(truth, tr); car >= 0 {
					carOf[tr.TrackID] = car
				}
			}
			raw, err := os.ReadFile(opt.Events)
			if err != nil {
				t.Fatal(err)
			}
			var cited []int
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				if !strings.Contains(line, `"type":"infraction"`) {
					continue
				}
				_, p, err := event.Parse([]byte(line))
				if err != nil {
					t.Fatalf("invalid infraction event: %v", err)
				}
				inf := p.(*event.Infraction)
				if inf.Type != tc.typ {
					continue
				}
				car, ok := carOf[inf.TrackID]
				if !ok {
					t.Errorf("%s on track %d, which followed no car", inf.Type, inf.TrackID)
					continue
				}
				cited = append(cited, car)
			}
			var want []int
			for _, c := range truth.Cars {
				for _, v := range c.ExpectedViolations {
					if v == string(tc.typ) {
						want = append(want, c.ID)
					}
				}
			}
			sort.Ints(cited)
			sort.Ints(want)
			t.Logf("%s: cited cars %v, expected %v", tc.typ, cited, want)
			if len(want) == 0 {
				t.Fatalf("the %s scene expects no %s: the scene is wrong", tc.preset, tc.typ)
			}
			if !slices.Equal(cited, want) {
				t.Errorf("cited cars %v, want exactly %v (one citation per offending car)", cited, want)
			}
		})
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
