// Package db is the hub's PostgreSQL store: connection pool, migrations, and
// the queries of ingestion and the API.
package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigia-pe/vigia/migrations"
)

// Store wraps the connection pool.
type Store struct {
	Pool *pgxpool.Pool
	// Loc is the municipality's time zone: infraction codes and daily reports use its calendar days.
	Loc *time.Location
	log *slog.Logger
}

// defaultMaxConns is the pool size when the URL does not set pool_max_conns.
const defaultMaxConns = 10

// Open connects to PostgreSQL and checks the connection.
func Open(ctx context.Context, url string, loc *time.Location, log *slog.Logger) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx errors may echo the URL: never wrap them.
		return nil, errors.New("db: the database URL cannot be parsed")
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (4 on 2 cores) is taken by ingestion alone: its series
		// writers, the infraction writer and dead letters each hold one
		// connection while they write; the API needs its own.
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("db: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("db: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Store{Pool: pool, Loc: loc, log: log}, nil
}

// Close releases the pool.
func (s *Store) Close() { s.Pool.Close() }

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// LoadMigrations reads the embedded migrations in order.
func LoadMigrations(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("db: read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("db: migration %s: name must start with a positive number and '_'", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("db: migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("db: read %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// migrateLockKey is the advisory lock serialising concurrent migrators (hub replicas starting together).
const migrateLockKey = 7_411_902_305

// Migrate applies every embedded migration not applied yet, each in its own
// transaction, and returns the versions it applied.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	ms, err := LoadMigrations(migrations.FS)
	if err != nil {
		return nil, err
	}
	return s.migrate(ctx, ms)
}

// withMigrateLock runs f on one connection holding the migration lock, so
// that concurrent hubs change the schema one at a time.
func (s *Store) withMigrateLock(ctx context.Context, f func(conn *pgx.Conn) error) error {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("db: migrate: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("db: migrate: lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLockKey) //nolint:errcheck
	return f(conn.Conn())
}

func (s *Store) migrate(ctx context.Context, ms []Migration) (done []int, err error) {
	err = s.withMigrateLock(ctx, func(conn *pgx.Conn) error {
		done, err = s.applyMigrations(ctx, conn, ms)
		if err != nil {
			return err
		}
		_, err = s.useTimescale(ctx, conn)
		return err
	})
	return done, err
}

func (s *Store) applyMigrations(ctx context.Context, conn *pgx.Conn, ms []Migration) ([]int, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return nil, fmt.Errorf("db: migrate: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("db: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("db: migrate: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	var done []int
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations(version, name) VALUES ($1, $2)`, m.Version, m.Name)
			return err
		})
		if err != nil {
			return done, fmt.Errorf("db: migration %s: %w", m.Name, err)
		}
		s.log.Info("migration applied", "version", m.Version, "name", m.Name)
		done = append(done, m.Version)
	}
	return done, nil
}

// SchemaVersion returns the highest applied migration (0 when none).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.Pool.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("db: schema version: %w", err)
	}
	return v, nil
}
