package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/shared/event"
)

// ackLog records acknowledgements (the broker side is covered by the
// Mosquitto tests; here only which messages were acknowledged matters).
type ackLog struct {
	mu    sync.Mutex
	acked []string
}

func (a *ackLog) Ack(pb *paho.Publish) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.acked = append(a.acked, string(pb.Payload))
	return nil
}

func deliveryOf(t *testing.T, env event.Envelope, client acker) delivery {
	t.Helper()
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	pb := &paho.Publish{Topic: event.Topic(env.DeviceID, env.Type), Payload: b, QoS: 1}
	e, payload, err := parse(pb)
	if err != nil {
		t.Fatal(err)
	}
	return delivery{pb: pb, client: client, env: e, payload: payload}
}

// Integration (real PostgreSQL): one message of a batch that can never be
// stored does not block the others: the batch is stored one message at a
// time, the bad one is dead-lettered, and every message is acknowledged.
func TestBatchWithPoisonMessageIntegration(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	good := func(i int) event.Payload {
		return &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at, DetectionsCount: int64(i)}
	}
	cases := []struct {
		name              string
		bad               event.Envelope
		reason            string
		fallbacks, stored int64
	}{
		{"metrics of an unknown camera", mustEnv(t, "CAM1", at, &event.Metrics{CameraID: "CAM404", WindowStart: at, WindowEnd: at}), "unknown_device", 1, 4},
		{"status with a NUL", mustEnv(t, "CAM1", at, &event.Status{State: event.StateOnline, AgentVersion: "1\x00"}), "invalid_value", 1, 4},
		{"ack with a NUL", mustEnv(t, "CAM1", at, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeFailed,
			Result: json.RawMessage(`{"e":"\u0000"}`)}), "invalid_value", 1, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t, "CAM1")
			c := New(Config{}, s, discard())
			p := newPipeline(c)
			acks := &ackLog{}
			var batch []delivery
			for i := range 4 {
				batch = append(batch, deliveryOf(t, mustEnv(t, "CAM1", at, good(i)), acks))
				if i == 1 {
					batch = append(batch, deliveryOf(t, tc.bad, acks))
				}
			}
			if !p.writeBatch(ctx, batch) {
				t.Fatal("writeBatch gave up")
			}
			if got := c.Stats.BatchFallbacks.Load(); got != tc.fallbacks {
				t.Errorf("fallbacks %d, want %d", got, tc.fallbacks)
			}
			if got := c.Stats.Stored.Load(); got != tc.stored {
				t.Errorf("stored %d, want %d", got, tc.stored)
			}
			if got := c.Stats.DeadLetters.Load(); got != 1 {
				t.Errorf("dead letters %d, want 1", got)
			}
			if len(acks.acked) != len(batch) {
				t.Errorf("%d of %d messages acknowledged", len(acks.acked), len(batch))
			}
			if n := count(t, s, `SELECT count(*) FROM dead_letters WHERE reason = '`+tc.reason+`' AND event_id = '`+tc.bad.ID+`'`); n != 1 {
				t.Errorf("dead letter with reason %s: %d rows", tc.reason, n)
			}
			if n := count(t, s, `SELECT count(*) FROM inference_metrics WHERE device_id = 'CAM1'`); n != 4 {
				t.Errorf("%d good metrics stored, want 4", n)
			}
			// The same batch again: all duplicates (or dead-lettered again), nothing new stored.
			if !p.writeBatch(ctx, batch) {
				t.Fatal("writeBatch gave up")
			}
			if n := count(t, s, `SELECT count(*) FROM inference_metrics`); n != 4 {
				t.Errorf("redelivered batch: %d metrics rows, want 4", n)
			}
			if got := c.Stats.Duplicates.Load(); got != 4 {
				t.Errorf("redelivered batch: duplicates %d, want 4", got)
			}
		})
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Integration (real PostgreSQL): with several series writers committing
// concurrently, statuses still take effect in the order received: batches
// holding statuses are written one after the other, so the device's latest
// status is the last one received.
func TestConcurrentWritersKeepStatusOrderIntegration(t *testing.T) {
	s, _ := openStore(t, "CAM1", "CAM2")
	const n = 40
	var handled sync.WaitGroup
	handled.Add(2 * n)
	c := New(Config{MaxBatch: 1, BatchDelay: -1, SeriesWriters: 4, OnHandled: func(event.Envelope) { handled.Done() }}, s, discard())
	p := newPipeline(c)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	p.start(ctx, &wg)
	defer func() { cancel(); wg.Wait() }()
	at := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	for i := range n {
		// Metrics between the statuses: written concurrently, in any order.
		p.submit(ctx, deliveryOf(t, mustEnv(t, "CAM2", at, &event.Metrics{CameraID: "CAM2", WindowStart: at, WindowEnd: at, DetectionsCount: int64(i)}), nil))
		st := &event.Status{State: event.StateOnline, AgentVersion: fmt.Sprintf("v%d", i)}
		// Timestamps going backwards: the heartbeat keeps the newest, the status is the last received.
		p.submit(ctx, deliveryOf(t, mustEnv(t, "CAM1", at.Add(-time.Duration(i)*time.Second), st), nil))
	}
	handled.Wait()
	if got := c.Stats.Stored.Load(); got != 2*n {
		t.Fatalf("stored %d, want %d", got, 2*n)
	}
	var version string
	var beat time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT metadata->'agent_status'->>'agent_version', last_heartbeat FROM devices WHERE id = 'CAM1'`).Scan(&version, &beat); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("v%d", n-1); version != want {
		t.Errorf("latest status %q, want %q (the last received)", version, want)
	}
	if !beat.Equal(at) {
		t.Errorf("heartbeat %s, want the newest status time %s", beat, at)
	}
}

// Integration (real PostgreSQL): infractions arriving within
// InfractionBatchDelay of the first share one transaction (here 10 ms apart,
// longer than the time-series BatchDelay), and every one of them is stored
// with its own gap-free code; with no delay and MaxBatch 1, each takes its own.
func TestInfractionBatchDelayGroupsInfractionsIntegration(t *testing.T) {
	at := time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name        string
		cfg         Config
		wantBatches int64
	}{
		{"a long delay groups them", Config{InfractionBatchDelay: time.Minute, MaxBatch: 8}, 1},
		{"no delay, one per batch", Config{InfractionBatchDelay: -1, MaxBatch: 1}, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openStore(t, "CAM1")
			var handled sync.WaitGroup
			handled.Add(8)
			cfg := tc.cfg
			cfg.OnHandled = func(event.Envelope) { handled.Done() }
			c := New(cfg, s, discard())
			p := newPipeline(c)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			p.start(ctx, &wg)
			defer func() { cancel(); wg.Wait() }()
			for i := range 8 {
				d := deliveryOf(t, mustEnv(t, "CAM1", at, &event.Infraction{Type: event.SpeedViolation, CameraID: "CAM1", DetectedAt: at,
					DetectedSpeed: 80 + float64(i), SpeedLimit: 60, Plate: fmt.Sprintf("ABC-%03d", i), PlateReadable: true}), nil)
				d.received = time.Now()
				p.submit(ctx, d)
				time.Sleep(10 * time.Millisecond) // longer than DefaultBatchDelay: only InfractionBatchDelay can group them
			}
			handled.Wait()
			if got := c.Stats.InfractionBatches.Load(); got != tc.wantBatches {
				t.Errorf("%d infraction batches, want %d", got, tc.wantBatches)
			}
			if n := count(t, s, `SELECT count(DISTINCT infraction_code) FROM infractions WHERE infraction_code LIKE 'INF-20260305-%'`); n != 8 {
				t.Errorf("%d distinct codes, want 8", n)
			}
			if n := count(t, s, `SELECT max(substr(infraction_code, 14)::int) FROM infractions`); n != 8 {
				t.Errorf("highest code number %d, want 8 (gap-free)", n)
			}
		})
	}
}

func TestConfigDelays(t *testing.T) {
	tests := []struct {
		name                string
		in                  Config
		series, infractions time.Duration
	}{
		{"defaults", Config{}, DefaultBatchDelay, DefaultInfractionBatchDelay},
		{"none when negative", Config{BatchDelay: -1, InfractionBatchDelay: -1}, 0, 0},
		{"as set", Config{BatchDelay: 7 * time.Millisecond, InfractionBatchDelay: time.Second}, 7 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.in.withDefaults()
			if c.BatchDelay != tc.series || c.InfractionBatchDelay != tc.infractions {
				t.Errorf("delays %v, %v; want %v, %v", c.BatchDelay, c.InfractionBatchDelay, tc.series, tc.infractions)
			}
		})
	}
}
