package app

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigia-pe/vigia/shared/event"
)

func TestHostClockFromTimex(t *testing.T) {
	cases := []struct {
		name                string
		state               int
		status              int32
		offset, est, maxerr int64
		want                hostClock
		alarm               string // substring; "" for none
	}{
		{"synced, microsecond offset", unix.TIME_OK, 0, -1500, 800, 40000,
			hostClock{Source: "kernel", Synced: true, Offset: -1500 * time.Microsecond, EstError: 800 * time.Microsecond, MaxError: 40 * time.Millisecond}, ""},
		{"synced, nanosecond offset", unix.TIME_OK, unix.STA_NANO, 2500000, 100, 1000,
			hostClock{Source: "kernel", Synced: true, Offset: 2500 * time.Microsecond, EstError: 100 * time.Microsecond, MaxError: time.Millisecond}, ""},
		{"STA_UNSYNC", unix.TIME_OK, unix.STA_UNSYNC, 0, 16000000, 16000000,
			hostClock{Source: "kernel", Offset: 0, EstError: 16 * time.Second, MaxError: 16 * time.Second}, "not synchronised"},
		{"TIME_ERROR state", unix.TIME_ERROR, 0, 0, 0, 0,
			hostClock{Source: "kernel"}, "not synchronised"},
		{"synced but poor", unix.TIME_OK, 0, 0, 3000000, 5000000,
			hostClock{Source: "kernel", Synced: true, EstError: 3 * time.Second, MaxError: 5 * time.Second}, "estimated error 3s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := hostClockFromTimex(tc.state, tc.status, tc.offset, tc.est, tc.maxerr)
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
			st := &event.Status{State: event.StateOnline}
			got.fill(st)
			if tc.alarm == "" {
				if st.State != event.StateOnline || len(st.Alarms) != 0 {
					t.Errorf("state %s alarms %v, want online without alarms", st.State, st.Alarms)
				}
			} else if st.State != event.StateDegraded || len(st.Alarms) != 1 || !strings.Contains(st.Alarms[0], tc.alarm) {
				t.Errorf("state %s alarms %v, want degraded with %q", st.State, st.Alarms, tc.alarm)
			}
			if st.ClockSynced != tc.want.Synced || st.ClockSource != "kernel" || st.ClockEstErrorMs != durationMs(tc.want.EstError) ||
				st.ClockOffsetMs != durationMs(tc.want.Offset) {
				t.Errorf("status clock fields %+v", st)
			}
			if err := st.Validate(); err != nil {
				t.Errorf("status refused: %v", err)
			}
		})
	}
}

// TestReadHostClockAsksTheKernel reads this machine's clock state: the
// kernel answers without privileges, and an unsynchronised clock reports
// the kernel's growing maximum error.
func TestReadHostClockAsksTheKernel(t *testing.T) {
	c := readHostClock()
	t.Logf("host clock: %+v", c)
	if c.Source != clockSourceKernel {
		t.Fatalf("source %q: adjtimex with no modes must work unprivileged on Linux", c.Source)
	}
	if c.MaxError < 0 || c.EstError < 0 {
		t.Errorf("negative errors %+v", c)
	}
}

func TestUnavailableHostClockRaisesNoAlarm(t *testing.T) {
	st := &event.Status{State: event.StateOnline, ClockSynced: true}
	hostClock{Source: clockSourceUnavailable}.fill(st)
	if st.ClockSynced || st.ClockSource != "unavailable" || st.State != event.StateOnline || len(st.Alarms) != 0 {
		t.Errorf("status %+v: want synced=false, source unavailable, no alarm", st)
	}
}
