// Package camsim simulates an IP camera: an RTSP server (gortsplib) that
// serves a video file as a looping live H.264 stream, paced in real time,
// with RTP timestamps that keep increasing across loops and RTCP sender
// reports, so clients get the "camera's" NTP time as from a real camera.
//
// Files that are not H.264 (or when asked) are first re-encoded to H.264
// with the ffmpeg CLI; H.265 files may be served as they are (AllowH265). The server can imitate a camera with "image
// encryption" switched on (slice payloads scrambled, NAL headers and
// parameter sets intact), and can be stopped and started again on the same
// address, which tests use to simulate a camera dropping off the network.
//
// Tests and `agent simulate-camera` use it in place of a physical camera.
package camsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/vigia-pe/vigia/agent/internal/decode"
)

// Config configures a Server.
type Config struct {
	// Video is the file to serve (any container/codec ffmpeg reads).
	Video string
	// Addr is the RTSP listen address, host:port.
	Addr string
	// Path is the stream path (default "/cam").
	Path string
	// Transcode re-encodes to H.264 even when the file already is H.264.
	Transcode bool
	// AllowH265 serves H.265 files as H.265 instead of transcoding them.
	AllowH265 bool
	// Scramble imitates a camera's image encryption: slice payloads are
	// XORed with a keystream, NAL headers and parameter sets stay intact.
	Scramble bool
	// UDPRTPAddr and UDPRTCPAddr, both set (even port, then the next
	// one), enable the UDP transport besides TCP.
	UDPRTPAddr, UDPRTCPAddr string
	// User and Password, when User is set, require RTSP authentication.
	User, Password string
	// FFmpeg is the ffmpeg executable used to transcode (default "ffmpeg").
	FFmpeg string
	// Logger receives connection and loop events.
	Logger *slog.Logger
}

// Server is a simulated camera. Start and Stop may alternate; Close stops
// it and deletes the transcoded copy.
type Server struct {
	cfg    Config
	log    *slog.Logger
	video  string // H.264 file actually served
	tmpDir string
	info   decode.StreamInfo

	mu      sync.Mutex
	running *instance
	sent    atomic.Int64
	loops   atomic.Int64
	readers atomic.Int64
}

// New checks the file and prepares an H.264 version of it (transcoding with
// ffmpeg when needed). It does not listen yet.
func New(cfg Config) (*Server, error) {
	if cfg.Video == "" || cfg.Addr == "" {
		return nil, errors.New("camsim: video file and listen address are required")
	}
	if cfg.Path == "" {
		cfg.Path = "/cam"
	}
	if !strings.HasPrefix(cfg.Path, "/") {
		cfg.Path = "/" + cfg.Path
	}
	if cfg.FFmpeg == "" {
		cfg.FFmpeg = "ffmpeg"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log.With("component", "camsim"), video: cfg.Video}
	dm, err := decode.OpenFile(cfg.Video)
	if err != nil {
		return nil, fmt.Errorf("camsim: %w", err)
	}
	s.info = dm.Info()
	dm.Close()
	native := s.info.Codec == decode.H264 || (cfg.AllowH265 && s.info.Codec == decode.H265)
	if !native || cfg.Transcode {
		if err := s.transcode(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// transcode re-encodes the video track to H.264 (no B-frames, a keyframe
// every 2 s, original timestamps kept) into a temporary MP4.
func (s *Server) transcode() error {
	dir, err := os.MkdirTemp("", "camsim-*")
	if err != nil {
		return fmt.Errorf("camsim: transcode: %w", err)
	}
	s.tmpDir = dir
	out := filepath.Join(dir, "h264.mp4")
	gop := 30
	if s.info.FrameRate > 0 {
		gop = max(1, int(math.Round(2*s.info.FrameRate)))
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", s.cfg.Video,
		"-map", "0:v:0", "-an", "-sn", "-dn", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0",
		"-g", strconv.Itoa(gop), "-pix_fmt", "yuv420p", "-fps_mode", "passthrough", out}
	s.log.Info("transcoding to H.264", "from", s.info.Codec.String(), "file", s.cfg.Video)
	cmd := exec.Command(s.cfg.FFmpeg, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("camsim: transcode %s with %s: %w: %s", s.cfg.Video, s.cfg.FFmpeg, err, strings.TrimSpace(string(b)))
	}
	dm, err := decode.OpenFile(out)
	if err != nil {
		return fmt.Errorf("camsim: transcoded file: %w", err)
	}
	s.info = dm.Info()
	dm.Close()
	s.video = out
	return nil
}

// Info describes the stream being served (H.264, or H.265 with AllowH265).
func (s *Server) Info() decode.StreamInfo { return s.info }

// URL returns the stream's rtsp:// URL (without credentials).
func (s *Server) URL() string { return "rtsp://" + s.cfg.Addr + s.cfg.Path }

// Sent returns the number of access units sent since New.
func (s *Server) Sent() int64 { return s.sent.Load() }

// Loops returns how many times the file has wrapped around.
func (s *Server) Loops() int64 { return s.loops.Load() }

// Readers returns the number of clients currently playing.
func (s *Server) Readers() int64 { return s.readers.Load() }

// Start listens and begins streaming. The stream starts at the beginning of
// the file, as a rebooted camera would.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != nil {
		return errors.New("camsim: already started")
	}
	in, err := s.start()
	if err != nil {
		return err
	}
	s.running = in
	s.log.Info("serving", "url", s.URL(), "video", s.cfg.Video, "scramble", s.cfg.Scramble)
	return nil
}

// Stop closes the listener and every client connection. Start may be called
// again afterwards.
func (s *Server) Stop() {
	s.mu.Lock()
	in := s.running
	s.running = nil
	s.mu.Unlock()
	if in != nil {
		in.close()
	}
}

// Close stops the server and removes its temporary files.
func (s *Server) Close() {
	s.Stop()
	if s.tmpDir != "" {
		os.RemoveAll(s.tmpDir)
		s.tmpDir = ""
	}
}

// instance is one Start..Stop lifetime.
type instance struct {
	srv    *gortsplib.Server
	stream *gortsplib.ServerStream
	cancel context.CancelFunc
	done   chan struct{}
}

func (in *instance) close() {
	in.cancel()
	<-in.done
	in.stream.Close()
	in.srv.Close()
}

func (s *Server) start() (*instance, error) {
	dm, err := decode.OpenFile(s.video)
	if err != nil {
		return nil, fmt.Errorf("camsim: %w", err)
	}
	// The SDP carries the first keyframe's parameter sets, as cameras do.
	var vps, sps, pps []byte
	for range 10 {
		p, err := dm.Read()
		if err != nil {
			break
		}
		for _, n := range p.NALUs {
			switch decode.ParamSetKind(s.info.Codec, n) {
			case 'v':
				vps = n
			case 's':
				sps = n
			case 'p':
				pps = n
			}
		}
		if sps != nil && pps != nil {
			break
		}
	}
	if err := dm.Rewind(); err != nil {
		dm.Close()
		return nil, fmt.Errorf("camsim: %w", err)
	}
	var forma format.Format = &format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}
	if s.info.Codec == decode.H265 {
		forma = &format.H265{PayloadTyp: 96, VPS: vps, SPS: sps, PPS: pps}
	}
	medi := &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{forma}}
	h := &handler{s: s}
	srv := &gortsplib.Server{
		Handler:        h,
		RTSPAddress:    s.cfg.Addr,
		UDPRTPAddress:  s.cfg.UDPRTPAddr,
		UDPRTCPAddress: s.cfg.UDPRTCPAddr,
	}
	if err := srv.Start(); err != nil {
		dm.Close()
		return nil, fmt.Errorf("camsim: listen %s: %w", s.cfg.Addr, err)
	}
	stream := &gortsplib.ServerStream{Server: srv, Desc: &description.Session{Medias: []*description.Media{medi}}}
	if err := stream.Initialize(); err != nil {
		srv.Close()
		dm.Close()
		return nil, fmt.Errorf("camsim: stream: %w", err)
	}
	h.setStream(stream)
	ctx, cancel := context.WithCancel(context.Background())
	in := &instance{srv: srv, stream: stream, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(in.done)
		defer dm.Close()
		if err := s.play(ctx, dm, stream, medi, forma); err != nil {
			s.log.Error("streaming stopped", "error", err)
		}
	}()
	return in, nil
}

// play sends the file's access units in real time, looping forever.
func (s *Server) play(ctx context.Context, dm *decode.Demuxer, stream *gortsplib.ServerStream,
	medi *description.Media, forma format.Format) error {
	var enc interface {
		Encode(au [][]byte) ([]*rtp.Packet, error)
	}
	var err error
	switch f := forma.(type) {
	case *format.H264:
		enc, err = f.CreateEncoder()
	case *format.H265:
		enc, err = f.CreateEncoder()
	default:
		err = fmt.Errorf("unsupported format %s", forma.RTPMap())
	}
	if err != nil {
		return err
	}
	const clock = 90000
	rtpStart := rand.Uint32()
	wallStart := time.Now()
	frameDur := 40 * time.Millisecond
	if s.info.FrameRate > 0 {
		frameDur = time.Duration(float64(time.Second) / s.info.FrameRate)
	}
	var offset, passEnd time.Duration
	passPackets := 0
	for {
		p, err := dm.Read()
		if errors.Is(err, io.EOF) {
			if passPackets == 0 {
				return errors.New("no packets in file")
			}
			if err := dm.Rewind(); err != nil {
				return err
			}
			offset += passEnd
			passEnd, passPackets = 0, 0
			s.loops.Add(1)
			s.log.Debug("loop", "offset", offset)
			continue
		}
		if err != nil {
			return err
		}
		passPackets++
		d := p.Duration
		if d <= 0 {
			d = frameDur
		}
		passEnd = max(passEnd, p.PTS+d)
		pts := offset + p.PTS
		if wait := time.Until(wallStart.Add(offset + p.DTS)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		nalus := p.NALUs
		if s.cfg.Scramble {
			nalus = Scramble(s.info.Codec, nalus)
		}
		pkts, err := enc.Encode(nalus)
		if err != nil {
			return fmt.Errorf("RTP encode: %w", err)
		}
		ts := rtpStart + uint32(int64(pts)*clock/int64(time.Second))
		ntp := wallStart.Add(pts)
		for _, pkt := range pkts {
			pkt.Timestamp = ts
			if err := stream.WritePacketRTPWithNTP(medi, pkt, ntp); err != nil {
				return fmt.Errorf("write RTP: %w", err)
			}
		}
		s.sent.Add(1)
	}
}

// scrambleKeep is how many bytes of each slice NAL unit stay readable: the
// NAL header and the start of the slice header, as with the encryption of
// EZVIZ/Hikvision cameras, which leaves the NAL framing intact.
const scrambleKeep = 2

// Scramble returns a copy of an H.264 or H.265 access unit with the payload
// of its slice NAL units XORed with a fixed keystream.
func Scramble(codec decode.Codec, nalus [][]byte) [][]byte {
	out := make([][]byte, len(nalus))
	for i, n := range nalus {
		if !decode.IsSlice(codec, n) {
			out[i] = n
			continue
		}
		m := make([]byte, len(n))
		copy(m, n)
		for k := scrambleKeep; k < len(m); k++ {
			m[k] ^= byte(k*131+7) | 0x10
		}
		out[i] = m
	}
	return out
}

// handler answers RTSP requests for the one stream.
type handler struct {
	s *Server

	// The server accepts connections before the stream exists (a
	// reconnecting client may be waiting): requests get 503 until then.
	mu     sync.RWMutex
	stream *gortsplib.ServerStream
}

func (h *handler) setStream(st *gortsplib.ServerStream) {
	h.mu.Lock()
	h.stream = st
	h.mu.Unlock()
}

func (h *handler) getStream() *gortsplib.ServerStream {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.stream
}

func (h *handler) authorized(conn *gortsplib.ServerConn, req *base.Request) bool {
	return h.s.cfg.User == "" || conn.VerifyCredentials(req, h.s.cfg.User, h.s.cfg.Password)
}

func (h *handler) check(conn *gortsplib.ServerConn, req *base.Request, path string) (*base.Response, error) {
	if !h.authorized(conn, req) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	if path != h.s.cfg.Path {
		return &base.Response{StatusCode: base.StatusNotFound}, fmt.Errorf("camsim: no stream at %q", path)
	}
	if h.getStream() == nil {
		return &base.Response{StatusCode: base.StatusServiceUnavailable}, errors.New("camsim: stream not ready")
	}
	return nil, nil
}

// OnDescribe implements gortsplib.ServerHandlerOnDescribe.
func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, h.getStream(), nil
}

// OnSetup implements gortsplib.ServerHandlerOnSetup.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.check(ctx.Conn, ctx.Request, ctx.Path); res != nil {
		return res, nil, err
	}
	return &base.Response{StatusCode: base.StatusOK}, h.getStream(), nil
}

// OnPlay implements gortsplib.ServerHandlerOnPlay.
func (h *handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	h.s.readers.Add(1)
	h.s.log.Debug("client playing")
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose implements gortsplib.ServerHandlerOnSessionClose.
func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePlay {
		h.s.readers.Add(-1)
	}
}
