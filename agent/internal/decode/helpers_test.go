package decode

import (
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// ffmpegClip encodes a synthetic clip with the ffmpeg CLI into a temp dir.
func ffmpegClip(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	ff := testenv.RequireTool(tb, "ffmpeg")
	out := filepath.Join(tb.TempDir(), name)
	full := append([]string{"-hide_banner", "-loglevel", "error", "-y"}, args...)
	cmd := exec.Command(ff, append(full, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "Unknown encoder") {
			testenv.Missing(tb, "ffmpeg encoder: %s", b)
		}
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, b)
	}
	return out
}

// readPackets demuxes a whole file.
func readPackets(tb testing.TB, path string) (StreamInfo, []Packet) {
	tb.Helper()
	dm, err := OpenFile(path)
	if err != nil {
		tb.Fatalf("OpenFile: %v", err)
	}
	defer dm.Close()
	var pkts []Packet
	for {
		p, err := dm.Read()
		if errors.Is(err, io.EOF) {
			return dm.Info(), pkts
		}
		if err != nil {
			tb.Fatalf("Read: %v", err)
		}
		pkts = append(pkts, p)
	}
}

// decodeAll decodes packets and returns the frames (pixels kept) and the
// error of the last Decode call.
func decodeAll(tb testing.TB, cfg Config, pkts []Packet, base time.Time) ([]*frame.Frame, Stats, error) {
	tb.Helper()
	d, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	defer d.Close()
	var frames []*frame.Frame
	emit := func(f *frame.Frame) { frames = append(frames, f) }
	var last error
	for _, p := range pkts {
		last = d.Decode(AccessUnit{NALUs: p.NALUs, PTS: p.PTS, Captured: base.Add(p.PTS)}, emit)
		if last != nil && !errors.Is(last, ErrUndecodable) {
			tb.Fatalf("Decode: %v", last)
		}
	}
	if err := d.Flush(emit); err != nil && !errors.Is(err, ErrUndecodable) {
		tb.Fatalf("Flush: %v", err)
	}
	return frames, d.Stats(), last
}

// scramble imitates camera "image encryption": slice NAL units keep their
// first keep bytes (header, and the slice header when keep > 1) and the rest
// is XORed with a keystream. Parameter sets stay readable.
func scramble(c Codec, pkts []Packet, keep int) []Packet {
	out := make([]Packet, len(pkts))
	for i, p := range pkts {
		out[i] = p
		out[i].NALUs = make([][]byte, len(p.NALUs))
		for j, n := range p.NALUs {
			m := append([]byte(nil), n...)
			if IsSlice(c, m) {
				for k := keep; k < len(m); k++ {
					m[k] ^= byte(k*131+7) | 0x10
				}
			}
			out[i].NALUs[j] = m
		}
	}
	return out
}
