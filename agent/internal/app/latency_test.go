package app

import (
	"log/slog"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/shared/event"
)

// TestCiterTiming feeds a citer a 25 fps stream in which frame 10 decides
// a speed violation whose moment was frame 8: the citation must wait for
// the clip's post-window (5 s after frame 8, reached at frame 133), then
// report the deciding frame's capture time and the wait.
func TestCiterTiming(t *testing.T) {
	var emitted []event.Envelope
	c, err := newCiter("EDGE-1", "CAM-1", nil, nil, nil, nil, slog.New(slog.DiscardHandler),
		func(env event.Envelope, _ *event.Infraction) error { emitted = append(emitted, env); return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var timings []InfractionTiming
	c.onCommitted = func(tm InfractionTiming) { timings = append(timings, tm) }

	start := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	const step = 40 * time.Millisecond
	mk := func(i int) *frame.Frame {
		return &frame.Frame{Seq: int64(i), Width: 4, Height: 4, Stride: 12, BGR: make([]byte, 48),
			PTS: time.Duration(i) * step, Captured: start.Add(time.Duration(i) * step)}
	}
	var enteredAt = map[int]time.Time{}
	citedAt := -1
	for i := 0; i < 150; i++ {
		f := mk(i)
		enteredAt[i] = time.Now()
		c.entered = enteredAt[i]
		r := pipeline.FrameResult{Active: []pipeline.Active{{TrackID: 1, Class: "car", Box: infer.Box{X1: 0, Y1: 0, X2: 2, Y2: float32(1 + i%3)}}}}
		if i == 10 {
			r.Violations = []pipeline.Violation{{Violation: rules.Violation{Type: event.SpeedViolation, Rule: "speed", TrackID: 1,
				At: start.Add(8 * step), Class: "car", SpeedKmh: 80, SigmaKmh: 1, LimitKmh: 60, ToleranceKmh: 5, CoverageK: 2, MarginKmh: 13}}}
		}
		n := len(emitted)
		if err := c.onFrame(f, r); err != nil {
			t.Fatal(err)
		}
		if len(emitted) > n && citedAt < 0 {
			citedAt = i
		}
	}
	if len(emitted) != 1 || len(timings) != 1 {
		t.Fatalf("%d events, %d timings; want one of each", len(emitted), len(timings))
	}
	// due = 8·40 ms + 5 s = 5.32 s of PTS: frame 133.
	if citedAt != 133 {
		t.Errorf("cited at frame %d, want 133 (the first frame past the post-window)", citedAt)
	}
	tm := timings[0]
	if tm.EventID != emitted[0].ID || tm.Type != event.SpeedViolation || tm.CameraID != "CAM-1" {
		t.Errorf("timing identity %+v", tm)
	}
	if !tm.Captured.Equal(start.Add(10*step)) || !tm.Entered.Equal(enteredAt[10]) || !tm.CompletingEntered.Equal(enteredAt[133]) {
		t.Errorf("captured %v entered %v completing %v: want frame 10's, frame 10's, frame 133's", tm.Captured, tm.Entered, tm.CompletingEntered)
	}
	if !tm.Moment.Equal(start.Add(8 * step)) {
		t.Errorf("moment %v, want frame 8's capture", tm.Moment)
	}
	if want := 5*time.Second - 2*step; tm.PostWindow != want {
		t.Errorf("post-window wait %v, want %v", tm.PostWindow, want)
	}
	if tm.Decided.Before(tm.Entered) || tm.CiteStarted.Before(tm.Decided) || tm.Committed.Before(tm.CiteStarted) {
		t.Errorf("times out of order: %+v", tm)
	}
	if p, l := tm.Processing(), tm.LiveEstimate(); p < 0 || l < tm.PostWindow || l < p {
		t.Errorf("processing %v, live estimate %v (post-window %v)", p, l, tm.PostWindow)
	}
}

func TestInfractionTimingArithmetic(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	ms := time.Millisecond
	tm := InfractionTiming{Captured: t0.Add(-80 * ms), Moment: t0.Add(-2080 * ms), Entered: t0, Decided: t0.Add(40 * ms), PostWindow: 4900 * ms,
		CompletingEntered: t0.Add(4940 * ms), CiteStarted: t0.Add(4980 * ms), Committed: t0.Add(5100 * ms)}
	cases := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"end to end", tm.EndToEnd(), 5180 * ms},
		{"processing", tm.Processing(), 40*ms + 120*ms},
		{"live estimate", tm.LiveEstimate(), 40*ms + 4900*ms + 160*ms},
		{"from the moment", tm.FromMoment(), 2000*ms + 40*ms + 4900*ms + 160*ms},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}
