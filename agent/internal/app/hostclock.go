package app

import (
	"fmt"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

// hostClock is the device clock's synchronisation state as the kernel
// reports it (adjtimex; no NTP tools needed).
type hostClock struct {
	// Source is "kernel", or "unavailable" where the kernel cannot be asked.
	Source string
	// Synced is false when the kernel says the clock is unsynchronised
	// (STA_UNSYNC, or the TIME_ERROR state), and when it cannot be asked.
	Synced bool
	// Offset is the offset the kernel is still correcting (the NTP daemon's
	// last estimate when it drives the kernel PLL; 0 otherwise).
	Offset time.Duration
	// EstError and MaxError are the estimated and maximum errors the NTP
	// daemon last set (the kernel grows MaxError while nobody updates it).
	EstError, MaxError time.Duration
}

// maxHostClockError is the estimated error above which evidence times are
// flagged even though the kernel calls the clock synchronised.
const maxHostClockError = time.Second

// fill writes the clock fields of a status and its alarm, if any.
func (c hostClock) fill(st *event.Status) {
	st.ClockSource, st.ClockSynced = c.Source, c.Synced
	st.ClockOffsetMs = durationMs(c.Offset)
	st.ClockEstErrorMs, st.ClockMaxErrorMs = durationMs(c.EstError), durationMs(c.MaxError)
	if why := c.alarm(); why != "" {
		st.State, st.Alarms = event.StateDegraded, append(st.Alarms, why)
	}
}

// alarm explains why evidence times may be off, or is empty. A clock the
// kernel cannot be asked about raises none: unknown is not wrong.
func (c hostClock) alarm() string {
	switch {
	case c.Source != clockSourceKernel:
		return ""
	case !c.Synced:
		return "device clock not synchronised (the kernel reports STA_UNSYNC): evidence times may be off; check the NTP service"
	case c.EstError > maxHostClockError:
		return fmt.Sprintf("device clock estimated error %s (over %s): evidence times may be off", c.EstError, maxHostClockError)
	}
	return ""
}

const (
	clockSourceKernel      = "kernel"
	clockSourceUnavailable = "unavailable"
)

func durationMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
