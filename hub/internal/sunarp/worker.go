package sunarp

import (
	"context"
	"errors"
	"fmt"
	"github.com/vigia-pe/vigia/hub/internal/poll"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Lookuper looks a plate up (*Client).
type Lookuper interface {
	Lookup(ctx context.Context, plate string) (*Vehicle, error)
}

var _ Lookuper = (*Client)(nil)

// Config tunes the worker; zero fields take the defaults.
type Config struct {
	// TTL after which a plate is looked up again (default 24 h, as the specification's cache).
	TTL time.Duration
	// Interval between polls when nothing is due (default 30 s).
	Interval time.Duration
	// Batch is how many plates one poll claims (default 20).
	Batch int
	// RetryAfter is how long a plate whose lookup failed waits (default 10 min).
	RetryAfter time.Duration
	// Lease hides claimed plates from other workers while they are looked up (default 5 min).
	Lease time.Duration
	// Gap is the minimum time between two lookups, to respect the registry's rate limit (default 200 ms).
	Gap time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.TTL <= 0 {
		c.TTL = 24 * time.Hour
	}
	if c.Interval <= 0 {
		c.Interval = 30 * time.Second
	}
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = 10 * time.Minute
	}
	if c.Lease <= 0 {
		c.Lease = 5 * time.Minute
	}
	if c.Gap < 0 {
		c.Gap = 0
	} else if c.Gap == 0 {
		c.Gap = 200 * time.Millisecond
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Stats counts lookups since the worker started.
type Stats struct {
	Enriched atomic.Int64
	NotFound atomic.Int64
	Failed   atomic.Int64
}

// Worker fills vehicles rows from the registry.
type Worker struct {
	cfg    Config
	pool   *pgxpool.Pool
	client Lookuper
	log    *slog.Logger
	last   time.Time // of the previous lookup, for Gap
	Stats  Stats
}

// NewWorker returns a worker writing to the vehicles table of pool.
func NewWorker(cfg Config, pool *pgxpool.Pool, client Lookuper, log *slog.Logger) *Worker {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{cfg: cfg, pool: pool, client: client, log: log.With("component", "sunarp")}
}

// Run polls for due plates until ctx is cancelled.
func (w *Worker) Run(ctx context.Context) error {
	return poll.Batches(ctx, w.cfg.Interval, w.cfg.Batch, w.RunOnce, func(err error) {
		w.log.Warn("sunarp enrichment round failed", "err", err)
	})
}

// RunOnce claims the plates never looked up or looked up longer than TTL ago
// (and not waiting after a failure), looks each up and stores the result; it
// returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	now := w.cfg.Now()
	plates, err := w.claim(ctx, now)
	if err != nil {
		return 0, err
	}
	var found, missing, failed int
	for _, p := range plates {
		if err := w.pace(ctx); err != nil {
			return len(plates), err
		}
		v, err := w.client.Lookup(ctx, p)
		switch {
		case err == nil:
			if err := w.store(ctx, p, v); err != nil {
				return len(plates), err
			}
			found++
			w.Stats.Enriched.Add(1)
			w.log.Debug("vehicle enriched", "plate", p)
		case errors.Is(err, ErrNotFound):
			if err := w.markNotFound(ctx, p); err != nil {
				return len(plates), err
			}
			missing++
			w.Stats.NotFound.Add(1)
			w.log.Debug("plate not in the registry", "plate", p)
		default:
			if ctx.Err() != nil {
				return len(plates), ctx.Err()
			}
			if err := w.postpone(ctx, p); err != nil {
				return len(plates), err
			}
			failed++
			w.Stats.Failed.Add(1)
			// The error names the request URL (the plate) but never owner data.
			w.log.Debug("sunarp lookup failed", "plate", p, "err", err)
		}
	}
	if len(plates) > 0 {
		w.log.Info("sunarp enrichment round", "claimed", len(plates), "enriched", found, "not_found", missing, "failed", failed)
	}
	return len(plates), nil
}

func (w *Worker) pace(ctx context.Context) error {
	if d := w.cfg.Gap - time.Since(w.last); d > 0 && !w.last.IsZero() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
	w.last = time.Now()
	return nil
}

// claim leases due plates with FOR NO KEY UPDATE SKIP LOCKED: that lock
// does not conflict with the key-share locks of infractions' foreign keys,
// so ingestion never waits for the worker.
func (w *Worker) claim(ctx context.Context, now time.Time) ([]string, error) {
	rows, err := w.pool.Query(ctx, `UPDATE vehicles SET sunarp_retry_at = $3
		WHERE plate IN (SELECT plate FROM vehicles
			WHERE (sunarp_last_check IS NULL OR sunarp_last_check < $1) AND (sunarp_retry_at IS NULL OR sunarp_retry_at <= $2)
			ORDER BY sunarp_last_check NULLS FIRST, created_at LIMIT $4 FOR NO KEY UPDATE SKIP LOCKED)
		RETURNING plate`, now.Add(-w.cfg.TTL), now, now.Add(w.cfg.Lease), w.cfg.Batch)
	if err != nil {
		return nil, fmt.Errorf("sunarp: claim plates: %w", err)
	}
	plates, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("sunarp: claim plates: %w", err)
	}
	return plates, nil
}

func (w *Worker) store(ctx context.Context, plate string, v *Vehicle) error {
	var year *int
	if v.Year != 0 {
		year = &v.Year
	}
	_, err := w.pool.Exec(ctx, `UPDATE vehicles SET brand = NULLIF($2, ''), model = NULLIF($3, ''), year = $4,
			color = NULLIF($5, ''), vehicle_type = NULLIF($6, ''), owner_name = NULLIF($7, ''), owner_dni = NULLIF($8, ''),
			owner_address = NULLIF($9, ''), registration_date = $10, sunarp_data = $11, sunarp_last_check = $12,
			sunarp_retry_at = NULL, updated_at = $12
		WHERE plate = $1`, plate, v.Brand, v.Model, year, v.Color, v.Type, v.Owner.Name, v.Owner.DNI, v.Owner.Address,
		v.Registered(), []byte(v.Raw), w.cfg.Now())
	if err != nil {
		return fmt.Errorf("sunarp: store vehicle: %w", err)
	}
	return nil
}

func (w *Worker) markNotFound(ctx context.Context, plate string) error {
	_, err := w.pool.Exec(ctx, `UPDATE vehicles SET sunarp_data = '{"not_found": true}'::jsonb, sunarp_last_check = $2,
		sunarp_retry_at = NULL, updated_at = $2 WHERE plate = $1`, plate, w.cfg.Now())
	if err != nil {
		return fmt.Errorf("sunarp: mark not found: %w", err)
	}
	return nil
}

func (w *Worker) postpone(ctx context.Context, plate string) error {
	_, err := w.pool.Exec(ctx, `UPDATE vehicles SET sunarp_retry_at = $2 WHERE plate = $1`, plate, w.cfg.Now().Add(w.cfg.RetryAfter))
	if err != nil {
		return fmt.Errorf("sunarp: postpone: %w", err)
	}
	return nil
}

// Enrich looks one plate up now, whatever its last check, and stores the
// result (for the API's POST /api/vehicles/{plate}/enrich). The vehicles row
// is created when missing.
func (w *Worker) Enrich(ctx context.Context, plate string) (*Vehicle, error) {
	if _, err := w.pool.Exec(ctx, `INSERT INTO vehicles(plate) VALUES ($1) ON CONFLICT (plate) DO NOTHING`, plate); err != nil {
		return nil, fmt.Errorf("sunarp: enrich: %w", err)
	}
	v, err := w.client.Lookup(ctx, plate)
	if errors.Is(err, ErrNotFound) {
		if merr := w.markNotFound(ctx, plate); merr != nil {
			return nil, merr
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if err := w.store(ctx, plate, v); err != nil {
		return nil, err
	}
	return v, nil
}
