package motion

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Config sets the motion detector and the gate policy. Start from
// DefaultConfig.
type Config struct {
	// ThumbWidth is the width of the grey thumbnail motion is measured on (its
	// height follows the ROI's aspect ratio).
	ThumbWidth int
	// Samples is the number of source pixels averaged per thumbnail pixel
	// along each axis (Samples^2 in all): 1, 2 or 4.
	Samples int
	// ROI restricts detection to a rectangle in source-frame pixels; empty
	// means the whole frame.
	ROI image.Rectangle
	// Mask optionally restricts detection further: it is stretched over the
	// ROI (or frame) and its non-zero pixels are watched.
	Mask *image.Gray
	// PixelThreshold is the grey-level difference from the background that
	// makes a thumbnail pixel "changed".
	PixelThreshold int
	// MinChangedPixels is the number of changed thumbnail pixels (each with a
	// changed neighbour) that counts as motion. With the default 160 px wide
	// thumbnail, 6 pixels is an object about 1/50 of the view's width across.
	MinChangedPixels int
	// BackgroundTau is the time constant of the running-average background:
	// how long a change takes to fade into it (to 37%).
	BackgroundTau time.Duration
	// NormalizeLighting scales each frame by median(background)/median(frame)
	// before comparing, so a global brightness change (auto-exposure, clouds)
	// is not taken for motion.
	NormalizeLighting bool
	// Holdover keeps every frame flowing for this long after the last motion.
	Holdover time.Duration
	// KeepAlive is the interval of the frames still processed in a static
	// scene with no live track.
	KeepAlive time.Duration
}

// DefaultConfig returns the settings used unless configured otherwise.
func DefaultConfig() Config {
	return Config{
		ThumbWidth:        160,
		Samples:           2,
		PixelThreshold:    20,
		MinChangedPixels:  6,
		BackgroundTau:     2 * time.Second,
		NormalizeLighting: true,
		Holdover:          2 * time.Second,
		KeepAlive:         5 * time.Second,
	}
}

// Validate reports every invalid setting at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ThumbWidth < 8 || c.ThumbWidth > 1024 {
		bad("ThumbWidth must be in [8,1024], got %d", c.ThumbWidth)
	}
	if c.Samples != 1 && c.Samples != 2 && c.Samples != 4 {
		bad("Samples must be 1, 2 or 4, got %d", c.Samples)
	}
	if c.ROI.Min.X < 0 || c.ROI.Min.Y < 0 || (c.ROI != image.Rectangle{} && c.ROI.Empty()) {
		bad("ROI must be empty or a non-empty rectangle at non-negative coordinates, got %v", c.ROI)
	}
	if c.Mask != nil && c.Mask.Bounds().Empty() {
		bad("Mask must not be empty")
	}
	if c.PixelThreshold < 1 || c.PixelThreshold > 255 {
		bad("PixelThreshold must be in [1,255], got %d", c.PixelThreshold)
	}
	if c.MinChangedPixels < 1 {
		bad("MinChangedPixels must be >= 1, got %d", c.MinChangedPixels)
	}
	if c.BackgroundTau <= 0 {
		bad("BackgroundTau must be > 0, got %v", c.BackgroundTau)
	}
	if c.Holdover < 0 {
		bad("Holdover must be >= 0, got %v", c.Holdover)
	}
	if c.KeepAlive <= 0 {
		bad("KeepAlive must be > 0, got %v", c.KeepAlive)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("motion: invalid config: %w", err)
	}
	return nil
}

// Reason says why the gate decided as it did.
type Reason uint8

// Reasons, in order of precedence when several apply.
const (
	// ReasonWarmup: first frame, new frame size or clock reset; processed.
	ReasonWarmup Reason = iota + 1
	// ReasonInvalid: the frame could not be measured; processed, to fail safe.
	ReasonInvalid
	// ReasonMotion: motion in this frame; processed.
	ReasonMotion
	// ReasonTracks: the caller has live tracks; processed.
	ReasonTracks
	// ReasonHoldover: motion ended less than Holdover ago; processed.
	ReasonHoldover
	// ReasonKeepAlive: static scene, but KeepAlive elapsed since the last
	// processed frame; processed.
	ReasonKeepAlive
	// ReasonStatic: static scene with no live track; skipped.
	ReasonStatic
)

// String returns the reason's name, for logs and metrics labels.
func (r Reason) String() string {
	switch r {
	case ReasonWarmup:
		return "warmup"
	case ReasonInvalid:
		return "invalid"
	case ReasonMotion:
		return "motion"
	case ReasonTracks:
		return "tracks"
	case ReasonHoldover:
		return "holdover"
	case ReasonKeepAlive:
		return "keepalive"
	case ReasonStatic:
		return "static"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Stats counts the gate's decisions since it was created.
type Stats struct {
	Frames, Processed, Skipped                           int64
	Warmup, Invalid, Motion, Tracks, Holdover, KeepAlive int64
}

// Gate decides, frame by frame, whether a frame needs inference. Every frame
// is processed while there is motion, while the caller has live tracks, and
// for Holdover after the last motion; a static scene with no live track gets
// one frame every KeepAlive. Not safe for concurrent use.
type Gate struct {
	cfg Config
	det *Detector
	log *slog.Logger

	last          Measurement
	lastMotion    time.Time
	lastProcessed time.Time
	active        bool // the previous frame was processed for a reason other than keep-alive
	invalid       bool // inside a run of invalid frames (logged once)
	stats         Stats
}

// NewGate returns a gate for cfg. A nil logger discards its logs.
func NewGate(cfg Config, logger *slog.Logger) (*Gate, error) {
	det, err := NewDetector(cfg)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Gate{cfg: cfg, det: det, log: logger.With("component", "motion")}, nil
}

// ShouldProcess measures f and reports whether it should go to inference.
// liveTracks is the number of tracks the caller still follows (tentative,
// tracked or lost): while it is non-zero every frame is processed. Call it for
// every decoded frame, in order, so that the background stays current.
func (g *Gate) ShouldProcess(f *frame.Frame, liveTracks int) (bool, Reason) {
	g.stats.Frames++
	m, err := g.det.Measure(f)
	if err != nil {
		if !g.invalid {
			g.log.Warn("cannot measure motion; processing frames until it recovers", "error", err)
			g.invalid = true
		}
		g.last = Measurement{}
		return g.decide(ReasonInvalid, time.Time{})
	}
	if g.invalid {
		g.log.Info("motion measurement recovered")
		g.invalid = false
	}
	g.last = m
	now := m.Time
	switch {
	case m.Warmup:
		// Nothing to compare with yet: process this frame, which also becomes
		// the background. From the next frame on anything that moves differs
		// from it, and objects already in view get tracks that keep frames
		// flowing, so no holdover is needed here. After the clock went back,
		// a pending holdover restarts from now rather than lasting until the
		// old timestamp comes round again.
		if g.lastMotion.After(now) {
			g.lastMotion = now
		}
		return g.decide(ReasonWarmup, now)
	case m.Motion:
		g.lastMotion = now
		return g.decide(ReasonMotion, now)
	case liveTracks > 0:
		return g.decide(ReasonTracks, now)
	case now.Sub(g.lastMotion) <= g.cfg.Holdover:
		return g.decide(ReasonHoldover, now)
	case now.Sub(g.lastProcessed) >= g.cfg.KeepAlive:
		return g.decide(ReasonKeepAlive, now)
	}
	return g.decide(ReasonStatic, now)
}

func (g *Gate) decide(r Reason, now time.Time) (bool, Reason) {
	process := r != ReasonStatic
	if process {
		g.stats.Processed++
		if !now.IsZero() {
			g.lastProcessed = now
		}
	} else {
		g.stats.Skipped++
	}
	switch r {
	case ReasonWarmup:
		g.stats.Warmup++
	case ReasonInvalid:
		g.stats.Invalid++
	case ReasonMotion:
		g.stats.Motion++
	case ReasonTracks:
		g.stats.Tracks++
	case ReasonHoldover:
		g.stats.Holdover++
	case ReasonKeepAlive:
		g.stats.KeepAlive++
	}
	active := process && r != ReasonKeepAlive
	if active != g.active {
		if active {
			g.log.Debug("scene active", "reason", r)
		} else {
			g.log.Debug("scene static; skipping frames", "keepalive", g.cfg.KeepAlive)
		}
		g.active = active
	}
	return process, r
}

// Last returns the measurement of the latest frame (zero after an invalid one).
func (g *Gate) Last() Measurement { return g.last }

// Stats returns the decision counts so far.
func (g *Gate) Stats() Stats { return g.stats }
