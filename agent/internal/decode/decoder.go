package decode

/*
#cgo pkg-config: libavcodec libavutil libswscale
#include <errno.h>
#include <stdlib.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libswscale/swscale.h>

static int vd_eagain(void) { return AVERROR(EAGAIN); }
static int vd_eof(void) { return AVERROR_EOF; }
static int64_t vd_nopts(void) { return AV_NOPTS_VALUE; }

// vd_send sends one packet whose bytes live in Go memory: the pointer is kept
// in pkt only during the call, and libavcodec copies unreferenced packet data.
static int vd_send(AVCodecContext *c, AVPacket *pkt, uint8_t *data, int size,
                   int64_t pts, int64_t dts, int key) {
	int ret;
	pkt->data = data;
	pkt->size = size;
	pkt->pts = pts;
	pkt->dts = dts;
	pkt->flags = key ? AV_PKT_FLAG_KEY : 0;
	ret = avcodec_send_packet(c, pkt);
	pkt->data = NULL;
	pkt->size = 0;
	return ret;
}

static int vd_set_extradata(AVCodecContext *c, const uint8_t *data, int size) {
	c->extradata = av_mallocz(size + AV_INPUT_BUFFER_PADDING_SIZE);
	if (c->extradata == NULL) return AVERROR(ENOMEM);
	memcpy(c->extradata, data, size);
	c->extradata_size = size;
	return 0;
}

static void vd_set_threads(AVCodecContext *c, int n) {
	c->thread_count = n;
	c->thread_type = n > 1 ? (FF_THREAD_FRAME | FF_THREAD_SLICE) : 0;
}

static int vd_frame_damaged(const AVFrame *f) {
	return (f->flags & AV_FRAME_FLAG_CORRUPT) != 0 || f->decode_error_flags != 0;
}

static int64_t vd_frame_pts(const AVFrame *f) {
	return f->pts != AV_NOPTS_VALUE ? f->pts : f->best_effort_timestamp;
}

// vd_sws_open builds a YUV->BGR24 converter, honouring the source's colour
// matrix and range (cameras often send full-range BT.709).
static struct SwsContext *vd_sws_open(int sw, int sh, int sfmt, int dw, int dh,
                                      int full_range, int colorspace, int flags) {
	struct SwsContext *s = sws_getContext(sw, sh, sfmt, dw, dh, AV_PIX_FMT_BGR24,
	                                      flags, NULL, NULL, NULL);
	int *inv, *tbl, src_range, dst_range, bri, con, sat;
	if (s == NULL) return NULL;
	if (sws_getColorspaceDetails(s, &inv, &src_range, &tbl, &dst_range, &bri, &con, &sat) >= 0) {
		switch (colorspace) {
		case AVCOL_SPC_BT709: case AVCOL_SPC_FCC: case AVCOL_SPC_BT470BG:
		case AVCOL_SPC_SMPTE170M: case AVCOL_SPC_SMPTE240M:
		case AVCOL_SPC_BT2020_NCL: case AVCOL_SPC_BT2020_CL:
			break;
		default:
			colorspace = SWS_CS_DEFAULT;
		}
		const int *coef = sws_getCoefficients(colorspace);
		sws_setColorspaceDetails(s, coef, full_range || src_range, tbl, 1, bri, con, sat);
	}
	return s;
}

// vd_conv converts decoded pictures to BGR24. Downscaling is done first in
// the source's YUV format, then the small picture goes through swscale's
// fast unscaled YUV->BGR path: this is faster than one scaling pass that
// writes BGR24 (which takes swscale's generic path).
typedef struct {
	struct SwsContext *resize;
	AVFrame *tmp;
	struct SwsContext *color;
} vd_conv;

static void vd_conv_free(vd_conv *c) {
	if (c->resize) sws_freeContext(c->resize);
	if (c->color) sws_freeContext(c->color);
	if (c->tmp) av_frame_free(&c->tmp);
	c->resize = NULL;
	c->color = NULL;
}

static int vd_conv_init(vd_conv *c, int sw, int sh, int fmt, int dw, int dh, int full, int cs) {
	vd_conv_free(c);
	if (dw != sw || dh != sh) {
		c->tmp = av_frame_alloc();
		if (c->tmp == NULL) return AVERROR(ENOMEM);
		c->tmp->format = fmt;
		c->tmp->width = dw;
		c->tmp->height = dh;
		if (av_frame_get_buffer(c->tmp, 0) < 0) return AVERROR(ENOMEM);
		c->resize = sws_getContext(sw, sh, fmt, dw, dh, fmt, SWS_BILINEAR, NULL, NULL, NULL);
		if (c->resize == NULL) return AVERROR(EINVAL);
	}
	c->color = vd_sws_open(dw, dh, fmt, dw, dh, full, cs, SWS_POINT);
	return c->color ? 0 : AVERROR(EINVAL);
}

static int vd_conv_run(vd_conv *c, const AVFrame *f, uint8_t *dst, int stride) {
	uint8_t *d[4] = {dst, NULL, NULL, NULL};
	int ls[4] = {stride, 0, 0, 0};
	const AVFrame *src = f;
	if (c->resize) {
		int r = sws_scale(c->resize, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
		                  c->tmp->data, c->tmp->linesize);
		if (r <= 0) return r;
		src = c->tmp;
	}
	return sws_scale(c->color, (const uint8_t *const *)src->data, src->linesize, 0, src->height, d, ls);
}

static int vd_full_range(const AVFrame *f) {
	return f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
	       f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Defaults of the undecodable-stream detector.
const (
	DefaultUndecodablePackets = 50
	DefaultUndecodableSpan    = 10 * time.Second
)

// minCleanRatio is the share of access units that must give a clean picture
// for a stream to count as decodable. Packet loss on a healthy camera damages
// a few percent of pictures; encrypted slices damage nearly all of them.
const minCleanRatio = 0.25

// ErrUndecodable matches (errors.Is) every *UndecodableError.
var ErrUndecodable = errors.New("decode: stream undecodable (image encryption suspected)")

// UndecodableError reports a stream that delivers packets but no clean
// picture: typically a camera with "image encryption" switched on.
type UndecodableError struct {
	Codec Codec
	// Packets, Span and Clean describe the detector's window: the access
	// units fed, the stream time they cover, and the clean pictures they gave.
	Packets int64
	Span    time.Duration
	Clean   int64
	// Errors is the number of decoder errors over the whole stream.
	Errors int64
}

// Error implements error.
func (e *UndecodableError) Error() string {
	return fmt.Sprintf("decode: %s stream undecodable (image encryption suspected): %d packets over %s gave %d clean pictures, %d decode errors",
		e.Codec, e.Packets, e.Span.Round(time.Millisecond), e.Clean, e.Errors)
}

// Is makes errors.Is(err, ErrUndecodable) true.
func (e *UndecodableError) Is(target error) bool { return target == ErrUndecodable }

// Config configures a Decoder.
type Config struct {
	// Codec is the stream's codec (H264, H265, or a libavcodec decoder name).
	Codec Codec
	// Extradata is the codec configuration from a container (e.g. the MPEG-4
	// Part 2 VOL header). H.264/H.265 need none: parameter sets travel in-band.
	Extradata []byte
	// MaxWidth, when > 0, downscales wider pictures to this width (aspect
	// ratio kept, height rounded to even) in the colour-conversion pass.
	// Narrower pictures are never upscaled.
	MaxWidth int
	// Threads is libavcodec's thread count; 0 means 1 (lowest latency, and
	// the agent runs one decoder per camera). With more than one thread the
	// decoder holds frames back: call Flush at end of stream.
	Threads int
	// Pool provides the frame buffers; nil means a private pool.
	Pool *FramePool
	// KeepDamaged also emits pictures that libavcodec flags as damaged
	// (concealed errors, or decoded before the first keyframe). By default
	// they are dropped and counted.
	KeepDamaged bool
	// UndecodablePackets and UndecodableSpan size the undecodable-stream
	// detector's window: when the last access units, at least this many and
	// covering at least this much stream time, gave clean pictures for less
	// than a quarter of them, Decode returns an *UndecodableError. (Not
	// "none": scrambled data sometimes decodes without a detected error.)
	// Zero means the defaults.
	UndecodablePackets int
	UndecodableSpan    time.Duration
	// Logger receives rare diagnostics (first decode error, size changes).
	Logger *slog.Logger
}

// Stats are a Decoder's counters.
type Stats struct {
	// Packets counts access units fed; Frames counts pictures emitted.
	Packets, Frames int64
	// Errors counts packets rejected and frames libavcodec failed to return.
	Errors int64
	// Damaged counts pictures dropped because libavcodec flagged them.
	Damaged int64
	// LastError is the most recent libavcodec error message.
	LastError string
	// Width and Height are the size of the coded pictures (0 before the first).
	Width, Height int
}

// AccessUnit is one compressed picture.
type AccessUnit struct {
	// NALUs holds the NAL units without start codes (H.264, H.265). For
	// codecs without NAL units it holds one element: the raw packet.
	NALUs [][]byte
	// PTS is the presentation time; it is carried to the decoded frame.
	PTS time.Duration
	// Captured and ClockSynced are copied to the frame decoded from this unit.
	Captured    time.Time
	ClockSynced bool
}

type unitMeta struct {
	pts      time.Duration
	captured time.Time
	synced   bool
}

// metaRing remembers the capture times of the units in flight inside the
// decoder (reordering and frame threading delay them by a few units).
const metaRing = 64

// Decoder decodes one video stream. Its methods, except Stats, must be called
// from one goroutine at a time.
type Decoder struct {
	cfg    Config
	log    *slog.Logger
	ctx    *C.AVCodecContext
	pkt    *C.AVPacket
	frm    *C.AVFrame
	conv   *C.vd_conv
	convOK bool
	convK  [7]C.int
	buf    []byte
	meta   [metaRing]unitMeta
	metaN  int
	last   unitMeta
	seq    int64
	eagain C.int
	eof    C.int

	win       window
	loggedErr bool

	mu    sync.Mutex
	stats Stats
}

// New opens a decoder.
func New(cfg Config) (*Decoder, error) {
	if cfg.Codec == "" {
		return nil, errors.New("decode: no codec given")
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.Pool == nil {
		cfg.Pool = &FramePool{}
	}
	if cfg.UndecodablePackets <= 0 {
		cfg.UndecodablePackets = DefaultUndecodablePackets
	}
	if cfg.UndecodableSpan <= 0 {
		cfg.UndecodableSpan = DefaultUndecodableSpan
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	quietLibav()

	name := C.CString(string(cfg.Codec))
	defer C.free(unsafe.Pointer(name))
	codec := C.avcodec_find_decoder_by_name(name)
	if codec == nil {
		return nil, fmt.Errorf("decode: no libavcodec decoder for codec %q", cfg.Codec)
	}
	d := &Decoder{cfg: cfg, log: log.With("component", "decode", "codec", cfg.Codec.String()),
		eagain: C.vd_eagain(), eof: C.vd_eof()}
	d.ctx = C.avcodec_alloc_context3(codec)
	if d.ctx == nil {
		return nil, errors.New("decode: avcodec_alloc_context3 failed")
	}
	if len(cfg.Extradata) > 0 {
		if r := C.vd_set_extradata(d.ctx, (*C.uint8_t)(unsafe.Pointer(&cfg.Extradata[0])), C.int(len(cfg.Extradata))); r < 0 {
			d.Close()
			return nil, fmt.Errorf("decode: set extradata: %s", avErr(r))
		}
	}
	C.vd_set_threads(d.ctx, C.int(cfg.Threads))
	if r := C.avcodec_open2(d.ctx, codec, nil); r < 0 {
		d.Close()
		return nil, fmt.Errorf("decode: open %s decoder: %s", cfg.Codec, avErr(r))
	}
	d.pkt = C.av_packet_alloc()
	d.frm = C.av_frame_alloc()
	d.conv = (*C.vd_conv)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vd_conv{}))))
	if d.pkt == nil || d.frm == nil || d.conv == nil {
		d.Close()
		return nil, errors.New("decode: out of memory")
	}
	return d, nil
}

// Close frees the decoder. It is safe to call more than once.
func (d *Decoder) Close() {
	if d.conv != nil {
		C.vd_conv_free(d.conv)
		C.free(unsafe.Pointer(d.conv))
		d.conv = nil
	}
	if d.frm != nil {
		C.av_frame_free(&d.frm)
	}
	if d.pkt != nil {
		C.av_packet_free(&d.pkt)
	}
	if d.ctx != nil {
		C.avcodec_free_context(&d.ctx)
	}
}

// Stats returns a snapshot of the counters. It is safe to call concurrently.
func (d *Decoder) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// Decode feeds one access unit and calls emit for every picture it completes
// (zero, one, or several with reordering). The frame passed to emit belongs to
// the callee; hand it back to the pool with FramePool.Put when done.
//
// Bad data is counted, not returned. The error is non-nil only when the
// decoder is unusable, or, as *UndecodableError, while the stream has been
// yielding no clean picture for the configured packets and span.
func (d *Decoder) Decode(au AccessUnit, emit func(*frame.Frame)) error {
	if d.ctx == nil {
		return errors.New("decode: decoder closed")
	}
	d.buf = d.buf[:0]
	if d.cfg.Codec.HasNALUs() {
		d.buf = JoinAnnexB(d.buf, au.NALUs)
	} else {
		for _, n := range au.NALUs {
			d.buf = append(d.buf, n...)
		}
	}
	d.mu.Lock()
	d.stats.Packets++
	d.mu.Unlock()
	d.win.push(au.PTS)
	if len(d.buf) == 0 {
		return d.health()
	}
	d.remember(au)
	// libavcodec's bitstream readers may read a few bytes past the end.
	d.buf = append(d.buf, make([]byte, C.AV_INPUT_BUFFER_PADDING_SIZE)...)
	size := len(d.buf) - C.AV_INPUT_BUFFER_PADDING_SIZE
	key := 0
	if IsKeyframe(d.cfg.Codec, au.NALUs) {
		key = 1
	}
	for attempt := 0; ; attempt++ {
		r := C.vd_send(d.ctx, d.pkt, (*C.uint8_t)(unsafe.Pointer(&d.buf[0])), C.int(size), C.int64_t(au.PTS), C.vd_nopts(), C.int(key))
		if r == d.eagain && attempt == 0 {
			// The decoder wants its output read first.
			d.receive(emit)
			continue
		}
		if r < 0 {
			d.countError(r, "send packet")
		}
		break
	}
	d.receive(emit)
	return d.health()
}

// Flush drains the pictures still inside the decoder (end of stream, or
// before a discontinuity such as a file loop) and resets it so that decoding
// can go on with a new keyframe.
func (d *Decoder) Flush(emit func(*frame.Frame)) error {
	if d.ctx == nil {
		return errors.New("decode: decoder closed")
	}
	if r := C.avcodec_send_packet(d.ctx, nil); r < 0 && r != d.eof {
		d.countError(r, "drain")
	}
	d.receive(emit)
	C.avcodec_flush_buffers(d.ctx)
	return d.health()
}

func (d *Decoder) receive(emit func(*frame.Frame)) {
	for {
		r := C.avcodec_receive_frame(d.ctx, d.frm)
		if r == d.eagain || r == d.eof {
			return
		}
		if r < 0 {
			d.countError(r, "receive frame")
			return
		}
		d.output(emit)
		C.av_frame_unref(d.frm)
	}
}

func (d *Decoder) output(emit func(*frame.Frame)) {
	w, h := int(d.frm.width), int(d.frm.height)
	d.mu.Lock()
	if w != d.stats.Width || h != d.stats.Height {
		d.log.Info("picture size", "width", w, "height", h)
	}
	d.stats.Width, d.stats.Height = w, h
	d.mu.Unlock()
	if w <= 0 || h <= 0 {
		return
	}
	damaged := C.vd_frame_damaged(d.frm) != 0
	if damaged && !d.cfg.KeepDamaged {
		d.mu.Lock()
		d.stats.Damaged++
		d.mu.Unlock()
		return
	}
	ow, oh := outputSize(w, h, d.cfg.MaxWidth)
	if err := d.ensureScaler(w, h, ow, oh); err != nil {
		d.countError(0, err.Error())
		return
	}
	f := d.cfg.Pool.Get(ow, oh)
	if r := C.vd_conv_run(d.conv, d.frm, (*C.uint8_t)(unsafe.Pointer(&f.BGR[0])), C.int(f.Stride)); r <= 0 {
		d.cfg.Pool.Put(f)
		d.countError(r, "sws_scale")
		return
	}
	pts := time.Duration(C.vd_frame_pts(d.frm))
	if C.int64_t(pts) == C.vd_nopts() {
		pts = d.last.pts
	}
	m := d.lookup(pts)
	f.Seq = d.seq
	f.PTS = pts
	f.Captured = m.captured
	f.ClockSynced = m.synced
	d.seq++
	if !damaged {
		d.win.clean()
	}
	d.mu.Lock()
	d.stats.Frames++
	d.mu.Unlock()
	emit(f)
}

// outputSize applies MaxWidth, keeping the aspect ratio with an even height.
func outputSize(w, h, maxWidth int) (int, int) {
	if maxWidth <= 0 || w <= maxWidth {
		return w, h
	}
	oh := (h*maxWidth + w/2) / w
	oh += oh & 1
	return maxWidth, max(oh, 2)
}

func (d *Decoder) ensureScaler(w, h, ow, oh int) error {
	key := [7]C.int{C.int(w), C.int(h), C.int(d.frm.format), C.int(ow), C.int(oh),
		C.vd_full_range(d.frm), C.int(d.frm.colorspace)}
	if d.convOK && key == d.convK {
		return nil
	}
	d.convOK = false
	if r := C.vd_conv_init(d.conv, key[0], key[1], key[2], key[3], key[4], key[5], key[6]); r < 0 {
		return fmt.Errorf("swscale %dx%d pixel format %d -> BGR %dx%d: %s", w, h, key[2], ow, oh, avErr(r))
	}
	d.convK, d.convOK = key, true
	return nil
}

func (d *Decoder) remember(au AccessUnit) {
	m := unitMeta{pts: au.PTS, captured: au.Captured, synced: au.ClockSynced}
	d.meta[d.metaN%metaRing] = m
	d.metaN++
	d.last = m
}

// lookup finds the capture time of the unit with this PTS; when it has been
// overwritten it extrapolates from the latest unit.
func (d *Decoder) lookup(pts time.Duration) unitMeta {
	for i := range min(d.metaN, metaRing) {
		if m := d.meta[i]; m.pts == pts {
			return m
		}
	}
	m := d.last
	if !m.captured.IsZero() {
		m.captured = m.captured.Add(pts - m.pts)
	}
	m.pts = pts
	return m
}

func (d *Decoder) health() error {
	n, span, clean := d.win.stats(d.cfg.UndecodablePackets, d.cfg.UndecodableSpan)
	if n < int64(d.cfg.UndecodablePackets) || span < d.cfg.UndecodableSpan ||
		float64(clean) >= minCleanRatio*float64(n) {
		return nil
	}
	d.mu.Lock()
	errs := d.stats.Errors + d.stats.Damaged
	d.mu.Unlock()
	return &UndecodableError{Codec: d.cfg.Codec, Packets: n, Span: span, Clean: clean, Errors: errs}
}

func (d *Decoder) countError(r C.int, what string) {
	msg := what
	if r < 0 {
		msg = what + ": " + avErr(r)
	}
	d.mu.Lock()
	d.stats.Errors++
	d.stats.LastError = msg
	d.mu.Unlock()
	if !d.loggedErr {
		d.loggedErr = true
		d.log.Warn("decode error (further ones are only counted)", "error", msg)
	}
}

// avErr turns a libav error code into its message.
func avErr(r C.int) string {
	var buf [256]C.char
	if C.av_strerror(r, &buf[0], C.size_t(len(buf))) < 0 {
		return fmt.Sprintf("libav error %d", int(r))
	}
	return C.GoString(&buf[0])
}

// quietLibav lowers libav's process-wide log level to fatal messages: corrupt
// streams would otherwise print one line per damaged macroblock to stderr.
func quietLibav() { C.av_log_set_level(C.AV_LOG_FATAL) }
