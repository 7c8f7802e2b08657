package ingest

import (
	"log/slog"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// tracker holds a source's Status and tells the sink's StateObserver, if
// any, about state changes.
type tracker struct {
	log *slog.Logger

	mu  sync.Mutex
	st  Status
	obs StateObserver
	// decoder counters of finished sessions, added to the live decoder's
	decodeBase int64
}

func newTracker(log *slog.Logger) *tracker {
	return &tracker{log: log}
}

func (t *tracker) status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

func (t *tracker) observe(sink Sink) {
	obs, _ := sink.(StateObserver)
	t.mu.Lock()
	t.obs = obs
	t.mu.Unlock()
}

// setState changes the state; err, if non-nil, becomes LastError (it must
// already be redacted).
func (t *tracker) setState(s State, err error) {
	t.mu.Lock()
	if err != nil {
		t.st.LastError = err.Error()
	}
	if t.st.State == s {
		t.mu.Unlock()
		return
	}
	prev := t.st.State
	t.st.State = s
	t.st.Since = time.Now()
	snap, obs := t.st, t.obs
	t.mu.Unlock()
	if err != nil {
		t.log.Info("state", "from", prev.String(), "to", s.String(), "error", err.Error())
	} else {
		t.log.Info("state", "from", prev.String(), "to", s.String())
	}
	if obs != nil {
		obs.OnState(snap)
	}
}

func (t *tracker) state() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st.State
}

func (t *tracker) update(fn func(st *Status)) {
	t.mu.Lock()
	fn(&t.st)
	t.mu.Unlock()
}

func (t *tracker) packet(codec decode.Codec) {
	t.mu.Lock()
	t.st.Packets++
	t.st.Codec = codec
	t.mu.Unlock()
}

// frame counts a delivered frame and numbers it across the source's
// decoders (one per RTSP session).
func (t *tracker) frame(f *frame.Frame) {
	t.mu.Lock()
	f.Seq = t.st.Frames
	t.st.Frames++
	t.st.LastFrame = time.Now()
	t.st.Width, t.st.Height = f.Width, f.Height
	t.st.ClockSynced = f.ClockSynced
	t.mu.Unlock()
}

// decoderStats folds the live decoder's error counters into the status.
func (t *tracker) decoderStats(ds decode.Stats) {
	t.mu.Lock()
	t.st.DecodeErrors = t.decodeBase + ds.Errors + ds.Damaged
	t.mu.Unlock()
}

// streamError counts an error outside the decoder (RTP depacketizing).
func (t *tracker) streamError() {
	t.mu.Lock()
	t.decodeBase++
	t.st.DecodeErrors++
	t.mu.Unlock()
}

// endDecoder keeps a finished decoder's counters.
func (t *tracker) endDecoder(ds decode.Stats) {
	t.mu.Lock()
	t.decodeBase += ds.Errors + ds.Damaged
	t.st.DecodeErrors = t.decodeBase
	t.mu.Unlock()
}
