package rules

import (
	"math"

	"github.com/vigia-pe/vigia/shared/event"
)

// CheckSpeed applies the speed rule to one measurement: it cites when
// speed − k·sigma − tolerance > limit, i.e. when the speed still exceeds the
// limit plus the legal tolerance after the measurement's expanded
// uncertainty is given to the driver. Non-finite or negative inputs never
// cite. The returned Violation carries the speed fields only.
func CheckSpeed(speedKmh, sigmaKmh, limitKmh, toleranceKmh, k float64) (Violation, bool) {
	for _, v := range []float64{speedKmh, sigmaKmh, limitKmh, toleranceKmh, k} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return Violation{}, false
		}
	}
	if limitKmh == 0 {
		return Violation{}, false
	}
	margin := speedKmh - k*sigmaKmh - toleranceKmh - limitKmh
	if !(margin > 0) {
		return Violation{}, false
	}
	return Violation{
		Type: event.SpeedViolation, Rule: RuleSpeed,
		SpeedKmh: speedKmh, SigmaKmh: sigmaKmh, LimitKmh: limitKmh, ToleranceKmh: toleranceKmh,
		CoverageK: k, MarginKmh: margin,
	}, true
}
