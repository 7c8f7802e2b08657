// Package frame defines the decoded video frame that flows through the
// agent's pipeline, from the decoder to detection, tracking and evidence.
package frame

import "time"

// Frame is one decoded picture in packed BGR24 (OpenCV's byte order), with the
// timestamps the pipeline uses for every measurement (never a nominal fps).
type Frame struct {
	// Seq counts frames from the start of the source, from 0.
	Seq int64
	// Width and Height are the picture size in pixels.
	Width, Height int
	// Stride is the number of bytes per row of BGR (>= 3*Width).
	Stride int
	// BGR holds Height rows of Stride bytes.
	BGR []byte
	// PTS is the presentation time relative to the first frame of the source.
	PTS time.Duration
	// Captured is the capture wall-clock time: from the camera's RTCP sender
	// reports (NTP) when available, else the receive time mapped through PTS,
	// or, for files, the file's start time plus PTS.
	Captured time.Time
	// ClockSynced is true when Captured comes from the camera's NTP clock.
	ClockSynced bool
}

// At returns the B, G, R values of pixel (x, y).
func (f *Frame) At(x, y int) (b, g, r uint8) {
	i := y*f.Stride + 3*x
	return f.BGR[i], f.BGR[i+1], f.BGR[i+2]
}
