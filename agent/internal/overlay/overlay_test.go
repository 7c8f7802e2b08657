package overlay

import (
	"image"
	"image/color"
	"math"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

func testCalibration(t testing.TB, cam calibtest.Camera) *calibration.Calibration {
	t.Helper()
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22, 30})
	opt := calibration.Options{Image: cam.Size(), DeviceID: "CAM001", Distortion: cam.Lens}
	c, err := calibration.New(cam.Survey(marks, 0, 0, nil), opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddZone(calibration.Zone{Name: "speed", Kind: calibration.ZoneSpeed, SpeedLimitKmh: 50,
		Ground: []calibration.Point{{X: 0.2, Y: 11}, {X: 6.8, Y: 11}, {X: 6.8, Y: 28}, {X: 0.2, Y: 28}}}); err != nil {
		t.Fatal(err)
	}
	return c
}

func grey(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 40
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return img
}

// isGrid reports whether a pixel is the major grid's yellow over grey.
func isGrid(c color.RGBA) bool { return c.R > 180 && c.G > 160 && c.B < 100 }

// TestGridLandsOnGroundLines checks that the drawn grid passes through the
// ground points it claims to, with and without lens distortion, and leaves
// the space between lines alone.
func TestGridLandsOnGroundLines(t *testing.T) {
	lens := &calibration.Distortion{FX: 1500, FY: 1500, CX: 960, CY: 540, K1: -0.25, K2: 0.06}
	for name, withLens := range map[string]bool{"pinhole": false, "barrel lens": true} {
		t.Run(name, func(t *testing.T) {
			cam := calibtest.Street()
			if withLens {
				cam.Lens = lens
			}
			out, err := DrawCalibration(grey(cam.W, cam.H), testCalibration(t, cam), Options{})
			if err != nil {
				t.Fatal(err)
			}
			// Major lines every 5 m: sample along x = 5 and y = 20, away from
			// labels, points and the zone outline.
			onLine := 0
			checked := 0
			for _, g := range []calibration.Point{{X: 5, Y: 17.3}, {X: 5, Y: 24.6}, {X: 4.1, Y: 20}, {X: 2.6, Y: 20}, {X: 5, Y: 12.7}} {
				p, ok := cam.Pixel(g)
				if !ok || !cam.InImage(p) {
					continue
				}
				checked++
				if isGrid(out.RGBAAt(int(p.X), int(p.Y))) {
					onLine++
				}
			}
			if checked < 4 || onLine != checked {
				t.Errorf("%d of %d points on major grid lines are grid-coloured", onLine, checked)
			}
			// Between minor lines (x.5, y.5) the frame must show through.
			for _, g := range []calibration.Point{{X: 2.5, Y: 18.5}, {X: 4.5, Y: 25.5}, {X: 5.5, Y: 13.5}} {
				p, _ := cam.Pixel(g)
				if c := out.RGBAAt(int(p.X), int(p.Y)); c.R != 40 || c.G != 40 || c.B != 40 {
					t.Errorf("ground %v (pixel %.0f,%.0f) between grid lines is %v, want the frame's grey", g, p.X, p.Y, c)
				}
			}
		})
	}
}

func TestPointsAndOutliersAreMarked(t *testing.T) {
	cam := calibtest.Street()
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22, 30})
	pairs := cam.Survey(marks, 0, 0, nil)
	pairs[5].Ground.Y += 3
	c, err := calibration.New(pairs, calibration.Options{Image: cam.Size()})
	if err != nil {
		t.Fatal(err)
	}
	out, err := DrawCalibration(grey(cam.W, cam.H), c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	scale := math.Round(float64(cam.H) / 720)
	for i, p := range c.Points {
		// The ring passes 6 (outliers 7) scaled pixels left of the point.
		r := 6 * scale
		if p.Outlier {
			r = 7 * scale
		}
		got := out.RGBAAt(int(math.Floor(p.U-r)), int(math.Floor(p.V)))
		want := colPoint
		if p.Outlier {
			want = colOutlier
		}
		if !near(got, want) {
			t.Errorf("point %d (outlier %v): ring pixel %v, want about %v", i, p.Outlier, got, want)
		}
	}
	if !c.Points[5].Outlier {
		t.Fatal("test set-up: point 5 should be an outlier")
	}
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) float64 { return math.Abs(float64(x) - float64(y)) }
	return d(a.R, b.R) < 60 && d(a.G, b.G) < 60 && d(a.B, b.B) < 60
}

func TestLabelDrawsGlyphs(t *testing.T) {
	img := grey(40, 20)
	c := &canvas{img: img}
	c.label(4, 4, "10", 1, colText)
	// '1' is 00100 on its first row: column 2 lit, column 0 not.
	if got := img.RGBAAt(4+2, 4); got != colText {
		t.Errorf("top of '1' = %v, want text colour", got)
	}
	if got := img.RGBAAt(4, 4); got == colText {
		t.Error("pixel beside '1' is lit")
	}
	// '0' starts 6 px later: 01110 on its first row.
	if got := img.RGBAAt(4+6+1, 4); got != colText {
		t.Errorf("top of '0' = %v, want text colour", got)
	}
}

func TestDrawRefusesWrongFrameSize(t *testing.T) {
	cam := calibtest.Street()
	if _, err := DrawCalibration(grey(640, 360), testCalibration(t, cam), Options{}); err == nil {
		t.Error("a 640x360 frame was accepted for a 1920x1080 calibration")
	}
}

func TestLineBlendsEachPixelOnce(t *testing.T) {
	img := grey(200, 60)
	c := &canvas{img: img}
	half := color.RGBA{255, 255, 255, 128}
	c.line(10.5, 30.5, 190.5, 30.5, 1, half) // long enough to be drawn in pieces
	want := img.RGBAAt(100, 30)
	for x := 12; x < 188; x++ {
		if got := img.RGBAAt(x, 30); got != want {
			t.Fatalf("pixel %d on the line is %v, pixel 100 is %v: a piece boundary blended twice", x, got, want)
		}
	}
	if want.R < 130 || want.R > 160 {
		t.Errorf("half-transparent white over grey gave %v", want)
	}
}

func BenchmarkDrawCalibration(b *testing.B) {
	cam := calibtest.Street()
	cal := testCalibration(b, cam)
	frame := grey(cam.W, cam.H)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DrawCalibration(frame, cal, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
