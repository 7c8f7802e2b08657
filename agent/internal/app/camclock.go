package app

import (
	"slices"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/ingest"
)

// camClockWindow is how many recent access units the camera clock offset
// is the median of (a few seconds of video).
const camClockWindow = 64

// camClock estimates a camera's clock offset: the median, over recent
// access units stamped with the camera's NTP time (RTCP sender reports), of
// capture time minus local receive time. The packet is timed as it arrives
// (before decoding), so the offset includes only the network transit: a
// camera in sync shows a few milliseconds below zero. The median ignores
// the odd packet held up in a queue. Safe for concurrent use.
type camClock struct {
	now func() time.Time

	mu      sync.Mutex
	samples [camClockWindow]time.Duration
	n, next int
	synced  bool // the last access unit carried the camera's time
}

func newCamClock() *camClock { return &camClock{now: time.Now} }

// observe records one access unit as it is received (ReplayOptions.OnPacket).
func (c *camClock) observe(p ingest.Packet) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced = p.ClockSynced
	if !p.ClockSynced {
		// A camera that stops sending NTP (or a new session without it):
		// the old samples no longer describe the frames' times.
		c.n, c.next = 0, 0
		return
	}
	c.samples[c.next] = p.Captured.Sub(now)
	c.next = (c.next + 1) % camClockWindow
	if c.n < camClockWindow {
		c.n++
	}
}

// offset returns the median offset and true when the camera sends its NTP
// time, else false.
func (c *camClock) offset() (time.Duration, bool) {
	c.mu.Lock()
	if !c.synced || c.n == 0 {
		c.mu.Unlock()
		return 0, false
	}
	s := make([]time.Duration, c.n)
	copy(s, c.samples[:c.n])
	c.mu.Unlock()
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

// offsetMs is offset for a status: nil when the camera sends no NTP time.
func (c *camClock) offsetMs() (bool, *float64) {
	d, ok := c.offset()
	if !ok {
		return false, nil
	}
	ms := durationMs(d)
	return true, &ms
}

// maxCameraClockOffset is the offset above which a camera's clock is
// flagged: its NTP time stamps the frames, so the evidence times too.
const maxCameraClockOffset = 2 * time.Second
