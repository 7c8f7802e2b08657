package event

import (
	"os"
	"strings"
	"testing"
)

// TestStatusClockFields reads the clock fields added on 2026-11-28 from
// their golden payload, and checks the older golden payload still parses
// with them absent (additive change).
func TestStatusClockFields(t *testing.T) {
	raw, err := os.ReadFile("testdata/v1/status_clock.json")
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	st := p.(*Status)
	if st.ClockSource != "kernel" || st.ClockEstErrorMs != 16000 || st.ClockMaxErrorMs != 16000 || st.ClockSynced || st.ClockOffsetMs != 0.25 {
		t.Errorf("device clock fields: %+v", st)
	}
	if len(st.Cameras) != 2 {
		t.Fatalf("%d cameras", len(st.Cameras))
	}
	if c := st.Cameras[0]; !c.ClockSynced || c.ClockOffsetMs == nil || *c.ClockOffsetMs != -3.5 {
		t.Errorf("camera with NTP: synced %v offset %v", c.ClockSynced, c.ClockOffsetMs)
	}
	if c := st.Cameras[1]; c.ClockSynced || c.ClockOffsetMs != nil {
		t.Errorf("camera without NTP: synced %v offset %v, want false and absent", c.ClockSynced, c.ClockOffsetMs)
	}
	if st.Models["lpd-yunet-2023mar"] == "" {
		t.Errorf("models %v", st.Models)
	}

	raw, err = os.ReadFile("testdata/v1/status_online.json")
	if err != nil {
		t.Fatal(err)
	}
	_, p, err = Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if old := p.(*Status); old.ClockSource != "" || old.Cameras[0].ClockOffsetMs != nil || !old.ClockSynced {
		t.Errorf("older payload read differently: %+v", old)
	}
}

func TestStatusClockValidation(t *testing.T) {
	off := func(v float64) *float64 { return &v }
	cases := []struct {
		name  string
		st    Status
		field string // "" when valid
	}{
		{"no clock fields", Status{State: StateOnline}, ""},
		{"camera offset", Status{State: StateOnline, Cameras: []CameraStatus{{CameraID: "CAM1", ClockSynced: true, ClockOffsetMs: off(-12.5)}}}, ""},
		{"camera offset beyond a year", Status{State: StateOnline, Cameras: []CameraStatus{{CameraID: "CAM1", ClockOffsetMs: off(-4e10)}}}, "data.cameras"},
		{"negative estimated error", Status{State: StateOnline, ClockEstErrorMs: -1}, "data.clock_est_error_ms"},
		{"huge max error", Status{State: StateOnline, ClockMaxErrorMs: 1e11}, "data.clock_est_error_ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.st.Validate()
			switch {
			case tc.field == "" && err != nil:
				t.Fatalf("valid status refused: %v", err)
			case tc.field != "" && (err == nil || !strings.Contains(err.Error(), tc.field)):
				t.Fatalf("error %v, want one naming %s", err, tc.field)
			}
		})
	}
}
