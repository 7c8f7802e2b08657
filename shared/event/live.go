package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Live detections. While an operator watches a camera in the dashboard, the
// hub asks the camera's agent to publish each analysed frame's results
// (the agent's /ws/stream FrameMessage JSON, not an Envelope: ephemeral,
// never stored) with QoS 0, not retained, on LiveTopic(agent, camera). The
// request is a LiveWatch on LiveWatchTopic(agent, camera), repeated well
// within its TTL while someone watches; the agent publishes only while a
// watch is fresh, so a hub that disappears costs at most one TTL of frames
// on a metered edge link. The extra topic levels keep both out of the
// ingestion filters (traffic/v1/+/<kind>).
//
// Added 2026-11-28 (additive to v1; no new envelope kind).

// LiveWatch asks an agent to publish one camera's live detections for TTLMs
// milliseconds from its receipt (a relative time, so that the hub's and the
// agent's clocks need not agree). TTLMs 0 withdraws the watcher's request.
// Several watchers (hub replicas) may watch one camera: the agent publishes
// while any of them is fresh.
type LiveWatch struct {
	// Watcher identifies the requesting hub replica; a stop only withdraws
	// its own request.
	Watcher string `json:"watcher"`
	// TTLMs is how long the request lasts after receipt; 0 means stop.
	TTLMs int64 `json:"ttl_ms"`
	// Until is the hub's idea of the expiry (informative: agents use TTLMs).
	Until time.Time `json:"until,omitzero"`
}

// MaxLiveWatchTTL bounds a LiveWatch's TTL.
const MaxLiveWatchTTL = 2 * time.Minute

// MaxLiveWatchBytes bounds an accepted LiveWatch message.
const MaxLiveWatchBytes = 1 << 10

// LiveTopic returns traffic/v1/<device>/live/<camera>, where the agent
// publishes the camera's frames.
func LiveTopic(deviceID, cameraID string) string {
	return TopicPrefix + "/" + deviceID + "/live/" + cameraID
}

// LiveWatchTopic returns traffic/v1/<device>/live/<camera>/watch, where the
// hub publishes LiveWatch requests.
func LiveWatchTopic(deviceID, cameraID string) string {
	return LiveTopic(deviceID, cameraID) + "/watch"
}

// LiveWatchFilter returns the subscription filter for every camera's watch
// requests of one device.
func LiveWatchFilter(deviceID string) string { return TopicPrefix + "/" + deviceID + "/live/+/watch" }

// ParseLiveWatchTopic returns the camera of a LiveWatchTopic of deviceID.
func ParseLiveWatchTopic(deviceID, topic string) (string, error) {
	prefix := TopicPrefix + "/" + deviceID + "/live/"
	rest, ok := strings.CutPrefix(topic, prefix)
	cam, ok2 := strings.CutSuffix(rest, "/watch")
	if !ok || !ok2 || !ValidDeviceID(cam) {
		return "", invalid("topic", "%q is not %s<camera>/watch", trunc(topic), prefix)
	}
	return cam, nil
}

// TTL returns TTLMs as a duration.
func (w *LiveWatch) TTL() time.Duration { return time.Duration(w.TTLMs) * time.Millisecond }

// Validate checks the message fields.
func (w *LiveWatch) Validate() error {
	if !ValidDeviceID(w.Watcher) {
		return invalid("watcher", "%q is not a valid id", trunc(w.Watcher))
	}
	if w.TTLMs < 0 || w.TTL() > MaxLiveWatchTTL {
		return invalid("ttl_ms", "%d is outside 0..%d", w.TTLMs, MaxLiveWatchTTL.Milliseconds())
	}
	return nil
}

// ParseLiveWatch decodes and validates a watch request; unknown fields are
// ignored. Errors are *Error with a reason code.
func ParseLiveWatch(b []byte) (LiveWatch, error) {
	var w LiveWatch
	if len(b) > MaxLiveWatchBytes {
		return w, &Error{Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes exceeds %d", len(b), MaxLiveWatchBytes)}
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return w, &Error{Reason: ReasonMalformed, Msg: "a live watch must be a JSON object"}
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return LiveWatch{}, &Error{Reason: ReasonMalformed, Msg: err.Error()}
	}
	if err := w.Validate(); err != nil {
		return LiveWatch{}, err
	}
	return w, nil
}
