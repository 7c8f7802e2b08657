package decode

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

// TestDecodeColors checks byte order (BGR), colour matrix and range handling:
// a flat colour encoded by ffmpeg must come back as the same BGR triple.
func TestDecodeColors(t *testing.T) {
	const r, g, b = 0x30, 0x60, 0xc0
	src := fmt.Sprintf("color=c=0x%02x%02x%02x:s=96x64:r=10", r, g, b)
	tests := []struct {
		name  string
		codec Codec
		args  []string
	}{
		{"h264 bt601 limited", H264, []string{"-c:v", "libx264", "-pix_fmt", "yuv420p"}},
		{"h264 bt709 limited", H264, []string{"-vf", "scale=out_color_matrix=bt709,format=yuv420p", "-colorspace", "bt709", "-c:v", "libx264"}},
		{"h264 full range", H264, []string{"-vf", "scale=out_range=full,format=yuvj420p", "-c:v", "libx264"}},
		{"h265 bt601 limited", H265, []string{"-c:v", "libx265", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"-f", "lavfi", "-i", src, "-t", "0.5"}, tc.args...)
			info, pkts := readPackets(t, ffmpegClip(t, "c.mp4", args...))
			if info.Codec != tc.codec {
				t.Fatalf("codec %q, want %q", info.Codec, tc.codec)
			}
			frames, _, _ := decodeAll(t, Config{Codec: info.Codec}, pkts, time.Time{})
			if len(frames) != len(pkts) {
				t.Fatalf("%d frames from %d packets", len(frames), len(pkts))
			}
			f := frames[len(frames)-1]
			gb, gg, gr := f.At(f.Width/2, f.Height/2)
			if absDiff(gb, b) > 6 || absDiff(gg, g) > 6 || absDiff(gr, r) > 6 {
				t.Errorf("pixel BGR = %02x %02x %02x, want about %02x %02x %02x", gb, gg, gr, b, g, r)
			}
		})
	}
}

// TestDecodeFile decodes the real parking-lot clip (H.264 + AAC) with one and
// two threads: every packet must give a frame (the drain at the end matters
// with threads), in PTS order, carrying the capture time of its packet.
func TestDecodeFile(t *testing.T) {
	path := testenv.RequireData(t, "video-parkinglot-topdown-intel/car-detection.mp4")
	info, pkts := readPackets(t, path)
	if info.Codec != H264 || info.Width != 768 || info.Height != 432 {
		t.Fatalf("info = %+v", info)
	}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, threads := range []int{1, 2} {
		t.Run(fmt.Sprintf("threads=%d", threads), func(t *testing.T) {
			pool := &FramePool{}
			frames, st, err := decodeAll(t, Config{Codec: info.Codec, Threads: threads, Pool: pool}, pkts, base)
			if err != nil {
				t.Fatalf("last Decode error: %v", err)
			}
			if len(frames) != len(pkts) || st.Frames != int64(len(pkts)) || st.Errors != 0 {
				t.Fatalf("%d frames (stats %+v) from %d packets", len(frames), st, len(pkts))
			}
			for i, f := range frames {
				if f.Width != 768 || f.Height != 432 || f.Stride != 3*768 || len(f.BGR) != f.Stride*f.Height {
					t.Fatalf("frame %d geometry %dx%d stride %d len %d", i, f.Width, f.Height, f.Stride, len(f.BGR))
				}
				if f.Seq != int64(i) {
					t.Fatalf("frame %d has Seq %d", i, f.Seq)
				}
				if i > 0 && f.PTS <= frames[i-1].PTS {
					t.Fatalf("PTS not increasing at %d: %v after %v", i, f.PTS, frames[i-1].PTS)
				}
				if !f.Captured.Equal(base.Add(f.PTS)) {
					t.Fatalf("frame %d Captured %v, want %v", i, f.Captured, base.Add(f.PTS))
				}
			}
		})
	}
}

func TestOutputSize(t *testing.T) {
	tests := []struct {
		name         string
		w, h, max    int
		wantW, wantH int
	}{
		{"no limit", 2560, 1440, 0, 2560, 1440},
		{"narrower than limit", 640, 360, 1280, 640, 360},
		{"2K to 1280", 2560, 1440, 1280, 1280, 720},
		{"odd height rounded to even", 1920, 1080, 1000, 1000, 564},
		{"4:3", 2688, 1520, 1344, 1344, 760},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, h := outputSize(tc.w, tc.h, tc.max)
			if w != tc.wantW || h != tc.wantH {
				t.Errorf("outputSize = %dx%d, want %dx%d", w, h, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestDecodeMaxWidth(t *testing.T) {
	_, pkts := readPackets(t, ffmpegClip(t, "s.mp4", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10", "-t", "0.5", "-c:v", "libx264"))
	frames, _, _ := decodeAll(t, Config{Codec: H264, MaxWidth: 320}, pkts, time.Time{})
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	for _, f := range frames {
		if f.Width != 320 || f.Height != 180 || len(f.BGR) != 320*180*3 {
			t.Fatalf("frame %dx%d (%d bytes), want 320x180", f.Width, f.Height, len(f.BGR))
		}
	}
}

// TestUndecodable checks the encrypted-stream detector on scrambled slices,
// whether the slice headers are scrambled too (the decoder rejects the
// packets) or kept (the decoder conceals every macroblock).
func TestUndecodable(t *testing.T) {
	_, clean := readPackets(t, ffmpegClip(t, "u.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "4", "-c:v", "libx264", "-g", "10"))
	cfg := Config{Codec: H264, UndecodablePackets: 15, UndecodableSpan: 2 * time.Second}
	tests := []struct {
		name            string
		pkts            []Packet
		wantUndecodable bool
	}{
		{"clean", clean, false},
		{"scrambled from NAL header", scramble(H264, clean, 1), true},
		{"scrambled after slice header", scramble(H264, clean, 6), true},
		{"scrambled then clean again", append(scramble(H264, clean[:30], 1), clean[30:]...), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frames, st, err := decodeAll(t, cfg, tc.pkts, time.Time{})
			if got := errors.Is(err, ErrUndecodable); got != tc.wantUndecodable {
				t.Fatalf("undecodable = %v (err %v, stats %+v), want %v", got, err, st, tc.wantUndecodable)
			}
			if tc.wantUndecodable {
				var ue *UndecodableError
				if !errors.As(err, &ue) || ue.Packets < 15 || ue.Span < 2*time.Second {
					t.Fatalf("error %#v lacks the counts", err)
				}
				if 4*len(frames) >= len(tc.pkts) {
					t.Errorf("%d frames emitted from %d scrambled packets", len(frames), len(tc.pkts))
				}
				if st.Errors+st.Damaged == 0 {
					t.Errorf("no errors counted: %+v", st)
				}
			} else if len(frames) == 0 {
				t.Error("no frames")
			}
		})
	}
}

func TestWindow(t *testing.T) {
	type unit struct {
		ms    int
		clean bool
	}
	tests := []struct {
		name      string
		units     []unit
		wantN     int64
		wantSpan  time.Duration
		wantClean int64
	}{
		{"empty", nil, 0, 0, 0},
		{"shorter than minimum", []unit{{0, false}, {100, true}}, 2, 100 * time.Millisecond, 1},
		{"old entries dropped", []unit{{0, false}, {100, false}, {200, false}, {300, false}, {400, false}, {500, false}}, 3, 200 * time.Millisecond, 0},
		{"clean counted inside window only", []unit{{0, true}, {100, true}, {200, false}, {300, true}, {400, false}, {500, false}}, 3, 200 * time.Millisecond, 1},
		{"timestamps backwards keep everything", []unit{{500, false}, {400, false}, {300, false}, {200, false}}, 4, -300 * time.Millisecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w window
			for _, u := range tc.units {
				w.push(time.Duration(u.ms) * time.Millisecond)
				if u.clean {
					w.clean()
				}
			}
			n, span, clean := w.stats(3, 200*time.Millisecond)
			if n != tc.wantN || span != tc.wantSpan || clean != tc.wantClean {
				t.Errorf("stats = %d %v %d, want %d %v %d", n, span, clean, tc.wantN, tc.wantSpan, tc.wantClean)
			}
		})
	}
}

func TestDecodeMPEG4File(t *testing.T) {
	path := testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4")
	info, pkts := readPackets(t, path)
	if info.Codec != "mpeg4" || len(info.Extradata) == 0 {
		t.Fatalf("info = %+v", info)
	}
	frames, st, _ := decodeAll(t, Config{Codec: info.Codec, Extradata: info.Extradata}, pkts, time.Time{})
	if len(frames) != len(pkts) || frames[0].Width != 320 || frames[0].Height != 240 {
		t.Fatalf("%d frames from %d packets, stats %+v", len(frames), len(pkts), st)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no codec", Config{}},
		{"unknown codec", Config{Codec: "nonsense"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d, err := New(tc.cfg); err == nil {
				d.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestFramePool(t *testing.T) {
	p := &FramePool{Max: 1}
	a := p.Get(4, 2)
	if len(a.BGR) != 24 || a.Stride != 12 {
		t.Fatalf("Get(4,2) = len %d stride %d", len(a.BGR), a.Stride)
	}
	a.Seq = 9
	p.Put(a)
	p.Put(&frame.Frame{BGR: make([]byte, 3)}) // pool full: dropped
	b := p.Get(2, 2)
	if &b.BGR[0] != &a.BGR[0] || b.Seq != 0 || len(b.BGR) != 12 {
		t.Errorf("buffer not reused or not reset: seq %d len %d", b.Seq, len(b.BGR))
	}
	c := p.Get(100, 100)
	if len(c.BGR) != 30000 {
		t.Errorf("len %d", len(c.BGR))
	}
}
