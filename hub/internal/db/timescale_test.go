package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/internal/testtimescale"
	"github.com/vigia-pe/vigia/shared/event"
)

// openTimescale opens a fresh TimescaleDB database holding the time series
// as the migrations create them (natively partitioned).
func openTimescale(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), testtimescale.Start(t), time.UTC, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	testtimescale.SeriesSchema(t, s.Pool)
	return s
}

// tableShape describes a table as a migration would: columns, keys,
// indexes and triggers, one line each, sorted.
func tableShape(t *testing.T, s *Store, table string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	collect := func(kind, sql string) {
		rows, err := s.Pool.Query(ctx, sql, table)
		if err != nil {
			t.Fatalf("%s of %s: %v", kind, table, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s of %s: %v", kind, table, err)
		}
		for _, l := range lines {
			out = append(out, kind+" "+strings.Replace(l, " ON ONLY ", " ON ", 1))
		}
	}
	collect("column", `SELECT format('%s %s not_null=%s default=%s', a.attname, format_type(a.atttypid, a.atttypmod),
			a.attnotnull, COALESCE(pg_get_expr(d.adbin, d.adrelid), ''))
		FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`)
	collect("constraint", `SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype <> 'n'`)
	collect("index", `SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::regclass`)
	collect("trigger", `SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND NOT tgisinternal
		AND tgname <> 'ts_insert_blocker'`) // TimescaleDB's own, on every hypertable
	slices.Sort(out)
	return out
}

// TestTimescaleConversionIntegration converts time series that already hold
// rows (in a day partition and in the DEFAULT partition) on a real
// TimescaleDB, and checks that nothing is lost or changed: same rows and
// ids, same columns, keys, indexes and constraint names, the same
// idempotency and unknown-device refusal, the same cascade on device
// deletion.
func TestTimescaleConversionIntegration(t *testing.T) {
	s := openTimescale(t)
	ctx := context.Background()
	if _, err := s.Pool.Exec(ctx, `INSERT INTO devices(id) VALUES ('CAM001'), ('CAM002')`); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	if _, err := s.Pool.Exec(ctx, `CREATE TABLE inference_metrics_p20261120 PARTITION OF inference_metrics
		FOR VALUES FROM ('2026-11-20T00:00:00Z') TO ('2026-11-21T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		camera := []string{"CAM001", "CAM002"}[i%2]
		at := day.Add(time.Duration(i) * 3 * time.Hour) // days 20 to 23: a partition and the default
		m := &event.Metrics{CameraID: camera, WindowStart: at.Add(-10 * time.Second), WindowEnd: at, FPS: 12}
		env, err := event.New(camera, at, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertMetrics(ctx, env, m); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Pool.Exec(ctx, `INSERT INTO events(event_type, device_id, timestamp, event_id) VALUES ('status', $1, $2, $3)`,
			camera, at, env.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM inference_metrics_default`); n == 0 || n == 30 {
		t.Fatalf("%d of 30 metrics in the default partition: the test wants rows in both", n)
	}
	before := map[string][]string{}
	for _, table := range SeriesTables() {
		before[table] = tableShape(t, s, table)
	}
	var rowsBefore string
	if err := s.Pool.QueryRow(ctx, `SELECT string_agg(format('%s/%s/%s/%s', id, event_id, device_id, timestamp), ',' ORDER BY id)
		FROM inference_metrics`).Scan(&rowsBefore); err != nil {
		t.Fatal(err)
	}

	converted, err := s.UseTimescale(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(converted, SeriesTables()) {
		t.Fatalf("converted %v, want %v", converted, SeriesTables())
	}
	if v, err := s.TimescaleVersion(ctx); err != nil || v == "" {
		t.Fatalf("TimescaleDB version %q, %v", v, err)
	}
	for _, table := range SeriesTables() {
		if hyper, err := IsHypertable(ctx, s.Pool, table); err != nil || !hyper {
			t.Fatalf("%s: hypertable %v, %v", table, hyper, err)
		}
		after := tableShape(t, s, table)
		want := before[table]
		if table == "inference_metrics" {
			// The statement triggers of migration 007 give way to the foreign key they stood in for.
			want = slices.DeleteFunc(slices.Clone(want), func(l string) bool { return strings.HasPrefix(l, "trigger inference_metrics_device_") })
			want = append(want, "constraint inference_metrics_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices(id) ON DELETE CASCADE")
			slices.Sort(want)
		}
		if !slices.Equal(after, want) {
			t.Errorf("%s changed shape:\n got %s\nwant %s", table, strings.Join(after, "\n     "), strings.Join(want, "\n     "))
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM pg_trigger WHERE tgrelid = 'devices'::regclass AND NOT tgisinternal`); n != 0 {
		t.Errorf("%d triggers left on devices", n)
	}
	var rowsAfter string
	if err := s.Pool.QueryRow(ctx, `SELECT string_agg(format('%s/%s/%s/%s', id, event_id, device_id, timestamp), ',' ORDER BY id)
		FROM inference_metrics`).Scan(&rowsAfter); err != nil {
		t.Fatal(err)
	}
	if rowsAfter != rowsBefore {
		t.Fatalf("metrics rows changed:\n%s\n%s", rowsBefore, rowsAfter)
	}
	if n := countRows(t, s, `SELECT count(*) FROM events`); n != 30 {
		t.Fatalf("%d events after the conversion, want 30", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'inference_metrics'`); n != 4 {
		t.Errorf("%d chunks of inference_metrics, want 4 (one a day)", n)
	}

	// The same behaviour through the store: a redelivery is a duplicate, a new
	// row continues the id sequence, an unknown camera is refused as before.
	at := day.Add(5 * 24 * time.Hour)
	m := &event.Metrics{CameraID: "CAM001", WindowStart: at.Add(-10 * time.Second), WindowEnd: at, FPS: 12}
	env, err := event.New("CAM001", at, m)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, true} {
		dup, err := s.InsertMetrics(ctx, env, m)
		if err != nil || dup != want {
			t.Fatalf("insert %d: duplicate %v, %v; want %v", i, dup, err, want)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM inference_metrics WHERE id > (SELECT max(id) FROM inference_metrics WHERE event_id <> $1)`, env.ID); n != 1 {
		t.Errorf("the new row's id does not continue the sequence")
	}
	// The ingestion's batch path: its optimistic insert meets the stored
	// sample, fails whole on the unique key and is stored again idempotently.
	at2 := at.Add(time.Minute)
	m2 := &event.Metrics{CameraID: "CAM001", WindowStart: at2.Add(-10 * time.Second), WindowEnd: at2}
	env2, err := event.New("CAM001", at2, m2)
	if err != nil {
		t.Fatal(err)
	}
	dups, err := s.InsertBatch(ctx, []BatchMessage{{Env: env, Metrics: m}, {Env: env2, Metrics: m2}})
	if err != nil || !slices.Equal(dups, []bool{true, false}) {
		t.Fatalf("batch: duplicates %v, %v; want [true false]", dups, err)
	}
	ghost := &event.Metrics{CameraID: "GHOST", WindowStart: at.Add(-10 * time.Second), WindowEnd: at}
	genv, _ := event.New("GHOST", at, ghost)
	if _, err := s.InsertMetricsBatch(ctx, []MetricsRow{MetricsRowOf(genv, ghost)}); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown camera: %v, want ErrUnknownDevice", err)
	}
	if _, err := s.Pool.Exec(ctx, `DELETE FROM devices WHERE id = 'CAM002'`); err != nil {
		t.Fatal(err)
	}
	for _, table := range SeriesTables() {
		if n := countRows(t, s, fmt.Sprintf(`SELECT count(*) FROM %s WHERE device_id = 'CAM002'`, table)); n != 0 {
			t.Errorf("%d %s rows of a deleted device", n, table)
		}
	}

	// Once converted, nothing more to do.
	if again, err := s.UseTimescale(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second run converted %v, %v", again, err)
	}
}

// TestMigrateConvertsOnTimescaleIntegration: Migrate itself leaves
// hypertables on a server with TimescaleDB.
func TestMigrateConvertsOnTimescaleIntegration(t *testing.T) {
	s := openTimescale(t)
	ctx := context.Background()
	// The migrations proper need PostGIS, which this server lacks: run none,
	// only the step after them.
	if _, err := s.migrate(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for _, table := range SeriesTables() {
		if hyper, err := IsHypertable(ctx, s.Pool, table); err != nil || !hyper {
			t.Fatalf("%s: hypertable %v, %v", table, hyper, err)
		}
	}
}

// TestNoTimescaleNoChangeIntegration: on a server without TimescaleDB the
// tables stay natively partitioned.
func TestNoTimescaleNoChangeIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if v, err := s.TimescaleVersion(ctx); err != nil || v != "" {
		t.Skipf("skipped: this PostgreSQL has TimescaleDB %s (%v)", v, err)
	}
	converted, err := s.UseTimescale(ctx)
	if err != nil || len(converted) != 0 {
		t.Fatalf("converted %v, %v", converted, err)
	}
	for _, table := range SeriesTables() {
		if hyper, err := IsHypertable(ctx, s.Pool, table); err != nil || hyper {
			t.Fatalf("%s: hypertable %v, %v", table, hyper, err)
		}
		if n := countRows(t, s, `SELECT count(*) FROM pg_class WHERE oid = to_regclass($1) AND relkind = 'p'`, table); n != 1 {
			t.Fatalf("%s is not partitioned any more", table)
		}
	}
}

// TestTimescaleCannotBeEnabledIntegration: when the extension is available
// but the hub's role may not create it, the hub says so and keeps the
// native partitions and their rows.
func TestTimescaleCannotBeEnabledIntegration(t *testing.T) {
	s := openTimescale(t)
	ctx := context.Background()
	var logged strings.Builder
	s.log = slog.New(slog.NewTextHandler(&logged, nil))
	if _, err := s.Pool.Exec(ctx, `INSERT INTO devices(id) VALUES ('CAM001');
		INSERT INTO events(event_type, device_id, timestamp, event_id) VALUES ('status', 'CAM001', now(), 'e1');
		CREATE ROLE hub NOLOGIN; GRANT ALL ON SCHEMA public TO hub; GRANT ALL ON ALL TABLES IN SCHEMA public TO hub;
		SET ROLE hub`); err != nil { // the pool's only connection keeps the role
		t.Fatal(err)
	}
	converted, err := s.UseTimescale(ctx)
	if err != nil || len(converted) != 0 {
		t.Fatalf("converted %v, %v; want nothing and no error", converted, err)
	}
	if !strings.Contains(logged.String(), "cannot be enabled") {
		t.Errorf("no warning logged: %q", logged.String())
	}
	if v, err := s.TimescaleVersion(ctx); err != nil || v != "" {
		t.Fatalf("TimescaleDB %q (%v) after a refused CREATE EXTENSION", v, err)
	}
	for _, table := range SeriesTables() {
		if n := countRows(t, s, `SELECT count(*) FROM pg_class WHERE oid = to_regclass($1) AND relkind = 'p'`, table); n != 1 {
			t.Fatalf("%s is not partitioned any more", table)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM events`); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}
