package rules

import (
	"maps"

	"github.com/vigia-pe/vigia/shared/event"
)

// Infraction fills the event payload's rule-side fields from the violation:
// type, camera, zone, time, speed fields, track, class, the box of the
// decisive observation and the details (with the rule and zone added). The
// plate, evidence, location and calibration hash are left to later stages.
func (v *Violation) Infraction(cameraID string) *event.Infraction {
	p := &event.Infraction{
		Type:         v.Type,
		CameraID:     cameraID,
		DetectedAt:   v.At,
		TrackID:      v.TrackID,
		VehicleClass: v.Class,
		Details:      make(map[string]any, len(v.Details)+2),
	}
	maps.Copy(p.Details, v.Details)
	p.Details["rule"] = v.Rule
	if v.Zone != "" {
		p.Details["zone"] = v.Zone
		if event.ValidDeviceID(v.Zone) {
			p.ZoneID = v.Zone
		}
	}
	if v.Type == event.SpeedViolation {
		p.DetectedSpeed, p.SpeedUncertainty = v.SpeedKmh, v.SigmaKmh
		p.SpeedLimit, p.ToleranceKmh = v.LimitKmh, v.ToleranceKmh
	}
	if b := v.After; b != nil && b.Box.Area() > 0 {
		p.BBox = []float64{float64(b.Box.X1), float64(b.Box.Y1), float64(b.Box.X2), float64(b.Box.Y2)}
	}
	return p
}
