package clip

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/internal/testenv"
)

const frame = 40 * time.Millisecond // 25 fps

// synthetic returns n access units at 25 fps with a keyframe every gop.
func synthetic(n, gop int) []ingest.Packet {
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	pkts := make([]ingest.Packet, n)
	for i := range pkts {
		pts := time.Duration(i) * frame
		pkts[i] = ingest.Packet{Codec: decode.H264, NALUs: [][]byte{{0x65, byte(i)}}, PTS: pts,
			Keyframe: i%gop == 0, Captured: base.Add(pts)}
	}
	return pkts
}

func TestRingCut(t *testing.T) {
	cases := []struct {
		name              string
		frames, gop       int
		keep              time.Duration
		at                time.Duration
		wantStart, wanEnd time.Duration
		short             bool
		err               bool
	}{
		{name: "full window", frames: 750, gop: 25, keep: 20 * time.Second, at: 25 * time.Second,
			wantStart: 15 * time.Second, wanEnd: 29960 * time.Millisecond},
		{name: "starts at the keyframe before", frames: 750, gop: 50, keep: 20 * time.Second, at: 25500 * time.Millisecond,
			wantStart: 14 * time.Second, wanEnd: 29960 * time.Millisecond},
		{name: "after not yet reached", frames: 700, gop: 25, keep: 20 * time.Second, at: 25 * time.Second,
			wantStart: 15 * time.Second, wanEnd: 27960 * time.Millisecond},
		{name: "stream younger than 10 s", frames: 300, gop: 25, keep: 20 * time.Second, at: 4 * time.Second,
			wantStart: 0, wanEnd: 9 * time.Second, short: true},
		{name: "evicted", frames: 1500, gop: 25, keep: 20 * time.Second, at: 5 * time.Second, err: true},
		{name: "in the future", frames: 100, gop: 25, keep: 20 * time.Second, at: 10 * time.Second, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.keep)
			for _, p := range synthetic(tc.frames, tc.gop) {
				r.Push(p)
			}
			oldest, newest, _ := r.Span()
			want := min(tc.keep, time.Duration(tc.frames-1)*frame)
			if newest-oldest < want || newest-oldest > want+time.Duration(tc.gop)*frame || !r.pkts[0].Keyframe {
				t.Fatalf("ring holds %v..%v from keyframe=%v, want %v to %v more, from a keyframe", oldest, newest, r.pkts[0].Keyframe, want, time.Duration(tc.gop)*frame)
			}
			c, err := r.Cut(tc.at, DefaultBefore, DefaultAfter)
			if tc.err {
				if err == nil {
					t.Fatalf("cut %v..%v succeeded, want ErrNotBuffered", c.Start, c.End)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Start != tc.wantStart || c.End != tc.wanEnd || c.Short != tc.short {
				t.Fatalf("cut %v..%v short=%v (%s), want %v..%v short=%v", c.Start, c.End, c.Short, c.Reason, tc.wantStart, tc.wanEnd, tc.short)
			}
			if !c.Packets[0].Keyframe {
				t.Fatal("clip does not start at a keyframe")
			}
			if c.Short && !strings.Contains(c.Reason, "10.0 s requested") {
				t.Fatalf("short reason %q", c.Reason)
			}
			w := c.Window(DefaultBefore, DefaultAfter)
			if !w.Start.Equal(c.Packets[0].Captured) || !w.End.Equal(c.Packets[len(c.Packets)-1].Captured) ||
				w.Short != tc.short || w.RequestedBeforeMS != 10000 || w.RequestedAfterMS != 5000 {
				t.Fatalf("manifest window %+v does not match the clip", w)
			}
		})
	}
}

func TestRingCopiesAndResets(t *testing.T) {
	r := NewRing(time.Second)
	buf := []byte{0x65, 1}
	r.Push(ingest.Packet{Codec: decode.H264, NALUs: [][]byte{buf}, PTS: time.Second, Keyframe: true})
	buf[1] = 9
	if r.pkts[0].NALUs[0][1] != 1 {
		t.Fatal("ring kept the caller's buffer")
	}
	// A B-frame steps back a little in decoding order: kept.
	r.Push(ingest.Packet{Codec: decode.H264, NALUs: [][]byte{buf}, PTS: time.Second - 80*time.Millisecond})
	if len(r.pkts) != 2 {
		t.Fatalf("a B-frame's small step back cleared the ring: %d packets", len(r.pkts))
	}
	// A new source starts over: a jump back of more than newSourceJump restarts the ring.
	r.Push(ingest.Packet{Codec: decode.H264, NALUs: [][]byte{buf}, PTS: time.Second - 80*time.Millisecond - newSourceJump - time.Millisecond, Keyframe: true})
	if len(r.pkts) != 1 {
		t.Fatalf("a large backwards PTS must restart the ring, %d packets", len(r.pkts))
	}
}

// TestWriteMP4 cuts a real H.264 stream and muxes it; the MP4 must hold the
// very same frames (no re-encode) and span the window.
func TestWriteMP4(t *testing.T) {
	ffmpeg := testenv.RequireTool(t, "ffmpeg")
	ffprobe := testenv.RequireTool(t, "ffprobe")
	dir := t.TempDir()
	es := filepath.Join(dir, "src.h264")
	// 22 s at 25 fps, a keyframe every second, an access unit delimiter
	// before each frame so the test can split access units.
	out, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
		"-t", "22", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "25", "-x264-params", "aud=1:scenecut=0",
		"-f", "h264", "-y", es).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v %s", err, out)
	}
	raw, err := os.ReadFile(es)
	if err != nil {
		t.Fatal(err)
	}
	units := accessUnits(raw)
	if len(units) != 550 {
		t.Fatalf("%d access units, want 550", len(units))
	}
	r := NewRing(DefaultBefore + DefaultAfter + 2*time.Second)
	for i, u := range units {
		r.Push(ingest.Packet{Codec: decode.H264, NALUs: u, PTS: time.Duration(i) * frame, Keyframe: hasIDR(u)})
	}
	c, err := r.Cut(15*time.Second, DefaultBefore, DefaultAfter)
	if err != nil {
		t.Fatal(err)
	}
	mp4 := filepath.Join(dir, "clip.mp4")
	if err := c.WriteMP4(testenv.Context(t, time.Minute), ffmpeg, mp4); err != nil {
		t.Fatal(err)
	}
	probe, err := exec.Command(ffprobe, "-v", "error", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,nb_read_packets,duration,avg_frame_rate", "-of", "json", mp4).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	var p struct {
		Streams []struct {
			Codec    string `json:"codec_name"`
			Packets  string `json:"nb_read_packets"`
			Duration string `json:"duration"`
			Rate     string `json:"avg_frame_rate"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(probe, &p); err != nil || len(p.Streams) != 1 {
		t.Fatalf("ffprobe output %s: %v", probe, err)
	}
	s := p.Streams[0]
	dur, _ := strconv.ParseFloat(s.Duration, 64)
	if s.Codec != "h264" || s.Packets != strconv.Itoa(len(c.Packets)) || dur < 14.9 || dur > 15.1 || s.Rate != "25/1" {
		t.Fatalf("mp4 stream %+v, want h264 with %d packets over 15 s at 25/1", s, len(c.Packets))
	}
	// No re-encode: the MP4's elementary stream is byte-identical to the cut.
	back, err := exec.Command(ffmpeg, "-hide_banner", "-loglevel", "error", "-i", mp4, "-c", "copy", "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for _, p := range c.Packets {
		want = append(want, p.NALUs...)
	}
	got := nalus(back)
	if len(got) < len(want) {
		t.Fatalf("%d NAL units back, want at least %d", len(got), len(want))
	}
	vcl := func(ns [][]byte) [][]byte { // slices only: muxers may add or drop parameter sets/AUDs
		var out [][]byte
		for _, n := range ns {
			if t := n[0] & 0x1f; t == 1 || t == 5 {
				out = append(out, n)
			}
		}
		return out
	}
	g, w := vcl(got), vcl(want)
	if len(g) != len(w) {
		t.Fatalf("%d slices back, want %d", len(g), len(w))
	}
	for i := range w {
		if !bytes.Equal(g[i], w[i]) {
			t.Fatalf("slice %d differs after muxing: the clip was re-encoded or damaged", i)
		}
	}
}

// nalus splits an Annex-B stream at its start codes.
func nalus(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				out = append(out, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = append(out, b[start:])
	}
	return out
}

// accessUnits groups NAL units into access units at each delimiter (type 9),
// dropping the delimiters.
func accessUnits(b []byte) [][][]byte {
	var units [][][]byte
	for _, n := range nalus(b) {
		if n[0]&0x1f == 9 {
			units = append(units, nil)
			continue
		}
		if len(units) == 0 {
			units = append(units, nil)
		}
		units[len(units)-1] = append(units[len(units)-1], n)
	}
	return units
}

func hasIDR(u [][]byte) bool {
	for _, n := range u {
		if n[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

func BenchmarkRingPush(b *testing.B) {
	r := NewRing(DefaultBefore + DefaultAfter)
	nalu := make([]byte, 20_000) // a typical 2K P-frame is tens of kB
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Push(ingest.Packet{Codec: decode.H264, NALUs: [][]byte{nalu}, PTS: time.Duration(i) * frame, Keyframe: i%25 == 0})
		i++
	}
	_ = fmt.Sprint(len(r.pkts))
}
