package db

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TimescaleDB mode.
//
// The migrations create the time series (events, inference_metrics) as
// native range partitions, which any PostgreSQL runs. When the server has
// TimescaleDB (the extension is available: installed and preloaded), the
// migration step turns them into hypertables with one-day chunks instead,
// and the retention job drops expired chunks with drop_chunks rather than
// managing partitions itself (not add_retention_policy, which needs the
// Timescale License build: drop_chunks is in the Apache-2 one too). A
// server without TimescaleDB never notices.
//
// The conversion runs once per table, in one transaction that holds the
// table exclusively: it copies the rows into a new hypertable of the same
// shape, moves the id sequence over, drops the partitioned table and takes
// its name, then re-creates the table's primary, unique and foreign keys and
// indexes under their old names from the catalogue (so later migrations that
// add an index or a column are carried over without changes here). On a big
// table this takes a while and ingestion waits for it (the broker keeps the
// messages): plan it like any migration.
//
// One difference: inference_metrics checks its device with statement-level
// triggers over transition tables (migration 007), which TimescaleDB refuses
// on hypertables before 2.18; its hypertable gets the plain foreign key back
// (same name, same ON DELETE CASCADE, same SQLSTATE on a violation) and the
// triggers on devices that stood in for it are dropped.

// TimescaleExtension is the extension's name.
const TimescaleExtension = "timescaledb"

// SeriesTables are the tables the migrations partition by time (and the
// retention job keeps for 90 days).
func SeriesTables() []string { return []string{"events", "inference_metrics"} }

// timescaleChunk is the chunk interval: one day, as the native partitions.
const timescaleChunk = "1 day"

// RowQuerier is what a pool, a connection and a transaction all offer.
type RowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// IsHypertable reports whether table (in the current schema) is a
// TimescaleDB hypertable; false when TimescaleDB is not installed.
func IsHypertable(ctx context.Context, q RowQuerier, table string) (bool, error) {
	var yes bool
	err := q.QueryRow(ctx, `SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL`).Scan(&yes)
	if err != nil || !yes {
		return false, wrapTS(err, "look up hypertables")
	}
	err = q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables
		WHERE hypertable_schema = current_schema() AND hypertable_name = $1)`, table).Scan(&yes)
	return yes, wrapTS(err, "look up hypertables")
}

func wrapTS(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("db: timescaledb: %s: %w", what, err)
}

// TimescaleVersion returns the installed TimescaleDB version ("" when it is
// not installed).
func (s *Store) TimescaleVersion(ctx context.Context) (string, error) {
	var v string
	err := s.Pool.QueryRow(ctx, `SELECT COALESCE((SELECT extversion FROM pg_extension WHERE extname = $1), '')`,
		TimescaleExtension).Scan(&v)
	return v, wrapTS(err, "version")
}

// UseTimescale enables TimescaleDB when the server offers it and converts
// the time-series tables that are still natively partitioned, under the
// migration lock; Migrate does it after the migrations. It returns the
// tables it converted.
func (s *Store) UseTimescale(ctx context.Context) (converted []string, err error) {
	err = s.withMigrateLock(ctx, func(conn *pgx.Conn) error {
		converted, err = s.useTimescale(ctx, conn)
		return err
	})
	return converted, err
}

// useTimescale enables TimescaleDB when the server offers it and converts
// the time-series tables that are still natively partitioned. It runs on the
// migration connection, under the migration lock. It returns the tables it
// converted.
func (s *Store) useTimescale(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var available, installed bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1),
		EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)`, TimescaleExtension).Scan(&available, &installed)
	if err != nil {
		return nil, wrapTS(err, "look up the extension")
	}
	if !available {
		return nil, nil
	}
	if !installed {
		if _, err := conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS `+TimescaleExtension); err != nil {
			// Typically: the package is installed but not in
			// shared_preload_libraries, or the hub's role may not create
			// extensions. Native partitions keep working.
			s.log.Warn("TimescaleDB is available but cannot be enabled (is it in shared_preload_libraries? "+
				"may this role create extensions?); the time series stay natively partitioned", "err", err)
			return nil, nil
		}
		s.log.Info("TimescaleDB enabled")
	}
	var converted []string
	for _, table := range SeriesTables() {
		// Only a natively partitioned table is converted (not one an older
		// schema lacks, nor one already a hypertable).
		var partitioned bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class
			WHERE oid = to_regclass($1) AND relkind = 'p')`, table).Scan(&partitioned); err != nil {
			return converted, wrapTS(err, "look up "+table)
		}
		if !partitioned {
			continue
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return toHypertable(ctx, tx, table) }); err != nil {
			return converted, fmt.Errorf("db: timescaledb: convert %s to a hypertable: %w", table, err)
		}
		s.log.Info("time series converted to a TimescaleDB hypertable", "table", table)
		converted = append(converted, table)
	}
	return converted, nil
}

// keyDef is a constraint or index to re-create on the hypertable.
type keyDef struct{ name, sql string }

// toHypertable replaces the partitioned table with a hypertable of the same
// columns, rows, keys and indexes (see the comment at the top of the file).
func toHypertable(ctx context.Context, tx pgx.Tx, table string) error {
	if _, err := tx.Exec(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		return err
	}
	var seq string
	if err := tx.QueryRow(ctx, `SELECT COALESCE(pg_get_serial_sequence($1, 'id'), '')`, table).Scan(&seq); err != nil {
		return err
	}
	// Primary, unique, foreign and exclusion keys (CHECK and NOT NULL come
	// with LIKE), then the indexes that no constraint owns.
	keys, err := collectDefs(ctx, tx, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'f', 'x') ORDER BY contype = 'f', conname`, table)
	if err != nil {
		return err
	}
	indexes, err := collectDefs(ctx, tx, `SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY c.relname`, table)
	if err != nil {
		return err
	}
	tmp := table + "_hypertable"
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)`, tmp, table),
		fmt.Sprintf(`SELECT create_hypertable('%s', 'timestamp', chunk_time_interval => INTERVAL '%s', create_default_indexes => false)`,
			tmp, timescaleChunk),
		fmt.Sprintf(`INSERT INTO %s SELECT * FROM %s`, tmp, table),
	}
	if seq != "" {
		stmts = append(stmts, fmt.Sprintf(`ALTER SEQUENCE %s OWNED BY %s.id`, seq, tmp))
	}
	stmts = append(stmts,
		`DROP TABLE `+table,
		fmt.Sprintf(`ALTER TABLE %s RENAME TO %s`, tmp, table))
	if table == "inference_metrics" {
		stmts = append(stmts,
			`DROP TRIGGER IF EXISTS devices_delete_metrics ON devices`,
			`DROP TRIGGER IF EXISTS devices_keep_metrics_key ON devices`)
		if !slices.ContainsFunc(keys, func(k keyDef) bool { return k.name == "inference_metrics_device_id_fkey" }) {
			keys = append(keys, keyDef{"inference_metrics_device_id_fkey", "FOREIGN KEY (device_id) REFERENCES devices(id) ON DELETE CASCADE"})
		}
	}
	for _, k := range keys {
		stmts = append(stmts, fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s %s`, table, pgx.Identifier{k.name}.Sanitize(), k.sql))
	}
	for _, ix := range indexes {
		// A partitioned table's index is defined "ON ONLY" the parent.
		stmts = append(stmts, strings.Replace(ix.sql, " ON ONLY ", " ON ", 1))
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", firstWords(q), err)
		}
	}
	return nil
}

func collectDefs(ctx context.Context, tx pgx.Tx, sql, table string) ([]keyDef, error) {
	rows, err := tx.Query(ctx, sql, table)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyDef, error) {
		var d keyDef
		err := r.Scan(&d.name, &d.sql)
		return d, err
	})
}

// firstWords names a statement in an error without its whole text.
func firstWords(q string) string {
	f := strings.Fields(q)
	return strings.Join(f[:min(len(f), 4)], " ")
}
