package rules

import "fmt"

// SetTolerance sets the legal speed tolerance, as the hub may command (a
// config.update). Like SetSpeedLimit, it must be called on the goroutine
// that feeds the engine; later speed decisions use the new value.
func (e *Engine) SetTolerance(kmh float64) error {
	if !(kmh >= 0) || kmh > 50 {
		return fmt.Errorf("rules: speed tolerance %g km/h out of range [0, 50]", kmh)
	}
	e.cfg.Speed.ToleranceKmh = kmh
	return nil
}

// Limits returns the override speed limit (0: the calibration's zones) and
// the tolerance in force.
func (e *Engine) Limits() (limitKmh, toleranceKmh float64) {
	return e.cfg.Speed.OverrideLimitKmh, e.cfg.Speed.ToleranceKmh
}
