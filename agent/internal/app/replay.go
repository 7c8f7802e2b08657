package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/annotate"
	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/calibration"
)

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
	// Progress, when not nil, receives progress updates (done frames, total or 0).
	Progress func(done, total int64)
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
	Elapsed           time.Duration
	FPS               float64
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
	sink := &replaySink{pl: pl, enc: enc, cancel: cancel, progress: opt.Progress, total: info.Frames, sum: &sum,
		annotatePath: opt.Annotate, fps: info.FrameRate}
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
		for _, r := range pl.Flush() {
			sink.emit(r)
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
	lastLatency  time.Duration
	cancel       context.CancelFunc
	progress     func(done, total int64)
	total        int64
	done         int64
	last         []pipeline.Active
	sum          *ReplaySummary
	err          error
}

func (s *replaySink) OnPacket(ingest.Packet) {}

func (s *replaySink) OnFrame(f *frame.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	t0 := time.Now()
	r, err := s.pl.Process(f)
	if err != nil {
		s.fail(err)
		return
	}
	s.lastLatency = time.Since(t0)
	s.sum.Preprocess += r.Timings.Preprocess
	s.sum.Inference += r.Timings.Inference
	s.sum.Postprocess += r.Timings.Postprocess
	s.sum.Track += r.Timings.Track
	for _, t := range r.Ended {
		s.emit(t)
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
