package cli

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// runAgent runs the agent CLI in-process and returns stdout, stderr and the
// command's error.
func runAgent(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRoot(strings.NewReader(""), &stdout, &stderr)
	root.SetArgs(args)
	err := root.Execute()
	return stdout.String(), stderr.String(), err
}

// surveyCSV writes a points file for the street camera with half-pixel and
// centimetre noise; mistyped marks get their x increased by 4 m. It returns
// the path.
func surveyCSV(t *testing.T, dir string, mistyped ...int) string {
	t.Helper()
	cam := calibtest.Street()
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22, 30, 40})
	pairs := cam.Survey(marks, 0.5, 0.01, rand.New(rand.NewPCG(1, 2)))
	var b strings.Builder
	b.WriteString("# survey CAM001\nu,v,x,y\n")
	for i, p := range pairs {
		x := p.Ground.X
		for _, m := range mistyped {
			if m == i {
				x += 4
			}
		}
		fmt.Fprintf(&b, "%.1f,%.1f,%.3f,%.3f\n", p.Image.X, p.Image.Y, x, p.Ground.Y)
	}
	path := filepath.Join(dir, "points.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// greyJPEG writes a uniform dark frame of the street camera's size.
func greyJPEG(t *testing.T, dir string) string {
	t.Helper()
	cam := calibtest.Street()
	img := image.NewRGBA(image.Rect(0, 0, cam.W, cam.H))
	for i := range img.Pix {
		img.Pix[i] = 40
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "frame.jpg")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCalibrateSolveWritesFileAndOverlay(t *testing.T) {
	dir := t.TempDir()
	points := surveyCSV(t, dir, 6)
	frame := greyJPEG(t, dir)
	geometry := filepath.Join(dir, "geometry.json")
	if err := os.WriteFile(geometry, []byte(`{"zones":[{"name":"limit","kind":"speed","speed_limit_kmh":60,"ground":[[0,12],[7,12],[7,35],[0,35]]}],
		"lines":[{"name":"stop","kind":"stop_line","ground":[[0,14],[7,14]]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "cal.json")
	ovl := filepath.Join(dir, "overlay.png")
	stdout, _, err := runAgent(t, "calibrate", "solve", "--points", points, "--out", out, "--image", frame, "--overlay", ovl,
		"--device", "CAM001", "--lat", "-12.0464", "--lon", "-77.0428", "--heading", "350", "--geometry", geometry, "--threshold", "0.3")
	if err != nil {
		t.Fatalf("solve: %v\n%s", err, stdout)
	}
	for _, want := range []string{"15 points", "14 inliers, 1 outlier", "RMS 0.0", "OUTLIER", "Wrote " + out, "sha256:", "Wrote " + ovl} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	// The mistyped mark is the 7th data row, on line 9 of the CSV.
	if !regexpLine(stdout, "7", "9", "OUTLIER") {
		t.Errorf("stdout does not flag point 7 (line 9) as the outlier:\n%s", stdout)
	}

	cal, err := calibration.Load(out)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cal.DeviceID != "CAM001" || cal.Location == nil || cal.Location.HeadingDeg != 350 || len(cal.Zones) != 1 || len(cal.Lines) != 1 {
		t.Errorf("written calibration lost flags: device %q, location %+v, %d zones, %d lines", cal.DeviceID, cal.Location, len(cal.Zones), len(cal.Lines))
	}
	if !cal.Points[6].Outlier || cal.Reprojection.Inliers != 14 {
		t.Errorf("point 7 outlier=%v, inliers %d; want only point 7 rejected", cal.Points[6].Outlier, cal.Reprojection.Inliers)
	}
	cam := calibtest.Street()
	for _, g := range []calibration.Point{{X: 1, Y: 12}, {X: 6, Y: 35}} {
		p, _ := cam.Pixel(g)
		got, err := cal.PixelToGround(p)
		if err != nil || got.Dist(g) > 0.1 {
			t.Errorf("written calibration maps %v to %v (%v), want %v", p, got, err, g)
		}
	}

	f, err := os.Open(ovl)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("overlay is not a PNG: %v", err)
	}
	if img.Bounds().Dx() != cam.W || img.Bounds().Dy() != cam.H {
		t.Fatalf("overlay is %v, want %dx%d", img.Bounds(), cam.W, cam.H)
	}
	// Points on the 5 m grid lines (away from the zone and the survey marks)
	// must be grid-yellow; points between lines must show the grey frame.
	for _, g := range []calibration.Point{{X: 5, Y: 18.3}, {X: 5, Y: 26.6}, {X: 4.2, Y: 25}, {X: 1.4, Y: 20}} {
		p, _ := cam.Pixel(g)
		c := color.RGBAModel.Convert(img.At(int(p.X), int(p.Y))).(color.RGBA)
		if !(c.R > 180 && c.G > 160 && c.B < 110) {
			t.Errorf("grid line at ground %v (pixel %.0f,%.0f) is %v, want yellow", g, p.X, p.Y, c)
		}
	}
	for _, g := range []calibration.Point{{X: 2.5, Y: 18.5}, {X: 4.5, Y: 26.5}} {
		p, _ := cam.Pixel(g)
		c := color.RGBAModel.Convert(img.At(int(p.X), int(p.Y))).(color.RGBA)
		if math.Abs(float64(c.R)-40) > 8 || math.Abs(float64(c.B)-40) > 8 {
			t.Errorf("between grid lines at ground %v: %v, want the frame's grey", g, c)
		}
	}

	// check reads it back.
	stdout, _, err = runAgent(t, "calibrate", "check", "--calibration", out)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	for _, want := range []string{"valid calibration", "CAM001", "1920x1080", "15 (14 inliers, ransac)", "limit (speed, limit 60 km/h", "stop (stop_line", cal.Hash} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check output lacks %q:\n%s", want, stdout)
		}
	}
}

// regexpLine reports whether some output line holds the fields in order.
func regexpLine(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[0] == fields[0] && f[1] == fields[1] && f[len(f)-1] == fields[2] {
			return true
		}
	}
	return false
}

func TestCalibrateSolveErrors(t *testing.T) {
	dir := t.TempDir()
	good := surveyCSV(t, dir)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	badRow := write("bad-row.csv", "u,v,x,y\n100,200,0,0\n100,2o0,0,1\n")
	dup := write("dup.csv", "u,v,x,y\n100,100,0,0\n500,100,10,0\n500,500,10,10\n100,500,0,10\n300,300,5,5\n100,100,3,3\n")
	line := write("line.csv", "u,v,x,y\n120,680,0,0\n450,650,10,0\n780,620,20,0\n1100,590,30,0\n")
	existing := write("exists.json", "{}")
	out := filepath.Join(dir, "out.json")
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no points flag", []string{"--out", out, "--width", "1920", "--height", "1080"}, []string{"--points and --out are required"}},
		{"overlay without image", []string{"--points", good, "--out", out, "--overlay", "x.png", "--width", "1920", "--height", "1080"}, []string{"--overlay needs --image"}},
		{"no image size", []string{"--points", good, "--out", out}, []string{"image size is unknown"}},
		{"latitude alone", []string{"--points", good, "--out", out, "--width", "1920", "--height", "1080", "--lat", "-12"}, []string{"both --lat and --lon"}},
		{"bad row", []string{"--points", badRow, "--out", out, "--width", "1920", "--height", "1080"}, []string{"bad-row.csv", "line 3", "column v"}},
		{"duplicate pixel", []string{"--points", dup, "--out", out, "--width", "1920", "--height", "1080"}, []string{"dup.csv", "lines 2, 7", "same image position"}},
		{"collinear ground", []string{"--points", line, "--out", out, "--width", "1920", "--height", "1080"}, []string{"points lie along a line"}},
		{"pixels beyond the image", []string{"--points", good, "--out", out, "--width", "640", "--height", "480"}, []string{"outside the 640x480 image"}},
		{"existing output", []string{"--points", good, "--out", existing, "--width", "1920", "--height", "1080"}, []string{"exists", "--force"}},
		{"missing points file", []string{"--points", filepath.Join(dir, "nope.csv"), "--out", out, "--width", "1920", "--height", "1080"}, []string{"nope.csv", "no such file"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runAgent(t, append([]string{"calibrate", "solve"}, tc.args...)...)
			if err == nil {
				t.Fatal("solve succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed solve left %s behind", out)
			}
		})
	}
}

func TestCalibrateCheckRefusesTamperedFile(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "cal.json")
	if _, _, err := runAgent(t, "calibrate", "solve", "--points", surveyCSV(t, dir), "--out", out, "--width", "1920", "--height", "1080"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Move one surveyed point by editing its x.
	i := bytes.Index(b, []byte(`"x": `))
	tampered := append(append(append([]byte(nil), b[:i]...), `"x": 1`...), b[i+len(`"x": `):]...)
	if err := os.WriteFile(out, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = runAgent(t, "calibrate", "check", "--calibration", out)
	if err == nil || !strings.Contains(err.Error(), "points[0].residual_m") {
		t.Fatalf("check of a tampered file: %v, want a points[0].residual_m error", err)
	}
}
