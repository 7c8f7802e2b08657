package ingest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/shared/event"
)

// Integration: the consumer's process path against a real PostgreSQL.
func newTestConsumer(t *testing.T) (*Consumer, *db.Store) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := db.Open(ctx, testdb.New(t), time.UTC, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"AGENT1", "CAM1"} {
		if err := s.UpsertDevice(ctx, db.Device{ID: id, Name: id, RTSPURL: "rtsp://x"}); err != nil {
			t.Fatal(err)
		}
	}
	return New(Config{}, s, log), s
}

func publish(t *testing.T, device string, p event.Payload, at time.Time) *paho.Publish {
	t.Helper()
	env, err := event.New(device, at, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return &paho.Publish{Topic: event.Topic(device, p.Kind()), Payload: b, QoS: 1}
}

func count(t *testing.T, s *db.Store, sql string) int {
	t.Helper()
	var n int
	if err := s.Pool.QueryRow(context.Background(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestProcessMetricsAckStatusIntegration(t *testing.T) {
	c, s := newTestConsumer(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	metrics := &event.Metrics{CameraID: "CAM1", WindowStart: at.Add(-10 * time.Second), WindowEnd: at, FPS: 12, LatencyMs: 30,
		CPUUtilization: 80, MemoryMB: 512, DetectionsCount: 7}
	ack := &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeDone}
	status := &event.Status{State: event.StateOnline, AgentVersion: "1.2.3"}
	unknownCam := &event.Metrics{CameraID: "CAM404", WindowStart: at, WindowEnd: at}

	mPub := publish(t, "AGENT1", metrics, at)
	aPub := publish(t, "AGENT1", ack, at)
	sPub := publish(t, "AGENT1", status, at)
	mismatch := publish(t, "AGENT1", metrics, at)
	mismatch.Topic = event.Topic("AGENT1", event.KindAck)

	cases := []struct {
		name                    string
		pub                     *paho.Publish
		stored, dups, deadLetts int64
	}{
		{"metrics", mPub, 1, 0, 0},
		{"metrics redelivered", mPub, 0, 1, 0},
		{"ack", aPub, 1, 0, 0},
		{"ack redelivered", aPub, 0, 1, 0},
		{"status", sPub, 1, 0, 0},
		{"status redelivered", sPub, 0, 1, 0},
		{"metrics of an unknown camera", publish(t, "AGENT1", unknownCam, at), 0, 0, 1},
		{"ack from an unknown device", publish(t, "AGENT404", ack, at), 0, 0, 1},
		{"status from an unknown device", publish(t, "AGENT404", status, at), 0, 0, 1},
		{"topic mismatch", mismatch, 0, 0, 1},
		// PostgreSQL's jsonb refuses \u0000: a permanent problem, not a reason to retry forever.
		{"status with a NUL", publish(t, "AGENT1", &event.Status{State: event.StateOnline, AgentVersion: "1\x002"}, at), 0, 0, 1},
		{"ack result with a NUL", publish(t, "AGENT1", &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeFailed,
			Result: json.RawMessage(`{"err":"\u0000"}`)}, at), 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, dup, dl := c.Stats.Stored.Load(), c.Stats.Duplicates.Load(), c.Stats.DeadLetters.Load()
			if err := c.process(ctx, tc.pub); err != nil {
				t.Fatalf("process: %v", err)
			}
			if d := c.Stats.Stored.Load() - st; d != tc.stored {
				t.Errorf("stored +%d, want +%d", d, tc.stored)
			}
			if d := c.Stats.Duplicates.Load() - dup; d != tc.dups {
				t.Errorf("duplicates +%d, want +%d", d, tc.dups)
			}
			if d := c.Stats.DeadLetters.Load() - dl; d != tc.deadLetts {
				t.Errorf("dead letters +%d, want +%d", d, tc.deadLetts)
			}
		})
	}
	checks := map[string]int{
		`SELECT count(*) FROM inference_metrics WHERE device_id = 'CAM1' AND detections_count = 7`:            1,
		`SELECT count(*) FROM command_acks WHERE device_id = 'AGENT1' AND outcome = 'done'`:                   1,
		`SELECT count(*) FROM events WHERE event_type = 'status' AND device_id = 'AGENT1'`:                    1,
		`SELECT count(*) FROM devices WHERE metadata->'agent_status'->>'agent_version' = '1.2.3'`:             1,
		`SELECT count(*) FROM dead_letters WHERE reason = 'unknown_device'`:                                   3,
		`SELECT count(*) FROM dead_letters WHERE reason = 'topic_mismatch' AND device_id = 'AGENT1'`:          1,
		`SELECT count(*) FROM inference_metrics WHERE device_id IS NULL OR device_id <> 'CAM1'`:               0,
		`SELECT count(*) FROM command_acks WHERE command_id <> '` + ack.CommandID + `' OR result IS NOT NULL`: 0,
	}
	for sql, want := range checks {
		if got := count(t, s, sql); got != want {
			t.Errorf("%s = %d, want %d", sql, got, want)
		}
	}
}

// A database failure is transient: process returns it (the message is not
// acknowledged and will be retried), it is not dead-lettered.
func TestProcessDatabaseDownIsRetriedIntegration(t *testing.T) {
	c, s := newTestConsumer(t)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	pub := publish(t, "AGENT1", &event.Metrics{CameraID: "CAM1", WindowStart: at, WindowEnd: at}, at)
	s.Pool.Close()
	if err := c.process(context.Background(), pub); err == nil {
		t.Fatal("process reported success with the database closed")
	}
	if n := c.Stats.DeadLetters.Load() + c.Stats.Stored.Load(); n != 0 {
		t.Fatalf("stored or dead-lettered %d messages with the database closed", n)
	}
}

func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	cases := []struct {
		name        string
		gogc        string
		start, want int
		changed     bool
	}{
		{"GOGC unset: the hub's target", "", 100, GCPercent, true},
		{"GOGC set: left alone", "150", 150, 150, false},
		{"GOGC=off: left alone", "off", -1, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.start)
			got, changed := TuneGC(func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got != tc.want || changed != tc.changed {
				t.Fatalf("TuneGC = %d, %v; want %d, %v", got, changed, tc.want, tc.changed)
			}
			if now := debug.SetGCPercent(tc.start); now != tc.want {
				t.Fatalf("GC percent in force %d, want %d", now, tc.want)
			}
		})
	}
}
