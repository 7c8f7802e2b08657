// Package ingest brings video into the agent: live RTSP cameras (H.264 or
// H.265, through gortsplib) and video files (through libavformat), both
// decoded by package decode into frame.Frame pictures.
//
// A Source delivers two streams to its Sink: the compressed access units
// (Packet: codec, NAL units, PTS, keyframe flag, capture time), which the
// evidence ring buffer keeps, and the decoded frames, which detection uses.
// Every timestamp comes from the stream (RTP or container time), never from
// a nominal frame rate. Capture wall-clock time comes from the camera's RTCP
// sender reports (NTP) when it sends them, else from the receive time mapped
// through the PTS; frames record which (frame.Frame.ClockSynced).
//
// An RTSPSource reconnects forever with capped, jittered exponential backoff
// and reports its state (connecting, streaming, undecodable, reconnecting,
// stopped) with counters through Status. Camera URLs carry passwords: they
// only ever reach logs and errors through RedactURL / SecretURL.
package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// Source is a video input.
type Source interface {
	// Run reads the input until ctx is cancelled (then it returns nil), a
	// file ends (nil), or an unrecoverable error occurs, calling sink for
	// every access unit and decoded frame.
	Run(ctx context.Context, sink Sink) error
	// Status returns the current state and counters; safe for concurrent use.
	Status() Status
}

// Sink receives what a Source produces. OnPacket and OnFrame are each called
// from a single goroutine, in stream order, but an RTSPSource calls them from
// two different goroutines (receiving and decoding), so they may run
// concurrently with each other; neither is called after Run returns. They
// must return quickly: a slow OnPacket stalls the network read, a slow
// OnFrame makes the source drop access units until the next keyframe.
type Sink interface {
	// OnPacket receives each compressed access unit. The Packet and its
	// byte slices are not reused by the source: the sink may keep them.
	OnPacket(p Packet)
	// OnFrame receives each decoded frame; the sink owns it (give it back to
	// the decode.FramePool of the source's config once done, if there is one).
	OnFrame(f *frame.Frame)
}

// StateObserver may be implemented by a Sink to hear about state changes. It
// is called synchronously from the source's goroutines.
type StateObserver interface {
	OnState(st Status)
}

// Packet is one compressed access unit.
type Packet struct {
	Codec decode.Codec
	// NALUs are the access unit's NAL units without start codes (or, for a
	// file in a codec without NAL units, one raw packet). Keyframes carry
	// their parameter sets (VPS/SPS/PPS), added from the SDP if the camera
	// sends them out of band, so a clip can start at any keyframe.
	NALUs [][]byte
	// PTS is the presentation time relative to the first frame of the
	// source; it keeps increasing across reconnects and file loops.
	PTS time.Duration
	// Keyframe marks a random-access point (IDR, or IRAP for H.265).
	Keyframe bool
	// Captured is the capture wall-clock time; ClockSynced says it comes
	// from the camera's NTP clock rather than the receive time.
	Captured    time.Time
	ClockSynced bool
}

// State is a source's life-cycle state.
type State int

// Source states. Values are stable (they may appear in health reports).
const (
	// StateConnecting: first attempt to reach the camera or open the file.
	StateConnecting State = iota + 1
	// StateStreaming: frames are being decoded.
	StateStreaming
	// StateUndecodable: packets arrive but do not decode into pictures
	// (image encryption suspected).
	StateUndecodable
	// StateReconnecting: the stream dropped or failed; waiting or retrying.
	StateReconnecting
	// StateStopped: Run has returned.
	StateStopped
)

// String returns the state's lowercase name.
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateStreaming:
		return "streaming"
	case StateUndecodable:
		return "undecodable"
	case StateReconnecting:
		return "reconnecting"
	case StateStopped:
		return "stopped"
	case 0:
		return "idle"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Status is a snapshot of a source's state and counters.
type Status struct {
	State State
	// Since is when State was entered.
	Since time.Time
	// Codec is the video codec of the current or last stream.
	Codec decode.Codec
	// Width and Height are the size of the delivered frames.
	Width, Height int
	// Packets counts access units received; Frames the frames delivered.
	Packets, Frames int64
	// DecodeErrors counts packets the decoder rejected and damaged pictures.
	DecodeErrors int64
	// Dropped counts access units skipped because decoding fell behind.
	Dropped int64
	// Lost counts RTP packets lost on the network (RTSP only).
	Lost int64
	// Reconnects counts connection attempts after the first one.
	Reconnects int64
	// LastFrame is the wall-clock time the last frame was delivered.
	LastFrame time.Time
	// ClockSynced reports whether the last frame's Captured came from NTP.
	ClockSynced bool
	// LastError is the most recent error (passwords redacted), or "".
	LastError string
}
