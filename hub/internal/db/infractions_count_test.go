package db

import (
	"context"
	"testing"
	"time"
)

// Integration (real PostgreSQL): the list's count, answered from
// infraction_counts for status/type/zone/camera filters, equals count(*)
// after inserts (row by row, COPY, batch), updates, deletes and truncation.
func TestInfractionCountsExactIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := seedInfractions(ctx, s, 3000); err != nil {
		t.Fatal(err)
	}
	day := time.Now().In(s.Loc).AddDate(0, 0, -2)
	filters := map[string]InfractionFilter{
		"all":                {},
		"pending":            {Status: "pending"},
		"validated":          {Status: "validated"},
		"type":               {Type: "RED_LIGHT"},
		"zone":               {ZoneID: "ZN003"},
		"zone, status, type": {ZoneID: "ZN003", Status: "paid", Type: "SPEED_VIOLATION"},
		"camera":             {DeviceID: "CAM013"},
		"no zone":            {ZoneID: "ZN404"},
		"day (direct count)": {Date: &day},
		"plate (direct)":     {Plate: "V000001", Status: "paid"},
	}
	check := func(step string) {
		t.Helper()
		for name, f := range filters {
			cond, args := s.infractionWhere(f)
			want := countRows(t, s, "SELECT count(*) FROM infractions "+cond, args...)
			got, _, err := s.ListInfractions(ctx, InfractionFilter{Status: f.Status, Type: f.Type, ZoneID: f.ZoneID, DeviceID: f.DeviceID,
				Plate: f.Plate, Date: f.Date, Limit: 5})
			if err != nil {
				t.Fatal(err)
			}
			if got != int64(want) {
				t.Errorf("%s, %s: count %d, want %d", step, name, got, want)
			}
		}
	}
	check("seeded")
	steps := []struct{ name, sql string }{
		{"validate some", `UPDATE infractions SET status = 'validated' WHERE status = 'pending' AND detected_at > now() - interval '30 days'`},
		{"move zones", `UPDATE infractions SET zone_id = 'ZN003' WHERE device_id = 'CAM042'`},
		{"no-op update", `UPDATE infractions SET recidivism_risk = 0.5 WHERE zone_id = 'ZN003'`},
		{"clear zone", `UPDATE infractions SET zone_id = NULL WHERE device_id = 'CAM013'`},
		{"delete", `DELETE FROM infractions WHERE type = 'OTHER' AND status = 'rejected'`},
	}
	for _, st := range steps {
		if _, err := s.Pool.Exec(ctx, st.sql); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
	at := time.Now().Add(-time.Hour)
	one := infractionMsg(t, "CAM013", "ZN003", "V000001", at)
	if _, err := s.InsertInfraction(ctx, one.Env, one.P); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InsertInfractions(ctx, []InfractionMessage{infractionMsg(t, "CAM001", "", "", at), infractionMsg(t, "CAM013", "", "", at)}); err != nil {
		t.Fatal(err)
	}
	check("ingested")
	if _, err := s.Pool.Exec(ctx, `TRUNCATE infractions CASCADE`); err != nil {
		t.Fatal(err)
	}
	check("truncated")
	if n := countRows(t, s, `SELECT count(*) FROM infraction_counts WHERE n <> 0`); n != 0 {
		t.Errorf("%d non-zero summary rows after TRUNCATE", n)
	}
}

// Integration: migration 004 applied to a database that already holds
// infractions (an upgrade) starts infraction_counts from them.
func TestMigration004OnPopulatedDatabaseIntegration(t *testing.T) {
	ctx := context.Background()
	s, after := openMigratedBelow(t, 4)
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 7 {
		m := infractionMsg(t, "CAM1", "", "", at.Add(time.Duration(i)*time.Minute))
		if _, err := s.InsertInfraction(ctx, m.Env, m.P); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Pool.Exec(ctx, `UPDATE infractions SET status = 'validated' WHERE infraction_code <= 'INF-20260301-003'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.migrate(ctx, after); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]int64{"": 7, "validated": 3, "pending": 4, "paid": 0} {
		got, err := s.CountInfractions(ctx, InfractionFilter{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("status %q: count %d, want %d", status, got, want)
		}
	}
}
