package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// acker acknowledges a message to the broker (*paho.Client).
type acker interface {
	Ack(pb *paho.Publish) error
}

// delivery is one received message on its way through the pipeline.
type delivery struct {
	pb       *paho.Publish
	client   acker
	received time.Time
	env      event.Envelope
	payload  event.Payload
}

// pipeline moves messages from the MQTT handler to the database:
//
//	handler → in → collect ─┬─ refused      → dead letter (inline)
//	                        ├─ infraction   → infr → infractions (one transaction per batch)
//	                        └─ metrics/status/ack → batch → write (one transaction per batch)
//
// Each message is acknowledged to the broker only after the transaction that
// stored it committed; paho sends the acknowledgements in receive order.
type pipeline struct {
	c       *Consumer
	in      chan delivery
	infr    chan delivery
	batches chan []delivery
}

func newPipeline(c *Consumer) *pipeline {
	return &pipeline{
		c:       c,
		in:      make(chan delivery, c.cfg.MaxBatch),
		infr:    make(chan delivery, c.cfg.MaxBatch),
		batches: make(chan []delivery),
	}
}

// start launches the pipeline's goroutines; they end when ctx ends.
func (p *pipeline) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(3)
	go func() { defer wg.Done(); p.collect(ctx) }()
	go func() { defer wg.Done(); p.write(ctx) }()
	go func() { defer wg.Done(); p.infractions(ctx) }()
}

// submit hands a message to the pipeline, blocking while it is full.
func (p *pipeline) submit(ctx context.Context, d delivery) {
	select {
	case p.in <- d:
	case <-ctx.Done():
	}
}

// collect parses messages and groups the time-series ones into batches. A
// batch is handed to the writer when it is full, or when the writer is free
// and BatchDelay has passed since the batch's first message; while the writer
// commits one batch the next one grows (group commit).
func (p *pipeline) collect(ctx context.Context) {
	cfg := p.c.cfg
	var batch []delivery
	var linger <-chan time.Time
	due := false
	for {
		in, out := p.in, p.batches
		if len(batch) >= cfg.MaxBatch {
			in, due = nil, true
		}
		if len(batch) == 0 || !due {
			out = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-linger:
			linger, due = nil, true
		case out <- batch:
			batch, linger, due = nil, nil, false
		case d := <-in:
			env, payload, err := parse(d.pb)
			d.env, d.payload = env, payload
			switch {
			case err != nil:
				if !p.c.retry(ctx, "topic", d.pb.Topic, func() error { return p.c.settle(ctx, d.pb, env, err) }) {
					return
				}
				p.done(ctx, d)
			case env.Type == event.KindInfraction:
				select {
				case p.infr <- d:
				case <-ctx.Done():
					return
				}
			default:
				batch = append(batch, d)
				if len(batch) == 1 {
					if cfg.BatchDelay > 0 {
						linger = time.After(cfg.BatchDelay)
					} else {
						due = true
					}
				}
			}
		}
	}
}

// write commits batches, one transaction each.
func (p *pipeline) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case batch := <-p.batches:
			if !p.writeBatch(ctx, batch) {
				return
			}
		}
	}
}

// writeBatch stores a batch, retrying transient failures; a permanent refusal
// of one message makes it store the batch one message at a time, so that
// message is dead-lettered and the others are stored. It returns false when
// ctx ended first (nothing left unacknowledged is lost: the broker redelivers).
func (p *pipeline) writeBatch(ctx context.Context, batch []delivery) bool {
	c := p.c
	msgs := make([]db.BatchMessage, len(batch))
	for i, d := range batch {
		m := db.BatchMessage{Env: d.env}
		switch pl := d.payload.(type) {
		case *event.Metrics:
			m.Metrics = pl
		case *event.Status:
			m.Status = pl
		case *event.Ack:
			m.Ack = pl
		}
		msgs[i] = m
	}
	var dups []bool
	fallback := false
	ok := c.retry(ctx, "batch", "", func() error {
		var err error
		t0 := time.Now()
		dups, err = c.store.InsertBatch(ctx, msgs)
		c.Stats.SeriesWriteNanos.Add(int64(time.Since(t0)))
		if err != nil && db.IsPermanent(err) {
			fallback = true
			return nil
		}
		return err
	})
	if !ok {
		return false
	}
	if fallback {
		c.Stats.BatchFallbacks.Add(1)
		c.log.Warn("batch refused; storing its messages one by one", "messages", len(batch))
		for _, d := range batch {
			if !c.retry(ctx, "topic", d.pb.Topic, func() error {
				return c.settle(ctx, d.pb, d.env, c.storeOne(ctx, d.env, d.payload))
			}) {
				return false
			}
			p.done(ctx, d)
		}
		return true
	}
	c.Stats.Batches.Add(1)
	for i, d := range batch {
		if dups[i] {
			c.Stats.Duplicates.Add(1)
		} else {
			c.Stats.Stored.Add(1)
		}
		if m := msgs[i]; m.Ack != nil && !dups[i] {
			c.log.Info("command acknowledged", "command_id", m.Ack.CommandID, "outcome", m.Ack.Outcome, "device", m.Env.DeviceID)
		}
		p.done(ctx, d)
	}
	return true
}

// infractions stores infractions in batches (InsertInfractions: one
// transaction, one lock of the daily code counter per batch): it takes what
// has arrived while the previous batch was being committed (group commit).
func (p *pipeline) infractions(ctx context.Context) {
	c := p.c
	for {
		var batch []delivery
		select {
		case <-ctx.Done():
			return
		case d := <-p.infr:
			batch = append(batch, d)
		}
	more:
		for len(batch) < c.cfg.MaxBatch {
			select {
			case d := <-p.infr:
				batch = append(batch, d)
			default:
				break more
			}
		}
		if !p.writeInfractions(ctx, batch) {
			return
		}
	}
}

// writeInfractions stores a batch of infractions, retrying transient
// failures; an unknown camera makes it store them one by one so that only
// that infraction is dead-lettered. It returns false when ctx ended first.
func (p *pipeline) writeInfractions(ctx context.Context, batch []delivery) bool {
	c := p.c
	msgs := make([]db.InfractionMessage, len(batch))
	for i, d := range batch {
		msgs[i] = db.InfractionMessage{Env: d.env, P: d.payload.(*event.Infraction)}
	}
	var res []db.InsertResult
	fallback := false
	if !c.retry(ctx, "infractions", "", func() error {
		var err error
		t0 := time.Now()
		res, err = c.store.InsertInfractions(ctx, msgs)
		c.Stats.InfractionWriteNanos.Add(int64(time.Since(t0)))
		if err != nil && db.IsPermanent(err) {
			fallback = true
			return nil
		}
		return err
	}) {
		return false
	}
	if fallback {
		c.Stats.BatchFallbacks.Add(1)
		c.log.Warn("infraction batch refused; storing its infractions one by one", "infractions", len(batch))
		for _, d := range batch {
			if !c.retry(ctx, "topic", d.pb.Topic, func() error {
				return c.settle(ctx, d.pb, d.env, c.storeOne(ctx, d.env, d.payload))
			}) {
				return false
			}
			p.done(ctx, d)
		}
		return true
	}
	c.Stats.Batches.Add(1)
	for i, d := range batch {
		if res[i].Duplicate {
			c.Stats.Duplicates.Add(1)
			c.log.Debug("duplicate infraction ignored", "event_id", d.env.ID, "code", res[i].Code)
		} else {
			c.Stats.Stored.Add(1)
			c.log.Info("infraction stored", "event_id", d.env.ID, "code", res[i].Code, "type", msgs[i].P.Type, "camera", msgs[i].P.CameraID)
		}
		p.done(ctx, d)
	}
	return true
}

// done reports a message as handled and acknowledges it to the broker.
func (p *pipeline) done(ctx context.Context, d delivery) {
	if h := p.c.cfg.OnHandled; h != nil {
		h(d.env)
	}
	if ctx.Err() != nil || d.client == nil {
		return // the session is going away; the broker redelivers, and the store deduplicates
	}
	if err := d.client.Ack(d.pb); err != nil {
		p.c.log.Warn("ack failed", "topic", d.pb.Topic, "err", err)
	}
}
