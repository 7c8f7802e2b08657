package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

func batchMsg(t *testing.T, device string, at time.Time, p event.Payload) BatchMessage {
	t.Helper()
	env, err := event.New(device, at, p)
	if err != nil {
		t.Fatal(err)
	}
	m := BatchMessage{Env: env}
	switch p := p.(type) {
	case *event.Metrics:
		m.Metrics = p
	case *event.Status:
		m.Status = p
	case *event.Ack:
		m.Ack = p
	default:
		t.Fatalf("not a batch kind: %T", p)
	}
	return m
}

func countRows(t *testing.T, s *Store, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// Integration (real PostgreSQL): a batch is idempotent on the envelope id,
// across batches and inside one batch, and the last status received wins.
func TestInsertBatchIdempotentIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, id := range []string{"AGENT1", "CAM1"} {
		if err := s.UpsertDevice(ctx, Device{ID: id, Name: id, RTSPURL: "rtsp://x"}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	m1 := batchMsg(t, "AGENT1", at, &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at, FPS: 10, DetectionsCount: 3})
	m2 := batchMsg(t, "AGENT1", at.Add(time.Second), &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at, FPS: 11})
	ack := batchMsg(t, "AGENT1", at, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeDone, Result: json.RawMessage(`{"ok":true}`)})
	// Statuses received out of order: the later-received one is the latest
	// status, the heartbeat is the newest timestamp.
	st1 := batchMsg(t, "AGENT1", at.Add(time.Minute), &event.Status{State: event.StateOnline, AgentVersion: "first"})
	st2 := batchMsg(t, "AGENT1", at, &event.Status{State: event.StateOnline, AgentVersion: "second"})
	m3 := batchMsg(t, "AGENT1", at.Add(2*time.Second), &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at, FPS: 12})
	ack2 := batchMsg(t, "AGENT1", at, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeRejected, Message: "unknown key"})

	cases := []struct {
		name string
		msgs []BatchMessage
		dups []bool
	}{
		{"new rows and a repeat inside the batch", []BatchMessage{m1, ack, m1, st1, st2}, []bool{false, false, true, false, false}},
		{"redelivered batch", []BatchMessage{m1, ack, st1}, []bool{true, true, true}},
		{"partly new", []BatchMessage{m2, m1}, []bool{false, true}},
		// Without statuses the metrics are first inserted optimistically; the
		// stored m1 makes that fail and the batch is stored idempotently.
		{"partly new with an ack", []BatchMessage{m3, ack2, m1}, []bool{false, false, true}},
		{"all new, optimistic", []BatchMessage{batchMsg(t, "AGENT1", at.Add(3*time.Second), &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at}),
			batchMsg(t, "AGENT1", at.Add(4*time.Second), &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at})}, []bool{false, false}},
		{"empty", nil, []bool{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dups, err := s.InsertBatch(ctx, tc.msgs)
			if err != nil {
				t.Fatal(err)
			}
			if len(dups) != len(tc.dups) {
				t.Fatalf("got %d flags, want %d", len(dups), len(tc.dups))
			}
			for i := range dups {
				if dups[i] != tc.dups[i] {
					t.Errorf("message %d: duplicate=%v, want %v", i, dups[i], tc.dups[i])
				}
			}
		})
	}
	checks := []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM inference_metrics`, 5},
		{`SELECT count(*) FROM command_acks`, 2},
		{`SELECT count(*) FROM inference_metrics WHERE event_id = '` + m1.Env.ID + `' AND detections_count = 3 AND source_device_id = 'AGENT1'`, 1},
		{`SELECT count(*) FROM command_acks WHERE result = '{"ok":true}'::jsonb AND camera_id IS NULL`, 1},
		{`SELECT count(*) FROM events WHERE event_type = 'status'`, 2},
		{`SELECT count(*) FROM devices WHERE id = 'AGENT1' AND metadata->'agent_status'->>'agent_version' = 'second'`, 1},
		{`SELECT count(*) FROM devices WHERE id = 'AGENT1' AND date_trunc('second', last_heartbeat) = '2026-03-01T12:01:00Z'`, 1},
	}
	for _, c := range checks {
		if got := countRows(t, s, c.sql); got != c.want {
			t.Errorf("%s = %d, want %d", c.sql, got, c.want)
		}
	}
}

// Integration: one message that can never be stored fails the batch with a
// permanent error and stores nothing, so the caller can isolate it.
func TestInsertBatchPermanentErrorIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	good := batchMsg(t, "CAM1", at, &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at})
	cases := []struct {
		name string
		bad  BatchMessage
		want error
	}{
		{"metrics of an unknown camera", batchMsg(t, "CAM1", at, &event.Metrics{CameraID: "CAM404", WindowStart: at, WindowEnd: at}), ErrUnknownDevice},
		{"status of an unknown device", batchMsg(t, "AGENT404", at, &event.Status{State: event.StateOnline}), ErrUnknownDevice},
		{"ack of an unknown device", batchMsg(t, "AGENT404", at, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeDone}), ErrUnknownDevice},
		{"status with a NUL", batchMsg(t, "CAM1", at, &event.Status{State: event.StateOnline, AgentVersion: "1\x002"}), ErrInvalidValue},
		{"ack result with a NUL", batchMsg(t, "CAM1", at, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeFailed,
			Result: json.RawMessage(`{"e":"\u0000"}`)}), ErrInvalidValue},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.InsertBatch(ctx, []BatchMessage{good, tc.bad})
			if !errors.Is(err, tc.want) || !IsPermanent(err) {
				t.Fatalf("err = %v, want %v (permanent)", err, tc.want)
			}
			if n := countRows(t, s, `SELECT count(*) FROM inference_metrics`); n != 0 {
				t.Fatalf("a failed batch stored %d rows", n)
			}
		})
	}
	// A closed pool is a transient failure, not a permanent one.
	s.Pool.Close()
	if _, err := s.InsertBatch(ctx, []BatchMessage{good}); err == nil || IsPermanent(err) {
		t.Fatalf("closed database: err = %v, want a transient error", err)
	}
}

func BenchmarkInsertBatch500Integration(b *testing.B) {
	s := openTestB(b)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", RTSPURL: "rtsp://x"}); err != nil {
		b.Fatal(err)
	}
	at := time.Now().UTC()
	b.ResetTimer()
	for range b.N {
		msgs := make([]BatchMessage, 500)
		for i := range msgs {
			env, _ := event.New("CAM1", at, &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at})
			msgs[i] = BatchMessage{Env: env, Metrics: &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at, FPS: 12}}
		}
		if _, err := s.InsertBatch(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*500)/b.Elapsed().Seconds(), "rows/s")
}

func openTestB(b *testing.B) *Store {
	b.Helper()
	return openMigrated(b, time.UTC)
}

// BenchmarkInsertBatchWithStatusesIntegration: a batch of 50 messages whose
// statuses (one per agent, 5 agents) make it take the transactional path.
func BenchmarkInsertBatchWithStatusesIntegration(b *testing.B) {
	s := openTestB(b)
	ctx := context.Background()
	for i := range 5 {
		id := fmt.Sprintf("AG%d", i)
		if err := s.UpsertDevice(ctx, Device{ID: id, Name: id, RTSPURL: "rtsp://x"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		at := time.Now().UTC()
		msgs := make([]BatchMessage, 50)
		for i := range msgs {
			dev := fmt.Sprintf("AG%d", i%5)
			var p event.Payload = &event.Metrics{CameraID: dev, WindowStart: at, WindowEnd: at, FPS: 12}
			if i >= 45 {
				p = &event.Status{State: event.StateOnline, AgentVersion: "1.0.0"}
			}
			env, err := event.New(dev, at, p)
			if err != nil {
				b.Fatal(err)
			}
			msgs[i] = BatchMessage{Env: env}
			switch p := p.(type) {
			case *event.Metrics:
				msgs[i].Metrics = p
			case *event.Status:
				msgs[i].Status = p
			}
		}
		if _, err := s.InsertBatch(ctx, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*50)/b.Elapsed().Seconds(), "msgs/s")
}
