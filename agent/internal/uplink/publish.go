package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// ErrNotConnected is returned while the broker has never been reached.
var ErrNotConnected = errors.New("uplink: not connected to the broker")

// PublishRaw sends already-encoded payload on topic with QoS 1 and returns
// once the broker acknowledged it (the outbox stores encoded envelopes).
func (m *MQTT) PublishRaw(ctx context.Context, topic string, payload []byte, retain bool) error {
	res, err := m.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload})
	if err != nil {
		return fmt.Errorf("uplink: publish on %s: %w", topic, err)
	}
	if res != nil && res.ReasonCode >= 0x80 {
		return fmt.Errorf("uplink: broker refused publish on %s: reason 0x%02x", topic, res.ReasonCode)
	}
	return nil
}

// AwaitConnection blocks until the link is up or ctx ends.
func (m *MQTT) AwaitConnection(ctx context.Context) error { return m.cm.AwaitConnection(ctx) }

// Redialer is an MQTT link that may start while the broker is unreachable:
// it keeps calling Dial in the background (with capped backoff) until the
// first connection; afterwards the link reconnects by itself.
type Redialer struct {
	cfg  Config
	log  *slog.Logger
	up   chan struct{} // closed once dialled
	mu   sync.Mutex
	m    *MQTT
	done chan struct{}
}

// NewRedialer starts dialling in the background until ctx ends.
func NewRedialer(ctx context.Context, cfg Config, log *slog.Logger) *Redialer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.WaitConnect <= 0 {
		cfg.WaitConnect = 5 * time.Second
	}
	r := &Redialer{cfg: cfg, log: log.With("component", "uplink"), up: make(chan struct{}), done: make(chan struct{})}
	go r.loop(ctx)
	return r
}

func (r *Redialer) loop(ctx context.Context) {
	defer close(r.done)
	bo := Backoff{Min: 500 * time.Millisecond, Max: 30 * time.Second}
	for attempt := 0; ; attempt++ {
		m, err := Dial(ctx, r.cfg, r.log)
		if err == nil {
			r.mu.Lock()
			r.m = m
			r.mu.Unlock()
			close(r.up)
			return
		}
		r.log.Warn("broker not reachable yet", "err", redact(err.Error(), r.cfg.Password), "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(bo.Delay(attempt)):
		}
	}
}

func (r *Redialer) link() *MQTT {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m
}

// PublishRaw publishes through the link, or fails with ErrNotConnected
// before the first connection.
func (r *Redialer) PublishRaw(ctx context.Context, topic string, payload []byte, retain bool) error {
	m := r.link()
	if m == nil {
		return ErrNotConnected
	}
	return m.PublishRaw(ctx, topic, payload, retain)
}

// AwaitConnection blocks until the link is up or ctx ends.
func (r *Redialer) AwaitConnection(ctx context.Context) error {
	select {
	case <-r.up:
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.link().AwaitConnection(ctx)
}

// Close stops dialling (once ctx of NewRedialer ends) and closes the link.
func (r *Redialer) Close(ctx context.Context) error {
	if m := r.link(); m != nil {
		return m.Close(ctx)
	}
	return nil
}
