// Package retention maintains the hub's time-partitioned tables (events,
// inference_metrics): it creates one partition per UTC day a few days ahead,
// moves rows that landed in a table's DEFAULT partition into their day's
// partition, and drops partitions wholly older than the retention.
//
// Only partitions named <table>_pYYYYMMDD are managed; anything else attached
// to a table (a hand-made archive partition) is left alone. Every step is
// idempotent, and concurrent hubs are serialised by an advisory lock.
//
// A table the hub turned into a TimescaleDB hypertable (see db.UseTimescale)
// needs no partitions made ahead: TimescaleDB creates its daily chunks as
// rows arrive, and the job drops the expired ones with drop_chunks, by the
// same rule (a chunk goes once all of it is older than the retention).
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigia-pe/vigia/hub/internal/db"
)

// Config says which tables to maintain and how.
type Config struct {
	// Tables are partitioned BY RANGE (timestamp), each with a DEFAULT
	// partition named <table>_default, or TimescaleDB hypertables.
	Tables []string
	// Retention is how long rows are kept; a day's partition is dropped once
	// its whole day is older than now - Retention.
	Retention time.Duration
	// AheadDays is how many days after today get a partition in advance.
	AheadDays int
	// Interval is the pause between two runs of Run.
	Interval time.Duration
}

// DefaultConfig is the specification's 90-day retention on both time-series tables.
func DefaultConfig() Config {
	return Config{
		Tables:    db.SeriesTables(),
		Retention: 90 * 24 * time.Hour,
		AheadDays: 7,
		Interval:  time.Hour,
	}
}

var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,40}$`)

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	if len(c.Tables) == 0 {
		errs = append(errs, errors.New("retention: no tables"))
	}
	for _, t := range c.Tables {
		if !identRe.MatchString(t) {
			errs = append(errs, fmt.Errorf("retention: table %q is not a plain lowercase identifier", t))
		}
	}
	if c.Retention < 24*time.Hour {
		errs = append(errs, fmt.Errorf("retention: retention %s is shorter than a day", c.Retention))
	}
	if c.AheadDays < 1 || c.AheadDays > 366 {
		errs = append(errs, fmt.Errorf("retention: ahead_days %d is not within 1..366", c.AheadDays))
	}
	if c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("retention: interval %s must be positive", c.Interval))
	}
	return errors.Join(errs...)
}

// lockKey is the advisory lock serialising maintenance across hub replicas.
const lockKey = 7_411_902_306

// dayLayout is the date suffix of a partition name.
const dayLayout = "20060102"

// Job maintains the partitions.
type Job struct {
	pool *pgxpool.Pool
	cfg  Config
	log  *slog.Logger
}

// New builds a job; zero fields of cfg take DefaultConfig's values.
func New(pool *pgxpool.Pool, cfg Config, log *slog.Logger) (*Job, error) {
	d := DefaultConfig()
	if cfg.Tables == nil {
		cfg.Tables = d.Tables
	}
	if cfg.Retention == 0 {
		cfg.Retention = d.Retention
	}
	if cfg.AheadDays == 0 {
		cfg.AheadDays = d.AheadDays
	}
	if cfg.Interval == 0 {
		cfg.Interval = d.Interval
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Job{pool: pool, cfg: cfg, log: log.With("component", "retention")}, nil
}

// Run calls RunOnce now and then every Interval until ctx ends; failures are
// logged and retried at the next tick.
func (j *Job) Run(ctx context.Context) error {
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	for {
		created, dropped, err := j.RunOnce(ctx, time.Now())
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			j.log.Error("partition maintenance failed", "err", err)
		case len(created)+len(dropped) > 0:
			j.log.Info("partitions maintained", "created", created, "dropped", dropped)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// day is the UTC day containing t.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// PartitionName is the name of table's partition for the UTC day of t.
func PartitionName(table string, t time.Time) string {
	return table + "_p" + day(t).Format(dayLayout)
}

// RunOnce brings every table up to date as of now: it creates the partitions
// of today through today+AheadDays (and of any retained day that has rows
// waiting in the DEFAULT partition), deletes expired rows from the DEFAULT
// partition and drops expired partitions. It returns the names of the
// partitions it created and dropped.
func (j *Job) RunOnce(ctx context.Context, now time.Time) (created, dropped []string, err error) {
	conn, err := j.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("retention: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return nil, nil, fmt.Errorf("retention: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck

	today := day(now)
	// Rows of a day ending at or before cutoff are all older than the retention.
	cutoff := day(now.Add(-j.cfg.Retention))
	horizon := today.AddDate(0, 0, j.cfg.AheadDays+1)
	for _, table := range j.cfg.Tables {
		hyper, err := db.IsHypertable(ctx, conn, table)
		if err != nil {
			return created, dropped, fmt.Errorf("retention: %w", err)
		}
		if hyper {
			d, err := dropChunks(ctx, conn.Conn(), table, cutoff)
			dropped = append(dropped, d...)
			if err != nil {
				return created, dropped, err
			}
			continue
		}
		c, d, err := j.table(ctx, conn.Conn(), table, today, cutoff, horizon)
		created, dropped = append(created, c...), append(dropped, d...)
		if err != nil {
			return created, dropped, err
		}
	}
	return created, dropped, nil
}

func (j *Job) table(ctx context.Context, conn *pgx.Conn, table string, today, cutoff, horizon time.Time) (created, dropped []string, err error) {
	existing, err := partitions(ctx, conn, table)
	if err != nil {
		return nil, nil, err
	}
	def := table + "_default"
	want := map[time.Time]bool{}
	for d := today; d.Before(horizon); d = d.AddDate(0, 0, 1) {
		want[d] = true
	}
	// Days with rows parked in the DEFAULT partition get their partition too.
	rows, err := conn.Query(ctx, fmt.Sprintf(`SELECT DISTINCT date_trunc('day', timestamp AT TIME ZONE 'UTC')
		FROM %s WHERE timestamp >= $1 AND timestamp < $2`, def), cutoff, horizon)
	if err != nil {
		return nil, nil, fmt.Errorf("retention: scan %s: %w", def, err)
	}
	parked, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return nil, nil, fmt.Errorf("retention: scan %s: %w", def, err)
	}
	for _, d := range parked {
		want[time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)] = true
	}
	days := make([]time.Time, 0, len(want))
	for d := range want {
		if _, ok := existing[PartitionName(table, d)]; !ok {
			days = append(days, d)
		}
	}
	sort.Slice(days, func(a, b int) bool { return days[a].Before(days[b]) })
	for _, d := range days {
		name, moved, err := createPartition(ctx, conn, table, d)
		if err != nil {
			return created, dropped, err
		}
		created = append(created, name)
		if moved > 0 {
			j.log.Info("rows moved out of the default partition", "partition", name, "rows", moved)
		}
	}

	tag, err := conn.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE timestamp < $1`, def), cutoff)
	if err != nil {
		return created, dropped, fmt.Errorf("retention: expire %s: %w", def, err)
	}
	if n := tag.RowsAffected(); n > 0 {
		j.log.Info("expired rows deleted from the default partition", "table", def, "rows", n)
	}

	names := make([]string, 0, len(existing))
	for name := range existing {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !existing[name].AddDate(0, 0, 1).After(cutoff) {
			if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
				return created, dropped, fmt.Errorf("retention: drop %s: %w", name, err)
			}
			dropped = append(dropped, name)
		}
	}
	return created, dropped, nil
}

// dropChunks drops the chunks of hypertable table that end at or before
// cutoff and returns their names.
func dropChunks(ctx context.Context, conn *pgx.Conn, table string, cutoff time.Time) ([]string, error) {
	rows, err := conn.Query(ctx, `SELECT drop_chunks($1::regclass, older_than => $2::timestamptz)`, table, cutoff)
	if err != nil {
		return nil, fmt.Errorf("retention: drop expired chunks of %s: %w", table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("retention: drop expired chunks of %s: %w", table, err)
	}
	return names, nil
}

// partitions lists table's managed partitions by name with their day.
func partitions(ctx context.Context, conn *pgx.Conn, table string) (map[string]time.Time, error) {
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_inherits i
		JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = to_regclass($1)`, table)
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", table, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("retention: list partitions of %s: %w", table, err)
	}
	out := map[string]time.Time{}
	prefix := table + "_p"
	for _, n := range names {
		suffix, ok := strings.CutPrefix(n, prefix)
		if !ok || len(suffix) != len(dayLayout) {
			continue
		}
		d, err := time.Parse(dayLayout, suffix)
		if err != nil {
			continue
		}
		out[n] = d
	}
	return out, nil
}

// createPartition creates table's partition for day d in one transaction,
// moving the day's rows out of the DEFAULT partition first (PostgreSQL refuses
// to create a partition while the default holds rows of its range). The
// table is locked meanwhile so no row of that day can slip into the default.
func createPartition(ctx context.Context, conn *pgx.Conn, table string, d time.Time) (name string, moved int64, err error) {
	name = PartitionName(table, d)
	lo, hi := d, d.AddDate(0, 0, 1)
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE retention_moving (LIKE `+table+`) ON COMMIT DROP`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf(`WITH m AS (DELETE FROM %s_default WHERE timestamp >= $1 AND timestamp < $2 RETURNING *)
			INSERT INTO retention_moving SELECT * FROM m`, table), lo, hi)
		if err != nil {
			return err
		}
		moved = tag.RowsAffected()
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
			name, table, lo.Format(time.RFC3339), hi.Format(time.RFC3339))); err != nil {
			return err
		}
		if moved > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO `+table+` SELECT * FROM retention_moving`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return name, 0, fmt.Errorf("retention: create %s: %w", name, err)
	}
	return name, moved, nil
}
