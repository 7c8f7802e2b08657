// Package event is the wire contract between the edge agent and the hub: the
// JSON envelope, the payload of every message kind, the MQTT topics, and
// their validation.
//
// Compatibility rules (see also STYLE.md): within v1 changes are additive
// only; decoders ignore unknown fields; enum values are never reused; golden
// payloads under testdata/v1 are never edited, only added.
//
// SchemaVersion history:
//   - 1 (2026-11-28): envelope {v,type,id,device_id,ts,data}; kinds
//     infraction, status, metrics, command, ack, model.
package event

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SchemaVersion is the major version carried in every envelope and topic.
const SchemaVersion = 1

// MaxPayloadBytes bounds an accepted message; larger ones are refused unread.
const MaxPayloadBytes = 256 << 10

// Kind names a message kind; it is also the last topic level.
type Kind string

// Message kinds. Never reuse or rename a value.
const (
	KindInfraction Kind = "infraction" // agent → hub: a cited infraction
	KindStatus     Kind = "status"     // agent → hub: retained device status / last will
	KindMetrics    Kind = "metrics"    // agent → hub: inference metrics sample
	KindCommand    Kind = "command"    // hub → agent: control command
	KindAck        Kind = "ack"        // agent → hub: command acknowledgement
	KindModel      Kind = "model"      // hub → agent: model manifest announcement (OTA)
)

// Kinds lists every known kind.
var Kinds = []Kind{KindInfraction, KindStatus, KindMetrics, KindCommand, KindAck, KindModel}

func (k Kind) valid() bool {
	for _, x := range Kinds {
		if k == x {
			return true
		}
	}
	return false
}

// Envelope wraps every message. ID is made at the edge (UUID or ULID) and is
// the idempotency key at the hub: agents resend until acknowledged, so the hub
// will see duplicates.
type Envelope struct {
	V        int             `json:"v"`
	Type     Kind            `json:"type"`
	ID       string          `json:"id"`
	DeviceID string          `json:"device_id"`
	TS       time.Time       `json:"ts"`
	Data     json.RawMessage `json:"data"`
}

// Error is a validation or decoding failure with a stable reason code, used
// by the hub's dead-letter table.
type Error struct {
	Reason string // stable code: malformed_json, unsupported_version, invalid_field, too_large, unknown_type
	Field  string // JSON path of the offending field, when there is one
	Msg    string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("event: %s: %s: %s", e.Reason, e.Field, e.Msg)
	}
	return fmt.Sprintf("event: %s: %s", e.Reason, e.Msg)
}

// Reason codes of Error.
const (
	ReasonMalformed   = "malformed_json"
	ReasonVersion     = "unsupported_version"
	ReasonInvalid     = "invalid_field"
	ReasonTooLarge    = "too_large"
	ReasonUnknownType = "unknown_type"
)

func invalid(field, format string, args ...any) *Error {
	return &Error{Reason: ReasonInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason code of err, or "" when it is not an *Error.
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// ValidDeviceID reports whether id can name a device (hub key, MQTT topic level).
func ValidDeviceID(id string) bool { return isDeviceID(id) }

// ValidID reports whether id is a UUID or ULID.
func ValidID(id string) bool { return isUUID(id) || isULID(id) }

// NewID returns a fresh UUIDv7 (time-ordered, RFC 9562).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	ms := uint64(time.Now().UnixMilli())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Payload is implemented by every message body.
type Payload interface {
	Kind() Kind
	Validate() error
}

// New builds a validated envelope around p with a fresh id.
func New(deviceID string, ts time.Time, p Payload) (Envelope, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return Envelope{}, fmt.Errorf("event: encode %s: %w", p.Kind(), err)
	}
	e := Envelope{V: SchemaVersion, Type: p.Kind(), ID: NewID(), DeviceID: deviceID, TS: ts.UTC(), Data: data}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	if err := p.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// maxFuture bounds how far ahead of the receiver's clock a timestamp may be.
const maxFuture = 24 * time.Hour

// Validate checks the envelope fields (not the payload).
func (e Envelope) Validate() error {
	if e.V != SchemaVersion {
		return &Error{Reason: ReasonVersion, Field: "v", Msg: fmt.Sprintf("got %d, this build speaks %d", e.V, SchemaVersion)}
	}
	if !e.Type.valid() {
		return &Error{Reason: ReasonUnknownType, Field: "type", Msg: fmt.Sprintf("%q is not a known kind", e.Type)}
	}
	if !ValidID(e.ID) {
		return invalid("id", "%q is not a UUID or ULID", trunc(e.ID))
	}
	if !ValidDeviceID(e.DeviceID) {
		return invalid("device_id", "%q must be 1-50 of [A-Za-z0-9_.-], starting alphanumeric", trunc(e.DeviceID))
	}
	if e.TS.IsZero() {
		return invalid("ts", "missing")
	}
	if e.TS.Year() < 2000 || e.TS.After(time.Now().Add(maxFuture)) {
		return invalid("ts", "%s is out of range", e.TS.Format(time.RFC3339))
	}
	d := bytes.TrimSpace(e.Data)
	if len(d) == 0 || d[0] != '{' {
		return invalid("data", "must be a JSON object")
	}
	return nil
}

// Unmarshal decodes JSON into v with encoding/json's semantics;
// json.Unmarshal is one. The hub passes a faster decoder held to those
// semantics (hub/internal/ingest); this package stays standard-library only.
type Unmarshal func(data []byte, v any) error

// Decode parses and validates an envelope. The payload stays raw: use
// DecodeData (or the typed helpers) to read it.
func Decode(b []byte) (Envelope, error) { return decodeWith(b, json.Unmarshal) }

func decodeWith(b []byte, unmarshal Unmarshal) (Envelope, error) {
	var e Envelope
	if len(b) > MaxPayloadBytes {
		return e, &Error{Reason: ReasonTooLarge, Msg: fmt.Sprintf("%d bytes exceeds %d", len(b), MaxPayloadBytes)}
	}
	if err := unmarshal(b, &e); err != nil {
		return Envelope{}, &Error{Reason: ReasonMalformed, Msg: err.Error()}
	}
	if err := e.Validate(); err != nil {
		return Envelope{}, err
	}
	return e, nil
}

// DecodeData parses the envelope's payload into p and validates it; the
// payload's kind must match the envelope's type.
func (e Envelope) DecodeData(p Payload) error { return e.decodeDataWith(p, json.Unmarshal) }

func (e Envelope) decodeDataWith(p Payload, unmarshal Unmarshal) error {
	if p.Kind() != e.Type {
		return invalid("type", "envelope is %q, payload type is %q", e.Type, p.Kind())
	}
	if err := unmarshal(e.Data, p); err != nil {
		return &Error{Reason: ReasonMalformed, Field: "data", Msg: err.Error()}
	}
	return p.Validate()
}

// DecodePayload decodes the payload of an envelope whose kind is known
// statically, e.g. DecodePayload[*Infraction](env).
func DecodePayload[P interface {
	*T
	Payload
}, T any](e Envelope) (*T, error) {
	var v T
	if err := e.DecodeData(P(&v)); err != nil {
		return nil, err
	}
	return &v, nil
}

// Encode marshals an envelope.
func (e Envelope) Encode() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event: encode envelope: %w", err)
	}
	return b, nil
}

// TopicPrefix is the first two topic levels for this schema version.
var TopicPrefix = fmt.Sprintf("traffic/v%d", SchemaVersion)

// Topic returns traffic/v1/<device>/<kind>.
func Topic(deviceID string, k Kind) string {
	return TopicPrefix + "/" + deviceID + "/" + string(k)
}

// Filter returns the subscription filter for one kind from every device.
func Filter(k Kind) string { return TopicPrefix + "/+/" + string(k) }

// ParseTopic splits traffic/v1/<device>/<kind>.
func ParseTopic(topic string) (deviceID string, k Kind, err error) {
	parts := strings.Split(topic, "/")
	if len(parts) != 4 || parts[0]+"/"+parts[1] != TopicPrefix {
		return "", "", invalid("topic", "%q is not %s/<device>/<kind>", trunc(topic), TopicPrefix)
	}
	if !ValidDeviceID(parts[2]) {
		return "", "", invalid("topic", "bad device id %q", trunc(parts[2]))
	}
	k = Kind(parts[3])
	if !k.valid() {
		return "", "", &Error{Reason: ReasonUnknownType, Field: "topic", Msg: fmt.Sprintf("unknown kind %q", trunc(parts[3]))}
	}
	return parts[2], k, nil
}

func trunc(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// NewPayload returns an empty payload value for kind k.
func NewPayload(k Kind) (Payload, error) {
	switch k {
	case KindInfraction:
		return &Infraction{}, nil
	case KindStatus:
		return &Status{}, nil
	case KindMetrics:
		return &Metrics{}, nil
	case KindCommand:
		return &Command{}, nil
	case KindAck:
		return &Ack{}, nil
	case KindModel:
		return &ModelAnnouncement{}, nil
	}
	return nil, &Error{Reason: ReasonUnknownType, Field: "type", Msg: fmt.Sprintf("%q is not a known kind", trunc(string(k)))}
}

// Parse decodes and validates a whole message: envelope and typed payload.
func Parse(b []byte) (Envelope, Payload, error) { return ParseWith(b, json.Unmarshal) }

// ParseWith is Parse with another JSON decoder, which must have
// encoding/json's semantics.
func ParseWith(b []byte, unmarshal Unmarshal) (Envelope, Payload, error) {
	e, err := decodeWith(b, unmarshal)
	if err != nil {
		return Envelope{}, nil, err
	}
	p, err := NewPayload(e.Type)
	if err != nil {
		return Envelope{}, nil, err
	}
	if err := e.decodeDataWith(p, unmarshal); err != nil {
		return Envelope{}, nil, err
	}
	return e, p, nil
}
