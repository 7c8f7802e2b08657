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
//	                        └─ metrics/status/ack → batch → write ×SeriesWriters (one transaction per batch)
//
// Each message is acknowledged to the broker only after the transaction that
// stored it committed; paho sends the acknowledgements in receive order.
//
// Several series writers commit batches concurrently (a batch spends most of
// its time waiting for PostgreSQL, not computing). Metrics and
// acknowledgements have no order between them; statuses do (the last status
// received is the device's latest), so a batch holding statuses waits until
// the previous batch holding statuses is done before it writes.
type pipeline struct {
	c       *Consumer
	in      chan delivery
	infr    chan delivery
	batches chan seriesBatch
}

// seriesBatch is a batch of metrics, statuses and acknowledgements. A batch
// with statuses has after (closed when the previous batch with statuses is
// done with) and done (closed when this one is).
type seriesBatch struct {
	msgs  []delivery
	after <-chan struct{}
	done  chan struct{}
}

func newPipeline(c *Consumer) *pipeline {
	return &pipeline{
		c:       c,
		in:      make(chan delivery, c.cfg.MaxBatch),
		infr:    make(chan delivery, c.cfg.MaxBatch),
		batches: make(chan seriesBatch),
	}
}

// start launches the pipeline's goroutines; they end when ctx ends.
func (p *pipeline) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(2 + p.c.cfg.SeriesWriters)
	go func() { defer wg.Done(); p.collect(ctx) }()
	for range p.c.cfg.SeriesWriters {
		go func() { defer wg.Done(); p.write(ctx) }()
	}
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
	due, statuses := false, false
	// lastStatus is closed when the last batch with statuses handed out is done.
	lastStatus := make(chan struct{})
	close(lastStatus)
	for {
		in, out := p.in, p.batches
		if len(batch) >= cfg.MaxBatch {
			in, due = nil, true
		}
		var sb seriesBatch
		if len(batch) == 0 || !due {
			out = nil
		} else {
			sb.msgs = batch
			if statuses {
				sb.after, sb.done = lastStatus, make(chan struct{})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-linger:
			linger, due = nil, true
		case out <- sb:
			if sb.done != nil {
				lastStatus = sb.done
			}
			batch, linger, due, statuses = nil, nil, false, false
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
				if env.Type == event.KindStatus {
					statuses = true
				}
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

// write commits batches, one transaction each; a batch with statuses first
// waits for the previous batch with statuses.
func (p *pipeline) write(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case sb := <-p.batches:
			if sb.after != nil {
				select {
				case <-sb.after:
				case <-ctx.Done():
					return
				}
			}
			ok := p.writeBatch(ctx, sb.msgs)
			if sb.done != nil {
				close(sb.done)
			}
			if !ok {
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
		c.log.Warn("batch refused; storing its messages one by one", "messages", len(batch))
		return p.storeEach(ctx, batch)
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
// transaction, one lock of the daily code counter per batch). Like the
// time-series batches, a batch takes what arrived while the previous one was
// being committed (group commit) and, once the writer is free, waits for more
// until InfractionBatchDelay after its first message was received: a batch
// has a fixed cost (about 500 µs of PostgreSQL CPU, DefaultInfractionBatchDelay)
// that small batches would pay per infraction.
func (p *pipeline) infractions(ctx context.Context) {
	c := p.c
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	defer linger.Stop()
	for {
		var batch []delivery
		select {
		case <-ctx.Done():
			return
		case d := <-p.infr:
			batch = append(batch, d)
		}
		waiting := false
		if wait := time.Until(batch[0].received.Add(c.cfg.InfractionBatchDelay)); c.cfg.InfractionBatchDelay > 0 && wait > 0 {
			linger.Reset(wait)
			waiting = true
		}
	more:
		for len(batch) < c.cfg.MaxBatch {
			if !waiting {
				select {
				case d := <-p.infr:
					batch = append(batch, d)
					continue
				default:
					break more
				}
			}
			select {
			case d := <-p.infr:
				batch = append(batch, d)
			case <-linger.C:
				waiting = false
			case <-ctx.Done():
				return
			}
		}
		linger.Stop() // (Go 1.23+ timers: no stale tick is left to drain)
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
		c.log.Warn("infraction batch refused; storing its infractions one by one", "infractions", len(batch))
		return p.storeEach(ctx, batch)
	}
	c.Stats.Batches.Add(1)
	c.Stats.InfractionBatches.Add(1)
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

// storeEach stores a refused batch one message at a time, so that only the
// messages that can never be stored are dead-lettered. It returns false when
// ctx ended first.
func (p *pipeline) storeEach(ctx context.Context, batch []delivery) bool {
	c := p.c
	c.Stats.BatchFallbacks.Add(1)
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
