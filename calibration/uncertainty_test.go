package calibration_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/calibration/calibtest"
)

// TestUncertaintyMatchesMonteCarlo re-surveys the same road many times with
// random errors and checks that the predicted 1-sigma error of a measured
// distance matches the spread of the errors actually made.
func TestUncertaintyMatchesMonteCarlo(t *testing.T) {
	cam := calibtest.Street()
	marks := calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22, 30, 40})
	ga, gb := calibration.Point{X: 2, Y: 14}, calibration.Point{X: 3, Y: 34}
	a, _ := cam.Pixel(ga)
	b, _ := cam.Pixel(gb)
	trueLen := ga.Dist(gb)
	tests := []struct {
		name     string
		model    calibration.NoiseModel
		min, max float64 // accepted predicted/empirical ratio
	}{
		{"true noise model", calibration.NoiseModel{GroundSigmaM: 0.03, PixelSigma: 0.7}, 0.8, 1.25},
		{"defaults", calibration.NoiseModel{}, 0.8, 1.6},
		{"model too optimistic, residuals inflate it", calibration.NoiseModel{GroundSigmaM: 0.005, PixelSigma: 0.1}, 0.7, 1.3},
	}
	rng := rand.New(rand.NewPCG(5, 8))
	const trials = 200
	var sumErr2 float64
	sumPred2 := make([]float64, len(tests))
	for range trials {
		c, err := calibration.New(cam.Survey(marks, 0.7, 0.03, rng), calibration.Options{Image: cam.Size(), Solve: calibration.SolveOptions{InlierThresholdM: 1}})
		if err != nil {
			t.Fatal(err)
		}
		pa, _ := c.PixelToGround(a)
		pb, _ := c.PixelToGround(b)
		e := pa.Dist(pb) - trueLen
		sumErr2 += e * e
		for i, tc := range tests {
			u, err := c.Uncertainty(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			s, err := u.DisplacementSigma(a, b)
			if err != nil {
				t.Fatal(err)
			}
			sumPred2[i] += s * s
		}
	}
	empirical := math.Sqrt(sumErr2 / trials)
	for i, tc := range tests {
		predicted := math.Sqrt(sumPred2[i] / trials)
		t.Logf("%s: distance %.1f m: empirical sigma %.4f m, predicted %.4f m", tc.name, trueLen, empirical, predicted)
		if ratio := predicted / empirical; ratio < tc.min || ratio > tc.max {
			t.Errorf("%s: predicted sigma %.4f m vs empirical %.4f m (ratio %.2f), want within [%.2f, %.2f]", tc.name, predicted, empirical, ratio, tc.min, tc.max)
		}
	}
}

func TestUncertaintyGrowsOutsideSurvey(t *testing.T) {
	cam := calibtest.Street()
	c, err := calibration.New(cam.Survey(calibtest.Grid([]float64{0, 3.5, 7}, []float64{10, 15, 22}), 0, 0, nil), calibration.Options{Image: cam.Size()})
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.Uncertainty(calibration.NoiseModel{})
	if err != nil {
		t.Fatal(err)
	}
	if u.Inflation != 1 {
		t.Errorf("exact points: Inflation = %g, want 1", u.Inflation)
	}
	inside, _ := cam.Pixel(calibration.Point{X: 3.5, Y: 15})
	outside, _ := cam.Pixel(calibration.Point{X: 3.5, Y: 60})
	si, err := u.PointSigma(inside)
	if err != nil {
		t.Fatal(err)
	}
	so, err := u.PointSigma(outside)
	if err != nil {
		t.Fatal(err)
	}
	if !(si > 0 && so > 5*si) {
		t.Errorf("point sigma %.3f m inside the survey, %.3f m 40 m beyond it; want it to grow well beyond", si, so)
	}
}
