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
	"time"

	"github.com/vigia-pe/vigia/agent/internal/annotate"
	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/calibration"
)

// ReplayOptions configure a replay of a video file.
type ReplayOptions struct {
	Video       string
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

// ReplaySummary reports what a replay did.
type ReplaySummary struct {
	Frames, Processed, Skipped int64
	Tracks, WithSpeed          int64
	Elapsed                    time.Duration
	FPS                        float64
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
	info, err := probe(opt.Video)
	if err != nil {
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
	if cal != nil && (cal.Image.Width != 0 && (cal.Image.Width != outW || cal.Image.Height != outH)) {
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
	var writer *annotate.Writer
	if opt.Annotate != "" {
		if writer, err = annotate.NewWriter(opt.Annotate, outW, outH, info.FrameRate); err != nil {
			return sum, err
		}
	}

	src, err := ingest.NewFile(ingest.FileConfig{Path: opt.Video, Start: opt.Start,
		Decode: decode.Config{MaxWidth: opt.MaxWidth}, Logger: log})
	if err != nil {
		return sum, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &replaySink{pl: pl, enc: enc, writer: writer, cancel: cancel, progress: opt.Progress, total: info.Frames, sum: &sum}
	start := time.Now()
	runErr := src.Run(ctx, sink)
	sink.mu.Lock()
	defer sink.mu.Unlock()
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
	mu       sync.Mutex
	pl       *pipeline.Pipeline
	enc      *json.Encoder
	writer   *annotate.Writer
	cancel   context.CancelFunc
	progress func(done, total int64)
	total    int64
	done     int64
	last     []pipeline.Active
	sum      *ReplaySummary
	err      error
}

func (s *replaySink) OnPacket(ingest.Packet) {}

func (s *replaySink) OnFrame(f *frame.Frame) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	r, err := s.pl.Process(f)
	if err != nil {
		s.fail(err)
		return
	}
	s.sum.Preprocess += r.Timings.Preprocess
	s.sum.Inference += r.Timings.Inference
	s.sum.Postprocess += r.Timings.Postprocess
	s.sum.Track += r.Timings.Track
	for _, t := range r.Ended {
		s.emit(t)
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
