package db

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/shared/event"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	loc, err := time.LoadLocation("America/Lima")
	if err != nil {
		t.Fatal(err)
	}
	return openMigrated(t, loc)
}

// openEmpty opens a fresh test database with no migration applied; it is
// closed when the test ends.
func openEmpty(tb testing.TB, loc *time.Location) *Store {
	tb.Helper()
	s, err := Open(context.Background(), testdb.New(tb), loc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// openMigrated opens a fresh test database with every migration applied.
func openMigrated(tb testing.TB, loc *time.Location) *Store {
	tb.Helper()
	s := openEmpty(tb, loc)
	if _, err := s.Migrate(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestMigrateFromEmptyIsRepeatable(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	again, err := s.Migrate(ctx)
	if err != nil || len(again) != 0 {
		t.Fatalf("second migrate applied %v, %v", again, err)
	}
	var postgis string
	if err := s.Pool.QueryRow(ctx, `SELECT postgis_version()`).Scan(&postgis); err != nil {
		t.Fatalf("PostGIS missing: %v", err)
	}
}

func TestLoadMigrationsRejectsBadNames(t *testing.T) {
	cases := map[string]fstest.MapFS{
		"no number":  {"init.sql": {Data: []byte("SELECT 1")}},
		"duplicate":  {"001_a.sql": {Data: []byte("SELECT 1")}, "001_b.sql": {Data: []byte("SELECT 1")}},
		"zero":       {"000_a.sql": {Data: []byte("SELECT 1")}},
		"no divider": {"001.sql": {Data: []byte("SELECT 1")}},
	}
	for name, fsys := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := LoadMigrations(fsys); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	ms, err := LoadMigrations(fstest.MapFS{"010_b.sql": {Data: []byte("b")}, "002_a.sql": {Data: []byte("a")}})
	if err != nil || len(ms) != 2 || ms[0].Version != 2 || ms[1].Version != 10 {
		t.Fatalf("order: %+v %v", ms, err)
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	_, err := s.migrate(ctx, []Migration{{Version: 900, Name: "900_bad.sql", SQL: "CREATE TABLE half_done(x int); SELECT no_such_function();"}})
	if err == nil {
		t.Fatal("a failing migration reported success")
	}
	var exists bool
	if err := s.Pool.QueryRow(ctx, `SELECT to_regclass('half_done') IS NOT NULL`).Scan(&exists); err != nil || exists {
		t.Fatalf("half-applied migration left a table (exists=%v, %v)", exists, err)
	}
}

func infraction(camera string, at time.Time) (event.Envelope, *event.Infraction) {
	p := &event.Infraction{Type: event.SpeedViolation, CameraID: camera, DetectedAt: at, DetectedSpeed: 80, SpeedLimit: 60,
		Plate: "ABC-123", PlateReadable: true}
	env, err := event.New(camera, at, p)
	if err != nil {
		panic(err)
	}
	return env, p
}

func TestInsertInfractionIdempotentAndGapFree(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.UpsertZone(ctx, "ZN001", "Centro", 60); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertDevice(ctx, Device{ID: "CAM001", Name: "cam", ZoneID: "ZN001", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	// 23:30 in Lima is already the next day in UTC: the code must use Lima's calendar.
	at := time.Date(2025, 11, 1, 23, 30, 0, 0, s.Loc)
	const workers, each = 8, 10
	envs := make([]event.Envelope, 0, workers*each)
	ps := make([]*event.Infraction, 0, workers*each)
	for range workers * each {
		e, p := infraction("CAM001", at)
		envs, ps = append(envs, e), append(ps, p)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each*2)
	codes := make(chan string, workers*each*2)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * each; i < (w+1)*each; i++ {
				// Every event is delivered twice, concurrently with the others.
				for range 2 {
					res, err := s.InsertInfraction(ctx, envs[i], ps[i])
					if err != nil {
						errs <- err
						return
					}
					if !res.Duplicate {
						codes <- res.Code
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(codes)
	for err := range errs {
		t.Fatal(err)
	}
	var got []string
	for c := range codes {
		got = append(got, c)
	}
	sort.Strings(got)
	if len(got) != workers*each {
		t.Fatalf("%d first inserts, want %d", len(got), workers*each)
	}
	for i, c := range got {
		if want := fmt.Sprintf("INF-20251101-%03d", i+1); c != want {
			t.Fatalf("code %d is %s, want %s (all: %v)", i, c, want, got)
		}
	}
	var n int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM infractions WHERE zone_id = 'ZN001'`).Scan(&n); err != nil || n != workers*each {
		t.Fatalf("%d rows (%v), want %d", n, err, workers*each)
	}
}

func TestUnknownDeviceAndDeadLetter(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	env, p := infraction("CAM404", time.Now())
	if _, err := s.InsertInfraction(ctx, env, p); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("got %v, want ErrUnknownDevice", err)
	}
	big := make([]byte, maxKeptPayload+100)
	if err := s.InsertDeadLetter(ctx, DeadLetter{Topic: "t", Reason: "too_large", Detail: "d", Payload: big}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.ListDeadLetters(ctx, 10)
	if err != nil || len(rows) != 1 || rows[0].Size != len(big) || rows[0].Reason != "too_large" {
		t.Fatalf("dead letters %+v %v", rows, err)
	}
}

func TestListInfractionsFilters(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	for _, cam := range []string{"CAM1", "CAM2"} {
		if err := s.UpsertDevice(ctx, Device{ID: cam, Name: cam, RTSPURL: "rtsp://x"}); err != nil {
			t.Fatal(err)
		}
	}
	day1 := time.Date(2025, 11, 1, 10, 0, 0, 0, s.Loc)
	day2 := day1.AddDate(0, 0, 1)
	for i := range 5 {
		cam, at := "CAM1", day1
		if i >= 3 {
			cam, at = "CAM2", day2
		}
		e, p := infraction(cam, at.Add(time.Duration(i)*time.Minute))
		if _, err := s.InsertInfraction(ctx, e, p); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		f     InfractionFilter
		count int64
		page  int
	}{
		{"all", InfractionFilter{Limit: 50}, 5, 5},
		{"page", InfractionFilter{Limit: 2, Offset: 4}, 5, 1},
		{"device", InfractionFilter{DeviceID: "CAM2", Limit: 50}, 2, 2},
		{"date", InfractionFilter{Date: &day1, Limit: 50}, 3, 3},
		{"status", InfractionFilter{Status: "validated", Limit: 50}, 0, 0},
		{"plate", InfractionFilter{Plate: "ABC-123", Limit: 50}, 5, 5},
		{"injection", InfractionFilter{Plate: "'; DROP TABLE infractions; --", Limit: 50}, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, rows, err := s.ListInfractions(ctx, tc.f)
			if err != nil || n != tc.count || len(rows) != tc.page {
				t.Fatalf("count %d rows %d err %v; want %d %d", n, len(rows), err, tc.count, tc.page)
			}
			for i := 1; i < len(rows); i++ {
				if rows[i].DetectedAt.After(rows[i-1].DetectedAt) {
					t.Fatal("not newest first")
				}
			}
		})
	}
}
