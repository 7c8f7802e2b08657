package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph265"
	"github.com/pion/rtp"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Transports for RTSPConfig.Transport.
const (
	TransportTCP = "tcp"
	TransportUDP = "udp"
)

// RTSPConfig configures an RTSPSource.
type RTSPConfig struct {
	// URL is the camera's rtsp:// URL, possibly with user:password.
	URL string
	// Transport is TransportTCP (default: survives NAT and packet loss) or
	// TransportUDP.
	Transport string
	// ReadTimeout drops the connection when no data arrives for this long
	// (default 10 s); it also bounds connecting.
	ReadTimeout time.Duration
	// Backoff spaces the reconnection attempts.
	Backoff Backoff
	// Decode configures the decoder (its Codec is taken from the SDP).
	Decode decode.Config
	// QueueLen is the number of access units buffered between the network
	// and the decoder (default 32); when full, access units are dropped
	// until the next keyframe.
	QueueLen int
	// Logger receives state changes and errors (URLs redacted).
	Logger *slog.Logger
}

// RTSPSource reads an RTSP camera and reconnects whenever the stream drops.
type RTSPSource struct {
	cfg RTSPConfig
	url SecretURL
	u   *base.URL
	log *slog.Logger
	st  *tracker

	// The PTS timeline continues across sessions: a new session starts
	// where the last one stopped plus the wall-clock gap.
	mu       sync.Mutex
	havePTS  bool
	lastPTS  time.Duration
	lastRecv time.Time
}

var _ Source = (*RTSPSource)(nil)

// NewRTSP checks the configuration and returns a source; nothing is dialled
// before Run.
func NewRTSP(cfg RTSPConfig) (*RTSPSource, error) {
	su := NewSecretURL(cfg.URL)
	if l := strings.ToLower(cfg.URL); !strings.HasPrefix(l, "rtsp://") && !strings.HasPrefix(l, "rtsps://") {
		return nil, fmt.Errorf("ingest: camera URL %s: scheme must be rtsp or rtsps", su)
	}
	u, err := base.ParseURL(cfg.URL)
	if err != nil {
		// The parser's message quotes the URL: never pass it on.
		return nil, fmt.Errorf("ingest: invalid camera URL %s (percent-encode special characters in the password)", su)
	}
	switch cfg.Transport {
	case "":
		cfg.Transport = TransportTCP
	case TransportTCP, TransportUDP:
	default:
		return nil, fmt.Errorf("ingest: camera %s: unknown transport %q (want tcp or udp)", su, cfg.Transport)
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 32
	}
	if cfg.Decode.UndecodablePackets <= 0 {
		cfg.Decode.UndecodablePackets = decode.DefaultUndecodablePackets
	}
	cfg.Backoff = cfg.Backoff.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Decode.Logger == nil {
		cfg.Decode.Logger = log.With("camera", su)
	}
	log = log.With("component", "ingest", "camera", su)
	return &RTSPSource{cfg: cfg, url: su, u: u, log: log, st: newTracker(log)}, nil
}

// URL returns the camera URL (redacted when printed or logged).
func (s *RTSPSource) URL() SecretURL { return s.url }

// Status implements Source.
func (s *RTSPSource) Status() Status { return s.st.status() }

// Run implements Source: it connects, streams, and reconnects with backoff
// until ctx is cancelled. It must not be called twice.
func (s *RTSPSource) Run(ctx context.Context, sink Sink) error {
	s.st.observe(sink)
	defer s.st.setState(StateStopped, nil)
	s.st.setState(StateConnecting, nil)
	attempt := 0
	for {
		streamed, err := s.session(ctx, sink)
		if ctx.Err() != nil {
			return nil
		}
		if streamed {
			attempt = 0
		}
		if err == nil {
			err = errors.New("stream ended")
		}
		err = s.url.RedactError(err)
		delay := s.cfg.Backoff.Delay(attempt, rand.Float64())
		attempt++
		s.st.setState(StateReconnecting, err)
		s.log.Warn("camera stream lost, reconnecting", "error", err, "retry_in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		s.st.update(func(st *Status) { st.Reconnects++ })
	}
}

// session runs one connection; streamed reports whether it delivered frames.
func (s *RTSPSource) session(ctx context.Context, sink Sink) (streamed bool, err error) {
	proto := gortsplib.ProtocolTCP
	if s.cfg.Transport == TransportUDP {
		proto = gortsplib.ProtocolUDP
	}
	c := &gortsplib.Client{
		Scheme:       s.u.Scheme,
		Host:         s.u.Host,
		Protocol:     &proto,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.ReadTimeout,
		DialContext:  (&net.Dialer{Timeout: s.cfg.ReadTimeout}).DialContext,
		UserAgent:    "vigia-agent",
	}
	sess := &rtspSession{src: s, sink: sink, client: c,
		queue: make(chan decode.AccessUnit, s.cfg.QueueLen), quit: make(chan struct{})}
	c.OnPacketsLost = func(n uint64) { s.st.update(func(st *Status) { st.Lost += int64(n) }) }
	c.OnDecodeError = func(error) { s.st.streamError() }
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("ingest: connect %s: %w", s.url, err)
	}
	defer c.Close()
	// Abort blocking requests when ctx ends.
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	desc, _, err := c.Describe(s.u)
	if err != nil {
		return false, fmt.Errorf("ingest: describe %s: %w", s.url, err)
	}
	medi, err := sess.pickTrack(desc)
	if err != nil {
		return false, err
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return false, fmt.Errorf("ingest: setup %s: %w", s.url, err)
	}
	sess.ptsBase = s.nextPTSBase()
	c.OnPacketRTP(medi, sess.forma, func(pkt *rtp.Packet) { sess.onRTP(medi, pkt) })

	decodeErr := make(chan error, 1)
	go func() { decodeErr <- sess.decodeLoop() }()
	defer func() {
		close(sess.quit)
		if derr := <-decodeErr; err == nil {
			err = derr
		}
		streamed = sess.streamed.Load()
	}()

	if _, err := c.Play(nil); err != nil {
		return false, fmt.Errorf("ingest: play %s: %w", s.url, err)
	}
	s.log.Debug("playing", "codec", sess.codec.String(), "transport", s.cfg.Transport)
	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	select {
	case err = <-waitErr:
		return false, fmt.Errorf("ingest: stream %s: %w", s.url, err)
	case err = <-decodeErr:
		decodeErr <- err // for the deferred receive
		c.Close()
		return false, err
	}
}

// nextPTSBase returns the PTS offset of a new session.
func (s *RTSPSource) nextPTSBase() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.havePTS {
		return 0
	}
	return s.lastPTS + max(time.Since(s.lastRecv), time.Millisecond)
}

func (s *RTSPSource) notePTS(pts time.Duration, now time.Time) {
	s.mu.Lock()
	if !s.havePTS || pts > s.lastPTS {
		s.lastPTS = pts
	}
	s.havePTS = true
	s.lastRecv = now
	s.mu.Unlock()
}

// rtpDepacketizer is rtph264.Decoder or rtph265.Decoder.
type rtpDepacketizer interface {
	Decode(pkt *rtp.Packet) ([][]byte, error)
}

// pktTime is the timing of one RTP packet.
type pktTime struct {
	valid     bool
	completed bool // the packet ended an access unit
	ts        uint32
	pts       time.Duration
	ntp       time.Time
	ntpOK     bool
}

// Fallback capture clock: receive time mapped through the PTS, re-anchored
// when it would run ahead of the receive time or lag it by more than this
// (camera clock drift, or a stall).
const maxCaptureLag = 5 * time.Second

// rtspSession is the state of one connection.
type rtspSession struct {
	src    *RTSPSource
	sink   Sink
	client *gortsplib.Client
	codec  decode.Codec
	forma  format.Format
	depkt  rtpDepacketizer
	params paramSets

	queue    chan decode.AccessUnit
	quit     chan struct{}
	streamed atomic.Bool

	// receive goroutine only
	ptsBase    time.Duration
	prev       pktTime
	gotKey     bool
	skipped    int
	needKey    bool
	anchored   bool
	anchorWall time.Time
	anchorPTS  time.Duration
}

// pickTrack selects the first H.264 or H.265 video track.
func (ss *rtspSession) pickTrack(desc *description.Session) (*description.Media, error) {
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			var err error
			switch f := f.(type) {
			case *format.H264:
				ss.codec, ss.forma = decode.H264, f
				ss.params = paramSets{codec: decode.H264}
				ss.params.learn([][]byte{f.SPS, f.PPS})
				ss.depkt, err = f.CreateDecoder()
			case *format.H265:
				ss.codec, ss.forma = decode.H265, f
				ss.params = paramSets{codec: decode.H265}
				ss.params.learn([][]byte{f.VPS, f.SPS, f.PPS})
				ss.depkt, err = f.CreateDecoder()
			default:
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("ingest: %s: %s depacketizer: %w", ss.src.url, ss.codec, err)
			}
			return m, nil
		}
	}
	var codecs []string
	for _, m := range desc.Medias {
		for _, f := range m.Formats {
			codecs = append(codecs, f.RTPMap())
		}
	}
	return nil, fmt.Errorf("ingest: %s has no H.264 or H.265 video track (tracks: %s)", ss.src.url, strings.Join(codecs, ", "))
}

// onRTP runs on gortsplib's reader goroutine for every RTP packet.
func (ss *rtspSession) onRTP(medi *description.Media, pkt *rtp.Packet) {
	rawPTS, ok := ss.client.PacketPTS(medi, pkt)
	if !ok {
		return // before the first packet gortsplib can time
	}
	cur := pktTime{valid: true, ts: pkt.Timestamp,
		pts: ss.ptsBase + time.Duration(rawPTS)*time.Second/time.Duration(ss.forma.ClockRate())}
	cur.ntp, cur.ntpOK = ss.client.PacketNTP(medi, pkt)

	au, err := ss.depkt.Decode(pkt)
	// Without marker bits the depacketizer returns the previous access unit
	// when a new timestamp begins: it carries the previous packet's timing.
	belongsToPrev := err == nil && ss.prev.valid && !ss.prev.completed && pkt.Timestamp != ss.prev.ts
	t := cur
	if belongsToPrev {
		t = ss.prev
	}
	ss.prev = cur
	ss.prev.completed = err == nil && !belongsToPrev
	if err != nil {
		if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) &&
			!errors.Is(err, rtph265.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) {
			ss.src.st.streamError()
		}
		return
	}
	ss.handleAU(au, t)
}

func (ss *rtspSession) handleAU(au [][]byte, t pktTime) {
	now := time.Now()
	nalus := copyNALUs(au)
	if len(nalus) == 0 {
		return
	}
	ss.params.learn(nalus)
	key := decode.IsKeyframe(ss.codec, nalus)
	nalus = ss.params.complete(nalus, key)
	captured, synced := ss.captureTime(t, now)
	ss.src.notePTS(t.pts, now)
	ss.src.st.packet(ss.codec)
	ss.sink.OnPacket(Packet{Codec: ss.codec, NALUs: nalus, PTS: t.pts, Keyframe: key, Captured: captured, ClockSynced: synced})

	// Start decoding at a keyframe; but if none shows up within the
	// undecodable detector's window (NAL headers scrambled too), feed
	// everything so that the detector can see the stream.
	if !ss.gotKey {
		if !key && ss.skipped < ss.src.cfg.Decode.UndecodablePackets {
			ss.skipped++
			return
		}
		ss.gotKey = true
	}
	if ss.needKey {
		if !key {
			ss.src.st.update(func(st *Status) { st.Dropped++ })
			return
		}
		ss.needKey = false
	}
	select {
	case ss.queue <- decode.AccessUnit{NALUs: nalus, PTS: t.pts, Captured: captured, ClockSynced: synced}:
	default:
		// The decoder is behind: skip to the next keyframe, since the
		// pictures in between would reference the one dropped.
		ss.needKey = true
		ss.src.st.update(func(st *Status) { st.Dropped++ })
	}
}

// captureTime returns the access unit's capture wall time.
func (ss *rtspSession) captureTime(t pktTime, now time.Time) (time.Time, bool) {
	if t.ntpOK {
		return t.ntp, true
	}
	est := ss.anchorWall.Add(t.pts - ss.anchorPTS)
	if !ss.anchored || est.After(now) || now.Sub(est) > maxCaptureLag {
		ss.anchored, ss.anchorWall, ss.anchorPTS = true, now, t.pts
		return now, false
	}
	return est, false
}

// decodeLoop decodes queued access units until the session ends.
func (ss *rtspSession) decodeLoop() error {
	cfg := ss.src.cfg.Decode
	cfg.Codec = ss.codec
	d, err := decode.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		ss.src.st.endDecoder(d.Stats())
		d.Close()
	}()
	st := ss.src.st
	emitted := false
	emit := func(f *frame.Frame) {
		emitted = true
		ss.streamed.Store(true)
		st.frame(f)
		ss.sink.OnFrame(f)
	}
	for {
		select {
		case <-ss.quit:
			// Deliver what the decoder still holds (frame threading).
			if err := d.Flush(emit); err != nil && !errors.Is(err, decode.ErrUndecodable) {
				return fmt.Errorf("ingest: decode %s: %w", ss.src.url, err)
			}
			return nil
		case au := <-ss.queue:
			err := d.Decode(au, emit)
			st.decoderStats(d.Stats())
			switch {
			case errors.Is(err, decode.ErrUndecodable):
				if st.state() != StateUndecodable {
					ss.src.log.Warn("stream undecodable", "error", err)
				}
				st.setState(StateUndecodable, err)
			case err != nil:
				return fmt.Errorf("ingest: decode %s: %w", ss.src.url, err)
			case emitted:
				st.setState(StateStreaming, nil)
			}
		}
	}
}

// copyNALUs copies an access unit into one new buffer: the depacketizer's
// slices may point into gortsplib's reused read buffers.
func copyNALUs(au [][]byte) [][]byte {
	size := 0
	for _, n := range au {
		size += len(n)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, 0, len(au))
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		start := len(buf)
		buf = append(buf, n...)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	return out
}
