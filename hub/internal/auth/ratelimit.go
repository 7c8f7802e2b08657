package auth

import (
	"sync"
	"time"
)

// Limiter is a fixed-window attempt counter per key (the login limiter keys
// on client IP + username). It is in memory: each hub replica limits on its
// own, the database lockout (users.locked_until) is shared.
type Limiter struct {
	Max    int
	Window time.Duration
	Now    func() time.Time

	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// maxKeys bounds the limiter's memory; expired windows are pruned past it.
const maxKeys = 10000

// NewLimiter allows max attempts per key per window.
func NewLimiter(max int, win time.Duration) *Limiter {
	return &Limiter{Max: max, Window: win, Now: time.Now, windows: map[string]*window{}}
}

// Allow counts an attempt for key and reports whether it is allowed; when it
// is not, it also returns how long until the window resets.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= l.Window {
		if len(l.windows) >= maxKeys {
			for k, x := range l.windows {
				if now.Sub(x.start) >= l.Window {
					delete(l.windows, k)
				}
			}
		}
		w = &window{start: now}
		l.windows[key] = w
	}
	w.n++
	if w.n > l.Max {
		return false, w.start.Add(l.Window).Sub(now)
	}
	return true, 0
}
