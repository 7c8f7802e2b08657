package db

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vigia-pe/vigia/migrations"
)

// Migration 007 replaces the foreign key inference_metrics.device_id →
// devices(id) by statement-level triggers. These tests hold the triggers to
// the foreign key's guarantees, on a database migrated with rows in it.
func TestMetricsDeviceReferenceIntegration(t *testing.T) {
	ctx := context.Background()
	s, after := openMigratedBelow(t, 7)
	registerDevices(t, s, "CAM1", "CAM2", "AGENT1")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	env, p := metricsEnv(t, "CAM2", at)
	if _, err := s.InsertMetrics(ctx, env, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.migrate(ctx, after); err != nil {
		t.Fatal(err)
	}
	count := func(where string, args ...any) int {
		t.Helper()
		var n int
		if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM inference_metrics WHERE `+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count("device_id = 'CAM2'"); n != 1 {
		t.Fatalf("the row stored before the migration: %d rows, want 1", n)
	}
	isFKViolation := func(err error) bool {
		var pg *pgconn.PgError
		return errors.As(err, &pg) && pg.Code == foreignKeyViolation && pg.ConstraintName == "inference_metrics_device_id_fkey" && pg.Detail != ""
	}

	// A batch with an unregistered camera is refused whole, as by the foreign key.
	good1, p1 := metricsEnv(t, "CAM1", at.Add(time.Second))
	bad, pb := metricsEnv(t, "CAM404", at.Add(2*time.Second))
	good2, p2 := metricsEnv(t, "CAM2", at.Add(3*time.Second))
	_, err := s.InsertBatch(ctx, []BatchMessage{{Env: good1, Metrics: p1}, {Env: bad, Metrics: pb}, {Env: good2, Metrics: p2}})
	if !errors.Is(err, ErrUnknownDevice) || !IsPermanent(err) {
		t.Fatalf("batch with an unknown camera: %v, want a permanent ErrUnknownDevice", err)
	}
	if n := count("true"); n != 1 {
		t.Fatalf("a refused batch left %d rows, want the 1 from before", n)
	}
	dups, err := s.InsertBatch(ctx, []BatchMessage{{Env: good1, Metrics: p1}, {Env: good2, Metrics: p2}})
	if err != nil || dups[0] || dups[1] {
		t.Fatalf("batch of registered cameras: dups %v, %v", dups, err)
	}
	if _, err := s.InsertMetrics(ctx, bad, pb); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("single insert of an unknown camera: %v, want ErrUnknownDevice", err)
	}

	// Updating a row to an unregistered camera, or a referenced device's id, is refused.
	if _, err := s.Pool.Exec(ctx, `UPDATE inference_metrics SET device_id = 'CAM404' WHERE event_id = $1`, good1.ID); !isFKViolation(err) {
		t.Fatalf("row moved to an unknown camera: %v, want a foreign key violation", err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE devices SET id = 'CAM9' WHERE id = 'CAM1'`); !isFKViolation(err) {
		t.Fatalf("referenced device renamed: %v, want a foreign key violation", err)
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE devices SET name = 'Av. Arequipa' WHERE id = 'CAM1'`); err != nil {
		t.Fatalf("updating a device's other columns: %v", err)
	}

	// Deleting a device deletes its metrics (ON DELETE CASCADE), and only its.
	if _, err := s.Pool.Exec(ctx, `DELETE FROM devices WHERE id = 'CAM2'`); err != nil {
		t.Fatal(err)
	}
	if n, m := count("device_id = 'CAM2'"), count("device_id = 'CAM1'"); n != 0 || m != 1 {
		t.Fatalf("after deleting CAM2: CAM2 rows %d (want 0), CAM1 rows %d (want 1)", n, m)
	}

	// A device deleted while a transaction is inserting its metrics waits for
	// it (the check locked the device row), then takes the new rows with it:
	// no orphan either way.
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	late, pl := metricsEnv(t, "CAM1", at.Add(4*time.Second))
	if _, err := tx.Exec(ctx, insertMetricsSQL, metricsArgs(MetricsRowOf(late, pl))...); err != nil {
		t.Fatal(err)
	}
	deleted := make(chan error, 1)
	go func() {
		_, err := s.Pool.Exec(ctx, `DELETE FROM devices WHERE id = 'CAM1'`)
		deleted <- err
	}()
	select {
	case err := <-deleted:
		t.Fatalf("the device was deleted while a transaction held a reference to it (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if n := count("device_id NOT IN (SELECT id FROM devices)"); n != 0 {
		t.Fatalf("%d orphan metrics rows", n)
	}

	// An insert that starts after a device is gone is refused.
	if _, err := s.InsertMetrics(ctx, late, pl); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("metrics of a deleted camera: %v, want ErrUnknownDevice", err)
	}
}

// openMigratedBelow opens a test database migrated up to (not including)
// version, for tests of a migration on a database with rows; it returns the
// migrations left to apply.
func openMigratedBelow(t *testing.T, version int) (*Store, []Migration) {
	t.Helper()
	ctx := context.Background()
	s := openEmpty(t, time.UTC)
	ms, err := LoadMigrations(migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	var before, after []Migration
	for _, m := range ms {
		if m.Version < version {
			before = append(before, m)
		} else {
			after = append(after, m)
		}
	}
	if done, err := s.migrate(ctx, before); err != nil || len(done) != len(before) {
		t.Fatalf("migrations below %03d: applied %v of %d, %v", version, done, len(before), err)
	}
	return s, after
}
