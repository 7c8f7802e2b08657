package db

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// listBenchRows is the size of the infractions table of the list benchmark.
const listBenchRows = 1_000_000

// seedInfractions fills a migrated database with n infractions spread like
// a year of a city's enforcement: 20 zones, 100 cameras, 200,000 plates with
// repeat offenders (squared-uniform pick), older infractions mostly settled
// (validated, paid, rejected), recent ones mostly pending.
func seedInfractions(ctx context.Context, s *Store, n int) error {
	// Secondary indexes are dropped and rebuilt around the bulk insert (much
	// faster than maintaining them row by row).
	rows, err := s.Pool.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'infractions'
		AND indexname NOT IN (SELECT conname FROM pg_constraint)`)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return fmt.Errorf("seed: %w", err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	rows.Close()
	var stmts []string
	for _, name := range names {
		stmts = append(stmts, "DROP INDEX "+name)
	}
	stmts = append(stmts, []string{
		`INSERT INTO zones(id, name, speed_limit)
			SELECT 'ZN' || lpad(z::text, 3, '0'), 'Zona ' || z, (ARRAY[30, 40, 50, 60, 80])[1 + z % 5]
			FROM generate_series(1, 20) z`,
		`INSERT INTO devices(id, name, zone_id, rtsp_url)
			SELECT 'CAM' || lpad(c::text, 3, '0'), 'Cámara ' || c, 'ZN' || lpad((1 + (c - 1) / 5)::text, 3, '0'), 'rtsp://x'
			FROM generate_series(1, 100) c`,
		`INSERT INTO vehicles(plate) SELECT 'V' || lpad(v::text, 6, '0') FROM generate_series(0, 199999) v`,
		fmt.Sprintf(`INSERT INTO infractions(event_id, infraction_code, type, device_id, zone_id, plate, detected_speed, speed_limit,
				video_url, snapshot_url, confidence_score, ocr_confidence, status, detected_at, source_device_id)
			SELECT gen_random_uuid()::text, 'INF-' || to_char(at, 'YYYYMMDD') || '-' || lpad(g::text, 7, '0'),
				(ARRAY['SPEED_VIOLATION', 'SPEED_VIOLATION', 'SPEED_VIOLATION', 'RED_LIGHT', 'LANE_INVASION', 'OTHER'])[1 + g %% 6],
				cam, 'ZN' || lpad((1 + (c - 1) / 5)::text, 3, '0'),
				CASE WHEN g %% 10 = 0 THEN NULL ELSE 'V' || lpad(floor(200000 * r * r)::int::text, 6, '0') END,
				60 + 40 * r, 60, 'evidence/' || g || '.mp4', 'evidence/' || g || '.jpg', 0.5 + r / 2, 0.6 + r / 3,
				CASE WHEN at > now() - interval '14 days' THEN (ARRAY['pending', 'pending', 'pending', 'validated'])[1 + g %% 4]
					ELSE (ARRAY['validated', 'validated', 'paid', 'paid', 'paid', 'rejected', 'appealed', 'pending'])[1 + g %% 8] END,
				at, cam
			FROM (SELECT g, c, 'CAM' || lpad(c::text, 3, '0') AS cam, r, now() - random() * interval '365 days' AS at
				FROM (SELECT g, 1 + g %% 100 AS c, random() AS r FROM generate_series(1, %d) g) x) y`, n),
	}...)
	stmts = append(stmts, defs...)
	stmts = append(stmts, `VACUUM ANALYZE infractions`)
	for _, q := range stmts {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// listCases are the filters an operator uses, with deep pages too.
func listCases(loc *time.Location) []struct {
	name string
	f    InfractionFilter
} {
	day := time.Now().In(loc).AddDate(0, 0, -3)
	old := time.Now().In(loc).AddDate(0, -5, 0)
	return []struct {
		name string
		f    InfractionFilter
	}{
		{"all, page 1", InfractionFilter{Limit: 20}},
		{"all, page 100", InfractionFilter{Limit: 20, Offset: 1980}},
		{"pending", InfractionFilter{Status: "pending", Limit: 20}},
		{"validated, page 50", InfractionFilter{Status: "validated", Limit: 20, Offset: 980}},
		{"recent day", InfractionFilter{Date: &day, Limit: 20}},
		{"old day, pending", InfractionFilter{Date: &old, Status: "pending", Limit: 20}},
		{"zone", InfractionFilter{ZoneID: "ZN007", Limit: 20}},
		{"zone, pending", InfractionFilter{ZoneID: "ZN007", Status: "pending", Limit: 20}},
		{"zone, day", InfractionFilter{ZoneID: "ZN007", Date: &day, Limit: 20}},
		{"repeat offender plate", InfractionFilter{Plate: "V000001", Limit: 20}},
		{"plate, paid", InfractionFilter{Plate: "V000010", Status: "paid", Limit: 20}},
		{"camera, red light", InfractionFilter{DeviceID: "CAM042", Type: "RED_LIGHT", Limit: 20}},
	}
}

// Integration (real PostgreSQL, one million infractions): the p95 of the
// infractions list query (count + page) over the operators' filters. Seeding
// takes a minute or two; each op runs every case once.
func BenchmarkListInfractions1MIntegration(b *testing.B) {
	ctx := context.Background()
	s := listBenchStore(b)
	cases := listCases(s.Loc)
	perCase := make([][]time.Duration, len(cases))
	var all []time.Duration
	// Warm-up: the first query of each shape plans and reads from disk.
	for _, tc := range cases {
		if _, _, err := s.ListInfractions(ctx, tc.f); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		for i, tc := range cases {
			t0 := time.Now()
			count, rows, err := s.ListInfractions(ctx, tc.f)
			d := time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
			if count > 0 && len(rows) == 0 && tc.f.Offset < int(count) {
				b.Fatalf("%s: count %d but no rows", tc.name, count)
			}
			perCase[i] = append(perCase[i], d)
			all = append(all, d)
		}
	}
	b.StopTimer()
	p95 := func(ds []time.Duration) time.Duration {
		ds = slices.Clone(ds)
		slices.Sort(ds)
		return ds[min(len(ds)-1, len(ds)*95/100)]
	}
	worst := time.Duration(0)
	var report strings.Builder
	for i, tc := range cases {
		p := p95(perCase[i])
		worst = max(worst, p)
		fmt.Fprintf(&report, "%s %.2f ms; ", tc.name, float64(p.Microseconds())/1000)
	}
	b.Logf("p95 per case: %s", report.String())
	b.ReportMetric(float64(p95(all).Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-case-p95-ms")
	b.ReportMetric(0, "ns/op")
}

// listBench is the seeded database of the list benchmark, made once per test
// binary (the benchmark function runs more than once) and dropped by TestMain.
var listBench struct {
	once  sync.Once
	store *Store
	err   error
	drop  func()
}

func listBenchStore(b *testing.B) *Store {
	b.Helper()
	listBench.once.Do(func() {
		ctx := context.Background()
		// VIGIA_LIST_BENCH_DB names an already seeded database to reuse (kept).
		if u := os.Getenv("VIGIA_LIST_BENCH_DB"); u != "" {
			loc, _ := time.LoadLocation("America/Lima")
			s, err := Open(ctx, u, loc, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				_, err = s.Migrate(ctx)
			}
			var n int
			if err == nil {
				err = s.Pool.QueryRow(ctx, `SELECT count(*) FROM infractions`).Scan(&n)
			}
			if err == nil && n == 0 {
				err = seedInfractions(ctx, s, listBenchRows)
			}
			listBench.store, listBench.err = s, err
			return
		}
		admin, err := pgx.Connect(ctx, testenv.PostgresURL())
		if err != nil {
			listBench.err = err
			return
		}
		defer admin.Close(ctx)
		name := fmt.Sprintf("vigia_bench_list_%d", time.Now().UnixNano())
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			listBench.err = err
			return
		}
		listBench.drop = func() {
			if listBench.store != nil {
				listBench.store.Close()
			}
			c, err := pgx.Connect(context.Background(), testenv.PostgresURL())
			if err != nil {
				return
			}
			defer c.Close(context.Background())
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		}
		u, _ := url.Parse(testenv.PostgresURL())
		u.Path = "/" + name
		loc, _ := time.LoadLocation("America/Lima")
		s, err := Open(ctx, u.String(), loc, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			listBench.err = err
			return
		}
		listBench.store = s
		if _, err := s.Migrate(ctx); err != nil {
			listBench.err = err
			return
		}
		start := time.Now()
		if listBench.err = seedInfractions(ctx, s, listBenchRows); listBench.err == nil {
			b.Logf("seeded %d infractions in %s", listBenchRows, time.Since(start).Round(time.Second))
		}
	})
	if listBench.err != nil {
		b.Fatalf("list benchmark database: %v", listBench.err)
	}
	return listBench.store
}

func TestMain(m *testing.M) {
	code := m.Run()
	if listBench.drop != nil {
		listBench.drop()
	}
	os.Exit(code)
}
