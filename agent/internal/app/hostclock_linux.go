package app

import (
	"time"

	"golang.org/x/sys/unix"
)

// readHostClock asks the kernel (adjtimex with no modes: read only, no
// privilege needed).
func readHostClock() hostClock {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return hostClock{Source: clockSourceUnavailable}
	}
	return hostClockFromTimex(state, tx.Status, int64(tx.Offset), int64(tx.Esterror), int64(tx.Maxerror))
}

// hostClockFromTimex interprets adjtimex's answer: the offset is in
// nanoseconds with STA_NANO, else microseconds; the errors are microseconds.
func hostClockFromTimex(state int, status int32, offset, esterror, maxerror int64) hostClock {
	c := hostClock{Source: clockSourceKernel,
		Synced:   status&unix.STA_UNSYNC == 0 && state != unix.TIME_ERROR,
		EstError: time.Duration(esterror) * time.Microsecond, MaxError: time.Duration(maxerror) * time.Microsecond}
	if status&unix.STA_NANO != 0 {
		c.Offset = time.Duration(offset)
	} else {
		c.Offset = time.Duration(offset) * time.Microsecond
	}
	return c
}
