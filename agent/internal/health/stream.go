package health

import (
	"encoding/json"
	"time"
)

// FrameMessage is one frame's results on the live stream
// (WS /ws/stream/{camera_id}), in the specification's shape.
type FrameMessage struct {
	FrameID     int64              `json:"frame_id"`
	Timestamp   time.Time          `json:"timestamp"`
	Detections  []StreamDetection  `json:"detections"`
	Infractions []StreamInfraction `json:"infractions"`
}

// StreamDetection is one tracked (or raw) detection in a FrameMessage.
type StreamDetection struct {
	Class string `json:"class"`
	// BBox is x1, y1, x2, y2 in source-frame pixels.
	BBox       [4]float32 `json:"bbox"`
	Confidence float32    `json:"confidence"`
	// TrackID is 0 for an untracked detection.
	TrackID int64 `json:"track_id"`
	// Speed is km/h, nil when not measured.
	Speed *float64 `json:"speed"`
}

// StreamInfraction is one infraction completed in a FrameMessage's frame.
type StreamInfraction struct {
	Type    string `json:"type"`
	TrackID int64  `json:"track_id"`
	// Plate is the read plate, "" when unread.
	Plate string `json:"plate"`
	// Speed is km/h, nil for infractions without a speed.
	Speed *float64 `json:"speed"`
}

// timestampLayout is RFC 3339 with milliseconds, as in the specification.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// frameWire is FrameMessage as sent: the timestamp pre-formatted.
type frameWire struct {
	FrameID     int64              `json:"frame_id"`
	Timestamp   string             `json:"timestamp"`
	Detections  []StreamDetection  `json:"detections"`
	Infractions []StreamInfraction `json:"infractions"`
}

// wire returns the message with its timestamp in UTC with milliseconds
// and empty lists as [] rather than null.
func (m *FrameMessage) wire() frameWire {
	w := frameWire{FrameID: m.FrameID, Timestamp: m.Timestamp.UTC().Format(timestampLayout), Detections: m.Detections, Infractions: m.Infractions}
	if w.Detections == nil {
		w.Detections = []StreamDetection{}
	}
	if w.Infractions == nil {
		w.Infractions = []StreamInfraction{}
	}
	return w
}

// MarshalJSON encodes the message as sent on the stream.
func (m FrameMessage) MarshalJSON() ([]byte, error) { return json.Marshal(m.wire()) }

// client is one WebSocket subscriber with its bounded queue.
type client struct {
	queue   chan []byte
	dropped int64 // guarded by the camera's subMu
}

// Publish sends a frame's results to the camera's live-stream clients. It
// never blocks: a client whose queue is full misses the message (counted
// in ws_messages_dropped_total). With no clients it does no encoding.
// Unknown cameras are ignored.
func (r *Registry) Publish(id string, msg FrameMessage) {
	c := r.camera(id, false)
	if c == nil || c.nsubs.Load() == 0 {
		return
	}
	w := msg.wire()
	b, err := json.Marshal(&w)
	if err != nil { // only for NaN/Inf values
		c.dropped.Add(1)
		return
	}
	c.subMu.Lock()
	for cl := range c.subs {
		select {
		case cl.queue <- b:
		default:
			cl.dropped++
			c.dropped.Add(1)
		}
	}
	c.subMu.Unlock()
}

// subscribe adds a client with a queue of n messages.
func (c *camera) subscribe(n int) *client {
	cl := &client{queue: make(chan []byte, n)}
	c.subMu.Lock()
	c.subs[cl] = struct{}{}
	c.subMu.Unlock()
	c.nsubs.Add(1)
	return cl
}

// unsubscribe removes a client and returns how many messages it missed.
func (c *camera) unsubscribe(cl *client) int64 {
	c.subMu.Lock()
	delete(c.subs, cl)
	d := cl.dropped
	c.subMu.Unlock()
	c.nsubs.Add(-1)
	return d
}
