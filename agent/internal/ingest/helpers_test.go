package ingest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// frameInfo is what the tests keep of a frame (pixels go back to the pool).
type frameInfo struct {
	Seq           int64
	Width, Height int
	PTS           time.Duration
	Captured      time.Time
	Synced        bool
	Received      time.Time
	Mean          float64 // mean byte value, to tell real pictures from blank ones
}

// collector is a test Sink that records everything.
type collector struct {
	pool *decode.FramePool

	mu      sync.Mutex
	frames  []frameInfo
	packets []Packet
	states  []State
}

func newCollector() *collector { return &collector{pool: &decode.FramePool{}} }

func (c *collector) OnPacket(p Packet) {
	c.mu.Lock()
	c.packets = append(c.packets, p)
	c.mu.Unlock()
}

func (c *collector) OnFrame(f *frame.Frame) {
	sum := 0
	for i := 0; i < len(f.BGR); i += 97 {
		sum += int(f.BGR[i])
	}
	fi := frameInfo{Seq: f.Seq, Width: f.Width, Height: f.Height, PTS: f.PTS, Captured: f.Captured,
		Synced: f.ClockSynced, Received: time.Now(), Mean: float64(sum) / float64(len(f.BGR)/97+1)}
	c.pool.Put(f)
	c.mu.Lock()
	c.frames = append(c.frames, fi)
	c.mu.Unlock()
}

func (c *collector) OnState(st Status) {
	c.mu.Lock()
	c.states = append(c.states, st.State)
	c.mu.Unlock()
}

func (c *collector) snapshot() ([]frameInfo, []Packet, []State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]frameInfo(nil), c.frames...), append([]Packet(nil), c.packets...), append([]State(nil), c.states...)
}

func (c *collector) frameCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.frames)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// containsSeq reports whether want appears in order (not necessarily
// adjacent) in got.
func containsSeq(got, want []State) bool {
	i := 0
	for _, s := range got {
		if i < len(want) && s == want[i] {
			i++
		}
	}
	return i == len(want)
}
