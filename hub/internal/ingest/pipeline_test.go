package ingest

import (
	"context"
	"encoding/json"
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
