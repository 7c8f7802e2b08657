package rules

import (
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/speed"
	"github.com/vigia-pe/vigia/calibration"
)

func TestEngineLiveLimits(t *testing.T) {
	e, err := New(scene(), DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		limit, tol     float64
		wantErr        bool
		speed, sigma   float64
		wantViolations int
	}{
		{name: "lower limit cites", limit: 40, tol: 5, speed: 50, sigma: 1, wantViolations: 1},
		{name: "higher tolerance spares", limit: 40, tol: 15, speed: 50, sigma: 1, wantViolations: 0},
		{name: "negative tolerance refused", limit: 40, tol: -1, wantErr: true},
		{name: "huge tolerance refused", limit: 40, tol: 51, wantErr: true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := e.SetSpeedLimit(tc.limit); err != nil {
				t.Fatal(err)
			}
			err := e.SetTolerance(tc.tol)
			if (err != nil) != tc.wantErr {
				t.Fatalf("SetTolerance(%g) err = %v, want error %v", tc.tol, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if l, tl := e.Limits(); l != tc.limit || tl != tc.tol {
				t.Fatalf("Limits() = %g, %g; want %g, %g", l, tl, tc.limit, tc.tol)
			}
			obs := path(3*time.Second, func(s float64) calibration.Point { return pt(20+20*s, -1.75) })
			vs := run(t, e, int64(100+i), "car", obs, &speed.Estimate{SpeedKmh: tc.speed, SigmaKmh: tc.sigma, End: obs[len(obs)-1].At})
			if len(vs) != tc.wantViolations {
				t.Fatalf("%d violations, want %d: %+v", len(vs), tc.wantViolations, vs)
			}
		})
	}
}
