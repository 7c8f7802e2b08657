package decode

import "time"

// window is the undecodable detector's record of recent access units: their
// PTS and how many clean pictures were completed while each was current.
type window struct {
	pts   []time.Duration
	good  []int64
	head  int // index of the oldest entry
	total int64
}

// maxWindow bounds the record when timestamps go backwards.
const maxWindow = 4096

// push records a new access unit.
func (w *window) push(pts time.Duration) {
	w.pts = append(w.pts, pts)
	w.good = append(w.good, 0)
}

// clean credits a clean picture to the latest access unit.
func (w *window) clean() {
	if n := len(w.good); n > w.head {
		w.good[n-1]++
		w.total++
	}
}

// stats drops entries older than needed to hold at least minPackets units
// covering at least minSpan, and returns the units, span and clean pictures
// left in the window.
func (w *window) stats(minPackets int, minSpan time.Duration) (n int64, span time.Duration, clean int64) {
	last := len(w.pts) - 1
	for last-w.head+1 > minPackets && (w.pts[last]-w.pts[w.head+1] >= minSpan || last-w.head+1 > maxWindow) {
		w.total -= w.good[w.head]
		w.head++
	}
	// Compact once the dead prefix dominates, so memory stays bounded.
	if w.head > 0 && w.head >= len(w.pts)/2 {
		k := copy(w.pts, w.pts[w.head:])
		copy(w.good, w.good[w.head:])
		w.pts, w.good = w.pts[:k], w.good[:k]
		w.head = 0
		last = k - 1
	}
	if last < w.head {
		return 0, 0, 0
	}
	return int64(last - w.head + 1), w.pts[last] - w.pts[w.head], w.total
}
