package outbox

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

// Priority says whether the quota policy may drop an entry.
type Priority int

// Priorities. The zero value means "derive from Kind": infractions are kept,
// every other kind is droppable.
const (
	PriorityAuto      Priority = 0 // derive from Kind at Put
	PriorityDroppable Priority = 1 // may be dropped, oldest first, when over quota
	PriorityKeep      Priority = 2 // never dropped (infractions: legal evidence)
)

// String names the priority.
func (p Priority) String() string {
	switch p {
	case PriorityAuto:
		return "auto"
	case PriorityDroppable:
		return "droppable"
	case PriorityKeep:
		return "keep"
	}
	return fmt.Sprintf("priority(%d)", int(p))
}

// KindDebug labels debug payloads (snapshots, traces): always droppable. It
// is local to the outbox and never sent as an event kind.
const KindDebug event.Kind = "debug"

// FileRef is one evidence file that must reach object storage before its
// event may be acknowledged and removed.
type FileRef struct {
	Key      string `json:"key"`      // object key in storage; unique within an entry
	Path     string `json:"path"`     // local file path
	SHA256   string `json:"sha256"`   // hex digest, as in the evidence manifest
	Size     int64  `json:"size"`     // bytes, counted against the quota
	Uploaded bool   `json:"uploaded"` // set by MarkUploaded
}

// Entry is one event waiting to be delivered, with its evidence files and
// delivery state.
type Entry struct {
	Seq       uint64     `json:"seq"` // assigned by Put; insertion order
	EventID   string     `json:"event_id"`
	Kind      event.Kind `json:"kind"`
	Topic     string     `json:"topic"`
	Payload   []byte     `json:"-"` // stored apart, in bucket "payloads"
	Evidence  []FileRef  `json:"evidence,omitempty"`
	Priority  Priority   `json:"priority"`
	CreatedAt time.Time  `json:"created_at"`
	Attempts  int        `json:"attempts"`
	LastError string     `json:"last_error,omitempty"`
	Published bool       `json:"published"` // set by MarkPublished
}

// Size is the number of bytes the entry counts against the quota: its
// payload plus the sizes of the evidence files it references.
func (e *Entry) Size() int64 {
	n := int64(len(e.Payload))
	for _, f := range e.Evidence {
		if f.Size > 0 {
			n += f.Size
		}
	}
	return n
}

// Ready reports whether the entry may be removed: it is published and every
// evidence file is uploaded.
func (e *Entry) Ready() bool {
	if !e.Published {
		return false
	}
	for _, f := range e.Evidence {
		if !f.Uploaded {
			return false
		}
	}
	return true
}

// Droppable reports whether the quota policy may drop the entry.
func (e *Entry) Droppable() bool { return e.Priority == PriorityDroppable }

// normalize fills derived fields and validates the entry before Put.
func (e *Entry) normalize(now time.Time) error {
	if e.EventID == "" {
		return fmt.Errorf("outbox: put: empty event id")
	}
	if e.Kind == "" {
		return fmt.Errorf("outbox: put %s: empty kind", e.EventID)
	}
	switch e.Priority {
	case PriorityAuto:
		if e.Kind == event.KindInfraction {
			e.Priority = PriorityKeep
		} else {
			e.Priority = PriorityDroppable
		}
	case PriorityDroppable, PriorityKeep:
	default:
		return fmt.Errorf("outbox: put %s: unknown priority %d", e.EventID, int(e.Priority))
	}
	if e.Kind == event.KindInfraction && e.Priority != PriorityKeep {
		return fmt.Errorf("outbox: put %s: an infraction cannot be droppable", e.EventID)
	}
	seen := make(map[string]bool, len(e.Evidence))
	for i, f := range e.Evidence {
		if f.Key == "" {
			return fmt.Errorf("outbox: put %s: evidence %d: empty key", e.EventID, i)
		}
		if seen[f.Key] {
			return fmt.Errorf("outbox: put %s: evidence key %q repeated", e.EventID, f.Key)
		}
		if f.Size < 0 {
			return fmt.Errorf("outbox: put %s: evidence %q: negative size", e.EventID, f.Key)
		}
		seen[f.Key] = true
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now
	}
	e.Attempts = 0
	e.LastError = ""
	e.Published = false
	return nil
}

// encodeEntry serialises an entry's metadata (everything but the payload)
// for the entries bucket.
func encodeEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("outbox: encode entry %d: %w", e.Seq, err)
	}
	return b, nil
}

// decodeEntry parses stored entry metadata (without payload); the bytes come
// from disk and may be damaged, so every field is checked.
func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("outbox: decode entry: %w", err)
	}
	if e.EventID == "" || e.Kind == "" {
		return Entry{}, fmt.Errorf("outbox: decode entry %d: missing event id or kind", e.Seq)
	}
	if e.Priority != PriorityDroppable && e.Priority != PriorityKeep {
		return Entry{}, fmt.Errorf("outbox: decode entry %d: bad priority %d", e.Seq, int(e.Priority))
	}
	for _, f := range e.Evidence {
		if f.Size < 0 {
			return Entry{}, fmt.Errorf("outbox: decode entry %d: negative evidence size", e.Seq)
		}
	}
	return e, nil
}
