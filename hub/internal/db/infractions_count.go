package db

import (
	"context"
	"fmt"
)

// countInfractions returns the exact number of infractions matching f, whose
// WHERE clause (on the infractions columns) is cond with args. Filters only
// by status, type, zone and camera are answered from infraction_counts
// (migration 004: exact, kept by triggers in the writing transaction); a
// filter by date or plate selects few rows and is counted through its index.
func (s *Store) countInfractions(ctx context.Context, f InfractionFilter, cond string, args []any) (int64, error) {
	q := "SELECT COALESCE(sum(n), 0)::bigint FROM infraction_counts " + cond
	if f.Date != nil || f.Plate != "" {
		q = "SELECT count(*) FROM infractions " + cond
	}
	var n int64
	if err := s.Pool.QueryRow(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("db: count infractions: %w", err)
	}
	return n, nil
}

// CountInfractions returns the exact number of infractions matching f (its
// Limit and Offset are ignored), as ListInfractions reports it.
func (s *Store) CountInfractions(ctx context.Context, f InfractionFilter) (int64, error) {
	f.Limit, f.Offset = 0, 0
	cond, args := s.infractionWhere(f)
	return s.countInfractions(ctx, f, cond, args)
}
