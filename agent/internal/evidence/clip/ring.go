// Package clip keeps the last seconds of a camera's encoded stream (H.264 or
// H.265 access units, as received, never re-encoded) and cuts the video clip
// of an infraction from it: from a keyframe at or before 10 s before the
// moment to 5 s after, muxed into MP4 by the ffmpeg CLI with "-c copy".
package clip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// Default clip window around an infraction.
const (
	DefaultBefore = 10 * time.Second
	DefaultAfter  = 5 * time.Second
)

// Ring holds the most recent access units of one stream. It keeps at least
// Keep of stream time, starting at a keyframe, so that any moment in the
// last Keep can be cut from a keyframe. Safe for concurrent use.
type Ring struct {
	keep time.Duration
	mu   sync.Mutex
	pkts []ingest.Packet
}

// NewRing returns a ring that keeps at least keep of stream time (use
// DefaultBefore+DefaultAfter plus the longest expected keyframe interval).
func NewRing(keep time.Duration) *Ring { return &Ring{keep: keep} }

// newSourceJump is how far back a PTS must jump for Push to treat it as a new source.
const newSourceJump = 2 * time.Second

// Push appends one access unit. The NAL units are copied into one
// allocation, so the caller may reuse its buffers. A PTS that goes backwards
// (a new source) clears the ring.
func (r *Ring) Push(p ingest.Packet) {
	size := 0
	for _, n := range p.NALUs {
		size += len(n)
	}
	buf := make([]byte, 0, size)
	nalus := make([][]byte, len(p.NALUs))
	for i, n := range p.NALUs {
		start := len(buf)
		buf = append(buf, n...)
		nalus[i] = buf[start:len(buf):len(buf)]
	}
	p.NALUs = nalus

	r.mu.Lock()
	defer r.mu.Unlock()
	// Units arrive in decoding order, so with B-frames a PTS may step back a
	// few frames; only a large jump back means a new source.
	if n := len(r.pkts); n > 0 && p.PTS < r.pkts[n-1].PTS-newSourceJump {
		clear(r.pkts)
		r.pkts = r.pkts[:0]
	}
	r.pkts = append(r.pkts, p)
	// Drop everything before the newest keyframe that is still at least
	// keep older than the newest packet.
	limit := p.PTS - r.keep
	cut := 0
	for i, q := range r.pkts {
		if q.PTS > limit {
			break
		}
		if q.Keyframe {
			cut = i
		}
	}
	if cut > 0 {
		n := copy(r.pkts, r.pkts[cut:])
		clear(r.pkts[n:])
		r.pkts = r.pkts[:n]
	}
}

// Span returns the PTS of the oldest and newest buffered access units.
func (r *Ring) Span() (oldest, newest time.Duration, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pkts) == 0 {
		return 0, 0, false
	}
	return r.pkts[0].PTS, r.pkts[len(r.pkts)-1].PTS, true
}

// Clip is a cut of the stream, ready to mux.
type Clip struct {
	Codec   decode.Codec
	Packets []ingest.Packet
	// Start and End are the PTS of the first and last access units.
	Start, End time.Duration
	// StartCaptured and EndCaptured are their capture wall-clock times.
	StartCaptured, EndCaptured time.Time
	// Short is set when the stream did not reach back to before-the-moment;
	// Reason says by how much.
	Short  bool
	Reason string
}

// ErrNotBuffered means the moment is not in the ring (too old, or nothing yet).
var ErrNotBuffered = errors.New("clip: moment not in the buffer")

// Cut returns the access units from the last keyframe at or before
// at-before (or the oldest keyframe, marking the clip short) through the
// last unit at or before at+after. Call it once the stream has passed
// at+after; a cut made earlier simply ends at the newest unit.
func (r *Ring) Cut(at, before, after time.Duration) (Clip, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := -1
	for i, p := range r.pkts {
		if !p.Keyframe {
			continue
		}
		if p.PTS <= at-before || first < 0 {
			first = i
		}
		if p.PTS > at-before {
			break
		}
	}
	if first < 0 || r.pkts[first].PTS > at || r.pkts[len(r.pkts)-1].PTS < at {
		return Clip{}, ErrNotBuffered
	}
	last := first
	for i := first; i < len(r.pkts) && r.pkts[i].PTS <= at+after; i++ {
		last = i
	}
	c := Clip{Codec: r.pkts[first].Codec, Packets: append([]ingest.Packet(nil), r.pkts[first:last+1]...),
		Start: r.pkts[first].PTS, End: r.pkts[last].PTS,
		StartCaptured: r.pkts[first].Captured, EndCaptured: r.pkts[last].Captured}
	if got := at - c.Start; got < before {
		c.Short = true
		c.Reason = fmt.Sprintf("the buffer held %.1f s before the moment (from the oldest keyframe), %.1f s requested",
			got.Seconds(), before.Seconds())
	}
	return c, nil
}

// Window describes the clip for the evidence manifest.
func (c *Clip) Window(before, after time.Duration) shared.ClipWindow {
	return shared.ClipWindow{RequestedBeforeMS: before.Milliseconds(), RequestedAfterMS: after.Milliseconds(),
		Start: c.StartCaptured.UTC(), End: c.EndCaptured.UTC(), Short: c.Short, ShortReason: c.Reason}
}

// FrameRate is the clip's average frame rate from its timestamps.
func (c *Clip) FrameRate() float64 {
	if len(c.Packets) < 2 || c.End <= c.Start {
		return 25
	}
	return float64(len(c.Packets)-1) / (c.End - c.Start).Seconds()
}

// WriteMP4 muxes the clip into an MP4 file at path without re-encoding:
// an Annex-B elementary stream piped through "ffmpeg -c copy". The raw
// stream carries no timestamps, so frames are spaced at the clip's average
// frame rate (exact for the constant-rate streams of IP cameras).
func (c *Clip) WriteMP4(ctx context.Context, ffmpeg, path string) error {
	var format string
	switch c.Codec {
	case decode.H264:
		format = "h264"
	case decode.H265:
		format = "hevc"
	default:
		return fmt.Errorf("clip: codec %q cannot be muxed from an elementary stream", c.Codec)
	}
	if len(c.Packets) == 0 {
		return errors.New("clip: empty clip")
	}
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	es, err := os.CreateTemp(filepath.Dir(path), ".clip-*."+format)
	if err != nil {
		return fmt.Errorf("clip: %w", err)
	}
	defer os.Remove(es.Name())
	startCode := []byte{0, 0, 0, 1}
	for _, p := range c.Packets {
		for _, n := range p.NALUs {
			if _, err := es.Write(startCode); err != nil {
				es.Close()
				return fmt.Errorf("clip: write %s: %w", es.Name(), err)
			}
			if _, err := es.Write(n); err != nil {
				es.Close()
				return fmt.Errorf("clip: write %s: %w", es.Name(), err)
			}
		}
	}
	if err := es.Close(); err != nil {
		return fmt.Errorf("clip: %w", err)
	}
	cmd := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", format, "-framerate", strconv.FormatFloat(c.FrameRate(), 'f', 6, 64), "-i", es.Name(),
		"-c", "copy", "-movflags", "+faststart", "-f", "mp4", "-y", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("clip: ffmpeg: %w: %s", err, out)
	}
	return nil
}
