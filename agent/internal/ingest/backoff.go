package ingest

import "time"

// Backoff is a capped exponential delay with jitter between reconnection
// attempts, so that a site's cameras do not all redial at the same instant
// after a switch reboots.
type Backoff struct {
	// Initial is the delay before the first retry (default 1 s).
	Initial time.Duration
	// Max caps the delay (default 30 s).
	Max time.Duration
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial <= 0 {
		b.Initial = time.Second
	}
	if b.Max <= 0 {
		b.Max = 30 * time.Second
	}
	if b.Max < b.Initial {
		b.Max = b.Initial
	}
	return b
}

// Delay returns the wait before retry number attempt (0-based). jitter, in
// [0, 1), picks the delay within [d/2, d) of the exponential value d
// ("equal jitter": never less than half the nominal delay).
func (b Backoff) Delay(attempt int, jitter float64) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(jitter*float64(d/2))
}
