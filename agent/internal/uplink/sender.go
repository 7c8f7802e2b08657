package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/shared/event"
)

// Publisher sends an encoded event on a topic with QoS 1 and returns once
// the broker acknowledged it (*MQTT and *Redialer implement it).
type Publisher interface {
	PublishRaw(ctx context.Context, topic string, payload []byte, retain bool) error
}

// Uploader stores one evidence file and confirms it (*S3Uploader).
type Uploader interface {
	Upload(ctx context.Context, f outbox.FileRef) (skipped bool, err error)
}

// connectionWaiter is implemented by publishers that can tell when the
// broker is reachable again, so a waiting Sender retries at once.
type connectionWaiter interface {
	AwaitConnection(ctx context.Context) error
}

var (
	_ Publisher        = (*MQTT)(nil)
	_ Publisher        = (*Redialer)(nil)
	_ connectionWaiter = (*MQTT)(nil)
	_ connectionWaiter = (*Redialer)(nil)
	_ Uploader         = (*S3Uploader)(nil)
)

// FailureKind classifies delivery failures for metrics.
type FailureKind string

// Failure kinds.
const (
	FailBroker   FailureKind = "broker"   // publish not acknowledged
	FailStorage  FailureKind = "storage"  // object storage unreachable or refused
	FailEvidence FailureKind = "evidence" // local evidence corrupt/missing or key conflict: needs an operator
	FailOutbox   FailureKind = "outbox"   // the local queue could not be updated
)

// Backoff is a capped exponential delay with ±20 % jitter.
type Backoff struct{ Min, Max time.Duration }

// Delay returns the wait before retry number attempt (0-based).
func (b Backoff) Delay(attempt int) time.Duration {
	d := b.Min
	for i := 0; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	if j := int64(d) / 5; j > 0 {
		d += time.Duration(rand.Int64N(2*j+1) - j)
	}
	return max(d, 0)
}

// SenderConfig configures a Sender; zero values take the defaults.
type SenderConfig struct {
	Batch          int           // entries read from the outbox at a time (64)
	MinBackoff     time.Duration // first retry delay after a failure (250 ms)
	MaxBackoff     time.Duration // retry delay cap (30 s)
	ParkedRetry    time.Duration // retry period of an entry with bad local evidence (5 min)
	PublishTimeout time.Duration // per publish (10 s)
	UploadTimeout  time.Duration // per evidence file (10 min)
	// Secrets are removed from every error text the Sender stores or logs
	// (broker password, S3 secret key).
	Secrets []string
}

func (c *SenderConfig) defaults() {
	if c.Batch <= 0 {
		c.Batch = 64
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 250 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.ParkedRetry <= 0 {
		c.ParkedRetry = 5 * time.Minute
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = 10 * time.Second
	}
	if c.UploadTimeout <= 0 {
		c.UploadTimeout = 10 * time.Minute
	}
}

// SenderStats is a snapshot of the Sender's counters (for /metrics).
type SenderStats struct {
	Published     uint64                 // events acknowledged by the broker
	Uploaded      uint64                 // evidence files uploaded and confirmed
	UploadSkipped uint64                 // evidence files already stored with the same hash
	UploadedBytes uint64                 // bytes of Uploaded files
	Failures      map[FailureKind]uint64 // failed attempts per kind
	LastError     string                 // sanitised
	LastErrorAt   time.Time
	QueueDepth    int // entries in the outbox
	Parked        int // entries set aside because of bad local evidence
}

// Sender drains the outbox: for each entry, oldest first, it uploads the
// evidence files not yet uploaded (MarkUploaded after each), publishes the
// event (MarkPublished) and removes the entry (Done).
//
// Ordering: delivery is strictly in outbox order. A transient failure
// (broker or storage unreachable) stops the pass at the failing entry, which
// is retried with capped exponential backoff; nothing overtakes it. The one
// exception is an entry whose local evidence is corrupt or missing, or whose
// key holds different content in storage (FailEvidence): retrying cannot fix
// it, so it is parked (kept in the outbox, counted, logged as an error and
// retried every ParkedRetry) and later entries go ahead, so that one
// tampered file cannot hold back every later infraction.
//
// An event may be published more than once (a crash between the broker's
// acknowledgement and MarkPublished); the hub deduplicates by event id.
type Sender struct {
	cfg    SenderConfig
	ob     *outbox.Outbox
	pub    Publisher
	up     Uploader
	log    *slog.Logger
	notify chan struct{}

	mu     sync.Mutex // guards the fields below
	stats  SenderStats
	parked map[uint64]time.Time // seq -> next retry
}

// NewSender builds a Sender; up may be nil when no entry carries evidence.
func NewSender(cfg SenderConfig, ob *outbox.Outbox, pub Publisher, up Uploader, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	return &Sender{
		cfg: cfg, ob: ob, pub: pub, up: up,
		log:    log.With("component", "uplink.sender"),
		notify: make(chan struct{}, 1),
		stats:  SenderStats{Failures: make(map[FailureKind]uint64)},
		parked: make(map[uint64]time.Time),
	}
}

// Notify wakes an idle Sender; call it after each outbox Put. It never blocks.
func (s *Sender) Notify() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (s *Sender) Stats() SenderStats {
	s.mu.Lock()
	st := s.stats
	st.Failures = make(map[FailureKind]uint64, len(s.stats.Failures))
	for k, v := range s.stats.Failures {
		st.Failures[k] = v
	}
	st.Parked = len(s.parked)
	s.mu.Unlock()
	if obs, err := s.ob.Stats(); err == nil {
		st.QueueDepth = obs.Entries
	}
	return st
}

// deliveryError is a failed attempt with its kind.
type deliveryError struct {
	kind FailureKind
	seq  uint64
	err  error
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

// Run drains the outbox until ctx ends (returning nil) or the outbox is
// closed under it.
func (s *Sender) Run(ctx context.Context) error {
	bo := Backoff{Min: s.cfg.MinBackoff, Max: s.cfg.MaxBackoff}
	attempt := 0
	for {
		err := s.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, outbox.ErrClosed) {
			return fmt.Errorf("uplink: sender: %w", err)
		}
		var de *deliveryError
		if !errors.As(err, &de) {
			if attempt > 0 {
				s.log.Info("delivery resumed", "after_attempts", attempt)
			}
			attempt = 0
			s.waitIdle(ctx)
			continue
		}
		if attempt == 0 {
			s.log.Warn("delivery failed, retrying with backoff", "kind", de.kind, "seq", de.seq, "err", de.Error())
		} else {
			s.log.Debug("delivery failed again", "kind", de.kind, "seq", de.seq, "attempt", attempt+1, "err", de.Error())
		}
		s.waitRetry(ctx, bo.Delay(attempt), de.kind)
		attempt++
	}
}

// waitIdle waits for a Notify, the next parked retry, or ctx.
func (s *Sender) waitIdle(ctx context.Context) {
	var timer <-chan time.Time
	s.mu.Lock()
	var next time.Time
	for _, t := range s.parked {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	s.mu.Unlock()
	if !next.IsZero() {
		t := time.NewTimer(max(time.Until(next), 0))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
	case <-s.notify:
	case <-timer:
	}
}

// waitRetry waits d, or less when the broker comes back after a broker failure.
func (s *Sender) waitRetry(ctx context.Context, d time.Duration, kind FailureKind) {
	t := time.NewTimer(d)
	defer t.Stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reconnected := make(chan struct{})
	if cw, ok := s.pub.(connectionWaiter); ok && kind == FailBroker {
		go func() {
			// A floor, so that a link that still looks up right after a drop
			// does not make the loop spin.
			select {
			case <-wctx.Done():
				return
			case <-time.After(min(s.cfg.MinBackoff, d)):
			}
			if cw.AwaitConnection(wctx) == nil {
				close(reconnected)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-reconnected:
	}
}

// drain delivers entries in order until the queue is empty (nil), a
// transient failure (*deliveryError) or an outbox error.
func (s *Sender) drain(ctx context.Context) error {
	for {
		s.mu.Lock()
		limit := s.cfg.Batch + len(s.parked)
		s.mu.Unlock()
		entries, err := s.ob.Pending(limit)
		if err != nil {
			s.fail(FailOutbox, err)
			return err
		}
		seen := make(map[uint64]bool, len(entries))
		for i := range entries {
			e := &entries[i]
			seen[e.Seq] = true
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if s.parkedUntil(e.Seq).After(time.Now()) {
				continue
			}
			err := s.deliver(ctx, e)
			if err == nil {
				s.unpark(e.Seq)
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var de *deliveryError
			if !errors.As(err, &de) {
				return err
			}
			if rerr := s.ob.RecordAttempt(e.Seq, errors.New(de.Error())); rerr != nil && !errors.Is(rerr, outbox.ErrNotFound) {
				s.log.Warn("attempt not recorded", "seq", e.Seq, "err", rerr)
			}
			if de.kind == FailEvidence {
				s.park(e, de)
				continue
			}
			return err
		}
		if len(entries) < limit {
			s.pruneParked(seen)
			return nil
		}
	}
}

// deliver uploads, publishes and removes one entry.
func (s *Sender) deliver(ctx context.Context, e *outbox.Entry) error {
	for _, f := range e.Evidence {
		if f.Uploaded {
			continue
		}
		if s.up == nil {
			return s.fail(FailEvidence, fmt.Errorf("uplink: entry %d has evidence %s but no uploader is configured", e.Seq, f.Key))
		}
		uctx, cancel := context.WithTimeout(ctx, s.cfg.UploadTimeout)
		skipped, err := s.up.Upload(uctx, f)
		cancel()
		if err != nil {
			kind := FailStorage
			if errors.Is(err, ErrEvidenceCorrupt) || errors.Is(err, ErrObjectConflict) {
				kind = FailEvidence
			}
			return s.failSeq(kind, e.Seq, err)
		}
		if err := s.ob.MarkUploaded(e.Seq, f.Key); err != nil {
			return s.outboxErr(e.Seq, err)
		}
		s.mu.Lock()
		if skipped {
			s.stats.UploadSkipped++
		} else {
			s.stats.Uploaded++
			s.stats.UploadedBytes += uint64(max(f.Size, 0))
		}
		s.mu.Unlock()
	}
	if !e.Published {
		pctx, cancel := context.WithTimeout(ctx, s.cfg.PublishTimeout)
		err := s.pub.PublishRaw(pctx, e.Topic, e.Payload, e.Kind == event.KindStatus)
		cancel()
		if err != nil {
			return s.failSeq(FailBroker, e.Seq, err)
		}
		if err := s.ob.MarkPublished(e.Seq); err != nil {
			return s.outboxErr(e.Seq, err)
		}
		s.mu.Lock()
		s.stats.Published++
		s.mu.Unlock()
	}
	if err := s.ob.Done(e.Seq); err != nil {
		return s.outboxErr(e.Seq, err)
	}
	return nil
}

// outboxErr treats an entry removed under us (quota drop) as delivered;
// anything else is an outbox failure.
func (s *Sender) outboxErr(seq uint64, err error) error {
	if errors.Is(err, outbox.ErrNotFound) {
		return nil
	}
	if errors.Is(err, outbox.ErrClosed) {
		return err
	}
	return s.failSeq(FailOutbox, seq, err)
}

func (s *Sender) fail(kind FailureKind, err error) error { return s.failSeq(kind, 0, err) }

// failSeq counts a failure and returns it sanitised.
func (s *Sender) failSeq(kind FailureKind, seq uint64, err error) error {
	clean := errors.New(redact(err.Error(), s.cfg.Secrets...))
	s.mu.Lock()
	s.stats.Failures[kind]++
	s.stats.LastError = clean.Error()
	s.stats.LastErrorAt = time.Now()
	s.mu.Unlock()
	return &deliveryError{kind: kind, seq: seq, err: &cleanError{msg: clean.Error(), sentinel: sentinelOf(err)}}
}

// cleanError is a sanitised error text that keeps the uplink sentinel (if
// any) reachable by errors.Is, without keeping the raw error.
type cleanError struct {
	msg      string
	sentinel error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.sentinel }

func sentinelOf(err error) error {
	for _, s := range []error{ErrEvidenceCorrupt, ErrObjectConflict, ErrVerify, ErrNotConnected, outbox.ErrClosed} {
		if errors.Is(err, s) {
			return s
		}
	}
	return nil
}

func (s *Sender) parkedUntil(seq uint64) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked[seq]
}

func (s *Sender) park(e *outbox.Entry, de *deliveryError) {
	s.mu.Lock()
	s.parked[e.Seq] = time.Now().Add(s.cfg.ParkedRetry)
	s.mu.Unlock()
	s.log.Error("entry parked: its evidence cannot be delivered; later entries go ahead",
		"seq", e.Seq, "event_id", e.EventID, "err", de.Error(), "retry_in", s.cfg.ParkedRetry)
}

func (s *Sender) unpark(seq uint64) {
	s.mu.Lock()
	delete(s.parked, seq)
	s.mu.Unlock()
}

// pruneParked forgets parked entries that left the outbox.
func (s *Sender) pruneParked(seen map[uint64]bool) {
	s.mu.Lock()
	for seq := range s.parked {
		if !seen[seq] {
			delete(s.parked, seq)
		}
	}
	s.mu.Unlock()
}
