package calibration_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const goldenPath = "testdata/street-cam.json"

// goldenCalibration builds the calibration stored in the golden file from
// fixed inputs: a street camera with a lens model, a noisy survey with one
// mislabelled mark, a location, zones and lines.
func goldenCalibration(t testing.TB) *calibration.Calibration {
	t.Helper()
	cam := calibtest.Street()
	cam.Lens = &calibration.Distortion{FX: 1500, FY: 1500, CX: 960, CY: 540, K1: -0.12, K2: 0.03, P1: 0.0002, P2: -0.0001}
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22, 30, 40})
	pairs := cam.Survey(marks, 0.4, 0.01, rand.New(rand.NewPCG(2025, 11)))
	for i := range pairs { // as typed from a survey sheet
		p := &pairs[i]
		p.Image.X, p.Image.Y = math.Round(p.Image.X*10)/10, math.Round(p.Image.Y*10)/10
		p.Ground.X, p.Ground.Y = math.Round(p.Ground.X*1000)/1000, math.Round(p.Ground.Y*1000)/1000
	}
	pairs[4].Ground.X += 3 // a typo in the survey sheet
	c, err := calibration.New(pairs, calibration.Options{
		DeviceID:   "CAM001",
		Image:      cam.Size(),
		Location:   &calibration.Location{Lat: -12.046374, Lon: -77.042793, HeadingDeg: 352.5},
		Distortion: cam.Lens,
		Solve:      calibration.SolveOptions{InlierThresholdM: 0.3, Seed: 1},
		CreatedAt:  time.Date(2025, 11, 20, 15, 4, 5, 0, time.UTC),
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, z := range []calibration.Zone{
		{Name: "carriageway", Kind: calibration.ZoneRoad, Ground: []calibration.Point{{X: -0.5, Y: 10}, {X: 7.5, Y: 10}, {X: 7.5, Y: 45}, {X: -0.5, Y: 45}}},
		{Name: "speed-60", Kind: calibration.ZoneSpeed, SpeedLimitKmh: 60, Ground: []calibration.Point{{X: 0, Y: 12}, {X: 7, Y: 12}, {X: 7, Y: 38}, {X: 0, Y: 38}}},
		{Name: "bus-lane", Kind: calibration.ZoneBusLane, Image: []calibration.Point{{X: 1500, Y: 1000}, {X: 1850, Y: 1000}, {X: 1200, Y: 480}, {X: 1080, Y: 480}}},
	} {
		if err := c.AddZone(z); err != nil {
			t.Fatalf("AddZone: %v", err)
		}
	}
	for _, l := range []calibration.Line{
		{Name: "stop", Kind: calibration.LineStop, Ground: []calibration.Point{{X: 0, Y: 14}, {X: 7, Y: 14}}},
		{Name: "lane-divider", Kind: calibration.LineSolidLane, Ground: []calibration.Point{{X: 3.5, Y: 10}, {X: 3.5, Y: 25}, {X: 3.6, Y: 40}}},
		{Name: "count", Kind: calibration.LineCount, Image: []calibration.Point{{X: 700, Y: 700}, {X: 1500, Y: 650}}},
	} {
		if err := c.AddLine(l); err != nil {
			t.Fatalf("AddLine: %v", err)
		}
	}
	return c
}

func TestGoldenFile(t *testing.T) {
	got, err := goldenCalibration(t).MarshalFile()
	if err != nil {
		t.Fatalf("MarshalFile: %v", err)
	}
	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	// Solving is floating point: compare numbers with a tolerance (other
	// CPUs may fuse multiply-adds) and leave out the hash, which covers them.
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	delete(g.(map[string]any), "hash")
	delete(w.(map[string]any), "hash")
	if diff := jsonDiff("", g, w); diff != "" {
		t.Errorf("calibration differs from %s (run go test -update if intended): %s", goldenPath, diff)
	}
}

// jsonDiff returns the first difference between two decoded JSON values.
func jsonDiff(path string, a, b any) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return path + ": different objects"
		}
		for k := range av {
			if d := jsonDiff(path+"."+k, av[k], bv[k]); d != "" {
				return d
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return path + ": different arrays"
		}
		for i := range av {
			if d := jsonDiff(path+"["+strconv.Itoa(i)+"]", av[i], bv[i]); d != "" {
				return d
			}
		}
	case float64:
		bv, ok := b.(float64)
		if !ok || math.Abs(av-bv) > 1e-7*max(1, math.Abs(bv)) {
			return path + ": numbers differ"
		}
	default:
		if !reflect.DeepEqual(a, b) {
			return path + ": values differ"
		}
	}
	return ""
}

func TestGoldenFileLoadsAndRoundTrips(t *testing.T) {
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := calibration.Load(goldenPath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Hash != c.ComputeHash() || !strings.HasPrefix(c.Hash, "sha256:") || len(c.Hash) != len("sha256:")+64 {
		t.Errorf("hash %q, recomputed %q", c.Hash, c.ComputeHash())
	}
	got, err := c.MarshalFile()
	if err != nil {
		t.Fatalf("MarshalFile: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("load + save changed the golden file:\n%s", got)
	}
	if c.Reprojection.Inliers != len(c.Points)-1 || !c.Points[4].Outlier {
		t.Errorf("want exactly point 4 rejected as an outlier, got %d inliers of %d", c.Reprojection.Inliers, len(c.Points))
	}
	if len(c.Zones) != 3 || len(c.Lines) != 3 || c.Distortion == nil || c.Location == nil {
		t.Errorf("golden file lost content: %d zones, %d lines, lens %v, location %v", len(c.Zones), len(c.Lines), c.Distortion, c.Location)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	c := goldenCalibration(t)
	path := filepath.Join(t.TempDir(), "cal.json")
	if err := c.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	back, err := calibration.Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !reflect.DeepEqual(c, back) {
		t.Errorf("Load(Save(c)) differs from c")
	}
	if back.Hash != c.Hash {
		t.Errorf("hash changed: %s -> %s", c.Hash, back.Hash)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("Save left %d files in the directory, want 1", len(entries))
	}
}

func TestEditWithoutSealIsRefused(t *testing.T) {
	c := goldenCalibration(t)
	c.DeviceID = "CAM002"
	if _, err := c.MarshalFile(); err == nil || !strings.Contains(err.Error(), "hash") {
		t.Fatalf("MarshalFile after an edit: %v, want a hash error", err)
	}
	c.Seal()
	if _, err := c.MarshalFile(); err != nil {
		t.Fatalf("MarshalFile after Seal: %v", err)
	}
}

func TestParseRefusesBadFiles(t *testing.T) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	// edit re-encodes a modified golden calibration without validating it;
	// reseal says whether to recompute the hash after the change.
	edit := func(reseal bool, f func(c *calibration.Calibration)) []byte {
		c, err := calibration.Parse(golden)
		if err != nil {
			t.Fatal(err)
		}
		f(c)
		if reseal {
			c.Seal()
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(golden, []byte(old)) {
			t.Fatalf("golden file has no %q", old)
		}
		return bytes.Replace(golden, []byte(old), []byte(new), 1)
	}
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error
	}{
		{"empty", nil, []string{"unexpected end"}},
		{"not JSON", []byte("{\n  \"version\": 1,,\n}"), []string{"malformed JSON at line 2, column"}},
		{"truncated", golden[:len(golden)/2], []string{"unexpected end"}},
		{"JSON null", []byte("null"), []string{"version: missing"}},
		{"missing version", []byte(`{"device_id":"CAM001"}`), []string{"version: missing"}},
		{"newer version", replace(`"version": 1`, `"version": 2`), []string{"unsupported version 2"}},
		{"unknown field", replace(`"device_id"`, `"device"`), []string{`unknown field "device"`}},
		{"wrong type", replace(`"width": 1920`, `"width": "1920"`), []string{"image.width", "line 5"}},
		{"trailing data", append(append([]byte(nil), golden...), "{}"...), []string{fmt.Sprintf("malformed JSON at line %d", bytes.Count(golden, []byte("\n"))+1), "after top-level value"}},
		{"point with three numbers", replace(`"homography"`, `"zones": [{"name":"z","kind":"roi","image":[[1,2,3]],"ground":[]}], "homography"`), []string{"want an array of two numbers"}},
		{"edited without resealing", edit(false, func(c *calibration.Calibration) { c.DeviceID = "CAM999" }), []string{"hash: sha256:", "does not match the content"}},
		{"hash removed", edit(false, func(c *calibration.Calibration) { c.Hash = "" }), []string{"hash: missing"}},
		{"inverse tampered", edit(true, func(c *calibration.Calibration) { c.Inverse[0][1] += 0.01 }), []string{"inverse: is not the inverse"}},
		{"singular homography", edit(true, func(c *calibration.Calibration) {
			c.Homography = calibration.Homography{{1, 0, 0}, {1, 0, 0}, {0, 0, 1}}
		}), []string{"homography: matrix is singular"}},
		{"residual tampered", edit(true, func(c *calibration.Calibration) { c.Points[0].ResidualM += 0.1 }), []string{"points[0].residual_m"}},
		{"RMS tampered", edit(true, func(c *calibration.Calibration) { c.Reprojection.RMSM /= 2 }), []string{"reprojection.rms_m"}},
		{"max tampered", edit(true, func(c *calibration.Calibration) { c.Reprojection.MaxM = 0 }), []string{"reprojection.max_m"}},
		{"inlier count tampered", edit(true, func(c *calibration.Calibration) { c.Reprojection.Inliers++ }), []string{"reprojection.inliers"}},
		{"good point marked outlier", edit(true, func(c *calibration.Calibration) { c.Points[2].Outlier = true }), []string{"points[2].outlier", "within the inlier threshold"}},
		{"bad point marked inlier", edit(true, func(c *calibration.Calibration) { c.Points[4].Outlier = false }), []string{"points[4].outlier", "exceeds the inlier threshold"}},
		{"point moved", edit(true, func(c *calibration.Calibration) { c.Points[1].X += 1 }), []string{"points[1].residual_m"}},
		{"pixel outside image", edit(true, func(c *calibration.Calibration) { c.Points[3].U = -5 }), []string{"points[3]: pixel (-5"}},
		{"too few points", edit(true, func(c *calibration.Calibration) { c.Points = c.Points[:3] }), []string{"points: want 4 to"}},
		{"zero image size", edit(true, func(c *calibration.Calibration) { c.Image.Width = 0 }), []string{"image: width and height must be positive"}},
		{"no creation time", edit(true, func(c *calibration.Calibration) { c.CreatedAt = time.Time{} }), []string{"created_at: missing"}},
		{"latitude and heading out of range", edit(true, func(c *calibration.Calibration) {
			c.Location.Lat = 95
			c.Location.HeadingDeg = 360
		}), []string{"2 problems", "location.lat: 95", "location.heading_deg: 360"}},
		{"unknown solver", edit(true, func(c *calibration.Calibration) { c.Solver.Method = "magic" }), []string{"solver.method"}},
		{"zero focal length", edit(true, func(c *calibration.Calibration) { c.Distortion.FX = 0 }), []string{"distortion: fx, fy"}},
		{"unknown zone kind", edit(true, func(c *calibration.Calibration) { c.Zones[0].Kind = "parking" }), []string{`zones[0]: kind: unknown zone kind "parking"`}},
		{"speed zone without limit", edit(true, func(c *calibration.Calibration) { c.Zones[1].SpeedLimitKmh = 0 }), []string{"zones[1]: speed_limit_kmh"}},
		{"limit on a road zone", edit(true, func(c *calibration.Calibration) { c.Zones[0].SpeedLimitKmh = 50 }), []string{"zones[0]: speed_limit_kmh: only speed zones"}},
		{"zone vertex moved in metres", edit(true, func(c *calibration.Calibration) { c.Zones[0].Ground[1].X += 0.5 }), []string{"zones[0]: ground[1]", "does not match image[1]"}},
		{"zone vertex lists differ", edit(true, func(c *calibration.Calibration) { c.Zones[2].Ground = c.Zones[2].Ground[:3] }), []string{"zones[2]: image has 4 vertices but ground has 3"}},
		{"duplicate zone names", edit(true, func(c *calibration.Calibration) { c.Zones[2].Name = c.Zones[0].Name }), []string{"is used by another zone"}},
		{"self-crossing zone", edit(true, func(c *calibration.Calibration) {
			z := &c.Zones[0]
			z.Image[1], z.Image[2] = z.Image[2], z.Image[1]
			z.Ground[1], z.Ground[2] = z.Ground[2], z.Ground[1]
		}), []string{"zones[0]: ground: edges"}},
		{"line with one vertex", edit(true, func(c *calibration.Calibration) {
			c.Lines[0].Image, c.Lines[0].Ground = c.Lines[0].Image[:1], c.Lines[0].Ground[:1]
		}), []string{"lines[0]: image: a line needs 2 to"}},
		{"unknown line kind", edit(true, func(c *calibration.Calibration) { c.Lines[1].Kind = "dashed" }), []string{`lines[1]: kind: unknown line kind "dashed"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := calibration.Parse(tc.data)
			if err == nil {
				t.Fatalf("Parse accepted the file: %+v", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidationErrorListsEveryProblem(t *testing.T) {
	c := goldenCalibration(t)
	c.Image.Height = -1
	c.Location.Lon = 200
	c.Zones[1].SpeedLimitKmh = -3
	c.Seal()
	err := c.Validate()
	var ve *calibration.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate: %v, want *ValidationError", err)
	}
	for _, want := range []string{"image:", "location.lon:", "zones[1]: speed_limit_kmh"} {
		found := false
		for _, p := range ve.Problems {
			found = found || strings.HasPrefix(p, want)
		}
		if !found {
			t.Errorf("problems %q lack one starting with %q", ve.Problems, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	golden, err := os.ReadFile(goldenPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"image":{"width":10,"height":10},"points":[{"u":1,"v":1,"x":0,"y":0}]}`))
	f.Add(bytes.Replace(golden, []byte(`"outlier": true`), []byte(`"outlier": false`), 1))
	f.Add(golden[:len(golden)/3])
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := calibration.Parse(data)
		if err != nil {
			return
		}
		b, err := c.MarshalFile()
		if err != nil {
			t.Fatalf("a parsed calibration does not encode: %v", err)
		}
		back, err := calibration.Parse(b)
		if err != nil {
			t.Fatalf("an encoded calibration does not parse: %v", err)
		}
		if back.Hash != c.Hash {
			t.Fatalf("hash changed across a round trip: %s -> %s", c.Hash, back.Hash)
		}
	})
}
