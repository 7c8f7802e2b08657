package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/event"
)

func TestMigrateFrom001Only(t *testing.T) {
	ctx := context.Background()
	s, after := openMigratedBelow(t, 2)
	if len(after) < 1 || after[0].Version != 2 {
		t.Fatalf("migrations after 001: %v", after)
	}
	// A hub on 001 already holds data that 002 must keep.
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "cam", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	env, p := infraction("CAM1", time.Now())
	if _, err := s.InsertInfraction(ctx, env, p); err != nil {
		t.Fatal(err)
	}
	done, err := s.Migrate(ctx)
	if err != nil || len(done) != len(after) || done[0] != 2 {
		t.Fatalf("upgrade applied %v, %v", done, err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM infractions`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("infractions after upgrade: %d %v", n, err)
	}
	assertSchema002(t, s)
}

func TestMigrateFromEmptyHasSchema002(t *testing.T) {
	assertSchema002(t, openTest(t))
}

// assertSchema002 checks the partitioned tables and their default partitions.
func assertSchema002(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, table := range []string{"events", "inference_metrics"} {
		var kind string
		if err := s.Pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&kind); err != nil || kind != "p" {
			t.Errorf("%s: relkind %q (%v), want partitioned", table, kind, err)
		}
		var def string
		if err := s.Pool.QueryRow(ctx, `SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid
			WHERE p.partrelid = to_regclass($1)`, table).Scan(&def); err != nil || def != table+"_default" {
			t.Errorf("%s: default partition %q (%v)", table, def, err)
		}
	}
	for _, table := range []string{"ml_models", "command_acks"} {
		var ok bool
		if err := s.Pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil || !ok {
			t.Errorf("table %s missing (%v)", table, err)
		}
	}
}

func metricsEnv(t testing.TB, camera string, at time.Time) (event.Envelope, *event.Metrics) {
	t.Helper()
	gpu := 40.0
	p := &event.Metrics{CameraID: camera, WindowStart: at.Add(-10 * time.Second), WindowEnd: at, FPS: 12.5, LatencyMs: 33,
		GPUUtilization: &gpu, CPUUtilization: 150, MemoryMB: 900, DetectionsCount: 42, InfractionsCount: 1}
	env, err := event.New("AGENT1", at, p)
	if err != nil {
		t.Fatal(err)
	}
	return env, p
}

func registerDevices(t testing.TB, s *Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.UpsertDevice(context.Background(), Device{ID: id, Name: id, RTSPURL: "rtsp://x"}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInsertMetricsIdempotent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	registerDevices(t, s, "CAM1")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	env, p := metricsEnv(t, "CAM1", at)
	for i, wantDup := range []bool{false, true, true} {
		dup, err := s.InsertMetrics(ctx, env, p)
		if err != nil || dup != wantDup {
			t.Fatalf("delivery %d: duplicate=%v err=%v, want duplicate=%v", i, dup, err, wantDup)
		}
	}
	var n, det int
	var fps, gpu float64
	var src string
	var ws time.Time
	err := s.Pool.QueryRow(ctx, `SELECT count(*), max(detections_count), max(fps), max(gpu_utilization), max(source_device_id), max(window_start)
		FROM inference_metrics WHERE event_id = $1`, env.ID).Scan(&n, &det, &fps, &gpu, &src, &ws)
	if err != nil || n != 1 || det != 42 || fps != 12.5 || gpu != 40 || src != "AGENT1" || !ws.Equal(p.WindowStart) {
		t.Fatalf("rows %d det %d fps %v gpu %v src %s ws %v (%v)", n, det, fps, gpu, src, ws, err)
	}
	// A sample without a GPU keeps NULL, not 0.
	env2, p2 := metricsEnv(t, "CAM1", at.Add(time.Minute))
	p2.GPUUtilization = nil
	if _, err := s.InsertMetrics(ctx, env2, p2); err != nil {
		t.Fatal(err)
	}
	var null bool
	if err := s.Pool.QueryRow(ctx, `SELECT gpu_utilization IS NULL FROM inference_metrics WHERE event_id = $1`, env2.ID).Scan(&null); err != nil || !null {
		t.Fatalf("gpu_utilization of a GPU-less sample: null=%v %v", null, err)
	}
	env3, p3 := metricsEnv(t, "CAM404", at)
	if _, err := s.InsertMetrics(ctx, env3, p3); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown camera: %v, want ErrUnknownDevice", err)
	}
}

func TestInsertMetricsBatch(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	registerDevices(t, s, "CAM1", "CAM2")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rows []MetricsRow
	for i := range 50 {
		env, p := metricsEnv(t, fmt.Sprintf("CAM%d", 1+i%2), at.Add(time.Duration(i)*time.Second))
		rows = append(rows, MetricsRowOf(env, p))
	}
	cases := []struct {
		name string
		rows []MetricsRow
		want int
	}{
		{"empty", nil, 0},
		{"first half", rows[:25], 25},
		{"overlapping redelivery", rows[10:], 25},
		{"all again", rows, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.InsertMetricsBatch(ctx, tc.rows)
			if err != nil || n != tc.want {
				t.Fatalf("inserted %d (%v), want %d", n, err, tc.want)
			}
		})
	}
	env, p := metricsEnv(t, "CAM404", at)
	bad := append(rows[:0:0], MetricsRowOf(env, p))
	if _, err := s.InsertMetricsBatch(ctx, bad); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown camera in a batch: %v", err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM inference_metrics`).Scan(&n); err != nil || n != len(rows) {
		t.Fatalf("%d rows (%v), want %d", n, err, len(rows))
	}
}

func TestInsertAckIdempotent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	registerDevices(t, s, "AGENT1")
	cmd := event.NewID()
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(o event.Outcome, result string) (event.Envelope, *event.Ack) {
		p := &event.Ack{CommandID: cmd, Outcome: o, Message: "m-" + string(o), CameraID: "CAM1"}
		if result != "" {
			p.Result = json.RawMessage(result)
		}
		env, err := event.New("AGENT1", at, p)
		if err != nil {
			t.Fatal(err)
		}
		return env, p
	}
	env1, p1 := mk(event.OutcomeFailed, "")
	env2, p2 := mk(event.OutcomeDone, `{"fps":12}`)
	for i, c := range []struct {
		env  event.Envelope
		p    *event.Ack
		dup  bool
		name string
	}{{env1, p1, false, "first"}, {env1, p1, true, "redelivered"}, {env2, p2, false, "second ack of the same command"}} {
		dup, err := s.InsertAck(ctx, c.env, c.p)
		if err != nil || dup != c.dup {
			t.Fatalf("%d %s: duplicate=%v %v", i, c.name, dup, err)
		}
	}
	acks, err := s.AcksOf(ctx, cmd)
	if err != nil || len(acks) != 2 {
		t.Fatalf("acks %+v %v", acks, err)
	}
	byOutcome := map[string]CommandAck{}
	for _, a := range acks {
		byOutcome[a.Outcome] = a
	}
	done := byOutcome["done"]
	if done.EventID != env2.ID || string(done.Result) != `{"fps": 12}` || done.CameraID != "CAM1" || done.Message != "m-done" || !done.AckedAt.Equal(at) {
		t.Fatalf("done ack %+v", done)
	}
	if f := byOutcome["failed"]; f.Result != nil || f.DeviceID != "AGENT1" {
		t.Fatalf("failed ack %+v", f)
	}
	env3, p3 := mk(event.OutcomeDone, "")
	env3.DeviceID = "AGENT404"
	if _, err := s.InsertAck(ctx, env3, p3); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
}

func TestRecordStatusEvent(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	registerDevices(t, s, "AGENT1")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	mk := func(state event.DeviceState, ts time.Time) event.Envelope {
		env, err := event.New("AGENT1", ts, &event.Status{State: state, OutboxDepth: 3})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	first, second := mk(event.StateOnline, at), mk(event.StateDegraded, at.Add(time.Minute))
	for i, c := range []struct {
		env event.Envelope
		dup bool
	}{{first, false}, {first, true}, {second, false}} {
		dup, err := s.RecordStatusEvent(ctx, c.env)
		if err != nil || dup != c.dup {
			t.Fatalf("delivery %d: duplicate=%v %v", i, dup, err)
		}
	}
	evs, err := s.ListEvents(ctx, "AGENT1", "status", at.Add(-time.Hour), at.Add(time.Hour), 10)
	if err != nil || len(evs) != 2 || evs[0].EventID != second.ID || evs[1].EventID != first.ID {
		t.Fatalf("events %+v %v", evs, err)
	}
	var st event.Status
	if err := json.Unmarshal(evs[0].Data, &st); err != nil || st.State != event.StateDegraded {
		t.Fatalf("stored status %s: %v", evs[0].Data, err)
	}
	var state string
	var hb time.Time
	if err := s.Pool.QueryRow(ctx, `SELECT metadata->'agent_status'->>'state', last_heartbeat FROM devices WHERE id = 'AGENT1'`).Scan(&state, &hb); err != nil ||
		state != "degraded" || !hb.Equal(second.TS) {
		t.Fatalf("device row: state %q heartbeat %v (%v)", state, hb, err)
	}
	env := mk(event.StateOnline, at)
	env.DeviceID = "AGENT404"
	if _, err := s.RecordStatusEvent(ctx, env); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d events (%v), want 2", n, err)
	}
}

// BenchmarkInsertMetrics compares 1,000 samples written as single inserts, as
// one pgx.Batch (idempotent, what ingestion can use) and with COPY (fastest,
// but without ON CONFLICT, so not idempotent).
func BenchmarkInsertMetrics(b *testing.B) {
	ctx := context.Background()
	s := openMigrated(b, time.UTC)
	registerDevices(b, s, "CAM1")
	const n = 1000
	batch := func(base time.Time) []MetricsRow {
		rows := make([]MetricsRow, n)
		for i := range rows {
			env, p := metricsEnv(b, "CAM1", base.Add(time.Duration(i)*time.Millisecond))
			rows[i] = MetricsRowOf(env, p)
		}
		return rows
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	b.Run("single", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rows := batch(base.Add(time.Duration(i) * time.Hour))
			for _, r := range rows {
				if _, err := s.Pool.Exec(ctx, insertMetricsSQL, metricsArgs(r)...); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("batch", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rows := batch(base.AddDate(0, 0, 1).Add(time.Duration(i) * time.Hour))
			if k, err := s.InsertMetricsBatch(ctx, rows); err != nil || k != n {
				b.Fatalf("%d %v", k, err)
			}
		}
	})
	b.Run("copy", func(b *testing.B) {
		b.ReportAllocs()
		cols := []string{"event_id", "device_id", "source_device_id", "timestamp", "window_start", "window_end", "fps", "latency_ms",
			"gpu_utilization", "cpu_utilization", "memory_mb", "detections_count", "infractions_count"}
		for i := 0; b.Loop(); i++ {
			rows := batch(base.AddDate(0, 0, 2).Add(time.Duration(i) * time.Hour))
			src := make([][]any, len(rows))
			for j, r := range rows {
				src[j] = metricsArgs(r)
			}
			k, err := s.Pool.CopyFrom(ctx, pgx.Identifier{"inference_metrics"}, cols, pgx.CopyFromRows(src))
			if err != nil || k != n {
				b.Fatalf("%d %v", k, err)
			}
		}
	})
}
