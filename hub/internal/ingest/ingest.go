// Package ingest consumes the fleet's MQTT messages and persists them. A
// message is acknowledged to the broker only after its transaction committed
// (or after it was kept in the dead-letter table), so a database outage loses
// nothing: unacknowledged QoS 1 messages are redelivered.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// Store is what ingestion needs from the database.
type Store interface {
	InsertInfraction(ctx context.Context, env event.Envelope, p *event.Infraction) (db.InsertResult, error)
	RecordStatusEvent(ctx context.Context, env event.Envelope) (duplicate bool, err error)
	InsertMetrics(ctx context.Context, env event.Envelope, p *event.Metrics) (duplicate bool, err error)
	InsertAck(ctx context.Context, env event.Envelope, p *event.Ack) (duplicate bool, err error)
	InsertDeadLetter(ctx context.Context, d db.DeadLetter) error
}

// Config configures the consumer.
type Config struct {
	BrokerURL     string
	ClientID      string
	ShareGroup    string
	Username      string
	Password      string
	SessionExpiry time.Duration
}

// Stats counts what the consumer did.
type Stats struct {
	Received    atomic.Int64
	Stored      atomic.Int64
	Duplicates  atomic.Int64
	DeadLetters atomic.Int64
	Retries     atomic.Int64
}

// Consumer subscribes to the agents' topics and writes to the store.
type Consumer struct {
	cfg   Config
	store Store
	log   *slog.Logger
	Stats Stats
	ready atomic.Bool
}

// New builds a consumer; Run starts it.
func New(cfg Config, store Store, log *slog.Logger) *Consumer {
	return &Consumer{cfg: cfg, store: store, log: log.With("component", "ingest")}
}

// Ready reports whether the consumer is connected and subscribed.
func (c *Consumer) Ready() bool { return c.ready.Load() }

// kinds the hub consumes.
var consumed = []event.Kind{event.KindInfraction, event.KindStatus, event.KindMetrics, event.KindAck}

func (c *Consumer) filters() []paho.SubscribeOptions {
	var subs []paho.SubscribeOptions
	for _, k := range consumed {
		f := event.Filter(k)
		if c.cfg.ShareGroup != "" {
			f = "$share/" + c.cfg.ShareGroup + "/" + f
		}
		subs = append(subs, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	return subs
}

// Run connects, subscribes and consumes until ctx is cancelled.
func (c *Consumer) Run(ctx context.Context) error {
	u, err := url.Parse(c.cfg.BrokerURL)
	if err != nil {
		return fmt.Errorf("ingest: broker URL cannot be parsed")
	}
	// The handler runs on paho's routing goroutine; it blocks while the
	// database is down, which stops further deliveries (backpressure).
	handler := func(pr paho.PublishReceived) (bool, error) {
		c.handle(ctx, pr.Packet)
		if ctx.Err() != nil {
			return true, nil // not acknowledged: the broker redelivers after restart
		}
		if err := pr.Client.Ack(pr.Packet); err != nil {
			c.log.Warn("ack failed", "topic", pr.Packet.Topic, "err", err)
		}
		return true, nil
	}
	cliCfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     20,
		CleanStartOnInitialConnection: false,
		SessionExpiryInterval:         uint32(c.cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              autopaho.NewExponentialBackoff(500*time.Millisecond, 10*time.Second, 1*time.Second, 2.0),
		ConnectTimeout:                10 * time.Second,
		ConnectUsername:               c.cfg.Username,
		ConnectPassword:               []byte(c.cfg.Password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: c.filters()}); err != nil {
					c.log.Error("subscribe failed", "err", err)
					return
				}
				c.ready.Store(true)
				c.log.Info("consuming", "broker", u.Redacted(), "share_group", c.cfg.ShareGroup)
			}()
		},
		OnConnectionDown: func() bool {
			c.ready.Store(false)
			c.log.Warn("broker connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) { c.log.Warn("broker connect failed", "broker", u.Redacted(), "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID:                   c.cfg.ClientID,
			EnableManualAcknowledgment: true,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){handler},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cliCfg)
	if err != nil {
		return fmt.Errorf("ingest: connect %s: %w", u.Redacted(), err)
	}
	<-ctx.Done()
	c.ready.Store(false)
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = cm.Disconnect(dctx)
	<-cm.Done()
	return nil
}

// handle processes one message until it is stored or dead-lettered, retrying
// database failures with backoff; it returns early only when ctx ends.
func (c *Consumer) handle(ctx context.Context, pb *paho.Publish) {
	c.Stats.Received.Add(1)
	backoff := 200 * time.Millisecond
	for {
		err := c.process(ctx, pb)
		if err == nil {
			return
		}
		c.Stats.Retries.Add(1)
		c.log.Error("storing message failed; will retry", "topic", pb.Topic, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// stored counts the outcome of an idempotent insert and turns a permanent
// database refusal (unknown device, invalid value) into a dead-letter refusal.
func (c *Consumer) stored(env event.Envelope, duplicate bool, err error) error {
	if errors.Is(err, db.ErrUnknownDevice) {
		return &refusal{"unknown_device", err}
	}
	if errors.Is(err, db.ErrInvalidValue) {
		return &refusal{"invalid_value", err}
	}
	if err != nil {
		return err
	}
	if duplicate {
		c.Stats.Duplicates.Add(1)
		c.log.Debug("duplicate message ignored", "type", env.Type, "event_id", env.ID, "device", env.DeviceID)
		return nil
	}
	c.Stats.Stored.Add(1)
	return nil
}

// refusal is a permanent problem with a message: it goes to the dead-letter table.
type refusal struct {
	reason string
	err    error
}

func (r *refusal) Error() string { return r.reason + ": " + r.err.Error() }

// process returns nil when the message is done with (stored, duplicate or
// dead-lettered) and an error only for transient failures worth retrying.
func (c *Consumer) process(ctx context.Context, pb *paho.Publish) error {
	env, derr := c.decode(ctx, pb)
	if derr == nil {
		return nil
	}
	var ref *refusal
	if !errors.As(derr, &ref) {
		return derr
	}
	dl := db.DeadLetter{Topic: pb.Topic, Reason: ref.reason, Detail: ref.err.Error(), Payload: pb.Payload,
		EventID: env.ID, DeviceID: env.DeviceID}
	if dl.DeviceID == "" {
		dl.DeviceID, _, _ = event.ParseTopic(pb.Topic)
	}
	if err := c.store.InsertDeadLetter(ctx, dl); err != nil {
		return err
	}
	c.Stats.DeadLetters.Add(1)
	c.log.Warn("message refused", "topic", pb.Topic, "reason", ref.reason, "detail", ref.err.Error(), "bytes", len(pb.Payload))
	return nil
}

// decode parses and stores one message; a *refusal means "dead-letter it".
func (c *Consumer) decode(ctx context.Context, pb *paho.Publish) (event.Envelope, error) {
	topicDevice, topicKind, err := event.ParseTopic(pb.Topic)
	if err != nil {
		return event.Envelope{}, &refusal{event.ReasonOf(err), err}
	}
	env, payload, err := event.Parse(pb.Payload)
	if err != nil {
		reason := event.ReasonOf(err)
		if reason == "" {
			reason = event.ReasonMalformed
		}
		return env, &refusal{reason, err}
	}
	if env.Type != topicKind || env.DeviceID != topicDevice {
		return env, &refusal{"topic_mismatch", fmt.Errorf("topic says %s/%s, envelope says %s/%s", topicDevice, topicKind, env.DeviceID, env.Type)}
	}
	switch p := payload.(type) {
	case *event.Infraction:
		res, err := c.store.InsertInfraction(ctx, env, p)
		if errors.Is(err, db.ErrUnknownDevice) {
			return env, &refusal{"unknown_device", err}
		}
		if err != nil {
			return env, err
		}
		if res.Duplicate {
			c.Stats.Duplicates.Add(1)
			c.log.Debug("duplicate infraction ignored", "event_id", env.ID, "code", res.Code)
		} else {
			c.Stats.Stored.Add(1)
			c.log.Info("infraction stored", "event_id", env.ID, "code", res.Code, "type", p.Type, "camera", p.CameraID)
		}
	case *event.Status:
		dup, err := c.store.RecordStatusEvent(ctx, env)
		if err := c.stored(env, dup, err); err != nil {
			return env, err
		}
	case *event.Metrics:
		dup, err := c.store.InsertMetrics(ctx, env, p)
		if err := c.stored(env, dup, err); err != nil {
			return env, err
		}
	case *event.Ack:
		dup, err := c.store.InsertAck(ctx, env, p)
		if err := c.stored(env, dup, err); err != nil {
			return env, err
		}
		if !dup {
			c.log.Info("command acknowledged", "command_id", p.CommandID, "outcome", p.Outcome, "device", env.DeviceID)
		}
	default:
		// The agent never sends the hub's own kinds (command, model).
		return env, &refusal{"unexpected_kind", fmt.Errorf("the hub does not consume %q messages", env.Type)}
	}
	return env, nil
}
