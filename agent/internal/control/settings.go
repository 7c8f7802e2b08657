package control

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Settings are the per-camera settings a command may change live. A nil
// field is left as it is.
type Settings struct {
	// SpeedLimitKmh overrides the calibration's speed zones (0 clears the
	// override: the zones' limits apply again).
	SpeedLimitKmh *float64 `json:"speed_limit_kmh,omitempty"`
	// ToleranceKmh is the legal tolerance added to the limit.
	ToleranceKmh *float64 `json:"tolerance_kmh,omitempty"`
}

// SupportedKeys lists the config keys a command may carry.
// "speed_limit" is the specification's name for speed_limit_kmh.
var SupportedKeys = []string{"speed_limit_kmh", "speed_limit", "tolerance_kmh"}

// ParseSettings reads a command's config object. Unknown keys, non-numeric
// values and values out of range are errors naming every problem.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return s, fmt.Errorf("config must be a JSON object")
	}
	var unknown, bad []string
	num := func(k string, lo, hi float64) *float64 {
		var f float64
		if err := json.Unmarshal(m[k], &f); err != nil || math.IsNaN(f) || f < lo || f > hi {
			bad = append(bad, fmt.Sprintf("%s must be a number within %g..%g", k, lo, hi))
			return nil
		}
		return &f
	}
	for k := range m {
		switch k {
		case "speed_limit_kmh", "speed_limit":
			if _, both := m["speed_limit_kmh"]; both && k == "speed_limit" {
				bad = append(bad, "give speed_limit_kmh or speed_limit, not both")
				continue
			}
			s.SpeedLimitKmh = num(k, 0, 200)
		case "tolerance_kmh":
			s.ToleranceKmh = num(k, 0, 50)
		default:
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	sort.Strings(unknown)
	sort.Strings(bad)
	if len(unknown) > 0 {
		bad = append([]string{"unsupported keys " + strings.Join(unknown, ", ") + " (supported: " + strings.Join(SupportedKeys, ", ") + ")"}, bad...)
	}
	if len(bad) > 0 {
		return Settings{}, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	if s.SpeedLimitKmh == nil && s.ToleranceKmh == nil {
		return Settings{}, fmt.Errorf("config holds no setting (supported: %s)", strings.Join(SupportedKeys, ", "))
	}
	return s, nil
}
