package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

var lima = mustLoc("America/Lima")

func mustLoc(name string) *time.Location {
	l, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return l
}

// seed is one infraction of the fixture, at a Lima wall-clock time.
type seed struct {
	zone, camera string
	local        string // 2006-01-02 15:04 in America/Lima
	typ          string
	plate        string
	speed        float64 // 0: NULL
	status       string
}

// fixture: the day under test is 2026-11-01 in Lima (UTC-5).
var fixture = []seed{
	{"ZN001", "CAM001", "2026-11-01 00:10", "SPEED_VIOLATION", "ABC-123", 80, "pending"},
	{"ZN001", "CAM001", "2026-11-01 14:05", "SPEED_VIOLATION", "ABC-123", 70, "validated"},
	{"ZN001", "CAM001", "2026-11-01 14:40", "LANE_INVASION", "XYZ-987", 0, "pending"},
	{"ZN001", "CAM001", "2026-11-01 15:20", "RED_LIGHT", "ABC-123", 0, "pending"},
	// 23:50 in Lima is already 04:50 of the next day in UTC: still this Lima day.
	{"ZN001", "CAM001", "2026-11-01 23:50", "SPEED_VIOLATION", "XYZ-987", 91.4, "pending"},
	// Rejected: counted apart only.
	{"ZN001", "CAM001", "2026-11-01 15:30", "SPEED_VIOLATION", "ZZZ-000", 200, "rejected"},
	// The Lima day before, although the same UTC date (2026-11-01 04:30Z).
	{"ZN001", "CAM001", "2026-10-31 23:30", "SPEED_VIOLATION", "ABC-123", 120, "pending"},
	// The next Lima day, exactly at midnight.
	{"ZN001", "CAM001", "2026-11-02 00:00", "SPEED_VIOLATION", "ABC-123", 120, "pending"},
	{"ZN001", "CAM001", "2026-11-01 14:10", "OTHER", "", 0, "pending"},
	// Another zone: in the all-zones report only.
	{"ZN002", "CAM002", "2026-11-01 14:15", "SPEED_VIOLATION", "QQQ-111", 100.2, "pending"},
}

func openStore(t *testing.T) *db.Store {
	t.Helper()
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(t), lima, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func seedDB(t *testing.T, pool *pgxpool.Pool, seeds []seed) {
	t.Helper()
	ctx := context.Background()
	for _, z := range [][2]string{{"ZN001", "Av. Javier Prado - San Isidro"}, {"ZN002", "Vía Expresa"}} {
		if _, err := pool.Exec(ctx, `INSERT INTO zones(id, name, speed_limit) VALUES ($1, $2, 60) ON CONFLICT DO NOTHING`, z[0], z[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range [][2]string{{"CAM001", "ZN001"}, {"CAM002", "ZN002"}} {
		if _, err := pool.Exec(ctx, `INSERT INTO devices(id, zone_id, name, rtsp_url) VALUES ($1, $2, $1, 'rtsp://192.0.2.1/x') ON CONFLICT DO NOTHING`, d[0], d[1]); err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range seeds {
		at, err := time.ParseInLocation("2006-01-02 15:04", s.local, lima)
		if err != nil {
			t.Fatal(err)
		}
		var plate *string
		if s.plate != "" {
			plate = &s.plate
			if _, err := pool.Exec(ctx, `INSERT INTO vehicles(plate) VALUES ($1) ON CONFLICT DO NOTHING`, s.plate); err != nil {
				t.Fatal(err)
			}
		}
		var speed, limit *float64
		if s.speed > 0 {
			l := 60.0
			speed, limit = &s.speed, &l
		}
		_, err = pool.Exec(ctx, `INSERT INTO infractions(event_id, infraction_code, type, device_id, zone_id, plate,
			detected_speed, speed_limit, video_url, snapshot_url, status, detected_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'v.mp4', 's.jpg', $9, $10)`,
			fmt.Sprintf("ev-%03d", i), fmt.Sprintf("INF-%s-%03d", at.Format("20060102"), i), s.typ, s.camera, s.zone,
			plate, speed, limit, s.status, at)
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
	}
}

func newService(t *testing.T, pool *pgxpool.Pool) *Service {
	t.Helper()
	s, err := New(pool, lima, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC) }
	return s
}

func ptr[T any](v T) *T { return &v }

func hours(m map[int]int64) []HourCount {
	out := make([]HourCount, 24)
	for h := range out {
		out[h] = HourCount{Hour: h, Count: m[h]}
	}
	return out
}

func TestDailyIntegrationPostgres(t *testing.T) {
	store := openStore(t)
	seedDB(t, store.Pool, fixture)
	svc := newService(t, store.Pool)
	day := time.Date(2026, 11, 1, 0, 0, 0, 0, lima)

	tests := []struct {
		name     string
		zone     string
		total    int64
		rejected int64
		byType   map[string]int64
		byHour   map[int]int64
		top      []Violator
		avg      *float64
		rows     int
	}{
		{
			name: "one zone", zone: "ZN001", total: 6, rejected: 1,
			byType: map[string]int64{"SPEED_VIOLATION": 3, "LANE_INVASION": 1, "RED_LIGHT": 1, "OTHER": 1},
			byHour: map[int]int64{0: 1, 14: 3, 15: 1, 23: 1},
			top:    []Violator{{"ABC-123", 3}, {"XYZ-987", 2}},
			avg:    ptr(80.5), // (80 + 70 + 91.4) / 3 = 80.47
			rows:   7,
		},
		{
			name: "all zones", total: 7, rejected: 1,
			byType: map[string]int64{"SPEED_VIOLATION": 4, "LANE_INVASION": 1, "RED_LIGHT": 1, "OTHER": 1},
			byHour: map[int]int64{0: 1, 14: 4, 15: 1, 23: 1},
			top:    []Violator{{"ABC-123", 3}, {"XYZ-987", 2}, {"QQQ-111", 1}},
			avg:    ptr(85.4), // (80 + 70 + 91.4 + 100.2) / 4
			rows:   8,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := svc.Compute(context.Background(), Query{Day: day, ZoneID: tc.zone}, true)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Date != "2026-11-01" || rep.TimeZone != "America/Lima" {
				t.Errorf("date %s tz %s", rep.Date, rep.TimeZone)
			}
			if rep.TotalInfractions != tc.total || rep.RejectedCount != tc.rejected {
				t.Errorf("total %d rejected %d, want %d %d", rep.TotalInfractions, rep.RejectedCount, tc.total, tc.rejected)
			}
			if !reflect.DeepEqual(rep.ByType, tc.byType) {
				t.Errorf("by_type %v, want %v", rep.ByType, tc.byType)
			}
			if !reflect.DeepEqual(rep.ByHour, hours(tc.byHour)) {
				t.Errorf("by_hour %v, want %v", rep.ByHour, hours(tc.byHour))
			}
			if !reflect.DeepEqual(rep.TopViolators, tc.top) {
				t.Errorf("top %v, want %v", rep.TopViolators, tc.top)
			}
			if rep.AverageSpeedViolation == nil || *rep.AverageSpeedViolation != *tc.avg {
				t.Errorf("average %v, want %v", rep.AverageSpeedViolation, *tc.avg)
			}
			if len(rep.Infractions) != tc.rows {
				t.Errorf("%d listed infractions, want %d", len(rep.Infractions), tc.rows)
			}
			var sum int64
			for _, h := range rep.ByHour {
				sum += h.Count
			}
			if sum != rep.TotalInfractions {
				t.Errorf("by_hour sums to %d, total is %d", sum, rep.TotalInfractions)
			}
		})
	}

	t.Run("empty day", func(t *testing.T) {
		rep, err := svc.Compute(context.Background(), Query{Day: day.AddDate(0, 0, 10), ZoneID: "ZN001"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if rep.TotalInfractions != 0 || rep.AverageSpeedViolation != nil || len(rep.TopViolators) != 0 || len(rep.ByHour) != 24 || rep.ByType["RED_LIGHT"] != 0 {
			t.Errorf("empty day report: %+v", rep)
		}
		b, _ := json.Marshal(rep)
		for _, want := range []string{`"top_violators":[]`, `"average_speed_violation":null`, `"SPEED_VIOLATION":0`} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("JSON lacks %s: %s", want, b)
			}
		}
	})
	t.Run("unknown zone", func(t *testing.T) {
		if _, err := svc.Compute(context.Background(), Query{Day: day, ZoneID: "ZN404"}, false); err != ErrZoneNotFound {
			t.Errorf("err %v, want ErrZoneNotFound", err)
		}
	})
	t.Run("golden JSON", func(t *testing.T) {
		rep, err := svc.Compute(context.Background(), Query{Day: day, ZoneID: "ZN001"}, false)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "daily_ZN001.json", append(got, '\n'))
	})
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestNewRefusesUnnamedZone(t *testing.T) {
	if _, err := New(nil, time.Local, slog.New(slog.NewTextHandler(io.Discard, nil))); err == nil {
		t.Error("time.Local accepted: PostgreSQL cannot resolve it")
	}
	s, err := New(nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || s.Location().String() != "America/Lima" {
		t.Errorf("default zone: %v %v", s, err)
	}
}
