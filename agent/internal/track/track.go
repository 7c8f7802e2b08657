// Package track follows detected objects from frame to frame with ByteTrack
// (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating Every
// Detection Box", ECCV 2022). It gives each object a stable integer ID, a
// lifetime in seconds and a history of its boxes and ground-contact points,
// and emits started/updated/lost/ended events for the speed and rule stages.
//
// Every time step uses the frames' real capture times, never a nominal frame
// rate, so frames skipped by motion gating or dropped by the decoder are
// handled by the Kalman prediction over the actual interval.
package track

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// Config sets the tracker's thresholds. Start from DefaultConfig.
type Config struct {
	// HighScore splits detections: at or above it they take part in the first
	// association and may start tracks (ByteTrack's track_thresh).
	HighScore float32
	// LowScore is the floor: detections below it are ignored. Those between
	// LowScore and HighScore only keep existing tracks alive (the "BYTE" step).
	LowScore float32
	// NewTrackScore is the minimum score of an unmatched detection to start a
	// new track (ByteTrack's det_thresh = track_thresh + 0.1).
	NewTrackScore float32
	// MatchIoU is the minimum IoU (multiplied by the score when FuseScore is
	// set) between a track's predicted box and a high-score detection.
	MatchIoU float32
	// LowMatchIoU is the minimum IoU for the low-score association.
	LowMatchIoU float32
	// TentativeMatchIoU is the minimum IoU (fused like MatchIoU) to extend a
	// tentative track.
	TentativeMatchIoU float32
	// FuseScore multiplies IoU by the detection score in the high-score and
	// tentative associations, as ByteTrack does outside MOT20.
	FuseScore bool
	// MinHits is the number of consecutive matched frames a new track needs
	// before it is confirmed and gets an ID. Tracks born in the first frame
	// after New or Flush are confirmed at once.
	MinHits int
	// LostTTL is how long a lost track waits to be re-found before it ends.
	LostTTL time.Duration
	// MaxHistory caps the observations kept per track (the oldest are dropped
	// in batches); 0 keeps everything.
	MaxHistory int
	// ClassGroup maps a detection to its association group: a track and a
	// detection are only matched when their groups are equal. nil means
	// DefaultClassGroup.
	ClassGroup func(infer.Detection) string
	// Kalman sets the motion model's noise.
	Kalman KalmanConfig
}

// DefaultConfig returns ByteTrack's published settings, with the lost-track
// buffer expressed in seconds.
func DefaultConfig() Config {
	return Config{
		HighScore:         0.5,
		LowScore:          0.1,
		NewTrackScore:     0.6,
		MatchIoU:          0.2,
		LowMatchIoU:       0.5,
		TentativeMatchIoU: 0.3,
		FuseScore:         true,
		MinHits:           2,
		LostTTL:           2 * time.Second,
		MaxHistory:        2048,
		Kalman:            DefaultKalmanConfig(),
	}
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	unit := func(name string, v float32) {
		if !(v >= 0 && v <= 1) {
			bad("%s must be in [0,1], got %v", name, v)
		}
	}
	unit("HighScore", c.HighScore)
	unit("LowScore", c.LowScore)
	unit("NewTrackScore", c.NewTrackScore)
	unit("MatchIoU", c.MatchIoU)
	unit("LowMatchIoU", c.LowMatchIoU)
	unit("TentativeMatchIoU", c.TentativeMatchIoU)
	if c.LowScore > c.HighScore {
		bad("LowScore (%v) must not exceed HighScore (%v)", c.LowScore, c.HighScore)
	}
	if c.MinHits < 1 {
		bad("MinHits must be >= 1, got %d", c.MinHits)
	}
	if c.LostTTL < 0 {
		bad("LostTTL must be >= 0, got %v", c.LostTTL)
	}
	if c.MaxHistory < 0 {
		bad("MaxHistory must be >= 0, got %d", c.MaxHistory)
	}
	k := c.Kalman
	if !(k.MeasurementStd > 0) || !(k.AccelerationStd > 0) || !(k.InitialVelocityStd > 0) ||
		math.IsInf(k.MeasurementStd, 0) || math.IsInf(k.AccelerationStd, 0) || math.IsInf(k.InitialVelocityStd, 0) {
		bad("Kalman noise settings must be positive and finite, got %+v", k)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("track: invalid config: %w", err)
	}
	return nil
}

// State is a track's place in its life cycle.
type State uint8

// Track states.
const (
	// StateTentative: seen fewer than MinHits times; no ID, not reported.
	StateTentative State = iota + 1
	// StateTracked: confirmed and matched in the latest frame.
	StateTracked
	// StateLost: confirmed but unmatched; coasting on its prediction.
	StateLost
	// StateEnded: removed after LostTTL or by Flush; it will not change again.
	StateEnded
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case StateTentative:
		return "tentative"
	case StateTracked:
		return "tracked"
	case StateLost:
		return "lost"
	case StateEnded:
		return "ended"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// EventKind says what happened to a track.
type EventKind uint8

// Event kinds.
const (
	// EventStarted: the track was confirmed and got its ID.
	EventStarted EventKind = iota + 1
	// EventUpdated: the track was matched to a detection (also after being lost).
	EventUpdated
	// EventLost: the track missed its detection and is coasting.
	EventLost
	// EventEnded: the track was removed (lost for longer than LostTTL, or Flush).
	EventEnded
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventStarted:
		return "started"
	case EventUpdated:
		return "updated"
	case EventLost:
		return "lost"
	case EventEnded:
		return "ended"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is one change to a confirmed track.
type Event struct {
	Kind EventKind
	// Time is the timestamp of the Update (or of the last Update, for Flush)
	// that produced the event.
	Time  time.Time
	Track *Track
}

// Point is a position in source-frame pixels.
type Point struct {
	X, Y float32
}

// Observation is one detection assigned to a track.
type Observation struct {
	// Time is the capture time of the frame.
	Time time.Time
	// Box is the detection's box as measured.
	Box infer.Box
	// Filtered is the Kalman estimate after folding in Box: smoother, for
	// measurements that difference positions over time.
	Filtered infer.Box
	// Ground is the ground-contact point: the bottom centre of Box.
	Ground Point
	// Score and Label are the detection's.
	Score float32
	Label string
}

// Track is one followed object. Its methods read state that the Tracker
// changes on every Update, so use them from the goroutine that calls Update
// (copy what must travel elsewhere).
type Track struct {
	id       int64
	state    State
	group    string
	kf       kalman
	hits     int
	gen      uint64 // Update generation of the last match
	start    time.Time
	lastSeen time.Time
	score    float32
	labels   []labelCount
	history  []Observation
}

type labelCount struct {
	label string
	class int
	n     int
	score float64
}

// ID returns the track's ID: unique and increasing per Tracker, from 1,
// assigned on confirmation (0 while tentative).
func (t *Track) ID() int64 { return t.id }

// State returns the track's current state.
func (t *Track) State() State { return t.state }

// Label returns the label seen most often over the track's life (ties go to
// the higher total score).
func (t *Track) Label() string { return t.majority().label }

// Class returns the class index of Label.
func (t *Track) Class() int { return t.majority().class }

// Box returns the current Kalman estimate: the filtered box after a match, the
// prediction while lost.
func (t *Track) Box() infer.Box { return t.kf.box() }

// Velocity returns the estimated velocity of the box centre in pixels per second.
func (t *Track) Velocity() (vx, vy float64) { return t.kf.cx.v, t.kf.cy.v }

// Score returns the score of the latest matched detection.
func (t *Track) Score() float32 { return t.score }

// Hits returns the number of detections matched to the track.
func (t *Track) Hits() int { return t.hits }

// Start returns the capture time of the track's first detection.
func (t *Track) Start() time.Time { return t.start }

// LastSeen returns the capture time of the track's latest detection.
func (t *Track) LastSeen() time.Time { return t.lastSeen }

// Lifetime returns the time from the first to the latest detection.
func (t *Track) Lifetime() time.Duration { return t.lastSeen.Sub(t.start) }

// History returns the track's observations, oldest first (at most about
// MaxHistory of the most recent ones). The slice is shared: do not modify it.
func (t *Track) History() []Observation { return t.history }

// Last returns the latest observation (false only for a track never observed,
// which the tracker never hands out).
func (t *Track) Last() (Observation, bool) {
	if len(t.history) == 0 {
		return Observation{}, false
	}
	return t.history[len(t.history)-1], true
}

// Ground returns the ground-contact point of the latest observation.
func (t *Track) Ground() Point {
	o, _ := t.Last()
	return o.Ground
}

func (t *Track) majority() labelCount {
	var best labelCount
	for i, l := range t.labels {
		if i == 0 || l.n > best.n || (l.n == best.n && l.score > best.score) {
			best = l
		}
	}
	return best
}

func (t *Track) countLabel(d infer.Detection) {
	for i := range t.labels {
		if t.labels[i].label == d.Label && t.labels[i].class == d.Class {
			t.labels[i].n++
			t.labels[i].score += float64(d.Score)
			return
		}
	}
	t.labels = append(t.labels, labelCount{label: d.Label, class: d.Class, n: 1, score: float64(d.Score)})
}

// Tracker runs ByteTrack over a stream of per-frame detections. It is not
// safe for concurrent use.
type Tracker struct {
	cfg    Config
	log    *slog.Logger
	group  func(infer.Detection) string
	nextID int64
	gen    uint64
	last   time.Time
	primed bool

	tracks    []*Track // confirmed (tracked or lost), in ID order
	tentative []*Track
	events    []Event

	// Scratch reused between updates.
	asg      assigner
	cost     []float64
	detGroup []string
	detUsed  []bool
	high     []int
	low      []int
	rest     []int
	pool     []*Track
}

// New returns a tracker. A nil logger discards the tracker's debug logs.
func New(cfg Config, logger *slog.Logger) (*Tracker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := cfg.ClassGroup
	if g == nil {
		g = DefaultClassGroup
	}
	return &Tracker{cfg: cfg, log: logger.With("component", "track"), group: g, nextID: 1}, nil
}

// Live returns the number of tracks still alive: tentative, tracked and lost.
// A motion gate must keep feeding frames while it is non-zero.
func (tr *Tracker) Live() int { return len(tr.tracks) + len(tr.tentative) }

// Events returns the events of the latest Update or Flush, in the order they
// happened. The slice belongs to the caller.
func (tr *Tracker) Events() []Event { return tr.events }

// Ended returns the tracks that ended in the latest Update or Flush.
func (tr *Tracker) Ended() []*Track {
	var out []*Track
	for _, e := range tr.events {
		if e.Kind == EventEnded {
			out = append(out, e.Track)
		}
	}
	return out
}

// Update folds in the detections of the frame captured at ts and returns the
// confirmed tracks matched in this frame, in ID order. Detections with
// non-finite or empty boxes are ignored. Timestamps should not decrease; a
// decrease is treated as no time elapsed.
func (tr *Tracker) Update(ts time.Time, dets []infer.Detection) []*Track {
	cfg := &tr.cfg
	tr.events = make([]Event, 0, len(tr.tracks)+len(dets))
	tr.gen++

	dt := 0.0
	first := !tr.primed
	if tr.primed {
		d := ts.Sub(tr.last)
		if d < 0 {
			tr.log.Warn("timestamp went backwards; treating as no elapsed time", "by", -d)
			d = 0
		}
		dt = d.Seconds()
	}
	tr.primed = true
	tr.last = ts

	for _, t := range tr.tracks {
		t.kf.predict(dt, cfg.Kalman, t.state == StateLost)
	}
	for _, t := range tr.tentative {
		t.kf.predict(dt, cfg.Kalman, false)
	}

	// Split the detections by score.
	tr.high, tr.low = tr.high[:0], tr.low[:0]
	tr.detGroup = resize(tr.detGroup, len(dets))
	tr.detUsed = resize(tr.detUsed, len(dets))
	clear(tr.detUsed)
	for i, d := range dets {
		if !validDetection(d) || d.Score < cfg.LowScore {
			continue
		}
		tr.detGroup[i] = tr.group(d)
		if d.Score >= cfg.HighScore {
			tr.high = append(tr.high, i)
		} else {
			tr.low = append(tr.low, i)
		}
	}

	// 1. High-score detections against every confirmed track, lost ones included.
	sol := tr.match(tr.tracks, dets, tr.high, cfg.MatchIoU, cfg.FuseScore)
	for i, k := range sol {
		if k >= 0 {
			tr.observe(tr.tracks[i], dets[tr.high[k]], ts, tr.high[k])
		}
	}

	// 2. Low-score detections against the tracks that were tracked and are
	// still unmatched: ByteTrack's second association, which carries tracks
	// through partial occlusion instead of dropping them.
	tr.pool = tr.pool[:0]
	for _, t := range tr.tracks {
		if t.gen != tr.gen && t.state == StateTracked {
			tr.pool = append(tr.pool, t)
		}
	}
	sol = tr.match(tr.pool, dets, tr.low, cfg.LowMatchIoU, false)
	for i, k := range sol {
		t := tr.pool[i]
		if k >= 0 {
			tr.observe(t, dets[tr.low[k]], ts, tr.low[k])
			continue
		}
		t.state = StateLost
		tr.emit(EventLost, ts, t)
	}

	// 3. Remaining high-score detections against tentative tracks; tentative
	// tracks that miss a frame are dropped.
	tr.rest = tr.rest[:0]
	for _, i := range tr.high {
		if !tr.detUsed[i] {
			tr.rest = append(tr.rest, i)
		}
	}
	sol = tr.match(tr.tentative, dets, tr.rest, cfg.TentativeMatchIoU, cfg.FuseScore)
	kept := tr.tentative[:0]
	for i, k := range sol {
		t := tr.tentative[i]
		if k < 0 {
			continue
		}
		tr.observe(t, dets[tr.rest[k]], ts, tr.rest[k])
		if t.hits >= cfg.MinHits {
			tr.confirm(t, ts)
			continue
		}
		kept = append(kept, t)
	}
	clear(tr.tentative[len(kept):])
	tr.tentative = kept

	// 4. Start tracks from the high-score detections nobody claimed.
	for _, i := range tr.rest {
		d := dets[i]
		if tr.detUsed[i] || d.Score < cfg.NewTrackScore {
			continue
		}
		t := &Track{
			state: StateTentative,
			group: tr.detGroup[i],
			kf:    newKalman(d.Box, cfg.Kalman),
			start: ts,
		}
		tr.observe(t, d, ts, i)
		if first || t.hits >= cfg.MinHits {
			tr.confirm(t, ts)
			continue
		}
		tr.tentative = append(tr.tentative, t)
	}

	// 5. End lost tracks that waited too long. A clock that jumped back by
	// more than the buffer ends them too rather than freezing them.
	alive := tr.tracks[:0]
	for _, t := range tr.tracks {
		if t.state == StateLost {
			if age := ts.Sub(t.lastSeen); age > cfg.LostTTL || age < -cfg.LostTTL {
				tr.end(t, ts)
				continue
			}
		}
		alive = append(alive, t)
	}
	clear(tr.tracks[len(alive):])
	tr.tracks = alive

	var out []*Track
	for _, t := range tr.tracks {
		if t.state == StateTracked {
			out = append(out, t)
		}
	}
	return out
}

// Flush ends every confirmed track (end of stream) and returns them; the
// events are available from Events. Tentative tracks are dropped. The tracker
// can be used again afterwards: IDs keep increasing, and the next Update is
// treated as a first frame.
func (tr *Tracker) Flush() []*Track {
	tr.events = make([]Event, 0, len(tr.tracks))
	out := make([]*Track, 0, len(tr.tracks))
	for _, t := range tr.tracks {
		tr.end(t, tr.last)
		out = append(out, t)
	}
	tr.tracks = nil
	tr.tentative = nil
	tr.primed = false
	return out
}

// match solves one association round between tracks and the detections
// dets[idx[k]], returning for each track the index into idx or -1.
func (tr *Tracker) match(tracks []*Track, dets []infer.Detection, idx []int, minIoU float32, fuse bool) []int {
	n, m := len(tracks), len(idx)
	tr.cost = resize(tr.cost, n*m)
	for i, t := range tracks {
		pb := t.kf.box()
		row := tr.cost[i*m : (i+1)*m]
		for k, j := range idx {
			c := forbidden
			if t.group == tr.detGroup[j] {
				iou := pb.IoU(dets[j].Box)
				if fuse {
					iou *= min(dets[j].Score, 1)
				}
				if iou > 0 {
					c = 1 - float64(iou)
				}
			}
			row[k] = c
		}
	}
	return tr.asg.solve(tr.cost, n, m, 1-float64(minIoU))
}

// observe folds detection dets[i] = d into t.
func (tr *Tracker) observe(t *Track, d infer.Detection, ts time.Time, i int) {
	tr.detUsed[i] = true
	if t.hits > 0 {
		t.kf.update(d.Box, tr.cfg.Kalman)
	}
	t.hits++
	t.gen = tr.gen
	t.lastSeen = ts
	t.score = d.Score
	t.countLabel(d)
	t.history = append(t.history, Observation{
		Time:     ts,
		Box:      d.Box,
		Filtered: t.kf.box(),
		Ground:   Point{X: (d.Box.X1 + d.Box.X2) / 2, Y: d.Box.Y2},
		Score:    d.Score,
		Label:    d.Label,
	})
	if keep := tr.cfg.MaxHistory; keep > 0 && len(t.history) > keep+keep/4 {
		// Trim in batches so a long-lived track costs O(1) amortised per frame.
		n := copy(t.history, t.history[len(t.history)-keep:])
		clear(t.history[n:])
		t.history = t.history[:n]
	}
	if t.state == StateLost {
		t.state = StateTracked
	}
	if t.state == StateTracked {
		tr.emit(EventUpdated, ts, t)
	}
}

func (tr *Tracker) confirm(t *Track, ts time.Time) {
	t.id = tr.nextID
	tr.nextID++
	t.state = StateTracked
	tr.tracks = append(tr.tracks, t)
	tr.emit(EventStarted, ts, t)
	tr.log.Debug("track started", "id", t.id, "label", t.Label())
}

func (tr *Tracker) end(t *Track, ts time.Time) {
	t.state = StateEnded
	tr.emit(EventEnded, ts, t)
	tr.log.Debug("track ended", "id", t.id, "label", t.Label(), "lifetime", t.Lifetime(), "hits", t.hits)
}

func (tr *Tracker) emit(k EventKind, ts time.Time, t *Track) {
	tr.events = append(tr.events, Event{Kind: k, Time: ts, Track: t})
}

func validDetection(d infer.Detection) bool {
	b := d.Box
	for _, v := range [...]float32{b.X1, b.Y1, b.X2, b.Y2, d.Score} {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return false
		}
	}
	return b.X2 > b.X1 && b.Y2 > b.Y1
}
