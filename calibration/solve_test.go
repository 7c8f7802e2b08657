package calibration_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// cameras are the synthetic views the solver is checked against.
func cameras() map[string]calibtest.Camera {
	return map[string]calibtest.Camera{
		"street pole":       calibtest.Street(),
		"overhead gantry":   {X: 3.5, Y: 0, Height: 7, YawDeg: 0, PitchDeg: 35, Focal: 1200, W: 1920, H: 1080},
		"oblique corner":    {X: -8, Y: -5, Height: 9, YawDeg: 40, PitchDeg: 25, RollDeg: -2, Focal: 900, W: 1280, H: 720},
		"low wide 2K":       {X: 1, Y: 0, Height: 4, YawDeg: -5, PitchDeg: 9, RollDeg: 1, Focal: 1800, W: 2560, H: 1440},
		"looking backwards": {X: 2, Y: 80, Height: 6, YawDeg: 185, PitchDeg: 15, Focal: 1400, W: 1920, H: 1080},
	}
}

// roadPoints are survey marks on a 7 m wide road between y=8 and y=70.
func roadPoints() []calibration.Point {
	return calibtest.Grid([]float64{0, 3.5, 7}, []float64{8, 12, 16, 22, 30, 40, 55, 70})
}

// checkMapping compares the calibration's pixel↔ground maps with the
// camera's exact ones at the visible ground points, and returns the largest
// ground error (metres) and reprojection error (pixels).
func checkMapping(t *testing.T, cam calibtest.Camera, c *calibration.Calibration, ground []calibration.Point) (float64, float64) {
	t.Helper()
	worstG, worstP := 0.0, 0.0
	n := 0
	for _, g := range ground {
		p, ok := cam.Pixel(g)
		if !ok || !cam.InImage(p) {
			continue
		}
		got, err := c.PixelToGround(p)
		if err != nil {
			t.Fatalf("PixelToGround(%v): %v", p, err)
		}
		back, err := c.GroundToPixel(g)
		if err != nil {
			t.Fatalf("GroundToPixel(%v): %v", g, err)
		}
		worstG = max(worstG, got.Dist(g))
		worstP = max(worstP, back.Dist(p))
		n++
	}
	if n < 8 {
		t.Fatalf("only %d check points visible: test set-up", n)
	}
	return worstG, worstP
}

// checkPoints lie between the survey marks of roadPoints and a little beyond.
func checkPoints() []calibration.Point {
	return calibtest.Grid([]float64{-1, 1, 2.5, 4, 5.5, 8}, []float64{9, 11, 15, 20, 27, 35, 45, 60})
}

// corners returns the left and right marks of the nearest and farthest rows
// (Survey keeps rows in order).
func corners(all []calibration.PointPair) []calibration.PointPair {
	row := func(y float64) []calibration.PointPair {
		var r []calibration.PointPair
		for _, p := range all {
			if p.Ground.Y == y {
				r = append(r, p)
			}
		}
		return r
	}
	near, far := row(all[0].Ground.Y), row(all[len(all)-1].Ground.Y)
	if len(near) < 2 {
		near = row(all[len(near)].Ground.Y)
	}
	return []calibration.PointPair{near[0], near[len(near)-1], far[0], far[len(far)-1]}
}

func TestSolveRecoversExactHomography(t *testing.T) {
	layouts := map[string]func([]calibration.PointPair) []calibration.PointPair{
		"four corners": corners,
		"all marks":    func(all []calibration.PointPair) []calibration.PointPair { return all },
		"six marks": func(all []calibration.PointPair) []calibration.PointPair {
			return []calibration.PointPair{all[0], all[2], all[4], all[len(all)-5], all[len(all)-3], all[len(all)-1]}
		},
	}
	for camName, cam := range cameras() {
		for layoutName, layout := range layouts {
			t.Run(camName+"/"+layoutName, func(t *testing.T) {
				all := cam.Survey(roadPoints(), 0, 0, nil)
				if len(all) < 9 {
					t.Fatalf("only %d marks visible: test set-up", len(all))
				}
				pairs := layout(all)
				c, err := calibration.New(pairs, calibration.Options{Image: cam.Size()})
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				if c.Reprojection.RMSM > 1e-9 || c.Reprojection.MaxM > 1e-9 {
					t.Errorf("reprojection RMS %g max %g, want 0 for exact points", c.Reprojection.RMSM, c.Reprojection.MaxM)
				}
				if c.Reprojection.Inliers != len(pairs) {
					t.Errorf("inliers = %d, want %d", c.Reprojection.Inliers, len(pairs))
				}
				if g, p := checkMapping(t, cam, c, checkPoints()); g > 1e-6 || p > 1e-6 {
					t.Errorf("largest errors %g m on the ground, %g px in the image, want < 1e-6", g, p)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			})
		}
	}
}

func TestSolveWithLensDistortion(t *testing.T) {
	cam := calibtest.Street()
	cam.Lens = &calibration.Distortion{FX: 1500, FY: 1500, CX: 960, CY: 540, K1: -0.28, K2: 0.09, P1: 0.0007, P2: -0.0004, K3: -0.01}
	pairs := cam.Survey(roadPoints(), 0, 0, nil)
	c, err := calibration.New(pairs, calibration.Options{Image: cam.Size(), Distortion: cam.Lens})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if g, p := checkMapping(t, cam, c, checkPoints()); g > 1e-6 || p > 1e-6 {
		t.Errorf("largest errors with the lens model %g m on the ground, %g px in the image, want < 1e-6", g, p)
	}
	// Without the lens model the same points cannot be fitted exactly: the
	// test would pass vacuously if the distortion were negligible.
	plain, err := calibration.Solve(pairs, calibration.SolveOptions{InlierThresholdM: 100})
	if err != nil {
		t.Fatalf("Solve without lens: %v", err)
	}
	if plain.RMS < 0.05 {
		t.Errorf("ignoring the lens leaves RMS %g m; the test distortion is too weak to prove anything", plain.RMS)
	}
}

func TestSolveRANSACRejectsOutliers(t *testing.T) {
	for camName, cam := range cameras() {
		t.Run(camName, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, 11))
			// Marks within 45 m of the camera, where 0.5 px stays under ~0.3 m.
			var marks []calibration.Point
			for _, g := range calibtest.Grid([]float64{0, 1.75, 3.5, 5.25, 7}, []float64{8, 12, 16, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70}) {
				if math.Hypot(g.X-cam.X, g.Y-cam.Y) < 45 {
					marks = append(marks, g)
				}
			}
			pairs := cam.Survey(marks, 0.5, 0.01, rng)
			if len(pairs) < 20 {
				t.Fatalf("only %d marks visible: test set-up", len(pairs))
			}
			// Corrupt a few ground labels grossly, as a technician's typo would.
			bad := map[int]bool{1: true, 7: true, len(pairs) / 2: true, len(pairs) - 2: true}
			for i := range bad {
				pairs[i].Ground.X += 2.5 + float64(i%3)
				pairs[i].Ground.Y -= 4
			}
			sol, err := calibration.Solve(pairs, calibration.SolveOptions{InlierThresholdM: 0.5, Seed: 42})
			if err != nil {
				t.Fatalf("Solve: %v", err)
			}
			for i, in := range sol.Inliers {
				if in == bad[i] {
					t.Errorf("point %d: inlier=%v, want %v (residual %.3f m)", i, in, !bad[i], sol.Residuals[i])
				}
			}
			if sol.RMS > 0.15 {
				t.Errorf("inlier RMS %.3f m, want < 0.15 for 0.5 px / 1 cm noise", sol.RMS)
			}
			c := &calibration.Calibration{Homography: sol.H, Inverse: sol.Inverse}
			if g, _ := checkMapping(t, cam, c, marks); g > 0.15 {
				t.Errorf("largest ground error on the surveyed marks %.3f m, want < 0.15", g)
			}
		})
	}
}

func TestSolveIsDeterministic(t *testing.T) {
	cam := calibtest.Street()
	pairs := cam.Survey(roadPoints(), 1, 0.02, rand.New(rand.NewPCG(1, 2)))
	pairs[3].Ground.Y += 6
	a, err := calibration.Solve(pairs, calibration.SolveOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	b, err := calibration.Solve(pairs, calibration.SolveOptions{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	if a.H != b.H || a.RMS != b.RMS {
		t.Errorf("two runs with the same seed differ: %v vs %v", a.H, b.H)
	}
}

func TestSolveRefusesDegenerateInput(t *testing.T) {
	cam := calibtest.Street()
	good := cam.Survey([]calibration.Point{{0, 10}, {7, 10}, {0, 30}, {7, 30}, {3.5, 20}, {0, 50}}, 0, 0, nil)
	p := func(u, v, x, y float64) calibration.PointPair {
		return calibration.PointPair{Image: calibration.Point{X: u, Y: v}, Ground: calibration.Point{X: x, Y: y}}
	}
	mod := func(f func([]calibration.PointPair)) []calibration.PointPair {
		c := append([]calibration.PointPair(nil), good...)
		f(c)
		return c
	}
	tests := []struct {
		name   string
		pairs  []calibration.PointPair
		want   error
		points []int // expected PointError indexes, if any
	}{
		{"no points", nil, calibration.ErrTooFewPoints, nil},
		{"three points", good[:3], calibration.ErrTooFewPoints, nil},
		{"NaN pixel", mod(func(c []calibration.PointPair) { c[2].Image.X = math.NaN() }), calibration.ErrInvalidPoint, []int{2}},
		{"infinite metres", mod(func(c []calibration.PointPair) { c[4].Ground.Y = math.Inf(1) }), calibration.ErrInvalidPoint, []int{4}},
		{"duplicate pixel", mod(func(c []calibration.PointPair) { c[5].Image = c[1].Image }), calibration.ErrDuplicatePoints, []int{1, 5}},
		{"duplicate ground point", mod(func(c []calibration.PointPair) { c[3].Ground = c[0].Ground }), calibration.ErrDuplicatePoints, []int{0, 3}},
		{"same row twice", append(good[:4:4], good[2]), calibration.ErrDuplicatePoints, []int{2, 4}},
		{"collinear pixels", []calibration.PointPair{p(100, 100, 0, 0), p(200, 200, 1, 0), p(300, 300, 1, 1), p(400, 400.5, 0, 1), p(500, 500, 2, 2)}, calibration.ErrCollinear, nil},
		{"collinear ground (the specification's example)", []calibration.PointPair{p(120, 680, 0, 0), p(450, 650, 10, 0), p(780, 620, 20, 0), p(1100, 590, 30, 0)}, calibration.ErrCollinear, nil},
		{"three of four on a line", []calibration.PointPair{p(0, 0, 0, 0), p(100, 0, 10, 0), p(200, 0, 20, 0.5), p(100, 100, 10, 10)}, calibration.ErrCollinear, []int{0, 1, 2}},
		{"four of five on a line", []calibration.PointPair{p(0, 0, 0, 0), p(100, 0, 10, 0), p(200, 0, 20, 0), p(300, 0, 30, 0), p(100, 100, 10, 10)}, calibration.ErrDegenerate, nil},
		{"bow-tie (two ground labels swapped)", []calibration.PointPair{p(0, 0, 0, 0), p(100, 0, 10, 0), p(100, 100, 0, 10), p(0, 100, 10, 10)}, calibration.ErrFlipped, nil},
		{"mirrored point among five", []calibration.PointPair{p(0, 0, 0, 0), p(100, 0, 10, 0), p(100, 100, 10, 10), p(0, 100, 0, 10), p(50, 50, 5, 5), p(60, 40, -40, -60)}, nil, nil},
		{"most points disagree", mod(func(c []calibration.PointPair) {
			c[0].Ground.X += 5
			c[2].Ground.Y += 9
			c[4].Ground.X -= 7
			c[5].Ground.X -= 3
		}), calibration.ErrNoConsensus, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sol, err := calibration.Solve(tc.pairs, calibration.SolveOptions{Seed: 3})
			if tc.want == nil {
				// A lone mirrored point is an outlier, not a reason to refuse.
				if err != nil {
					t.Fatalf("Solve: %v, want success with the point rejected", err)
				}
				if last := len(tc.pairs) - 1; sol.Inliers[last] || sol.InlierCount() != last {
					t.Errorf("inliers %v, want all but the mirrored last point", sol.Inliers)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Solve error = %v, want %v", err, tc.want)
			}
			if tc.points != nil {
				var pe *calibration.PointError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not a *PointError", err)
				}
				if len(pe.Points) != len(tc.points) {
					t.Fatalf("PointError.Points = %v, want %v", pe.Points, tc.points)
				}
				for i := range tc.points {
					if pe.Points[i] != tc.points[i] {
						t.Fatalf("PointError.Points = %v, want %v", pe.Points, tc.points)
					}
				}
			}
		})
	}
}

func TestNewRefusesPixelsOutsideImage(t *testing.T) {
	cam := calibtest.Street()
	pairs := cam.Survey(roadPoints(), 0, 0, nil)
	_, err := calibration.New(pairs, calibration.Options{Image: calibration.ImageSize{Width: 640, Height: 360}})
	if !errors.Is(err, calibration.ErrInvalidPoint) {
		t.Fatalf("New with a too small image: %v, want ErrInvalidPoint", err)
	}
}

func TestJacobianMatchesFiniteDifferences(t *testing.T) {
	lens := &calibration.Distortion{FX: 1500, FY: 1500, CX: 960, CY: 540, K1: -0.25, K2: 0.07, P1: 0.001, P2: -0.0005}
	for name, withLens := range map[string]bool{"pinhole": false, "with lens": true} {
		t.Run(name, func(t *testing.T) {
			cam := calibtest.Street()
			opt := calibration.Options{Image: cam.Size()}
			if withLens {
				cam.Lens, opt.Distortion = lens, lens
			}
			c, err := calibration.New(cam.Survey(roadPoints(), 0, 0, nil), opt)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range []calibration.Point{{960, 540}, {300, 1000}, {1800, 700}, {1000, 260}, {50, 400}} {
				j, err := c.Jacobian(p)
				if err != nil {
					t.Fatalf("Jacobian(%v): %v", p, err)
				}
				const h = 1e-3
				for col, d := range []calibration.Point{{X: h}, {Y: h}} {
					a, _ := c.PixelToGround(calibration.Point{X: p.X + d.X, Y: p.Y + d.Y})
					b, _ := c.PixelToGround(calibration.Point{X: p.X - d.X, Y: p.Y - d.Y})
					num := [2]float64{(a.X - b.X) / (2 * h), (a.Y - b.Y) / (2 * h)}
					for row := range 2 {
						if diff := math.Abs(num[row] - j[row][col]); diff > 1e-6*max(1, math.Abs(num[row])) {
							t.Errorf("pixel %v: J[%d][%d] = %g, finite difference %g", p, row, col, j[row][col], num[row])
						}
					}
				}
			}
		})
	}
}

func TestBeyondHorizon(t *testing.T) {
	cam := calibtest.Street()
	c, err := calibration.New(cam.Survey(roadPoints(), 0, 0, nil), calibration.Options{Image: cam.Size()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PixelToGround(calibration.Point{X: 960, Y: 50}); !errors.Is(err, calibration.ErrBeyondHorizon) {
		t.Errorf("pixel in the sky: err = %v, want ErrBeyondHorizon", err)
	}
	if _, err := c.GroundToPixel(calibration.Point{X: 0, Y: -30}); !errors.Is(err, calibration.ErrBeyondHorizon) {
		t.Errorf("ground behind the camera: err = %v, want ErrBeyondHorizon", err)
	}
	if _, err := c.PixelToGround(calibration.Point{X: math.NaN(), Y: 3}); err == nil {
		t.Error("NaN pixel accepted")
	}
}

func BenchmarkGroundAndJacobian(b *testing.B) {
	cam := calibtest.Street()
	c, err := calibration.New(cam.Survey(roadPoints(), 0, 0, nil), calibration.Options{Image: cam.Size()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	p := calibration.Point{X: 900, Y: 700}
	for b.Loop() {
		if _, _, err := c.GroundAndJacobian(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSolveRANSAC(b *testing.B) {
	cam := calibtest.Street()
	pairs := cam.Survey(roadPoints(), 0.5, 0.02, rand.New(rand.NewPCG(1, 1)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := calibration.Solve(pairs, calibration.SolveOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
