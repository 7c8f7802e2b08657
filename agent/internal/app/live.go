package app

import (
	"context"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
)

// liveSink hands frames to the analysis goroutine without ever blocking the
// source: when analysis is still busy with the previous frame, the new one
// is skipped and counted. The encoded stream is never affected.
type liveSink struct {
	frames chan *frame.Frame
	inner  *replaySink
}

func (l *liveSink) OnPacket(p ingest.Packet) { l.inner.OnPacket(p) }

func (l *liveSink) OnFrame(f *frame.Frame) {
	select {
	case l.frames <- f:
	default:
		l.inner.dropped.Add(1)
	}
}

// runLive runs src until ctx ends, analysing frames on one goroutine and
// reporting status once a second.
func runLive(ctx context.Context, src ingest.Source, sink *replaySink, status func(LiveStatus)) error {
	ls := &liveSink{frames: make(chan *frame.Frame, 1), inner: sink}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range ls.frames {
			sink.OnFrame(f)
		}
	}()
	var tick <-chan time.Time
	if status != nil {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		tick = t.C
	}
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, ls) }()
	var prevFrames, prevSrc int64
	prevAt := time.Now()
	for {
		select {
		case err := <-errc:
			close(ls.frames)
			<-done
			return err
		case now := <-tick:
			sink.mu.Lock()
			st := sink.pl.Stats()
			lat := sink.lastLatency
			sink.mu.Unlock()
			ss := src.Status()
			dt := now.Sub(prevAt).Seconds()
			status(LiveStatus{Source: ss, Frames: st.Frames, Dropped: sink.dropped.Load(), StreamFPS: float64(ss.Frames-prevSrc) / dt,
				ActiveTracks: int(st.TracksStarted - st.TracksEnded), EndedTracks: st.TracksEnded,
				AnalysedFPS:   float64(st.Frames-prevFrames) / dt,
				LastLatencyMs: float64(lat.Microseconds()) / 1000})
			prevFrames, prevSrc, prevAt = st.Frames, ss.Frames, now
		}
	}
}
