package report

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
)

// benchReport is a busy day: 24 hours of all types, 200 plates.
func benchReport() *Daily {
	rep := &Daily{Date: "2026-11-01", TimeZone: "America/Lima", ByType: map[string]int64{}, GeneratedAt: time.Unix(1_790_000_000, 0).UTC()}
	for h := 0; h < 24; h++ {
		rep.ByHour = append(rep.ByHour, HourCount{Hour: h, Count: int64(10 + h*3)})
	}
	for i, t := range Types {
		rep.ByType[t] = int64(100 * (i + 1))
	}
	for i := 0; i < TopViolatorsLimit; i++ {
		rep.TopViolators = append(rep.TopViolators, Violator{Plate: fmt.Sprintf("ABC-%03d", i), Count: int64(20 - i)})
	}
	for i := 0; i < 1000; i++ {
		sp := 70.0 + float64(i%30)
		rep.Infractions = append(rep.Infractions, Row{Code: fmt.Sprintf("INF-20261101-%03d", i), DetectedAt: rep.GeneratedAt,
			Type: Types[i%4], Plate: fmt.Sprintf("ABC-%03d", i%200), DetectedSpeed: &sp, DeviceID: "CAM001", ZoneID: "ZN001", Status: "pending"})
	}
	return rep
}

func BenchmarkWritePDF(b *testing.B) {
	rep := benchReport()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WritePDF(&buf, rep, ES); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/report")
}

func BenchmarkWriteXLSX1000Rows(b *testing.B) {
	rep := benchReport()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := WriteXLSX(&buf, rep, ES); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/report")
}

// BenchmarkComputeIntegrationPostgres computes one day's report over a
// table of 30 days × 2,000 infractions (real PostgreSQL).
func BenchmarkComputeIntegrationPostgres(b *testing.B) {
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(b), lima, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO zones(id, name, speed_limit) VALUES ('ZN001', 'Centro', 60), ('ZN002', 'Norte', 60)`,
		`INSERT INTO devices(id, zone_id, name, rtsp_url) VALUES ('CAM001', 'ZN001', 'c1', 'rtsp://x'), ('CAM002', 'ZN002', 'c2', 'rtsp://x')`,
		`INSERT INTO vehicles(plate) SELECT 'P-' || g FROM generate_series(0, 499) g`,
		`INSERT INTO infractions(event_id, infraction_code, type, device_id, zone_id, plate, detected_speed, speed_limit,
			video_url, snapshot_url, status, detected_at)
		SELECT 'e' || g, 'INF-' || g, (ARRAY['SPEED_VIOLATION','LANE_INVASION','RED_LIGHT','OTHER'])[1 + g % 4],
			CASE WHEN g % 2 = 0 THEN 'CAM001' ELSE 'CAM002' END, CASE WHEN g % 2 = 0 THEN 'ZN001' ELSE 'ZN002' END,
			'P-' || (g % 500), 60 + g % 40, 60, 'v', 's', CASE WHEN g % 10 = 0 THEN 'rejected' ELSE 'pending' END,
			timestamptz '2026-10-03 05:00:00+00' + (g * interval '43.2 seconds')
		FROM generate_series(0, 59999) g`,
		`ANALYZE infractions`,
	} {
		if _, err := s.Pool.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	svc, err := New(s.Pool, lima, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	q := Query{Day: time.Date(2026, 11, 1, 0, 0, 0, 0, lima), ZoneID: "ZN001"}
	rep, err := svc.Compute(ctx, q, false)
	if err != nil || rep.TotalInfractions == 0 {
		b.Fatalf("report %+v, %v", rep, err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Compute(ctx, q, false); err != nil {
			b.Fatal(err)
		}
	}
}
