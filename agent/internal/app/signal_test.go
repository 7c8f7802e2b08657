package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/calibration"
)

func TestReadSignalSchedule(t *testing.T) {
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name, body, wantErr string
		at                  float64
		want                rules.Phase
	}{
		{"red after amber", "# controller log\n0 green\n3 amber\n6.5 red\n", "", 7, rules.PhaseRed},
		{"amber window", "0 green\n3 amber\n6.5 red\n", "", 4, rules.PhaseAmber},
		{"bad phase", "0 purple\n", "purple", 0, 0},
		{"bad time", "-1 red\n", "not a time", 0, 0},
		{"three fields", "0 red now\n", "want", 0, 0},
		{"empty", "# nothing\n", "no phase change", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "signal.txt")
			if err := os.WriteFile(p, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			tl, err := ReadSignalSchedule(p, start)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ph, _ := tl.PhaseAt(start.Add(time.Duration(tc.at * float64(time.Second)))); ph != tc.want {
				t.Fatalf("phase at %.1f s = %v, want %v", tc.at, ph, tc.want)
			}
		})
	}
}

func TestRedLightApproachesFromCalibrationLines(t *testing.T) {
	cal := &calibration.Calibration{Lines: []calibration.Line{
		{Name: "stop", Kind: calibration.LineStop}, {Name: "exit", Kind: calibration.LineCount},
		{Name: "solid", Kind: calibration.LineSolidLane}}}
	got := redLightApproaches(cal, rules.NewTimeline(0, 0))
	if len(got) != 1 || got[0].StopLine != "stop" || got[0].ExitLine != "exit" || got[0].Signal == nil {
		t.Fatalf("got %+v", got)
	}
	if got := redLightApproaches(&calibration.Calibration{}, nil); len(got) != 0 {
		t.Fatalf("approaches without a stop line: %+v", got)
	}
}
