package calibration_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

func streetCalibration(t testing.TB) (calibtest.Camera, *calibration.Calibration) {
	t.Helper()
	cam := calibtest.Street()
	c, err := calibration.New(cam.Survey(roadPoints(), 0, 0, nil), calibration.Options{Image: cam.Size(), DeviceID: "CAM-T"})
	if err != nil {
		t.Fatal(err)
	}
	return cam, c
}

func TestAddZoneCompletesCoordinates(t *testing.T) {
	cam, c := streetCalibration(t)
	ground := []calibration.Point{{X: 0, Y: 12}, {X: 7, Y: 12}, {X: 7, Y: 40}, {X: 0, Y: 40}}
	if err := c.AddZone(calibration.Zone{Name: "speed", Kind: calibration.ZoneSpeed, SpeedLimitKmh: 50, Ground: ground}); err != nil {
		t.Fatalf("AddZone from metres: %v", err)
	}
	for i, g := range ground {
		want, _ := cam.Pixel(g)
		if d := c.Zones[0].Image[i].Dist(want); d > 1e-6 {
			t.Errorf("vertex %d: pixel %v, want %v", i, c.Zones[0].Image[i], want)
		}
	}
	img := []calibration.Point{{X: 1000, Y: 1000}, {X: 1400, Y: 1000}, {X: 1000, Y: 700}}
	if err := c.AddZone(calibration.Zone{Name: "roi", Kind: calibration.ZoneROI, Image: img}); err != nil {
		t.Fatalf("AddZone from pixels: %v", err)
	}
	for i, p := range img {
		if d := c.Zones[1].Ground[i].Dist(cam.Ground(p)); d > 1e-6 {
			t.Errorf("vertex %d: ground %v, want %v", i, c.Zones[1].Ground[i], cam.Ground(p))
		}
	}
	if c.Hash != c.ComputeHash() {
		t.Error("AddZone did not reseal the calibration")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestAddZoneRefusesBadZones(t *testing.T) {
	tests := []struct {
		name string
		zone calibration.Zone
		want string
	}{
		{"no vertices", calibration.Zone{Name: "a", Kind: calibration.ZoneROI}, "no vertices"},
		{"no name", calibration.Zone{Kind: calibration.ZoneROI, Ground: []calibration.Point{{X: 0, Y: 10}, {X: 1, Y: 10}, {X: 1, Y: 12}}}, "name: must not be empty"},
		{"two vertices", calibration.Zone{Name: "a", Kind: calibration.ZoneROI, Ground: []calibration.Point{{X: 0, Y: 10}, {X: 1, Y: 10}}}, "3 to"},
		{"vertex in the sky", calibration.Zone{Name: "a", Kind: calibration.ZoneROI, Image: []calibration.Point{{X: 10, Y: 10}, {X: 900, Y: 900}, {X: 1000, Y: 900}}}, "beyond the horizon"},
		{"vertex behind the camera", calibration.Zone{Name: "a", Kind: calibration.ZoneROI, Ground: []calibration.Point{{X: 0, Y: -20}, {X: 1, Y: 10}, {X: 0, Y: 12}}}, "beyond the horizon"},
		{"bus lane with a limit", calibration.Zone{Name: "a", Kind: calibration.ZoneBusLane, SpeedLimitKmh: 30, Ground: []calibration.Point{{X: 0, Y: 10}, {X: 1, Y: 10}, {X: 1, Y: 12}}}, "only speed zones"},
		{"unknown kind", calibration.Zone{Name: "a", Kind: "park", Ground: []calibration.Point{{X: 0, Y: 10}, {X: 1, Y: 10}, {X: 1, Y: 12}}}, "unknown zone kind"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, c := streetCalibration(t)
			err := c.AddZone(tc.zone)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AddZone: %v, want an error mentioning %q", err, tc.want)
			}
			if len(c.Zones) != 0 {
				t.Error("a refused zone was kept")
			}
		})
	}
}

func TestAddLineAndCrossing(t *testing.T) {
	_, c := streetCalibration(t)
	if err := c.AddLine(calibration.Line{Name: "stop", Kind: calibration.LineStop, Ground: []calibration.Point{{X: 0, Y: 20}, {X: 7, Y: 20}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddLine(calibration.Line{Name: "stop", Kind: calibration.LineCount, Ground: []calibration.Point{{X: 0, Y: 25}, {X: 7, Y: 25}}}); err == nil {
		t.Error("a second line named stop was accepted")
	}
	l := &c.Lines[0]
	tests := []struct {
		name string
		a, b calibration.Point
		want bool
	}{
		{"crosses", calibration.Point{X: 3, Y: 18}, calibration.Point{X: 3.2, Y: 21}, true},
		{"stops short", calibration.Point{X: 3, Y: 18}, calibration.Point{X: 3, Y: 19.9}, false},
		{"passes beside", calibration.Point{X: 8, Y: 18}, calibration.Point{X: 8, Y: 22}, false},
		{"ends on it", calibration.Point{X: 3, Y: 18}, calibration.Point{X: 3, Y: 20}, true},
	}
	for _, tc := range tests {
		if got := l.CrossesGround(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: CrossesGround = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestZoneContains(t *testing.T) {
	cam, c := streetCalibration(t)
	if err := c.AddZone(calibration.Zone{Name: "lane", Kind: calibration.ZoneRestrictedLane, Ground: []calibration.Point{{X: 3.5, Y: 10}, {X: 7, Y: 10}, {X: 7, Y: 40}, {X: 3.5, Y: 40}}}); err != nil {
		t.Fatal(err)
	}
	z := &c.Zones[0]
	tests := []struct {
		name string
		g    calibration.Point
		want bool
	}{
		{"inside", calibration.Point{X: 5, Y: 20}, true},
		{"other lane", calibration.Point{X: 2, Y: 20}, false},
		{"beyond the far edge", calibration.Point{X: 5, Y: 41}, false},
	}
	for _, tc := range tests {
		if got := z.ContainsGround(tc.g); got != tc.want {
			t.Errorf("%s: ContainsGround = %v, want %v", tc.name, got, tc.want)
		}
		p, _ := cam.Pixel(tc.g)
		if got := z.ContainsImage(p); got != tc.want {
			t.Errorf("%s: ContainsImage = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAddZoneKeepsCalibrationValidOnError(t *testing.T) {
	_, c := streetCalibration(t)
	err := c.AddZone(calibration.Zone{Name: "sky", Kind: calibration.ZoneROI, Image: []calibration.Point{{X: 0, Y: 0}, {X: 10, Y: 0}, {X: 10, Y: 10}}})
	if !errors.Is(err, calibration.ErrBeyondHorizon) {
		t.Fatalf("AddZone in the sky: %v, want ErrBeyondHorizon", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("calibration invalid after a refused zone: %v", err)
	}
}
