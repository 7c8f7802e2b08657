package ingest

import (
	"encoding/json"
	"reflect"

	fastjson "github.com/segmentio/encoding/json"
	"github.com/vigia-pe/vigia/shared/event"
)

// unmarshal decodes every message the hub receives: first with
// github.com/segmentio/encoding/json, which decodes an envelope and its
// payload about four times faster than encoding/json with fewer allocations
// (at fleet scale decoding was the hub's largest per-message CPU cost), and,
// when it refuses, again with encoding/json, which has the last word. The fast
// decoder is stricter than encoding/json in places (its own ISO 8601 parser
// refuses some timestamps time.Time accepts) and never more lenient, so the
// messages accepted, their decoded values, and the wording of every refusal
// are encoding/json's; FuzzDecodeMatchesStdlib holds it to that. The wire
// contract (shared/event) itself stays standard-library only.
func unmarshal(b []byte, v any) error {
	if fastjson.Unmarshal(b, v) == nil {
		return nil
	}
	// Start from a clean value: the fast decoder may have filled part of it.
	reflect.ValueOf(v).Elem().SetZero()
	return json.Unmarshal(b, v)
}

// parseMessage is event.Parse with the fast decoder.
func parseMessage(b []byte) (event.Envelope, event.Payload, error) {
	return event.ParseWith(b, unmarshal)
}
