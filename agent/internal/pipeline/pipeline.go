// Package pipeline runs the per-camera vision chain on decoded frames:
// motion gating, vehicle detection, ByteTrack tracking and calibrated speed
// measurement, and reports every finished track with its speed and
// uncertainty. It owns no goroutines: the caller feeds frames in order.
package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/motion"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/agent/internal/speed"
	"github.com/vigia-pe/vigia/agent/internal/track"
	"github.com/vigia-pe/vigia/calibration"
)

// Detector finds objects in a frame.
type Detector interface {
	Detect(f *frame.Frame) ([]infer.Detection, error)
}

// PlateReader finds and reads the plates inside a vehicle's box.
type PlateReader interface {
	RecognizeVehicle(f *frame.Frame, v infer.Box) ([]plate.Result, error)
}

// viewPlanner is implemented by detectors that tell their input size and how
// they cut a picture into views (infer.ORTDetector): the pipeline then knows
// how small a vehicle looks to the model.
type viewPlanner interface {
	Info() infer.Info
	Views(width, height int) ([]infer.View, error)
}

// DetectorScale returns the detector's input pixels per picture pixel for
// pictures of the given size: that of its coarsest view (letterboxed into
// the model input), or 0 when det does not say.
func DetectorScale(det Detector, width, height int) float64 {
	vp, ok := det.(viewPlanner)
	if !ok {
		return 0
	}
	info := vp.Info()
	views, err := vp.Views(width, height)
	if err != nil || info.InputW <= 0 || info.InputH <= 0 {
		return 0
	}
	scale := 0.0
	for _, v := range views {
		w, h := v.Rect.Dx(), v.Rect.Dy()
		if w <= 0 || h <= 0 {
			continue
		}
		s := math.Min(float64(info.InputW)/float64(w), float64(info.InputH)/float64(h))
		if scale == 0 || s < scale {
			scale = s
		}
	}
	return scale
}

// timedDetector is implemented by detectors that report per-stage timings.
type timedDetector interface {
	LastTimings() infer.Timings
}

// Config configures the chain.
type Config struct {
	// Gate enables motion gating; with it off every frame is detected.
	Gate   bool
	Motion motion.Config
	Track  track.Config
	Speed  speed.Config
	// Classes are the detector labels that are tracked; empty means
	// car, motorcycle, bus, truck, bicycle and person.
	Classes []string
	// VehicleClasses are the labels reported as vehicles (with speeds).
	VehicleClasses []string
	// MeasureAnywhere uses every sample for speeds. By default only samples
	// whose ground point lies in the measurement region count: the
	// calibration's speed zones, or else the surveyed area (the bounding box
	// of the calibration points, widened by SurveyMargin). Beyond the
	// surveyed area the homography is extrapolated and a pixel spans many
	// metres near the horizon, so far samples would bias the speed.
	MeasureAnywhere bool
	// SurveyMargin widens the surveyed area by this fraction of its size on
	// each side (default 0.15, at least 2 m).
	SurveyMargin float64
	// Plates configures plate reading (when a PlateReader is set).
	Plates PlateConfig
	// MinBoxHeightPx ignores, for speeds, boxes shorter than this: a small
	// vehicle's box edges are placed less reliably (its lower edge above all,
	// where a bumper meets the road with little contrast). 0 uses every box.
	MinBoxHeightPx float64
}

// PlateConfig paces plate reading: each read costs a plate detection and
// an OCR pass, so a vehicle is read on some of its frames only, until
// enough reads agree.
type PlateConfig struct {
	// Agree stops reading a vehicle after this many agreeing reads (default 3).
	Agree int
	// Every reads a vehicle at most every this many of its frames (default 2).
	Every int
	// MinBoxHeightPx skips vehicles smaller than this (default 48): their plates are unreadable.
	MinBoxHeightPx float32
	// MaxPerFrame bounds the reads per frame, fewest-read vehicles first (default 2).
	MaxPerFrame int
	// MinConfidence marks weaker reads unreadable (default 0.7).
	MinConfidence float32
}

func (c *PlateConfig) defaults() {
	if c.Agree <= 0 {
		c.Agree = 3
	}
	if c.Every <= 0 {
		c.Every = 2
	}
	if c.MinBoxHeightPx <= 0 {
		c.MinBoxHeightPx = 48
	}
	if c.MaxPerFrame <= 0 {
		c.MaxPerFrame = 2
	}
	if c.MinConfidence <= 0 {
		c.MinConfidence = plate.DefaultMinConfidence
	}
}

// DefaultConfig returns the defaults used by replay and the service.
func DefaultConfig() Config {
	return Config{
		Gate:           true,
		Motion:         motion.DefaultConfig(),
		Track:          track.DefaultConfig(),
		Classes:        []string{"car", "motorcycle", "bus", "truck", "bicycle", "person"},
		VehicleClasses: []string{"car", "motorcycle", "bus", "truck"},
	}
}

// TrackResult is a finished (or, from Active, a live) track.
type TrackResult struct {
	TrackID int64  `json:"track_id"`
	Class   string `json:"class"`
	// SpeedKmh and SpeedUncertaintyKmh are nil when no speed could be measured (see SpeedNote).
	SpeedKmh            *float64  `json:"speed_kmh"`
	SpeedUncertaintyKmh *float64  `json:"speed_uncertainty_kmh"`
	SpeedNote           string    `json:"speed_note,omitempty"`
	FirstSeen           time.Time `json:"first_seen"`
	LastSeen            time.Time `json:"last_seen"`
	// TStart and TEnd are seconds from the start of the source (PTS).
	TStart float64 `json:"t_start"`
	TEnd   float64 `json:"t_end"`
	// Frames is the number of frames in which the track was matched.
	Frames    int     `json:"frames"`
	MeanScore float64 `json:"mean_score"`
	// DistanceM is the ground distance covered by the speed fit.
	DistanceM float64 `json:"distance_m,omitempty"`
	// HeadingDeg is the direction of travel in the calibration's ground frame.
	HeadingDeg *float64 `json:"heading_deg,omitempty"`
	// Plate is the fused plate text in its official form; empty when unread
	// or unreadable (PlateReads says how many frames were read).
	Plate           string  `json:"plate,omitempty"`
	PlateConfidence float64 `json:"plate_confidence,omitempty"`
	PlateReads      int     `json:"plate_reads,omitempty"`
	// LastBox is the last measured box, pixels [x1,y1,x2,y2].
	LastBox [4]float32 `json:"last_box"`
	// Vehicle is true for vehicle classes.
	Vehicle bool `json:"-"`
}

// Active is a live track in the current frame, for annotation and live views.
type Active struct {
	TrackID  int64
	Class    string
	Box      infer.Box
	Score    float32
	SpeedKmh *float64
	Sigma    *float64
}

// FrameResult is what one frame produced.
type FrameResult struct {
	Seq int64
	// Processed is false when motion gating skipped detection for this frame.
	Processed  bool
	GateReason string
	Detections []infer.Detection
	Active     []Active
	Ended      []TrackResult
	// Violations are the infractions completed in this frame (for speed: when
	// the vehicle's track ended), each with its vehicle's result so far.
	Violations []Violation
	Timings    Timings
}

// Violation is an infraction with the track it concerns.
type Violation struct {
	rules.Violation
	Track TrackResult
}

// Timings are the per-stage durations of one frame.
type Timings struct {
	Gate, Preprocess, Inference, Postprocess, Detect, Track, Speed, Plates time.Duration
}

// Stats counts over the pipeline's life.
type Stats struct {
	Frames, Processed, Skipped int64
	TracksStarted, TracksEnded int64
	WithSpeed                  int64
}

// Pipeline is one camera's chain.
type Pipeline struct {
	cfg      Config
	det      Detector
	gate     *motion.Gate
	tracker  *track.Tracker
	meter    *speed.Meter
	cal      *calibration.Calibration
	region   func(calibration.Point) bool
	classes  map[string]bool
	vehicles map[string]bool
	speeds   map[int64]*trackState
	plates   PlateReader
	rules    *rules.Engine
	origin   time.Time // capture time of the first frame
	matched  []*track.Track
	frameW   float32
	frameH   float32
	started  bool
	stats    Stats
	log      *slog.Logger
}

type trackState struct {
	fusion    *plate.Fusion
	plateTry  int // frames since the last plate read
	plateRead int // plate reads attempted
	sp        *speed.Track
	outside   int // samples outside the measurement region or cut by the picture's edge
	frames    int
	scoreSum  float64
	speedErr  error
}

// New builds a pipeline. cal may be nil: tracks are then reported without speeds.
func New(cfg Config, det Detector, cal *calibration.Calibration, log *slog.Logger) (*Pipeline, error) {
	if det == nil {
		return nil, errors.New("pipeline: a detector is required")
	}
	if len(cfg.Classes) == 0 {
		cfg.Classes = DefaultConfig().Classes
	}
	if len(cfg.VehicleClasses) == 0 {
		cfg.VehicleClasses = DefaultConfig().VehicleClasses
	}
	tr, err := track.New(cfg.Track, log)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	p := &Pipeline{cfg: cfg, det: det, tracker: tr, classes: set(cfg.Classes), vehicles: set(cfg.VehicleClasses),
		speeds: map[int64]*trackState{}, log: log}
	if cfg.Gate {
		if p.gate, err = motion.NewGate(cfg.Motion, log); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
	}
	if cal != nil {
		if p.meter, err = speed.NewMeter(cal, cfg.Speed); err != nil {
			return nil, fmt.Errorf("pipeline: %w", err)
		}
		p.cal = cal
		if !cfg.MeasureAnywhere {
			p.region = measurementRegion(cal, cfg.SurveyMargin)
		}
	}
	return p, nil
}

// measurementRegion returns the test for "this ground point may be used for
// speed": inside a speed zone when the calibration has any, else inside the
// widened bounding box of the surveyed points.
func measurementRegion(cal *calibration.Calibration, margin float64) func(calibration.Point) bool {
	var zones []*calibration.Zone
	for i := range cal.Zones {
		if cal.Zones[i].Kind == calibration.ZoneSpeed {
			zones = append(zones, &cal.Zones[i])
		}
	}
	if len(zones) > 0 {
		return func(g calibration.Point) bool {
			for _, z := range zones {
				if z.ContainsGround(g) {
					return true
				}
			}
			return false
		}
	}
	if margin <= 0 {
		margin = 0.15
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, pt := range cal.Points {
		if pt.Outlier {
			continue
		}
		minX, maxX = math.Min(minX, pt.X), math.Max(maxX, pt.X)
		minY, maxY = math.Min(minY, pt.Y), math.Max(maxY, pt.Y)
	}
	if math.IsInf(minX, 0) {
		return nil
	}
	mx, my := math.Max(2, margin*(maxX-minX)), math.Max(2, margin*(maxY-minY))
	minX, maxX, minY, maxY = minX-mx, maxX+mx, minY-my, maxY+my
	return func(g calibration.Point) bool { return g.X >= minX && g.X <= maxX && g.Y >= minY && g.Y <= maxY }
}

func set(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// SetRules enables the infraction rules on vehicle tracks (they need the
// calibration's ground coordinates).
func (p *Pipeline) SetRules(e *rules.Engine) { p.rules = e }

// SetPlateReader enables plate reading on vehicle tracks.
func (p *Pipeline) SetPlateReader(r PlateReader) {
	p.plates = r
	p.cfg.Plates.defaults()
}

// Stats returns the counters.
func (p *Pipeline) Stats() Stats { return p.stats }

// Process runs one frame through the chain. Frames must come in capture order.
func (p *Pipeline) Process(f *frame.Frame) (FrameResult, error) {
	res := FrameResult{Seq: f.Seq, Processed: true}
	if !p.started {
		// Track times are reported relative to the first frame's capture time,
		// which is the source start plus the first PTS.
		p.origin, p.started = f.Captured.Add(-f.PTS), true
		if err := p.scaleMeter(f.Width, f.Height); err != nil {
			return res, err
		}
	}
	p.stats.Frames++
	p.frameW, p.frameH = float32(f.Width), float32(f.Height)
	if p.gate != nil {
		t0 := time.Now()
		ok, reason := p.gate.ShouldProcess(f, p.movingTracks(f.Width))
		res.Timings.Gate = time.Since(t0)
		res.GateReason = reason.String()
		if !ok {
			p.stats.Skipped++
			res.Processed = false
			return res, nil
		}
	}
	p.stats.Processed++
	t0 := time.Now()
	dets, err := p.det.Detect(f)
	res.Timings.Detect = time.Since(t0)
	if err != nil {
		return res, fmt.Errorf("pipeline: frame %d: %w", f.Seq, err)
	}
	if td, ok := p.det.(timedDetector); ok {
		tt := td.LastTimings()
		res.Timings.Preprocess, res.Timings.Inference, res.Timings.Postprocess = tt.Preprocess, tt.Inference, tt.Postprocess
	}
	kept := dets[:0]
	for _, d := range dets {
		if p.classes[d.Label] {
			kept = append(kept, d)
		}
	}
	res.Detections = kept

	t1 := time.Now()
	matched := p.tracker.Update(f.Captured, kept)
	p.matched = matched
	res.Timings.Track = time.Since(t1)

	t2 := time.Now()
	for _, t := range matched {
		st := p.speeds[t.ID()]
		obs, ok := t.Last()
		if !ok {
			continue
		}
		if st == nil {
			st = &trackState{}
			if p.meter != nil {
				st.sp = p.meter.NewTrack()
			}
			p.speeds[t.ID()] = st
			p.stats.TracksStarted++
			// A track is confirmed after a few hits: its earlier (tentative)
			// observations count too.
			h := t.History()
			for _, o := range h[:max(len(h)-1, 0)] {
				p.observe(st, o)
			}
		}
		g, gok := p.observe(st, obs)
		if p.rules != nil && p.vehicles[t.Label()] && gok {
			for _, v := range p.rules.Update(rules.Update{TrackID: t.ID(), Class: t.Label(),
				Observation: rules.Observation{At: obs.Time, Ground: g, Box: obs.Box}}) {
				res.Violations = append(res.Violations, Violation{Violation: v, Track: p.result(t, st)})
			}
		}
		a := Active{TrackID: t.ID(), Class: t.Label(), Box: obs.Box, Score: obs.Score}
		if st.sp != nil {
			if est, err := st.sp.Current(); err == nil {
				a.SpeedKmh, a.Sigma = ptr(est.SpeedKmh), ptr(est.SigmaKmh)
			}
		}
		res.Active = append(res.Active, a)
	}
	res.Timings.Speed = time.Since(t2)
	if p.plates != nil {
		t3 := time.Now()
		if err := p.readPlates(f, matched); err != nil {
			return res, fmt.Errorf("pipeline: frame %d: %w", f.Seq, err)
		}
		res.Timings.Plates = time.Since(t3)
	}
	for _, t := range p.tracker.Ended() {
		r, vs := p.finishWithRules(t)
		res.Ended = append(res.Ended, r)
		res.Violations = append(res.Violations, vs...)
	}
	return res, nil
}

// finishWithRules ends a track and lets the rules judge its final speed.
func (p *Pipeline) finishWithRules(t *track.Track) (TrackResult, []Violation) {
	r, est := p.finish(t)
	if p.rules == nil {
		return r, nil
	}
	var out []Violation
	for _, v := range p.rules.End(t.ID(), est) {
		out = append(out, Violation{Violation: v, Track: r})
	}
	return r, out
}

// result is a track's result so far, without the final speed.
func (p *Pipeline) result(t *track.Track, st *trackState) TrackResult {
	r := TrackResult{TrackID: t.ID(), Class: t.Label(), FirstSeen: t.Start(), LastSeen: t.LastSeen(),
		Vehicle: p.vehicles[t.Label()]}
	if obs, ok := t.Last(); ok {
		r.LastBox = [4]float32{obs.Box.X1, obs.Box.Y1, obs.Box.X2, obs.Box.Y2}
	}
	if st == nil {
		r.SpeedNote = "never matched"
		return r
	}
	if st.fusion != nil {
		r.PlateReads = st.plateRead
		if rd := st.fusion.Result(); rd.Readable {
			r.Plate, r.PlateConfidence = rd.Text, round(float64(rd.Confidence), 3)
		}
	}
	r.TStart = round(r.FirstSeen.Sub(p.origin).Seconds(), 3)
	r.TEnd = round(r.LastSeen.Sub(p.origin).Seconds(), 3)
	r.Frames = st.frames
	if st.frames > 0 {
		r.MeanScore = round(st.scoreSum/float64(st.frames), 3)
	}
	return r
}

// readPlates reads the plates of a few of this frame's vehicles: those big
// enough, not yet settled, least-read first.
func (p *Pipeline) readPlates(f *frame.Frame, matched []*track.Track) error {
	cfg := p.cfg.Plates
	type cand struct {
		st  *trackState
		box infer.Box
	}
	var cands []cand
	for _, t := range matched {
		st := p.speeds[t.ID()]
		obs, ok := t.Last()
		if st == nil || !ok || !p.vehicles[t.Label()] {
			continue
		}
		if st.fusion == nil {
			st.fusion = plate.NewFusion(cfg.Agree, cfg.MinConfidence)
		}
		st.plateTry++
		if st.fusion.Done() || obs.Box.H() < cfg.MinBoxHeightPx || st.plateTry < cfg.Every {
			continue
		}
		cands = append(cands, cand{st, obs.Box})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].st.plateRead < cands[j].st.plateRead })
	for _, c := range cands[:min(len(cands), cfg.MaxPerFrame)] {
		results, err := p.plates.RecognizeVehicle(f, c.box)
		if err != nil {
			return err
		}
		c.st.plateTry, c.st.plateRead = 0, c.st.plateRead+1
		// The vehicle crop may hold a neighbour's plate too: take the most confident read.
		var best *plate.Result
		for i := range results {
			if best == nil || results[i].Confidence > best.Confidence {
				best = &results[i]
			}
		}
		if best != nil {
			c.st.fusion.Add(best.Read)
		}
	}
	return nil
}

// Flush ends every live track (end of stream) and returns their results
// and the violations their ends complete.
func (p *Pipeline) Flush() ([]TrackResult, []Violation) {
	var out []TrackResult
	var vs []Violation
	for _, t := range p.tracker.Flush() {
		r, v := p.finishWithRules(t)
		out = append(out, r)
		vs = append(vs, v...)
	}
	return out, vs
}

func ptr(v float64) *float64 { return &v }

// movingTracks counts the live tracks that should keep every frame
// processed: tentative and lost ones, and matched ones that move. A parked
// vehicle's track stays alive for as long as it is seen, and must not keep a
// static scene from being gated.
func (p *Pipeline) movingTracks(width int) int {
	minV := max(4.0, 0.005*float64(width)) // px/s; detector jitter on a parked car stays below
	n := p.tracker.Live() - len(p.matched)
	for _, t := range p.matched {
		if vx, vy := t.Velocity(); math.Hypot(vx, vy) >= minV {
			n++
		}
	}
	return max(n, 0)
}

// scaleMeter tells the speed meter, before the first track, how large
// vehicles look to the detector (speed.Config.DetectorScale), unless the
// configuration set it.
func (p *Pipeline) scaleMeter(width, height int) error {
	if p.meter == nil || p.cfg.Speed.DetectorScale != 0 {
		return nil
	}
	scale := DetectorScale(p.det, width, height)
	if scale <= 0 {
		return nil
	}
	cfg := p.cfg.Speed
	cfg.DetectorScale = scale
	m, err := speed.NewMeter(p.cal, cfg)
	if err != nil {
		return fmt.Errorf("pipeline: %w", err)
	}
	p.meter = m
	return nil
}

// cutBox reports whether a box touches the picture's border: within 2 px or
// a tenth of the box's size (its height for the bottom edge, its width for
// the sides). A detector boxing a vehicle that the border cuts tends to put
// the cut edge a few pixels inside the picture, so a cut box can end short
// of the border; its bottom centre would be a false ground point.
func cutBox(b infer.Box, frameW, frameH float32) bool {
	const edge, frac = 2, 0.1
	mx, my := max(edge, frac*b.W()), max(edge, frac*b.H())
	return b.X1 <= mx || b.X2 >= frameW-mx || b.Y2 >= frameH-my
}

// observe folds one observation into the track's speed and returns its
// ground point (mapped once here, reused by the rules) when there is one.
func (p *Pipeline) observe(st *trackState, o track.Observation) (calibration.Point, bool) {
	st.frames++
	st.scoreSum += float64(o.Score)
	if p.cal == nil {
		return calibration.Point{}, false
	}
	g, err := p.cal.PixelToGround(speed.ContactPoint(o.Box))
	if err != nil {
		return g, false
	}
	if st.sp == nil {
		return g, true
	}
	// A box cut by the picture's edge does not show where the vehicle meets
	// the road.
	if cutBox(o.Box, p.frameW, p.frameH) {
		st.outside++
		return g, true
	}
	if float64(o.Box.H()) < p.cfg.MinBoxHeightPx {
		st.outside++
		return g, true
	}
	if p.region != nil && !p.region(g) {
		st.outside++
		return g, true
	}
	// A sample beyond the calibrated plane (above the horizon) is refused; keep the others.
	if err := st.sp.AddBox(o.Box, o.Time); err != nil {
		st.speedErr = err
	}
	return g, true
}

// finish ends a track: its result with the final speed (nil when none).
func (p *Pipeline) finish(t *track.Track) (TrackResult, *speed.Estimate) {
	st := p.speeds[t.ID()]
	delete(p.speeds, t.ID())
	p.stats.TracksEnded++
	r := p.result(t, st)
	if st == nil {
		return r, nil
	}
	switch {
	case st.sp == nil:
		r.SpeedNote = "no calibration"
	case !r.Vehicle:
		r.SpeedNote = "not a vehicle"
	default:
		est, err := st.sp.Final()
		if err != nil {
			r.SpeedNote = err.Error()
			if st.outside > 0 {
				r.SpeedNote += fmt.Sprintf(" (%d of %d samples outside the measurement region or at the picture's edge)", st.outside, st.frames)
			}
			return r, nil
		}
		r.SpeedKmh = ptr(round(est.SpeedKmh, 2))
		r.SpeedUncertaintyKmh = ptr(round(est.SigmaKmh, 2))
		r.DistanceM = round(est.DistanceM, 2)
		r.HeadingDeg = ptr(round(est.HeadingDeg, 1))
		p.stats.WithSpeed++
		return r, &est
	}
	return r, nil
}

func round(v float64, digits int) float64 {
	s := math.Pow(10, float64(digits))
	return math.Round(v*s) / s
}
