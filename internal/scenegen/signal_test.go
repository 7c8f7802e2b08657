package scenegen

import (
	"bytes"
	"math"
	"testing"
)

func TestValidateSignal(t *testing.T) {
	cases := []struct {
		name string
		sig  []SignalPhase
		ok   bool
	}{
		{"none", nil, true},
		{"green amber red", []SignalPhase{{PhaseGreen, 0}, {PhaseAmber, 3}, {PhaseRed, 6}}, true},
		{"late start", []SignalPhase{{PhaseRed, 1}}, false},
		{"unknown phase", []SignalPhase{{"blue", 0}}, false},
		{"out of order", []SignalPhase{{PhaseGreen, 0}, {PhaseRed, 4}, {PhaseAmber, 3}}, false},
		{"repeated time", []SignalPhase{{PhaseGreen, 0}, {PhaseRed, 0}}, false},
		{"not finite", []SignalPhase{{PhaseGreen, 0}, {PhaseRed, math.NaN()}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := validateSignal(c.sig); (err == nil) != c.ok {
				t.Errorf("validateSignal = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestPhaseAt(t *testing.T) {
	sig := []SignalPhase{{PhaseGreen, 0}, {PhaseAmber, 3}, {PhaseRed, 6}}
	cases := []struct {
		name string
		t    float64
		want string
	}{
		{"before", -0.1, ""},
		{"start", 0, PhaseGreen},
		{"green", 2.99, PhaseGreen},
		{"amber edge", 3, PhaseAmber},
		{"red edge", 6, PhaseRed},
		{"long after", 100, PhaseRed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := PhaseAt(sig, c.t); got != c.want {
				t.Errorf("PhaseAt(%v) = %q, want %q", c.t, got, c.want)
			}
		})
	}
	if got := RedFrom(sig); got != 6 {
		t.Errorf("RedFrom = %v, want 6", got)
	}
	if got := RedFrom(sig[:2]); !math.IsInf(got, 1) {
		t.Errorf("RedFrom without red = %v, want +Inf", got)
	}
}

func TestWriteSignal(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSignal(&b, []SignalPhase{{PhaseGreen, 0}, {PhaseAmber, 3.25}, {PhaseRed, 6}}); err != nil {
		t.Fatal(err)
	}
	if want := "0 green\n3.25 amber\n6 red\n"; b.String() != want {
		t.Errorf("signal.txt = %q, want %q", b.String(), want)
	}
}
