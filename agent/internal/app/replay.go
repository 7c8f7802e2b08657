package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"image"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/annotate"
	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// modelVersions lists the models that take part in a citation, with the
// SHA-256 of their weights (from the manifest, or hashed at start for the
// plate models) so an auditor can tell exactly which weights judged.
func modelVersions(det *Detector, modelsDir string) map[string]shared.Model {
	m := map[string]shared.Model{det.Manifest.Name: {Version: det.Manifest.Version, SHA256: det.Manifest.Weights.SHA256}}
	if det.Plates != nil {
		for name, rel := range map[string]string{"lpd-yunet-2023mar": plate.DetectorModel, "plate-ocr-cct-xs-v2-global": plate.ReaderModel} {
			if _, sum, err := shared.HashFile(filepath.Join(modelsDir, rel)); err == nil {
				m[name] = shared.Model{Version: filepath.Base(rel), SHA256: strings.TrimPrefix(sum, "sha256:")}
			}
		}
	}
	return m
}

// ReplayOptions configure a replay of a video file, or (with RTSP set) a
// live run on a camera stream.
type ReplayOptions struct {
	Video string
	// RTSP, when set, reads a live camera instead of Video: analysis never
	// blocks the stream; frames that arrive while the previous one is still
	// being analysed are skipped (and counted), never the encoded stream.
	RTSP string
	// Transport is tcp (default) or udp, for RTSP.
	Transport string
	// Duration stops a live run after this long (0: until cancelled).
	Duration time.Duration
	// FPS is the annotated video's playback rate for live runs (default 15).
	FPS float64
	// Status, when not nil, is called about once a second during a live run.
	Status      func(LiveStatus)
	Calibration string // optional: without it, tracks have no speed
	Events      string // JSONL output path ("-" for stdout)
	Annotate    string // optional annotated MP4 output
	Start       time.Time
	MaxWidth    int // decode downscale; 0 keeps the source size
	Detector    DetectorOptions
	Pipeline    pipeline.Config
	// Evidence, when set, is the data directory where signed evidence
	// packages of cited infractions are written (<dir>/evidence/...), with
	// the device key in <dir>/keys.
	Evidence string
	// SpeedLimitKmh overrides the calibration's speed zones (0: use them).
	SpeedLimitKmh float64
	// ToleranceKmh is the legal speed tolerance (Peru: 5).
	ToleranceKmh float64
	// Signal is a signal schedule file for red-light rules (see ReadSignalSchedule).
	Signal string
	// SignalSource, when set, is a live signal source (a controller's feed,
	// see signalFeed); it takes precedence over Signal and LightRegion.
	SignalSource rules.SignalSource
	// OnRules, when set, receives the rules engine once it is built; the
	// engine may be changed only from OnFrame (the analysis goroutine).
	OnRules func(*rules.Engine)
	// LightRegion, when Signal is empty, is the traffic light's rectangle in
	// the picture: its lit lamp is classified on every frame (the fallback
	// when no controller feed is available).
	LightRegion image.Rectangle
	// DeviceID and CameraID name the agent and the camera in the events.
	DeviceID, CameraID string
	// OnInfraction, when set, receives each cited infraction instead of the
	// events file (the service puts them in its outbox).
	OnInfraction func(env event.Envelope, inf *event.Infraction) error
	// OnFrame, when set, sees each analysed frame's result (live metrics and streams).
	OnFrame func(f *frame.Frame, r pipeline.FrameResult)
	// Progress, when not nil, receives progress updates (done frames, total or 0).
	Progress func(done, total int64)
	// OnPacket, when set, sees each compressed access unit as it arrives
	// (on the source's receiving goroutine: it must return at once).
	OnPacket func(p ingest.Packet)
	// OnModels, when set, receives the models the pipeline loaded, once
	// they are loaded (name → version and weights hash).
	OnModels func(models map[string]shared.Model)
	// OnPhase, when set, hears the light-region classifier's filtered phase
	// at the first frame and on every change (on the analysis goroutine).
	OnPhase func(phase rules.Phase)
	// OnCommitted, when set, hears the timing of each infraction once its
	// event is committed (OnInfraction or the events file returned).
	OnCommitted func(InfractionTiming)
}

// LiveStatus is a live run's once-a-second report.
type LiveStatus struct {
	Source        ingest.Status
	Frames        int64 // analysed
	Dropped       int64 // skipped because analysis was busy
	StreamFPS     float64
	ActiveTracks  int
	EndedTracks   int64
	AnalysedFPS   float64
	LastLatencyMs float64
}

// ReplaySummary reports what a replay did.
type ReplaySummary struct {
	Frames, Processed, Skipped int64
	// Dropped counts live frames skipped because analysis was busy.
	Dropped           int64
	Tracks, WithSpeed int64
	// Infractions counts the infractions cited (with a calibration).
	Infractions int
	Elapsed     time.Duration
	FPS         float64
	// Stage sums over processed frames.
	Preprocess, Inference, Postprocess, Track time.Duration
}

// trackLine is one "track" line of the events file.
type trackLine struct {
	Type string `json:"type"`
	pipeline.TrackResult
}

// Replay runs the whole pipeline on a file as fast as it decodes.
func Replay(ctx context.Context, opt ReplayOptions, log *slog.Logger) (ReplaySummary, error) {
	var sum ReplaySummary
	var info decode.StreamInfo
	var err error
	live := opt.RTSP != ""
	if live {
		// The picture size comes from the stream; the annotated video is sized on the first frame.
		info.FrameRate = opt.FPS
		if info.FrameRate <= 0 {
			info.FrameRate = 15
		}
	} else if info, err = probe(opt.Video); err != nil {
		return sum, err
	}
	var cal *calibration.Calibration
	if opt.Calibration != "" {
		if cal, err = calibration.Load(opt.Calibration); err != nil {
			return sum, fmt.Errorf("replay: calibration: %w", err)
		}
	}
	outW, outH := info.Width, info.Height
	if opt.MaxWidth > 0 && outW > opt.MaxWidth {
		outH = (outH*opt.MaxWidth/outW + 1) &^ 1
		outW = opt.MaxWidth
	}
	if live && cal != nil {
		outW, outH = cal.Image.Width, cal.Image.Height
	}
	if !live && cal != nil && (cal.Image.Width != 0 && (cal.Image.Width != outW || cal.Image.Height != outH)) {
		return sum, fmt.Errorf("replay: the calibration is for %dx%d pictures but the pipeline sees %dx%d: recalibrate or set --max-width",
			cal.Image.Width, cal.Image.Height, outW, outH)
	}
	det, err := NewDetector(opt.Detector, RoadROI(cal, outW, outH), log)
	if err != nil {
		return sum, err
	}
	defer det.Close()
	pl, err := pipeline.New(opt.Pipeline, det, cal, log)
	if err != nil {
		return sum, err
	}
	if det.Plates != nil {
		pl.SetPlateReader(det.Plates)
	}
	var models map[string]shared.Model
	if cal != nil || opt.OnModels != nil {
		models = modelVersions(det, opt.Detector.ModelsDir)
	}
	if opt.OnModels != nil {
		opt.OnModels(models)
	}
	if opt.Start.IsZero() {
		// Fixed now so the signal schedule and the frames share one time base.
		opt.Start = time.Now().UTC()
	}
	var engine *rules.Engine
	var light *rules.LightClassifier
	if cal != nil {
		rc := rules.DefaultConfig()
		var sig rules.SignalSource
		switch {
		case opt.SignalSource != nil:
			sig = opt.SignalSource
		case opt.Signal != "" && !live:
			if sig, err = ReadSignalSchedule(opt.Signal, opt.Start); err != nil {
				return sum, err
			}
		case !opt.LightRegion.Empty():
			if light, err = rules.NewLightClassifier(rules.LightConfig{Region: opt.LightRegion}); err != nil {
				return sum, err
			}
			sig = light
		}
		if sig != nil {
			rc.RedLights = redLightApproaches(cal, sig)
			if len(rc.RedLights) == 0 {
				return sum, fmt.Errorf("replay: a signal source was given but the calibration has no stop_line (add one with calibrate solve --geometry)")
			}
		}
		rc.Speed.OverrideLimitKmh = opt.SpeedLimitKmh
		if opt.ToleranceKmh > 0 {
			rc.Speed.ToleranceKmh = opt.ToleranceKmh
		}
		if engine, err = rules.New(cal, rc, log); err != nil {
			return sum, err
		}
		if opt.OnRules != nil {
			opt.OnRules(engine)
		}
		pl.SetRules(engine)
	}

	var out io.Writer = os.Stdout
	if opt.Events != "" && opt.Events != "-" {
		f, err := os.Create(opt.Events)
		if err != nil {
			return sum, fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		out = f
	}
	enc := json.NewEncoder(out)
	var cite *citer
	if engine != nil {
		var w *evidence.Writer
		if opt.Evidence != "" {
			dev := opt.DeviceID
			if dev == "" {
				dev = "replay"
			}
			if w, err = evidence.NewWriter(evidence.Config{DataDir: opt.Evidence, DeviceID: dev, AgentVersion: agentVersion()}, log); err != nil {
				return sum, err
			}
		}
		cite, err = newCiter(nonEmpty(opt.DeviceID, "replay"), nonEmpty(opt.CameraID, nonEmpty(cal.DeviceID, "replay")),
			cal, w, det.Plates, models, log, func(env event.Envelope, inf *event.Infraction) error {
				if opt.OnInfraction != nil {
					return opt.OnInfraction(env, inf)
				}
				return enc.Encode(env)
			})
		if err != nil {
			return sum, err
		}
		cite.onCommitted = opt.OnCommitted
		defer cite.close()
	}
	var src ingest.Source
	if live {
		src, err = ingest.NewRTSP(ingest.RTSPConfig{URL: opt.RTSP, Transport: opt.Transport,
			Decode: decode.Config{MaxWidth: opt.MaxWidth}, Logger: log})
	} else {
		src, err = ingest.NewFile(ingest.FileConfig{Path: opt.Video, Start: opt.Start,
			Decode: decode.Config{MaxWidth: opt.MaxWidth}, Logger: log})
	}
	if err != nil {
		return sum, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if live && opt.Duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, opt.Duration)
		defer cancel()
	}
	sink := &replaySink{pl: pl, enc: enc, cancel: cancel, cite: cite, light: light, onFrame: opt.OnFrame, progress: opt.Progress, total: info.Frames, sum: &sum,
		annotatePath: opt.Annotate, fps: info.FrameRate, onPacket: opt.OnPacket, onPhase: opt.OnPhase}
	start := time.Now()
	var runErr error
	if live {
		runErr = runLive(ctx, src, sink, opt.Status)
	} else {
		runErr = src.Run(ctx, sink)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	writer := sink.writer
	if sink.err == nil {
		ended, vs := pl.Flush()
		for _, r := range ended {
			sink.emit(r)
		}
		if cite != nil {
			if err := cite.onFrame(&frame.Frame{PTS: cite.lastPTS, Captured: cite.origin.Add(cite.lastPTS)},
				pipeline.FrameResult{Violations: vs, Ended: ended}); err != nil {
				sink.err = err
			} else if err := cite.flush(true); err != nil {
				sink.err = err
			}
			sum.Infractions = cite.count
		}
	}
	if writer != nil {
		if err := writer.Close(); err != nil && sink.err == nil {
			sink.err = err
		}
	}
	sum.Elapsed = time.Since(start)
	st := pl.Stats()
	sum.Frames, sum.Processed, sum.Skipped, sum.Tracks, sum.WithSpeed = st.Frames, st.Processed, st.Skipped, st.TracksEnded, st.WithSpeed
	if sum.Elapsed > 0 {
		sum.FPS = float64(sum.Frames) / sum.Elapsed.Seconds()
	}
	if sink.err != nil {
		return sum, sink.err
	}
	sum.Dropped = sink.dropped.Load()
	if runErr != nil {
		return sum, fmt.Errorf("replay: %w", runErr)
	}
	if sum.Frames == 0 {
		return sum, errors.New("replay: the file yielded no decodable frame")
	}
	return sum, nil
}

func probe(path string) (decode.StreamInfo, error) {
	d, err := decode.OpenFile(path)
	if err != nil {
		return decode.StreamInfo{}, fmt.Errorf("replay: %w", err)
	}
	defer d.Close()
	return d.Info(), nil
}

type replaySink struct {
	mu           sync.Mutex
	pl           *pipeline.Pipeline
	enc          *json.Encoder
	writer       *annotate.Writer
	annotatePath string
	fps          float64
	dropped      atomic.Int64
	cite         *citer
	light        *rules.LightClassifier
	onFrame      func(*frame.Frame, pipeline.FrameResult)
	onPacket     func(ingest.Packet)
	onPhase      func(rules.Phase)
	phase        rules.Phase // last phase given to onPhase
	phaseSent    bool
	lastLatency  time.Duration
	cancel       context.CancelFunc
	progress     func(done, total int64)
	total        int64
	done         int64
	last         []pipeline.Active
	sum          *ReplaySummary
	err          error
}

func (s *replaySink) OnPacket(p ingest.Packet) {
	if s.onPacket != nil {
		s.onPacket(p)
	}
	if s.cite != nil {
		s.cite.onPacket(p)
	}
}

func (s *replaySink) OnFrame(f *frame.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	entered := time.Now()
	if s.cite != nil {
		s.cite.entered = entered
	}
	if s.light != nil {
		// Every frame, gated or not: the phase timeline must not have holes.
		ph := s.light.Observe(f)
		if s.onPhase != nil && (!s.phaseSent || ph != s.phase) {
			s.phase, s.phaseSent = ph, true
			s.onPhase(ph)
		}
	}
	t0 := time.Now()
	r, err := s.pl.Process(f)
	if err != nil {
		s.fail(err)
		return
	}
	s.lastLatency = time.Since(t0)
	if s.onFrame != nil {
		s.onFrame(f, r)
	}
	s.sum.Preprocess += r.Timings.Preprocess
	s.sum.Inference += r.Timings.Inference
	s.sum.Postprocess += r.Timings.Postprocess
	s.sum.Track += r.Timings.Track
	for _, t := range r.Ended {
		s.emit(t)
	}
	if s.cite != nil {
		// Before annotation draws on f: the evidence keeps the clean picture.
		if err := s.cite.onFrame(f, r); err != nil {
			s.fail(err)
			return
		}
	}
	if s.annotatePath != "" && s.writer == nil {
		// Sized on the first frame: a live stream's size is known only now.
		if s.writer, err = annotate.NewWriter(s.annotatePath, f.Width, f.Height, s.fps); err != nil {
			s.fail(err)
			return
		}
	}
	if s.writer != nil {
		if err := annotate.Draw(f, r, s.last); err != nil {
			s.fail(err)
			return
		}
		if err := s.writer.Write(f); err != nil {
			s.fail(err)
			return
		}
	}
	if r.Processed {
		s.last = r.Active
	}
	s.done++
	if s.progress != nil {
		s.progress(s.done, s.total)
	}
}

func (s *replaySink) emit(t pipeline.TrackResult) {
	if s.err != nil {
		return
	}
	if err := s.enc.Encode(trackLine{Type: "track", TrackResult: t}); err != nil {
		s.fail(fmt.Errorf("replay: write events: %w", err))
	}
}

func (s *replaySink) fail(err error) {
	if s.err == nil {
		s.err = err
		s.cancel()
	}
}
