package scenegen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Signal phases of a traffic light.
const (
	PhaseGreen = "green"
	PhaseAmber = "amber"
	PhaseRed   = "red"
)

// SignalPhase is one change of the traffic light: Phase holds from AtS
// (seconds from the first frame) until the next change.
type SignalPhase struct {
	Phase string  `json:"phase"`
	AtS   float64 `json:"at_s"`
}

// SignalFile is the signal schedule written beside the clip for scenes
// with a signal: one line per change, "<seconds> <red|amber|green>".
const SignalFile = "signal.txt"

func validateSignal(sig []SignalPhase) error {
	var errs []error
	for i, p := range sig {
		switch p.Phase {
		case PhaseGreen, PhaseAmber, PhaseRed:
		default:
			errs = append(errs, fmt.Errorf("signal %d: phase %q must be green, amber or red", i, p.Phase))
		}
		switch {
		case !finite(p.AtS):
			errs = append(errs, fmt.Errorf("signal %d: time must be finite", i))
		case i == 0 && p.AtS != 0:
			errs = append(errs, fmt.Errorf("signal 0: the schedule must start at 0 s, not %v", p.AtS))
		case i > 0 && !(p.AtS > sig[i-1].AtS):
			errs = append(errs, fmt.Errorf("signal %d: time %v s must follow %v s", i, p.AtS, sig[i-1].AtS))
		}
	}
	return errors.Join(errs...)
}

// PhaseAt returns the phase shown at time t ("" before the schedule or
// without one).
func PhaseAt(sig []SignalPhase, t float64) string {
	phase := ""
	for _, p := range sig {
		if p.AtS > t {
			break
		}
		phase = p.Phase
	}
	return phase
}

// RedFrom returns the start of the first red phase (+Inf if none).
func RedFrom(sig []SignalPhase) float64 {
	for _, p := range sig {
		if p.Phase == PhaseRed {
			return p.AtS
		}
	}
	return math.Inf(1)
}

// WriteSignal writes the schedule in the signal.txt format.
func WriteSignal(w io.Writer, sig []SignalPhase) error {
	bw := bufio.NewWriter(w)
	for _, p := range sig {
		fmt.Fprintf(bw, "%s %s\n", strconv.FormatFloat(p.AtS, 'f', -1, 64), p.Phase)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("scenegen: write signal: %w", err)
	}
	return nil
}
