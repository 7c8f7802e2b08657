package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SignalPhase is one message of a traffic-signal controller's feed: the
// aspect a signal head shows and since when. It is not an Envelope: the
// controller is a third-party device that sends this small object, over MQTT
// on SignalTopic(device, camera) or by HTTP POST to the agent's
// /api/signal/{camera_id}. A controller should repeat the phase in force
// every second or two (a keep-alive): a feed that falls silent makes the
// agent treat the phase as unknown, and it cites no red light then.
//
// Added 2026-11-28 (additive to v1; no new envelope kind).
type SignalPhase struct {
	// Phase is red, amber (or yellow), green, or unknown/off.
	Phase string `json:"phase"`
	// TS is when the phase began (or, for a repeat, when it was observed),
	// on the controller's clock; absent means "now" at the receiver.
	TS time.Time `json:"ts,omitzero"`
	// CameraID names the camera whose stop line the signal governs; optional
	// when the topic or URL already names it, and must agree with it.
	CameraID string `json:"camera_id,omitempty"`
	// Seq is an optional counter of the controller, for diagnostics.
	Seq int64 `json:"seq,omitempty"`
}

// MaxSignalBytes bounds an accepted signal message.
const MaxSignalBytes = 4 << 10

// SignalTopic returns traffic/v1/<device>/signal/<camera>.
func SignalTopic(deviceID, cameraID string) string {
	return TopicPrefix + "/" + deviceID + "/signal/" + cameraID
}

// SignalFilter returns the subscription filter for every camera's signal
// feed of one device.
func SignalFilter(deviceID string) string { return TopicPrefix + "/" + deviceID + "/signal/+" }

// ParseSignalTopic returns the camera of a SignalTopic of deviceID.
func ParseSignalTopic(deviceID, topic string) (string, error) {
	prefix := TopicPrefix + "/" + deviceID + "/signal/"
	cam, ok := strings.CutPrefix(topic, prefix)
	if !ok || !ValidDeviceID(cam) {
		return "", invalid("topic", "%q is not %s<camera>", trunc(topic), prefix)
	}
	return cam, nil
}

// Validate checks the message fields.
func (p *SignalPhase) Validate() error {
	switch strings.ToLower(p.Phase) {
	case "red", "amber", "yellow", "green", "unknown", "off":
	default:
		return invalid("phase", "%q is not red, amber, green or unknown", trunc(p.Phase))
	}
	if !p.TS.IsZero() && (p.TS.Year() < 2000 || p.TS.After(time.Now().Add(maxFuture))) {
		return invalid("ts", "%s is out of range", p.TS.Format(time.RFC3339))
	}
	if p.CameraID != "" && !ValidDeviceID(p.CameraID) {
		return invalid("camera_id", "%q is not a valid device id", trunc(p.CameraID))
	}
	if p.Seq < 0 {
		return invalid("seq", "must not be negative")
	}
	return nil
}

// ParseSignal decodes and validates a signal message; unknown fields are
// ignored. Errors are *Error with a reason code.
func ParseSignal(b []byte) (SignalPhase, error) {
	var p SignalPhase
	if len(b) > MaxSignalBytes {
		return p, &Error{Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes exceeds %d", len(b), MaxSignalBytes)}
	}
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return p, &Error{Reason: ReasonMalformed, Msg: "a signal message must be a JSON object"}
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return SignalPhase{}, &Error{Reason: ReasonMalformed, Msg: err.Error()}
	}
	if err := p.Validate(); err != nil {
		return SignalPhase{}, err
	}
	return p, nil
}
