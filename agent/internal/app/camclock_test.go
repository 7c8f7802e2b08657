package app

import (
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/ingest"
)

func TestCamClockMedian(t *testing.T) {
	base := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	cases := []struct {
		name    string
		offsets []time.Duration // capture − receive per packet
		synced  []bool          // per packet; nil: all synced
		want    time.Duration
		ok      bool
	}{
		{"no packet", nil, nil, 0, false},
		{"one", []time.Duration{-4 * ms}, nil, -4 * ms, true},
		{"odd: the late packet is ignored", []time.Duration{-3 * ms, -4 * ms, -250 * ms, -5 * ms, -4 * ms}, nil, -4 * ms, true},
		{"even: mean of the middle two", []time.Duration{10 * ms, 20 * ms, 30 * ms, 40 * ms}, nil, 25 * ms, true},
		{"camera ahead by 2 s", []time.Duration{2 * time.Second, 2*time.Second + ms, 2*time.Second - ms}, nil, 2 * time.Second, true},
		{"no NTP", []time.Duration{-4 * ms, -4 * ms}, []bool{false, false}, 0, false},
		{"NTP lost: stale samples dropped", []time.Duration{-4 * ms, -4 * ms}, []bool{true, false}, 0, false},
		{"NTP back: only the new samples", []time.Duration{900 * ms, 0, 7 * ms}, []bool{true, false, true}, 7 * ms, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCamClock()
			now := base
			c.now = func() time.Time { return now }
			for i, off := range tc.offsets {
				now = base.Add(time.Duration(i) * 40 * ms)
				synced := tc.synced == nil || tc.synced[i]
				c.observe(ingest.Packet{Captured: now.Add(off), ClockSynced: synced})
			}
			got, ok := c.offset()
			if got != tc.want || ok != tc.ok {
				t.Fatalf("offset %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
			synced, ms := c.offsetMs()
			if synced != tc.ok || (ms == nil) == tc.ok || (ms != nil && *ms != durationMs(tc.want)) {
				t.Fatalf("offsetMs %v %v", synced, ms)
			}
		})
	}
}

// TestCamClockWindow keeps only the last camClockWindow packets: a camera
// whose clock was stepped is followed within one window.
func TestCamClockWindow(t *testing.T) {
	c := newCamClock()
	now := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	for range 3 * camClockWindow {
		c.observe(ingest.Packet{Captured: now.Add(-time.Second), ClockSynced: true})
	}
	for range camClockWindow/2 + 1 {
		c.observe(ingest.Packet{Captured: now.Add(-5 * time.Millisecond), ClockSynced: true})
	}
	if got, _ := c.offset(); got != -5*time.Millisecond {
		t.Fatalf("offset %v after the step, want -5ms", got)
	}
}

func BenchmarkCamClockObserve(b *testing.B) {
	c := newCamClock()
	p := ingest.Packet{Captured: time.Now(), ClockSynced: true}
	b.ReportAllocs()
	for b.Loop() {
		c.observe(p)
	}
}
