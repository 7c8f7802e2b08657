package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// FileConfig configures a FileSource.
type FileConfig struct {
	// Path is a local video file (MP4, MKV, MPEG-TS, ...); its best video
	// stream is used and other tracks (audio) are ignored.
	Path string
	// Loop restarts at the end of the file; timestamps keep increasing.
	Loop bool
	// Realtime paces delivery at the file's own timing, as a camera would;
	// otherwise the file is read as fast as it decodes.
	Realtime bool
	// Start is the capture time of the first frame: Captured = Start + PTS.
	// Zero means the wall-clock time when Run starts.
	Start time.Time
	// Decode configures the decoder (Codec and Extradata come from the file).
	Decode decode.Config
	// Logger receives state changes and errors.
	Logger *slog.Logger
}

// FileSource reads a video file through the same decoder as the cameras.
type FileSource struct {
	cfg FileConfig
	log *slog.Logger
	st  *tracker
}

var _ Source = (*FileSource)(nil)

// NewFile returns a file source; the file is opened by Run.
func NewFile(cfg FileConfig) (*FileSource, error) {
	if cfg.Path == "" {
		return nil, errors.New("ingest: no video file given")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Decode.Logger == nil {
		cfg.Decode.Logger = log.With("file", cfg.Path)
	}
	log = log.With("component", "ingest", "file", cfg.Path)
	return &FileSource{cfg: cfg, log: log, st: newTracker(log)}, nil
}

// Status implements Source.
func (s *FileSource) Status() Status { return s.st.status() }

// Run implements Source. It returns nil at the end of the file (never, with
// Loop) or when ctx is cancelled, and an error for a file that cannot be
// read, is cut short, or holds no decodable picture.
func (s *FileSource) Run(ctx context.Context, sink Sink) (err error) {
	s.st.observe(sink)
	s.st.setState(StateConnecting, nil)
	defer func() { s.st.setState(StateStopped, err) }()

	dm, err := decode.OpenFile(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	defer dm.Close()
	info := dm.Info()
	s.log.Debug("opened", "codec", info.Codec.String(), "width", info.Width, "height", info.Height,
		"fps", info.FrameRate, "duration", info.Duration)
	dcfg := s.cfg.Decode
	dcfg.Codec, dcfg.Extradata = info.Codec, info.Extradata
	dec, err := decode.New(dcfg)
	if err != nil {
		return fmt.Errorf("ingest: %s: %w", s.cfg.Path, err)
	}
	defer func() {
		s.st.endDecoder(dec.Stats())
		dec.Close()
	}()

	start := s.cfg.Start
	wallStart := time.Now()
	if start.IsZero() {
		start = wallStart
	}
	frameDur := time.Duration(0)
	if info.FrameRate > 0 {
		frameDur = time.Duration(float64(time.Second) / info.FrameRate)
	}
	emitted := false
	emit := func(f *frame.Frame) {
		emitted = true
		s.st.frame(f)
		sink.OnFrame(f)
	}
	var offset, passEnd time.Duration // loop offset; end of the current pass
	passPackets := 0
	for {
		if ctx.Err() != nil {
			return nil
		}
		p, err := dm.Read()
		if errors.Is(err, io.EOF) {
			if ferr := dec.Flush(emit); ferr != nil && !errors.Is(ferr, decode.ErrUndecodable) {
				return fmt.Errorf("ingest: %s: %w", s.cfg.Path, ferr)
			}
			if !emitted {
				ds := dec.Stats()
				return fmt.Errorf("ingest: %s: no decodable %s picture in %d packets (%d decode errors, %d damaged pictures)",
					s.cfg.Path, info.Codec, ds.Packets, ds.Errors, ds.Damaged)
			}
			if !s.cfg.Loop {
				return nil
			}
			if passPackets == 0 {
				return fmt.Errorf("ingest: %s: no video packets to loop over", s.cfg.Path)
			}
			if err := dm.Rewind(); err != nil {
				return fmt.Errorf("ingest: %w", err)
			}
			offset += passEnd
			passEnd, passPackets = 0, 0
			continue
		}
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		passPackets++
		d := p.Duration
		if d <= 0 {
			d = frameDur
		}
		passEnd = max(passEnd, p.PTS+d)
		pts := offset + p.PTS
		if s.cfg.Realtime {
			// Pace on decoding order (DTS) so that reordered streams flow
			// evenly.
			if wait := time.Until(wallStart.Add(offset + p.DTS)); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		}
		key := p.Keyframe || decode.IsKeyframe(info.Codec, p.NALUs)
		captured := start.Add(pts)
		s.st.packet(info.Codec)
		sink.OnPacket(Packet{Codec: info.Codec, NALUs: p.NALUs, PTS: pts, Keyframe: key, Captured: captured})
		derr := dec.Decode(decode.AccessUnit{NALUs: p.NALUs, PTS: pts, Captured: captured}, emit)
		s.st.decoderStats(dec.Stats())
		switch {
		case errors.Is(derr, decode.ErrUndecodable):
			s.st.setState(StateUndecodable, derr)
		case derr != nil:
			return fmt.Errorf("ingest: %s: %w", s.cfg.Path, derr)
		case emitted:
			s.st.setState(StateStreaming, nil)
		}
	}
}
