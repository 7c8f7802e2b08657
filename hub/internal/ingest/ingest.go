// Package ingest consumes the fleet's MQTT messages and persists them. A
// message is acknowledged to the broker only after the transaction that
// stored it committed (or after it was kept in the dead-letter table), so a
// database outage loses nothing: unacknowledged QoS 1 messages stay in the
// hub's persistent session (CleanStart=false, session expiry) and are
// redelivered, also across a hub restart.
//
// Writes are batched (pipeline.go): metrics, status and acknowledgements go
// to the database in one transaction per batch (db.InsertBatch, by
// Config.SeriesWriters concurrent writers), infractions in another
// (db.InsertInfractions, which gives their gap-free codes); a batch grows
// while the previous one commits, up to Config.MaxBatch. When a
// message of a batch can never be stored, the batch is stored one message at
// a time so that only that message is dead-lettered.
//
// With Config.ShareGroup the hub subscribes through MQTT 5 shared
// subscriptions ($share/<group>/traffic/v1/+/<kind>), so replicas split the
// messages; Mosquitto and the embedded mochi broker both support them, but
// Mosquitto 2.0 does not restore them from persistence after a restart (the
// messages published before the hub resubscribes are lost), so sharing is
// off unless configured (see config.MQTT.ShareGroup).
// The hub announces the largest Receive Maximum (65,535) so that Mosquitto
// keeps that many unacknowledged messages in flight for it; beyond that,
// Mosquitto queues at most max_queued_messages (1000 by default) and then
// drops QoS 1 messages. A deployment that must ride out long database
// outages at fleet scale raises max_queued_messages in mosquitto.conf.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"sync"
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
	InsertBatch(ctx context.Context, msgs []db.BatchMessage) (duplicate []bool, err error)
	InsertInfractions(ctx context.Context, msgs []db.InfractionMessage) ([]db.InsertResult, error)
	InsertDeadLetter(ctx context.Context, d db.DeadLetter) error
}

// Defaults of the batching knobs.
const (
	DefaultMaxBatch      = 500
	DefaultBatchDelay    = 5 * time.Millisecond
	DefaultSeriesWriters = 2
	// DefaultInfractionBatchDelay is longer than DefaultBatchDelay because an
	// infraction batch costs PostgreSQL far more per batch than per row: about
	// 500 µs of CPU per transaction (commit flush, the statement's start-up
	// with the table's 11 indexes, the exact-count trigger) against about 45 µs
	// per infraction, measured with batches of 1, 7 and 50 (a metrics batch:
	// about 165 µs and 9 µs per row). Infractions are a tenth of the traffic or
	// less, so at 5 ms a batch held about 7 of them and their fixed cost was
	// the largest part of the database's CPU per message. Waiting 50 ms
	// (nothing next to the seconds an infraction takes to reach an operator's
	// screen) gives batches of about 45 under the benchmark's load.
	DefaultInfractionBatchDelay = 50 * time.Millisecond
)

// GCPercent is the garbage collector's target (GOGC) the hub runs with unless
// the GOGC environment variable says otherwise. Ingestion allocates a few
// short-lived kilobytes per message (MQTT packet, decoded payload, batch
// arguments) over a small live heap, so with Go's default of 100 the collector
// runs every few milliseconds under load: in the ingestion benchmark it took
// ~8 µs of the hub's ~40 µs of CPU per message. At 400 the heap may grow to
// five times the live data (tens of megabytes for the hub) and collections
// are four times rarer.
const GCPercent = 400

// TuneGC sets the collector's target to GCPercent when getenv("GOGC") is
// empty, and returns the target in force and whether it set it.
func TuneGC(getenv func(string) string) (percent int, changed bool) {
	if v := getenv("GOGC"); v != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old, false
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent, true
}

// Config configures the consumer.
type Config struct {
	BrokerURL string
	ClientID  string
	// ShareGroup, when set, subscribes through $share/<group>/... so that
	// several hub replicas split the messages (MQTT 5 shared subscriptions).
	ShareGroup    string
	Username      string
	Password      string
	SessionExpiry time.Duration

	// MaxBatch bounds how many metrics/status/ack messages share one
	// transaction (DefaultMaxBatch when 0).
	MaxBatch int
	// BatchDelay is how long a batch of time-series messages waits for more
	// once its writer is free (DefaultBatchDelay when 0, none when negative).
	// Under load, batches also grow while the previous one is being committed.
	BatchDelay time.Duration
	// InfractionBatchDelay is BatchDelay for infraction batches
	// (DefaultInfractionBatchDelay when 0, none when negative).
	InfractionBatchDelay time.Duration
	// SeriesWriters is how many metrics/status/ack batches are written
	// concurrently (DefaultSeriesWriters when 0). Each holds one database
	// connection while it writes.
	SeriesWriters int
	// OnHandled, when set, is called once a message is done with (committed,
	// found to be a duplicate, or dead-lettered) and before it is acknowledged
	// to the broker. It must be fast; benchmarks use it to time the pipeline.
	OnHandled func(env event.Envelope)
}

func (c Config) withDefaults() Config {
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	c.BatchDelay = delayOr(c.BatchDelay, DefaultBatchDelay)
	c.InfractionBatchDelay = delayOr(c.InfractionBatchDelay, DefaultInfractionBatchDelay)
	if c.SeriesWriters <= 0 {
		c.SeriesWriters = DefaultSeriesWriters
	}
	return c
}

// delayOr is a batching delay as configured: def when 0, none when negative.
func delayOr(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Stats counts what the consumer did.
type Stats struct {
	Received    atomic.Int64
	Stored      atomic.Int64
	Duplicates  atomic.Int64
	DeadLetters atomic.Int64
	Retries     atomic.Int64
	// Batches counts committed batches (InfractionBatches those of
	// infractions); BatchFallbacks the batches that had to be stored one
	// message at a time to isolate a permanent refusal.
	Batches           atomic.Int64
	InfractionBatches atomic.Int64
	BatchFallbacks    atomic.Int64
	// SeriesWriteNanos and InfractionWriteNanos add up the time spent in the
	// batch writes (successful or not): compared with wall time they tell
	// whether the database is the bottleneck.
	SeriesWriteNanos     atomic.Int64
	InfractionWriteNanos atomic.Int64
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
	return &Consumer{cfg: cfg.withDefaults(), store: store, log: log.With("component", "ingest")}
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

// sendAcksInterval is how often paho flushes manual acknowledgements (its
// default, 50 ms, would cap a consumer at one broker window per 50 ms).
const sendAcksInterval = 2 * time.Millisecond

// receiveMaximum is the MQTT 5 Receive Maximum the hub announces (the protocol's largest).
const receiveMaximum = 65535

// Run connects, subscribes and consumes until ctx is cancelled.
func (c *Consumer) Run(ctx context.Context) error {
	u, err := url.Parse(c.cfg.BrokerURL)
	if err != nil {
		return fmt.Errorf("ingest: broker URL cannot be parsed")
	}
	p := newPipeline(c)
	var wg sync.WaitGroup
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	p.start(pctx, &wg)
	// The handler runs on paho's routing goroutine: it only hands the message
	// to the pipeline, and blocks when the pipeline is full (backpressure: the
	// broker keeps what the hub has not acknowledged).
	handler := func(pr paho.PublishReceived) (bool, error) {
		c.Stats.Received.Add(1)
		p.submit(pctx, delivery{pb: pr.Packet, client: pr.Client, received: time.Now()})
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
		// Without a Receive Maximum in CONNECT, Mosquitto keeps only
		// max_inflight_messages (20) unacknowledged messages in flight to the
		// hub and queues the rest, dropping QoS 1 messages beyond
		// max_queued_messages (1000): acknowledgements go out in order, so one
		// slow batch would stall the flow, and a database outage would lose
		// messages after ~1000. With the MQTT maximum, 65,535 messages wait in
		// flight (kept by the broker, redelivered on reconnect) before its queue
		// limit applies; the hub's own memory stays bounded by its pipeline.
		ConnectPacketBuilder: func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			rm := uint16(receiveMaximum)
			cp.Properties.ReceiveMaximum = &rm
			return cp, nil
		},
		ClientConfig: paho.ClientConfig{
			ClientID:                   c.cfg.ClientID,
			EnableManualAcknowledgment: true,
			SendAcksInterval:           sendAcksInterval,
			OnPublishReceived:          []func(paho.PublishReceived) (bool, error){handler},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cliCfg)
	if err != nil {
		stop()
		wg.Wait()
		return fmt.Errorf("ingest: connect %s: %w", u.Redacted(), err)
	}
	<-ctx.Done()
	c.ready.Store(false)
	stop()
	dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = cm.Disconnect(dctx)
	<-cm.Done()
	wg.Wait()
	return nil
}

// retry calls fn until it succeeds, with backoff; false means ctx ended first.
func (c *Consumer) retry(ctx context.Context, what, which string, fn func() error) bool {
	backoff := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return true
		}
		c.Stats.Retries.Add(1)
		if ctx.Err() != nil {
			return false
		}
		c.log.Error("storing failed; will retry", what, which, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
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

// process handles one message by itself: parse, store, or dead-letter. It
// returns nil when the message is done with (stored, duplicate or
// dead-lettered) and an error only for transient failures worth retrying.
func (c *Consumer) process(ctx context.Context, pb *paho.Publish) error {
	env, payload, err := parse(pb)
	if err == nil {
		err = c.storeOne(ctx, env, payload)
	}
	return c.settle(ctx, pb, env, err)
}

// settle dead-letters a refusal; any other non-nil error is returned (transient).
func (c *Consumer) settle(ctx context.Context, pb *paho.Publish, env event.Envelope, err error) error {
	if err == nil {
		return nil
	}
	var ref *refusal
	if !errors.As(err, &ref) {
		return err
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

// parse checks a message's topic and envelope; a *refusal means "dead-letter it".
func parse(pb *paho.Publish) (event.Envelope, event.Payload, error) {
	topicDevice, topicKind, err := event.ParseTopic(pb.Topic)
	if err != nil {
		return event.Envelope{}, nil, &refusal{event.ReasonOf(err), err}
	}
	env, payload, err := parseMessage(pb.Payload)
	if err != nil {
		reason := event.ReasonOf(err)
		if reason == "" {
			reason = event.ReasonMalformed
		}
		return env, nil, &refusal{reason, err}
	}
	if env.Type != topicKind || env.DeviceID != topicDevice {
		return env, nil, &refusal{"topic_mismatch", fmt.Errorf("topic says %s/%s, envelope says %s/%s", topicDevice, topicKind, env.DeviceID, env.Type)}
	}
	switch payload.(type) {
	case *event.Infraction, *event.Status, *event.Metrics, *event.Ack:
		return env, payload, nil
	}
	// The agent never sends the hub's own kinds (command, model).
	return env, nil, &refusal{"unexpected_kind", fmt.Errorf("the hub does not consume %q messages", env.Type)}
}

// storeOne stores one parsed message in its own transaction; a *refusal
// means "dead-letter it", any other error is transient.
func (c *Consumer) storeOne(ctx context.Context, env event.Envelope, payload event.Payload) error {
	switch p := payload.(type) {
	case *event.Infraction:
		res, err := c.store.InsertInfraction(ctx, env, p)
		if errors.Is(err, db.ErrUnknownDevice) {
			return &refusal{"unknown_device", err}
		}
		if errors.Is(err, db.ErrInvalidValue) {
			return &refusal{"invalid_value", err}
		}
		if err != nil {
			return err
		}
		if res.Duplicate {
			c.Stats.Duplicates.Add(1)
			c.log.Debug("duplicate infraction ignored", "event_id", env.ID, "code", res.Code)
		} else {
			c.Stats.Stored.Add(1)
			c.log.Info("infraction stored", "event_id", env.ID, "code", res.Code, "type", p.Type, "camera", p.CameraID)
		}
		return nil
	case *event.Status:
		dup, err := c.store.RecordStatusEvent(ctx, env)
		return c.stored(env, dup, err)
	case *event.Metrics:
		dup, err := c.store.InsertMetrics(ctx, env, p)
		return c.stored(env, dup, err)
	case *event.Ack:
		dup, err := c.store.InsertAck(ctx, env, p)
		if err := c.stored(env, dup, err); err != nil {
			return err
		}
		if !dup {
			c.log.Info("command acknowledged", "command_id", p.CommandID, "outcome", p.Outcome, "device", env.DeviceID)
		}
		return nil
	}
	return &refusal{"unexpected_kind", fmt.Errorf("the hub does not consume %q messages", env.Type)}
}
