package rules

import (
	"testing"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
)

func TestInfraction(t *testing.T) {
	box := infer.Box{X1: 10, Y1: 20, X2: 110, Y2: 90}
	after := &Observation{At: t0, Ground: calibration.Point{X: 1, Y: 2}, Box: box}
	cases := []struct {
		name string
		v    Violation
	}{
		{"speed", Violation{Type: event.SpeedViolation, Rule: RuleSpeed, TrackID: 4, At: t0, Class: "car", Zone: "tramo",
			SpeedKmh: 81, SigmaKmh: 2, LimitKmh: 60, ToleranceKmh: 5, CoverageK: 1, MarginKmh: 14, After: after,
			Details: map[string]any{"margin_kmh": 14.0}}},
		{"red light, zone name not an id", Violation{Type: event.RedLight, Rule: RuleRedLight, TrackID: 5, At: t0, Class: "bus",
			Zone: "stop line 1", Before: after, After: after, Details: map[string]any{"phase": "red"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.v.Infraction("CAM001")
			if err := p.Validate(); err != nil {
				t.Fatalf("payload does not validate: %v", err)
			}
			if p.Type != tc.v.Type || p.TrackID != tc.v.TrackID || p.VehicleClass != tc.v.Class || !p.DetectedAt.Equal(tc.v.At) ||
				p.Details["rule"] != tc.v.Rule || p.Details["zone"] != tc.v.Zone || len(p.BBox) != 4 || p.BBox[2] != 110 {
				t.Fatalf("payload %+v does not carry violation %+v", p, tc.v)
			}
			if tc.v.Type == event.SpeedViolation && (p.DetectedSpeed != tc.v.SpeedKmh || p.SpeedLimit != tc.v.LimitKmh ||
				p.ToleranceKmh != tc.v.ToleranceKmh || p.SpeedUncertainty != tc.v.SigmaKmh) {
				t.Fatalf("speed fields %+v, want those of %+v", p, tc.v)
			}
			if _, ok := tc.v.Details["rule"]; ok {
				t.Fatal("Infraction modified the violation's details")
			}
		})
	}
}
