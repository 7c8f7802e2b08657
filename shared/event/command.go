package event

import (
	"encoding/json"
	"strings"
)

// Action is a command verb. Never reuse a value.
type Action string

// Command actions (hub → agent).
const (
	ActionStreamStart  Action = "stream.start"
	ActionStreamStop   Action = "stream.stop"
	ActionConfigUpdate Action = "config.update"
)

// Command asks an agent to act; the envelope id is the command id.
type Command struct {
	Action   Action `json:"action"`
	CameraID string `json:"camera_id,omitempty"`
	// RTSPURL may carry credentials: never log it (use RedactURL).
	RTSPURL string `json:"rtsp_url,omitempty"`
	// Config carries action-specific settings (limits, zones, detection threshold...).
	Config json.RawMessage `json:"config,omitempty"`
	// TimeoutSeconds is how long the hub waits for the ack.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Kind implements Payload.
func (*Command) Kind() Kind { return KindCommand }

// Validate checks the command fields.
func (p *Command) Validate() error {
	switch p.Action {
	case ActionStreamStart, ActionStreamStop, ActionConfigUpdate:
	default:
		return invalid("data.action", "%q is not a known action", trunc(string(p.Action)))
	}
	if p.CameraID != "" && !ValidDeviceID(p.CameraID) {
		return invalid("data.camera_id", "%q is not a valid device id", trunc(p.CameraID))
	}
	if p.RTSPURL != "" && !strings.HasPrefix(p.RTSPURL, "rtsp://") && !strings.HasPrefix(p.RTSPURL, "rtsps://") {
		return invalid("data.rtsp_url", "must start with rtsp:// or rtsps://")
	}
	if len(p.Config) > 0 && p.Config[0] != '{' {
		return invalid("data.config", "must be a JSON object")
	}
	if p.TimeoutSeconds < 0 || p.TimeoutSeconds > 3600 {
		return invalid("data.timeout_seconds", "must be within 0..3600")
	}
	return nil
}

// Outcome is the result of a command. Never reuse a value.
type Outcome string

// Command outcomes.
const (
	OutcomeDone     Outcome = "done"
	OutcomeRejected Outcome = "rejected" // unknown, malformed or not allowed
	OutcomeFailed   Outcome = "failed"   // accepted but could not be carried out
)

// Ack acknowledges a command.
type Ack struct {
	CommandID string          `json:"command_id"`
	Outcome   Outcome         `json:"outcome"`
	Message   string          `json:"message,omitempty"`
	CameraID  string          `json:"camera_id,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
}

// Kind implements Payload.
func (*Ack) Kind() Kind { return KindAck }

// Validate checks the ack fields.
func (p *Ack) Validate() error {
	if !ValidID(p.CommandID) {
		return invalid("data.command_id", "%q is not a UUID or ULID", trunc(p.CommandID))
	}
	switch p.Outcome {
	case OutcomeDone, OutcomeRejected, OutcomeFailed:
	default:
		return invalid("data.outcome", "%q is not done, rejected or failed", trunc(string(p.Outcome)))
	}
	if len(p.Message) > 2048 {
		return invalid("data.message", "longer than 2048 bytes")
	}
	return nil
}

// ModelAnnouncement tells agents that a model version is available (OTA).
type ModelAnnouncement struct {
	Name      string `json:"name"`    // e.g. yolox-nano
	Version   string `json:"version"` // e.g. 2026.11.1
	Role      string `json:"role"`    // vehicle_detector, plate_detector, plate_reader
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
	// URL is where to fetch the weights (presigned S3 URL or hub URL).
	URL string `json:"url"`
	// ManifestURL is where to fetch the model manifest (layout, classes, thresholds).
	ManifestURL string `json:"manifest_url,omitempty"`
}

// Kind implements Payload.
func (*ModelAnnouncement) Kind() Kind { return KindModel }

// Validate checks the announcement fields.
func (p *ModelAnnouncement) Validate() error {
	if p.Name == "" || p.Version == "" {
		return invalid("data.name", "name and version are required")
	}
	switch p.Role {
	case "vehicle_detector", "plate_detector", "plate_reader":
	default:
		return invalid("data.role", "%q is not vehicle_detector, plate_detector or plate_reader", trunc(p.Role))
	}
	if !isSHA256Hex(p.SHA256) {
		return invalid("data.sha256", "must be 64 lowercase hex digits")
	}
	if p.SizeBytes <= 0 {
		return invalid("data.size_bytes", "must be positive")
	}
	if p.URL == "" {
		return invalid("data.url", "required")
	}
	return nil
}

// RedactURL hides the password of a URL such as rtsp://user:pass@host/path.
func RedactURL(raw string) string {
	schemeEnd := strings.Index(raw, "://")
	if schemeEnd < 0 {
		return raw
	}
	rest := raw[schemeEnd+3:]
	hostEnd := strings.IndexAny(rest, "/?#")
	if hostEnd < 0 {
		hostEnd = len(rest)
	}
	auth := rest[:hostEnd]
	at := strings.LastIndex(auth, "@")
	if at < 0 {
		return raw
	}
	user := auth[:at]
	if c := strings.Index(user, ":"); c >= 0 {
		user = user[:c] + ":xxxxx"
	}
	return raw[:schemeEnd+3] + user + auth[at:] + rest[hostEnd:]
}
