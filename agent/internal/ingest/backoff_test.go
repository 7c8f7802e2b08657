package ingest

import (
	"testing"
	"time"
)

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name    string
		attempt int
		jitter  float64
		want    time.Duration
	}{
		{"first, no jitter", 0, 0, 50 * time.Millisecond},
		{"first, full jitter", 0, 0.999999, 100 * time.Millisecond},
		{"third doubles twice", 2, 0, 200 * time.Millisecond},
		{"capped", 10, 0.5, 750 * time.Millisecond},
		{"huge attempt stays capped", 1 << 20, 0, 500 * time.Millisecond},
		{"jitter clamped", 0, 7, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := b.Delay(tc.attempt, tc.jitter)
			if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("Delay(%d, %v) = %v, want %v", tc.attempt, tc.jitter, got, tc.want)
			}
		})
	}
	if d := (Backoff{}).Delay(0, 0); d != 500*time.Millisecond {
		t.Errorf("default first delay %v, want 500ms", d)
	}
	if d := (Backoff{}).Delay(100, 1); d != 30*time.Second {
		t.Errorf("default cap %v, want 30s", d)
	}
}
