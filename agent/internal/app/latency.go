package app

import (
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

// InfractionTiming says when an infraction was decided and committed, for
// the latency metrics. Wall-clock fields are this device's clock.
type InfractionTiming struct {
	EventID  string
	Type     event.InfractionType
	CameraID string
	// Captured is the capture time of the frame whose analysis decided the
	// infraction (the camera's NTP clock, or its receive time, or for a
	// file the replay's start time plus the frame's PTS).
	Captured time.Time
	// Moment is the decisive moment the rule found (rules.Violation.At, on
	// the capture clock): the end of the speed measurement, the crossing.
	// It precedes Captured by the time the rule needed to decide.
	Moment time.Time
	// Entered is when that frame entered the pipeline; Decided when the
	// pipeline returned the violation.
	Entered, Decided time.Time
	// PostWindow is the stream time the citation had to wait after the
	// deciding frame, for the clip's 5 s after the moment (0 once passed).
	PostWindow time.Duration
	// CompletingEntered is when the frame that completed the clip entered
	// the pipeline (the deciding frame's entry at the end of a file);
	// CiteStarted is when the evidence package began to be written.
	CompletingEntered, CiteStarted time.Time
	// Committed is when the event and its evidence were committed (the
	// OnInfraction callback, or the events file write, returned).
	Committed time.Time
}

// EndToEnd is capture to commit: the latency of a live stream, where the
// capture time is (near) wall time; meaningless for a file replayed as fast
// as it decodes.
func (t InfractionTiming) EndToEnd() time.Duration { return t.Committed.Sub(t.Captured) }

// FromMoment is LiveEstimate counted from the infraction's moment rather
// than from the deciding frame's capture.
func (t InfractionTiming) FromMoment() time.Duration {
	return t.Captured.Sub(t.Moment) + t.LiveEstimate()
}

// Processing is the agent's own work for the infraction: analysing the
// deciding frame, then writing the evidence package and committing the
// event; it excludes the wait for the clip's post-window.
func (t InfractionTiming) Processing() time.Duration {
	return t.Decided.Sub(t.Entered) + t.Committed.Sub(t.CiteStarted)
}

// LiveEstimate is the capture-to-commit latency a live stream would see
// (after the frame reached the pipeline): the deciding frame's analysis,
// the post-window wait in stream time (real time when live), then the
// completing frame's analysis and the citation, including any citation
// committed before this one from the same frame.
func (t InfractionTiming) LiveEstimate() time.Duration {
	return t.Decided.Sub(t.Entered) + t.PostWindow + t.Committed.Sub(t.CompletingEntered)
}
