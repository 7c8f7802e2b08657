package decode

import (
	"sync"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// DefaultPoolSize is the number of idle frames a FramePool keeps by default.
const DefaultPoolSize = 8

// FramePool recycles frame buffers: a 2560x1440 BGR frame is 11 MB, so
// allocating one per picture would keep the garbage collector busy. It is safe
// for concurrent use. The zero value is ready and keeps DefaultPoolSize frames.
type FramePool struct {
	// Max is the number of idle frames kept; 0 means DefaultPoolSize.
	Max int

	mu   sync.Mutex
	free []*frame.Frame
}

// Get returns a frame whose BGR buffer holds w x h pixels with a packed
// stride (3*w). Its other fields are zeroed.
func (p *FramePool) Get(w, h int) *frame.Frame {
	need := 3 * w * h
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		f := p.free[i]
		if cap(f.BGR) >= need+bufferSlack {
			p.free = append(p.free[:i], p.free[i+1:]...)
			p.mu.Unlock()
			*f = frame.Frame{BGR: f.BGR[:need], Width: w, Height: h, Stride: 3 * w}
			return f
		}
	}
	p.mu.Unlock()
	// The slack past the last row absorbs SIMD converters that store whole
	// vectors at the end of a line.
	return &frame.Frame{BGR: make([]byte, need, need+bufferSlack), Width: w, Height: h, Stride: 3 * w}
}

// bufferSlack is the spare capacity of every frame buffer.
const bufferSlack = 64

// Put gives a frame back for reuse. The caller must not touch it afterwards.
// Nil frames are ignored; when the pool is full the frame is left to the GC.
func (p *FramePool) Put(f *frame.Frame) {
	if f == nil || f.BGR == nil {
		return
	}
	max := p.Max
	if max <= 0 {
		max = DefaultPoolSize
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.free) < max {
		p.free = append(p.free, f)
	}
}
