package uplink

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// fakePub records publishes; fail returns the error for a publish, if any.
type fakePub struct {
	mu   sync.Mutex
	got  []string // topics+payload ids in order
	fail func(n int) error
	n    int
}

func (p *fakePub) PublishRaw(_ context.Context, _ string, payload []byte, _ bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	if p.fail != nil {
		if err := p.fail(p.n); err != nil {
			return err
		}
	}
	env, err := event.Decode(payload)
	if err != nil {
		return err
	}
	p.got = append(p.got, env.ID)
	return nil
}

func (p *fakePub) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.got...)
}

// fakeUp fails uploads of keys listed in bad with ErrEvidenceCorrupt, and the
// first transient uploads with a storage error.
type fakeUp struct {
	mu        sync.Mutex
	bad       map[string]bool
	transient int
	keys      []string
}

func (u *fakeUp) Upload(_ context.Context, f outbox.FileRef) (bool, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.bad[f.Key] {
		return false, fmt.Errorf("local file changed: %w", ErrEvidenceCorrupt)
	}
	if u.transient > 0 {
		u.transient--
		return false, errors.New("dial tcp: connection refused")
	}
	u.keys = append(u.keys, f.Key)
	return false, nil
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	tests := []struct {
		name    string
		attempt int
		base    time.Duration
	}{
		{"first", 0, 100 * time.Millisecond},
		{"second doubles", 1, 200 * time.Millisecond},
		{"third", 2, 400 * time.Millisecond},
		{"capped", 10, time.Second},
		{"huge attempt stays capped", 1000, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 50 {
				d := b.Delay(tc.attempt)
				if lo, hi := tc.base*8/10, tc.base*12/10; d < lo || d > hi {
					t.Fatalf("Delay(%d) = %s, want within [%s, %s]", tc.attempt, d, lo, hi)
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, secret, want string
	}{
		{"url userinfo", "dial mqtt://cam:hunter22@10.0.0.1:1883 failed", "", "dial mqtt://xxxxx@10.0.0.1:1883 failed"},
		{"rtsp userinfo", "open rtsp://admin:pw@cam/x: timeout", "", "open rtsp://xxxxx@cam/x: timeout"},
		{"literal secret", "signature with s3cretKey mismatched", "s3cretKey", "signature with xxxxx mismatched"},
		{"short secret left", "abc def", "ab", "abc def"},
		{"nothing to hide", "connection refused", "s3cretKey", "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redact(tc.in, tc.secret); got != tc.want {
				t.Fatalf("redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func runSender(t *testing.T, s *Sender) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func fastCfg() SenderConfig {
	return SenderConfig{MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, ParkedRetry: time.Hour}
}

func TestSenderOrderRetryAndParking(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		pubFails  int // first publishes that fail
		upFails   int // first uploads that fail (transient)
		corruptAt int // index of the entry with corrupt evidence, -1 none
	}{
		{"clean", 10, 0, 0, -1},
		{"broker fails then recovers", 10, 7, 0, -1},
		{"storage fails then recovers", 10, 0, 4, -1},
		{"corrupt evidence is parked, later entries go ahead", 10, 2, 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ob := openOutbox(t, filepath.Join(dir, "outbox.db"))
			defer ob.Close()
			pub := &fakePub{fail: func(n int) error {
				if n <= tc.pubFails {
					return errors.New("uplink: publish: connection lost to mqtt://u:pw12345@broker")
				}
				return nil
			}}
			up := &fakeUp{bad: map[string]bool{}, transient: tc.upFails}
			var want []string
			device := testDevice()
			for i := range tc.n {
				key := fmt.Sprintf("ev/%d/a.jpg", i)
				e := newEntry(t, device, outbox.FileRef{Key: key, Path: "/nonexistent", SHA256: "00", Size: 1})
				if i == tc.corruptAt {
					up.bad[key] = true
				} else {
					want = append(want, e.EventID)
				}
				if _, _, err := ob.Put(e); err != nil {
					t.Fatal(err)
				}
			}
			s := NewSender(fastCfg(), ob, pub, up, quietLog())
			stop := runSender(t, s)
			waitFor(t, 10*time.Second, "delivery", func() bool { return len(pub.ids()) == len(want) })
			stop()
			if got := pub.ids(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("publish order\n got %v\nwant %v", got, want)
			}
			st := s.Stats()
			if st.Published != uint64(len(want)) || st.Uploaded != uint64(len(want)) {
				t.Fatalf("stats %+v, want %d published and uploaded", st, len(want))
			}
			if st.Failures[FailBroker] != uint64(tc.pubFails) || st.Failures[FailStorage] != uint64(tc.upFails) {
				t.Fatalf("failures %v, want broker=%d storage=%d", st.Failures, tc.pubFails, tc.upFails)
			}
			wantLeft := 0
			if tc.corruptAt >= 0 {
				wantLeft = 1
				if st.Parked != 1 || st.Failures[FailEvidence] == 0 {
					t.Fatalf("stats %+v: want one parked entry and an evidence failure", st)
				}
				left, _ := ob.Pending(0)
				if len(left) != 1 || left[0].Attempts == 0 || !strings.Contains(left[0].LastError, "local file changed") {
					t.Fatalf("parked entry not kept with its error: %+v", left)
				}
			}
			if st.QueueDepth != wantLeft {
				t.Fatalf("queue depth %d, want %d", st.QueueDepth, wantLeft)
			}
			if strings.Contains(st.LastError, "pw12345") {
				t.Fatalf("secret leaked into LastError: %q", st.LastError)
			}
		})
	}
}

func TestSenderNotifyWakesPromptly(t *testing.T) {
	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	defer ob.Close()
	pub := &fakePub{}
	s := NewSender(fastCfg(), ob, pub, nil, quietLog())
	stop := runSender(t, s)
	defer stop()
	time.Sleep(50 * time.Millisecond) // let it go idle
	device := testDevice()
	for i := range 3 {
		if _, _, err := ob.Put(newEntry(t, device)); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		s.Notify()
		waitFor(t, 2*time.Second, "notified delivery", func() bool { return len(pub.ids()) == i+1 })
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("delivery took %s after Notify", d)
		}
	}
}

func TestSenderStoredErrorsAreSanitised(t *testing.T) {
	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	defer ob.Close()
	pub := &fakePub{fail: func(int) error { return errors.New("auth failed for sk-Very$ecret at mqtt://dev:Very$ecret@h:1883") }}
	cfg := fastCfg()
	cfg.Secrets = []string{"sk-Very$ecret"}
	s := NewSender(cfg, ob, pub, nil, quietLog())
	if _, _, err := ob.Put(newEntry(t, testDevice())); err != nil {
		t.Fatal(err)
	}
	stop := runSender(t, s)
	waitFor(t, 5*time.Second, "a recorded attempt", func() bool {
		p, _ := ob.Pending(0)
		return len(p) == 1 && p[0].Attempts >= 2
	})
	stop()
	p, _ := ob.Pending(0)
	for _, text := range []string{p[0].LastError, s.Stats().LastError} {
		if text == "" || strings.Contains(text, "ecret") {
			t.Fatalf("stored error %q is empty or carries a secret", text)
		}
	}
}

func TestSenderReturnsWhenOutboxClosed(t *testing.T) {
	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	if _, _, err := ob.Put(newEntry(t, testDevice())); err != nil {
		t.Fatal(err)
	}
	block := make(chan struct{})
	pub := &fakePub{fail: func(int) error { <-block; return nil }}
	s := NewSender(fastCfg(), ob, pub, nil, quietLog())
	ctx := testenv.Context(t, 10*time.Second)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	_ = ob.Close()
	close(block)
	select {
	case err := <-done:
		if !errors.Is(err, outbox.ErrClosed) {
			t.Fatalf("Run returned %v, want ErrClosed", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not return after the outbox closed")
	}
}

// flakyLink fails publishes until up is closed; AwaitConnection waits for it.
type flakyLink struct {
	fakePub
	up chan struct{}
}

func (l *flakyLink) AwaitConnection(ctx context.Context) error {
	select {
	case <-l.up:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestSenderRetriesAtOnceWhenBrokerReconnects(t *testing.T) {
	ob := openOutbox(t, filepath.Join(t.TempDir(), "outbox.db"))
	defer ob.Close()
	link := &flakyLink{up: make(chan struct{})}
	link.fail = func(int) error {
		select {
		case <-link.up:
			return nil
		default:
			return ErrNotConnected
		}
	}
	s := NewSender(SenderConfig{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Minute}, ob, link, nil, quietLog())
	if _, _, err := ob.Put(newEntry(t, testDevice())); err != nil {
		t.Fatal(err)
	}
	stop := runSender(t, s)
	defer stop()
	// After 5 failures the next backoff is 1.6 s ± 20 %.
	waitFor(t, 10*time.Second, "5 failed attempts", func() bool { link.mu.Lock(); defer link.mu.Unlock(); return link.n >= 5 })
	start := time.Now()
	close(link.up)
	waitFor(t, 5*time.Second, "delivery", func() bool { return len(link.ids()) == 1 })
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Fatalf("delivered %s after the reconnection, want well before the 1.28 s minimum backoff", d)
	}
}
