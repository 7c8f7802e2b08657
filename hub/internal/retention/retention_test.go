package retention

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testtimescale"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openStore is a migrated throw-away database (integration: real PostgreSQL).
func openStore(t *testing.T) *db.Store {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(t), time.UTC, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*Config)
		bad  []string
	}{
		{"default", func(*Config) {}, nil},
		{"injection", func(c *Config) { c.Tables = []string{"events; DROP TABLE devices"} }, []string{"identifier"}},
		{"short retention", func(c *Config) { c.Retention = time.Hour }, []string{"shorter than a day"}},
		{"everything", func(c *Config) { c.Tables = []string{}; c.AheadDays = -1; c.Interval = -1 },
			[]string{"no tables", "ahead_days", "interval"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if (err != nil) != (len(tc.bad) > 0) {
				t.Fatalf("Validate() = %v, want problems %v", err, tc.bad)
			}
			for _, want := range tc.bad {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// names lists table's partitions for days from..to inclusive, computed independently of the job.
func names(table string, from, to time.Time) []string {
	var out []string
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		out = append(out, table+"_p"+d.Format("20060102"))
	}
	return out
}

// where returns the partition holding each event row, by data->>'k'.
func where(t *testing.T, s *db.Store) map[string]string {
	t.Helper()
	rows, err := s.Pool.Query(context.Background(), `SELECT data->>'k', tableoid::regclass::text FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, p string
		if err := rows.Scan(&k, &p); err != nil {
			t.Fatal(err)
		}
		out[k] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func insertEvent(t *testing.T, s *db.Store, key string, ts time.Time) {
	t.Helper()
	if _, err := s.Pool.Exec(context.Background(), `INSERT INTO events(event_type, timestamp, data, event_id) VALUES ('test', $1, jsonb_build_object('k', $2::text), $2)`,
		ts, key); err != nil {
		t.Fatalf("insert %s at %v: %v", key, ts, err)
	}
}

func TestRunOnceCreatesMovesAndDropsIntegration(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	j, err := New(s.Pool, Config{Tables: []string{"events", "inference_metrics"}, Retention: 90 * 24 * time.Hour, AheadDays: 7}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	// 23:30 in Lima is already the next UTC day: partitions follow UTC days.
	now := time.Date(2026, 3, 10, 23, 30, 0, 0, time.FixedZone("PET", -5*3600))
	today := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)

	// Before any partition exists, rows land in the default partition: nothing is lost.
	insertEvent(t, s, "expired", today.AddDate(0, 0, -95))
	insertEvent(t, s, "backlog", today.AddDate(0, 0, -5).Add(3*time.Hour))
	insertEvent(t, s, "today", today.Add(time.Hour))
	insertEvent(t, s, "far-future", today.AddDate(1, 0, 0))

	created, dropped, err := j.RunOnce(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"events_p20260306"}, names("events", today, today.AddDate(0, 0, 7))...)
	want = append(want, names("inference_metrics", today, today.AddDate(0, 0, 7))...)
	if !slices.Equal(created, want) || len(dropped) != 0 {
		t.Fatalf("first run created %v dropped %v; want created %v", created, dropped, want)
	}
	got := where(t, s)
	wantWhere := map[string]string{"backlog": "events_p20260306", "today": "events_p20260311", "far-future": "events_default"}
	if len(got) != len(wantWhere) {
		t.Fatalf("rows after first run: %v, want %v (the expired row deleted)", got, wantWhere)
	}
	for k, p := range wantWhere {
		if got[k] != p {
			t.Errorf("row %s in %s, want %s", k, got[k], p)
		}
	}
	// Idempotent, and the moved rows keep their unique key.
	if c, d, err := j.RunOnce(ctx, now); err != nil || len(c)+len(d) != 0 {
		t.Fatalf("second run created %v dropped %v (%v)", c, d, err)
	}
	if tag, err := s.Pool.Exec(ctx, `INSERT INTO events(event_type, timestamp, event_id) VALUES ('test', $1, 'backlog') ON CONFLICT DO NOTHING`,
		today.AddDate(0, 0, -5).Add(3*time.Hour)); err != nil || tag.RowsAffected() != 0 {
		t.Fatalf("duplicate of a moved row inserted (%v)", err)
	}

	// 100 days later: everything from the first run has expired except the far-future row.
	later := now.AddDate(0, 0, 100)
	laterDay := today.AddDate(0, 0, 100)
	created, dropped, err = j.RunOnce(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	wantDropped := append([]string{"events_p20260306"}, names("events", today, today.AddDate(0, 0, 7))...)
	wantDropped = append(wantDropped, names("inference_metrics", today, today.AddDate(0, 0, 7))...)
	if !slices.Equal(dropped, wantDropped) {
		t.Fatalf("dropped %v, want %v", dropped, wantDropped)
	}
	wantCreated := append(names("events", laterDay, laterDay.AddDate(0, 0, 7)), names("inference_metrics", laterDay, laterDay.AddDate(0, 0, 7))...)
	if !slices.Equal(created, wantCreated) {
		t.Fatalf("created %v, want %v", created, wantCreated)
	}
	got = where(t, s)
	if len(got) != 1 || got["far-future"] != "events_default" {
		t.Fatalf("rows after expiry: %v", got)
	}
}

func TestRetentionBoundaryIntegration(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	j, err := New(s.Pool, Config{Tables: []string{"events"}, Retention: 3 * 24 * time.Hour, AheadDays: 1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := j.RunOnce(ctx, d0); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		now     time.Time
		dropped []string
	}{
		// The day of d0 ends at d0+1d; it is wholly older than 3 days only from d0+4d on.
		{"one second short", d0.AddDate(0, 0, 4).Add(-time.Second), nil},
		{"exactly expired", d0.AddDate(0, 0, 4), []string{"events_p20260101"}},
		{"next day", d0.AddDate(0, 0, 5), []string{"events_p20260102"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, dropped, err := j.RunOnce(ctx, tc.now)
			if err != nil || !slices.Equal(dropped, tc.dropped) {
				t.Fatalf("dropped %v (%v), want %v", dropped, err, tc.dropped)
			}
		})
	}
}

func TestRunStopsWithContextIntegration(t *testing.T) {
	s := openStore(t)
	j, err := New(s.Pool, Config{Interval: time.Hour}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- j.Run(ctx) }()
	// Run maintains at once: today's partition appears without waiting for the interval.
	name := PartitionName("inference_metrics", time.Now())
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		if err := s.Pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not created by Run", name)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Rows written while the job creates partitions (and moves parked rows) are
// neither lost nor refused: writers wait for the short table lock.
func TestRunOnceWithConcurrentWritersIntegration(t *testing.T) {
	s := openStore(t)
	ctx := context.Background()
	j, err := New(s.Pool, Config{Tables: []string{"events"}, AheadDays: 3}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	const writers, each = 4, 100
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				// Spread over five days, some created by the job, some parked in the default.
				ts := base.Add(time.Duration(i%5)*24*time.Hour + time.Duration(w)*time.Minute)
				if _, err := s.Pool.Exec(ctx, `INSERT INTO events(event_type, timestamp, event_id) VALUES ('test', $1, $2)`,
					ts, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for d := range 3 {
		if _, _, err := j.RunOnce(ctx, base.AddDate(0, 0, d)); err != nil {
			t.Fatal(err)
		}
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := j.RunOnce(ctx, base.AddDate(0, 0, 2)); err != nil {
		t.Fatal(err)
	}
	var total, parked int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE tableoid = 'events_default'::regclass) FROM events`).Scan(&total, &parked); err != nil {
		t.Fatal(err)
	}
	if total != writers*each || parked != 0 {
		t.Fatalf("%d rows (%d still in the default partition), want %d and 0", total, parked, writers*each)
	}
}

// TestRetentionOnHypertablesIntegration: on TimescaleDB the job creates
// nothing ahead and drops expired chunks by the same boundary as
// partitions, keeping every row still within the retention.
func TestRetentionOnHypertablesIntegration(t *testing.T) {
	ctx := context.Background()
	s, err := db.Open(ctx, testtimescale.Start(t), time.UTC, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	testtimescale.SeriesSchema(t, s.Pool)
	if converted, err := s.UseTimescale(ctx); err != nil || len(converted) != 2 {
		t.Fatalf("converted %v, %v", converted, err)
	}
	j, err := New(s.Pool, Config{Tables: []string{"events", "inference_metrics"}, Retention: 3 * 24 * time.Hour, AheadDays: 1}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	d0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		insertEvent(t, s, fmt.Sprintf("day%d", i), d0.AddDate(0, 0, i).Add(time.Hour))
	}
	cases := []struct {
		name string
		now  time.Time
		// dropped is how many chunks go; left, the rows kept.
		dropped int
		left    []string
	}{
		{"first run", d0.AddDate(0, 0, 2), 0, []string{"day0", "day1", "day2"}},
		// The day of d0 ends at d0+1d; it is wholly older than 3 days only from d0+4d on.
		{"one second short", d0.AddDate(0, 0, 4).Add(-time.Second), 0, []string{"day0", "day1", "day2"}},
		{"exactly expired", d0.AddDate(0, 0, 4), 1, []string{"day1", "day2"}},
		{"again", d0.AddDate(0, 0, 4), 0, []string{"day1", "day2"}},
		{"next day", d0.AddDate(0, 0, 5), 1, []string{"day2"}},
	}
	for _, tc := range cases {
		created, dropped, err := j.RunOnce(ctx, tc.now)
		if err != nil || len(created) != 0 || len(dropped) != tc.dropped {
			t.Fatalf("%s: created %v dropped %v (%v), want %d dropped", tc.name, created, dropped, err, tc.dropped)
		}
		var left []string
		for k := range where(t, s) {
			left = append(left, k)
		}
		slices.Sort(left)
		if !slices.Equal(left, tc.left) {
			t.Fatalf("%s: rows %v, want %v", tc.name, left, tc.left)
		}
	}
}
