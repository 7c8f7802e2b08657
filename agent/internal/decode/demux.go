package decode

/*
#cgo pkg-config: libavformat libavcodec libavutil
#include <errno.h>
#include <stdlib.h>
#include <libavformat/avformat.h>
#include <libavcodec/bsf.h>
#include <libavutil/dict.h>

typedef struct {
	AVFormatContext *fmt;
	AVBSFContext *bsf;
	AVPacket *pkt;
	int stream;
	int eof;
} vdx;

static int vdx_nostream(void) { return AVERROR_STREAM_NOT_FOUND; }
static int vdx_eof(void) { return AVERROR_EOF; }
static int vdx_invalid(void) { return AVERROR_INVALIDDATA; }
static int64_t vdx_nopts(void) { return AV_NOPTS_VALUE; }

// vdx_open opens a local file (only the "file" protocol is allowed) and
// selects its best video stream; other streams are discarded.
static int vdx_open(vdx *x, const char *url) {
	AVDictionary *opts = NULL;
	int r, i;
	av_dict_set(&opts, "protocol_whitelist", "file", 0);
	r = avformat_open_input(&x->fmt, url, NULL, &opts);
	av_dict_free(&opts);
	if (r < 0) return r;
	r = avformat_find_stream_info(x->fmt, NULL);
	if (r < 0) return r;
	r = av_find_best_stream(x->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
	if (r < 0) return r;
	x->stream = r;
	for (i = 0; i < (int)x->fmt->nb_streams; i++) {
		if (i != x->stream) x->fmt->streams[i]->discard = AVDISCARD_ALL;
	}
	x->pkt = av_packet_alloc();
	if (x->pkt == NULL) return AVERROR(ENOMEM);
	return 0;
}

// vdx_open_bsf converts H.264/H.265 from MP4's length-prefixed form to Annex-B
// with parameter sets before every keyframe (a no-op on Annex-B input).
static int vdx_open_bsf(vdx *x, const char *name) {
	AVStream *st = x->fmt->streams[x->stream];
	const AVBitStreamFilter *f = av_bsf_get_by_name(name);
	int r;
	if (f == NULL) return AVERROR_BSF_NOT_FOUND;
	r = av_bsf_alloc(f, &x->bsf);
	if (r < 0) return r;
	r = avcodec_parameters_copy(x->bsf->par_in, st->codecpar);
	if (r < 0) return r;
	x->bsf->time_base_in = st->time_base;
	return av_bsf_init(x->bsf);
}

static void vdx_close(vdx *x) {
	if (x->bsf) av_bsf_free(&x->bsf);
	if (x->pkt) av_packet_free(&x->pkt);
	if (x->fmt) avformat_close_input(&x->fmt);
}

// vdx_read leaves the next video packet in x->pkt (the caller unrefs it).
static int vdx_read(vdx *x) {
	int r;
	for (;;) {
		if (x->bsf) {
			r = av_bsf_receive_packet(x->bsf, x->pkt);
			if (r == 0) return 0;
			if (r != AVERROR(EAGAIN)) return r;
		}
		if (x->eof) return AVERROR_EOF;
		r = av_read_frame(x->fmt, x->pkt);
		if (r == AVERROR_EOF) {
			x->eof = 1;
			if (x->bsf) {
				av_bsf_send_packet(x->bsf, NULL);
				continue;
			}
			return r;
		}
		if (r < 0) return r;
		if (x->pkt->stream_index != x->stream) {
			av_packet_unref(x->pkt);
			continue;
		}
		if (x->bsf == NULL) return 0;
		r = av_bsf_send_packet(x->bsf, x->pkt);
		if (r < 0) {
			av_packet_unref(x->pkt);
			return r;
		}
	}
}

static int vdx_rewind(vdx *x) {
	AVStream *st = x->fmt->streams[x->stream];
	int64_t ts = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
	int r = av_seek_frame(x->fmt, x->stream, ts, AVSEEK_FLAG_BACKWARD);
	if (r < 0) r = avformat_seek_file(x->fmt, x->stream, INT64_MIN, ts, ts, 0);
	if (r < 0) return r;
	if (x->bsf) av_bsf_flush(x->bsf);
	x->eof = 0;
	return 0;
}

static AVStream *vdx_stream(vdx *x) { return x->fmt->streams[x->stream]; }
static int64_t vdx_to_ns(int64_t v, AVRational tb) { return av_rescale_q(v, tb, (AVRational){1, 1000000000}); }
static int64_t vdx_fmt_duration(vdx *x) { return x->fmt->duration; }
static int vdx_pkt_key(vdx *x) { return (x->pkt->flags & AV_PKT_FLAG_KEY) != 0; }
*/
import "C"

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"
	"unsafe"
)

// ErrTruncated matches the error Demuxer.Read returns when a file ends
// before the packets its index lists.
var ErrTruncated = errors.New("file truncated")

// StreamInfo describes the video stream a Demuxer reads.
type StreamInfo struct {
	// Codec is the libavcodec name of the codec (H264, H265, "mpeg4", ...).
	Codec Codec
	// Width and Height are the coded picture size.
	Width, Height int
	// FrameRate is the container's average frame rate (0 if unknown).
	FrameRate float64
	// Duration is the stream duration (0 if unknown).
	Duration time.Duration
	// Frames is the container's frame count (0 if unknown).
	Frames int64
	// Extradata is the codec configuration to give Config.Extradata. It is
	// empty for H.264/H.265, whose packets carry their parameter sets.
	Extradata []byte
}

// Packet is one compressed video packet read from a file.
type Packet struct {
	// NALUs are the packet's NAL units in Annex-B order without start codes
	// (H.264/H.265, with parameter sets before keyframes), or one element
	// holding the raw packet for other codecs.
	NALUs [][]byte
	// PTS and DTS are relative to the stream's first presentation time. DTS
	// is PTS when the container has none.
	PTS, DTS time.Duration
	// Duration is the packet's display duration (0 if unknown).
	Duration time.Duration
	// Keyframe is the container's random-access flag.
	Keyframe bool
}

// Demuxer reads the best video stream of a local media file with
// libavformat. Other streams (audio, data) are skipped. It is not safe for
// concurrent use.
type Demuxer struct {
	x     *C.vdx
	path  string
	info  StreamInfo
	start C.int64_t
	tb    C.AVRational
	read  int64 // packets returned since the last open or rewind
}

// OpenFile opens a media file and selects its video stream.
func OpenFile(path string) (*Demuxer, error) {
	quietLibav()
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("decode: open %s: %w", path, err)
	}
	x := (*C.vdx)(C.calloc(1, C.size_t(unsafe.Sizeof(C.vdx{}))))
	if x == nil {
		return nil, errors.New("decode: out of memory")
	}
	d := &Demuxer{x: x, path: path}
	// The "file:" prefix stops a colon in the name being read as a protocol.
	url := C.CString("file:" + abs)
	defer C.free(unsafe.Pointer(url))
	if r := C.vdx_open(x, url); r < 0 {
		d.Close()
		switch r {
		case C.vdx_nostream():
			return nil, fmt.Errorf("decode: open %s: no video stream", path)
		case C.vdx_invalid():
			return nil, fmt.Errorf("decode: open %s: not a readable media file (corrupt, truncated or unsupported): %s", path, avErr(r))
		}
		return nil, fmt.Errorf("decode: open %s: %s", path, avErr(r))
	}
	st := C.vdx_stream(x)
	par := st.codecpar
	d.tb = st.time_base
	if st.start_time != C.int64_t(C.vdx_nopts()) {
		d.start = st.start_time
	}
	d.info = StreamInfo{
		Codec:  Codec(C.GoString(C.avcodec_get_name(par.codec_id))),
		Width:  int(par.width),
		Height: int(par.height),
		Frames: int64(st.nb_frames),
	}
	if fr := st.avg_frame_rate; fr.den > 0 && fr.num > 0 {
		d.info.FrameRate = float64(fr.num) / float64(fr.den)
	} else if fr := st.r_frame_rate; fr.den > 0 && fr.num > 0 {
		d.info.FrameRate = float64(fr.num) / float64(fr.den)
	}
	if st.duration > 0 && st.duration != C.int64_t(C.vdx_nopts()) {
		d.info.Duration = time.Duration(C.vdx_to_ns(st.duration, st.time_base))
	} else if fd := C.vdx_fmt_duration(x); fd > 0 {
		d.info.Duration = time.Duration(fd) * time.Microsecond // AV_TIME_BASE
	}
	if d.info.Width <= 0 || d.info.Height <= 0 {
		d.Close()
		return nil, fmt.Errorf("decode: open %s: video stream has no picture size (corrupt or unsupported)", path)
	}
	switch d.info.Codec {
	case H264, H265:
		name := C.CString(string(d.info.Codec) + "_mp4toannexb")
		r := C.vdx_open_bsf(x, name)
		C.free(unsafe.Pointer(name))
		if r < 0 {
			d.Close()
			return nil, fmt.Errorf("decode: open %s: Annex-B filter: %s", path, avErr(r))
		}
	default:
		if par.extradata_size > 0 {
			d.info.Extradata = C.GoBytes(unsafe.Pointer(par.extradata), par.extradata_size)
		}
	}
	return d, nil
}

// Info describes the selected video stream.
func (d *Demuxer) Info() StreamInfo { return d.info }

// Read returns the next video packet in decoding order, io.EOF at the end
// of the file, or an error wrapping ErrTruncated when the file is cut short.
func (d *Demuxer) Read() (Packet, error) {
	if d.x == nil {
		return Packet{}, errors.New("decode: demuxer closed")
	}
	r := C.vdx_read(d.x)
	if r == C.vdx_eof() {
		// libavformat reports a cut-off MP4 (index intact, data missing) as
		// a plain end of file: compare with the index's sample count.
		if d.info.Frames > 0 && d.read < d.info.Frames {
			return Packet{}, fmt.Errorf("decode: read %s: %w: %d of %d video packets", d.path, ErrTruncated, d.read, d.info.Frames)
		}
		return Packet{}, io.EOF
	}
	if r < 0 {
		return Packet{}, fmt.Errorf("decode: read %s: %s", d.path, avErr(r))
	}
	pkt := d.x.pkt
	defer C.av_packet_unref(pkt)
	nopts := C.int64_t(C.vdx_nopts())
	pts, dts := pkt.pts, pkt.dts
	if pts == nopts {
		pts = dts
	}
	if dts == nopts {
		dts = pts
	}
	if pts == nopts {
		return Packet{}, fmt.Errorf("decode: read %s: packet without timestamps", d.path)
	}
	d.read++
	p := Packet{
		PTS:      time.Duration(C.vdx_to_ns(pts-d.start, d.tb)),
		DTS:      time.Duration(C.vdx_to_ns(dts-d.start, d.tb)),
		Duration: time.Duration(C.vdx_to_ns(pkt.duration, d.tb)),
		Keyframe: C.vdx_pkt_key(d.x) != 0,
	}
	if pkt.size <= 0 {
		return p, nil
	}
	data := C.GoBytes(unsafe.Pointer(pkt.data), pkt.size)
	if d.info.Codec.HasNALUs() {
		p.NALUs = SplitAnnexB(data)
	} else {
		p.NALUs = [][]byte{data}
	}
	return p, nil
}

// Rewind seeks back to the start of the stream (for looping).
func (d *Demuxer) Rewind() error {
	if d.x == nil {
		return errors.New("decode: demuxer closed")
	}
	if r := C.vdx_rewind(d.x); r < 0 {
		return fmt.Errorf("decode: rewind %s: %s", d.path, avErr(r))
	}
	d.read = 0
	return nil
}

// Close releases the file. It is safe to call more than once.
func (d *Demuxer) Close() {
	if d.x != nil {
		C.vdx_close(d.x)
		C.free(unsafe.Pointer(d.x))
		d.x = nil
	}
}
