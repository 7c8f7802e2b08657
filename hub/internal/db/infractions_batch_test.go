package db

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

func infractionMsg(t *testing.T, camera, zone, plate string, at time.Time) InfractionMessage {
	t.Helper()
	p := &event.Infraction{Type: event.SpeedViolation, CameraID: camera, ZoneID: zone, DetectedAt: at, DetectedSpeed: 80, SpeedLimit: 60,
		Plate: plate, PlateReadable: plate != "", TrackID: 7}
	env, err := event.New(camera, at, p)
	if err != nil {
		t.Fatal(err)
	}
	return InfractionMessage{Env: env, P: p}
}

// Integration (real PostgreSQL): a batch of infractions gets the same
// outcome as inserting them one by one: gap-free codes continuing the
// per-message ones, duplicates with their stored code, zone and vehicle links.
func TestInsertInfractionsBatchIntegration(t *testing.T) {
	s := openTest(t) // Loc: America/Lima
	ctx := context.Background()
	if err := s.UpsertZone(ctx, "ZN001", "Centro", 60); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", ZoneID: "ZN001", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpsertZone(ctx, "ZN002", "Norte", 50); err != nil {
		t.Fatal(err)
	}
	// 2026-03-01 23:30 in Lima is 2026-03-02 04:30 UTC: the code's day is Lima's.
	day1 := time.Date(2026, 3, 2, 4, 30, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	one := infractionMsg(t, "CAM1", "", "ABC-123", day1)
	if r, err := s.InsertInfraction(ctx, one.Env, one.P); err != nil || r.Code != "INF-20260301-001" {
		t.Fatalf("per-message insert: %+v, %v", r, err)
	}
	a := infractionMsg(t, "CAM1", "ZN002", "XYZ-987", day1)
	b := infractionMsg(t, "CAM1", "ZN404", "", day2)
	c := infractionMsg(t, "CAM1", "", "ABC-123", day1)
	res, err := s.InsertInfractions(ctx, []InfractionMessage{a, one, b, a, c})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		code string
		dup  bool
	}{{"INF-20260301-002", false}, {"INF-20260301-001", true}, {"INF-20260302-001", false}, {"INF-20260301-002", true}, {"INF-20260301-003", false}}
	for i, w := range want {
		if res[i].Code != w.code || res[i].Duplicate != w.dup || res[i].ID == "" {
			t.Errorf("message %d: %+v, want code %s duplicate %v", i, res[i], w.code, w.dup)
		}
	}
	checks := []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM infractions`, 4},
		{`SELECT count(*) FROM infractions WHERE event_id = '` + a.Env.ID + `' AND zone_id = 'ZN002' AND plate = 'XYZ-987' AND status = 'pending' AND evidence_verification = 'pending' AND violation_details->>'track_id' = '7'`, 1},
		{`SELECT count(*) FROM infractions WHERE event_id = '` + b.Env.ID + `' AND zone_id = 'ZN001' AND plate IS NULL`, 1},
		{`SELECT count(*) FROM vehicles WHERE plate IN ('ABC-123', 'XYZ-987')`, 2},
		{`SELECT count(*) FROM infractions WHERE id::text = '` + res[0].ID + `'`, 1},
	}
	for _, ch := range checks {
		if got := countRows(t, s, ch.sql); got != ch.want {
			t.Errorf("%s = %d, want %d", ch.sql, got, ch.want)
		}
	}
	// A batch of new infractions only is stored in one round trip (no
	// lookup): the zone is still the payload's when registered, else the
	// camera's, and the codes continue.
	d := infractionMsg(t, "CAM1", "ZN404", "", day2)
	e := infractionMsg(t, "CAM1", "ZN002", "NEW-001", day2)
	res, err = s.InsertInfractions(ctx, []InfractionMessage{d, e})
	if err != nil || res[0].Code != "INF-20260302-002" || res[1].Code != "INF-20260302-003" || res[0].Duplicate || res[1].Duplicate {
		t.Fatalf("all-new batch: %+v, %v", res, err)
	}
	for _, ch := range []struct {
		sql  string
		want int
	}{
		{`SELECT count(*) FROM infractions WHERE event_id = '` + d.Env.ID + `' AND zone_id = 'ZN001'`, 1},
		{`SELECT count(*) FROM infractions WHERE event_id = '` + e.Env.ID + `' AND zone_id = 'ZN002' AND plate = 'NEW-001'`, 1},
	} {
		if got := countRows(t, s, ch.sql); got != ch.want {
			t.Errorf("%s = %d, want %d", ch.sql, got, ch.want)
		}
	}
	// An unknown camera fails the batch and takes no code.
	bad := infractionMsg(t, "CAM404", "", "", day1)
	if _, err := s.InsertInfractions(ctx, []InfractionMessage{infractionMsg(t, "CAM1", "", "", day1), bad}); !errors.Is(err, ErrUnknownDevice) || !IsPermanent(err) {
		t.Fatalf("unknown camera: %v", err)
	}
	next := infractionMsg(t, "CAM1", "", "", day1)
	if r, err := s.InsertInfraction(ctx, next.Env, next.P); err != nil || r.Code != "INF-20260301-004" {
		t.Fatalf("after a refused batch: %+v, %v (want INF-20260301-004: no gap)", r, err)
	}
}

// BenchmarkInsertInfractions compares one transaction per infraction
// (InsertInfraction) with batches (InsertInfractions) on the real database.
func BenchmarkInsertInfractionsIntegration(b *testing.B) {
	s := openTestB(b)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", RTSPURL: "rtsp://x"}); err != nil {
		b.Fatal(err)
	}
	msg := func(i int) InfractionMessage {
		p := &event.Infraction{Type: event.SpeedViolation, CameraID: "CAM1", DetectedAt: time.Now(), DetectedSpeed: 80, SpeedLimit: 60,
			Plate: fmt.Sprintf("B%02d-%03d", i%89, i%997), PlateReadable: true}
		env, err := event.New("CAM1", time.Now(), p)
		if err != nil {
			b.Fatal(err)
		}
		return InfractionMessage{Env: env, P: p}
	}
	for _, size := range []int{1, 10, 50, 200} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			n := 0
			for range b.N {
				batch := make([]InfractionMessage, size)
				for i := range batch {
					batch[i] = msg(n)
					n++
				}
				if _, err := s.InsertInfractions(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "infractions/s")
		})
	}
	b.Run("per-message", func(b *testing.B) {
		for i := range b.N {
			m := msg(i)
			if _, err := s.InsertInfraction(ctx, m.Env, m.P); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "infractions/s")
	})
}

// Integration (real PostgreSQL): the batch numbers codes in SQL; past 999 a
// day's codes grow a digit exactly as InsertInfraction's %03d does, and the
// next per-message code follows without a gap.
func TestInsertInfractionsCodesPast999Integration(t *testing.T) {
	s := openTest(t) // Loc: America/Lima
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM1", Name: "CAM1", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC) // 2026-03-02 in Lima
	if _, err := s.Pool.Exec(ctx, `INSERT INTO infraction_code_counters(day, last_value) VALUES ('2026-03-02', 997)`); err != nil {
		t.Fatal(err)
	}
	var batch []InfractionMessage
	for range 4 {
		batch = append(batch, infractionMsg(t, "CAM1", "", "", at))
	}
	res, err := s.InsertInfractions(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"INF-20260302-998", "INF-20260302-999", "INF-20260302-1000", "INF-20260302-1001"} {
		if res[i].Code != want || res[i].Duplicate {
			t.Errorf("infraction %d: %+v, want code %s", i, res[i], want)
		}
		if got := countRows(t, s, `SELECT count(*) FROM infractions WHERE infraction_code = '`+want+`' AND event_id = '`+batch[i].Env.ID+`'`); got != 1 {
			t.Errorf("code %s stored %d times for its event", want, got)
		}
	}
	next := infractionMsg(t, "CAM1", "", "", at)
	if r, err := s.InsertInfraction(ctx, next.Env, next.P); err != nil || r.Code != "INF-20260302-1002" {
		t.Fatalf("per-message insert after the batch: %+v, %v (want INF-20260302-1002)", r, err)
	}
}
