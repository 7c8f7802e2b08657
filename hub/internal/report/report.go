// Package report computes the hub's daily infraction report (the
// specification's GET /api/reports/daily shape) in SQL, and exports it as a
// PDF with charts and as an .xlsx workbook.
//
// A day is a calendar day in the municipality's time zone (America/Lima by
// default), not a UTC day: an infraction at 23:30 in Lima belongs to that
// Lima day even though it is already the next day in UTC. Rejected
// infractions (false positives dismissed on review) are left out of every
// figure and counted apart in rejected_count.
package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Infraction types in the order they are shown. The schema's CHECK
// constraint on infractions.type lists the same values.
var Types = []string{"SPEED_VIOLATION", "LANE_INVASION", "RED_LIGHT", "OTHER"}

// TopViolatorsLimit is how many plates top_violators lists.
const TopViolatorsLimit = 10

// MaxListed bounds the infractions listed in the workbook's Infracciones sheet.
const MaxListed = 10000

// DateLayout is the layout of the date parameter and field.
const DateLayout = "2006-01-02"

// Daily is the daily report in the specification's shape, plus a few
// additive fields (time_zone, rejected_count, export_urls, generated_at).
type Daily struct {
	Date string `json:"date"`
	// ZoneID is null for a report over every zone.
	ZoneID   *string `json:"zone_id"`
	ZoneName *string `json:"zone_name"`
	TimeZone string  `json:"time_zone"`
	// TotalInfractions counts the day's infractions that were not rejected.
	TotalInfractions int64 `json:"total_infractions"`
	// ByType has every known type, 0 when absent.
	ByType map[string]int64 `json:"by_type"`
	// ByHour has 24 entries, hours 0..23 of the local day.
	ByHour       []HourCount `json:"by_hour"`
	TopViolators []Violator  `json:"top_violators"`
	// AverageSpeedViolation is the mean detected speed (km/h, one decimal)
	// of the day's speed violations; null when there were none.
	AverageSpeedViolation *float64 `json:"average_speed_violation"`
	// RejectedCount counts the day's rejected infractions, left out above.
	RejectedCount int64             `json:"rejected_count"`
	ExportURL     string            `json:"export_url"`
	ExportURLs    map[string]string `json:"export_urls"`
	GeneratedAt   time.Time         `json:"generated_at"`

	// Infractions lists the day's infractions for the workbook (not in JSON).
	Infractions []Row `json:"-"`
	// Truncated is true when Infractions stopped at MaxListed.
	Truncated bool `json:"-"`
}

// HourCount is one hour's count.
type HourCount struct {
	Hour  int   `json:"hour"`
	Count int64 `json:"count"`
}

// Violator is a plate with its number of infractions in the day.
type Violator struct {
	Plate string `json:"plate"`
	Count int64  `json:"count"`
}

// Row is one infraction in the workbook's list.
type Row struct {
	Code          string
	DetectedAt    time.Time // in the report's time zone
	Type          string
	Plate         string
	DetectedSpeed *float64
	SpeedLimit    *float64
	DeviceID      string
	ZoneID        string
	Status        string
}

// Query selects a report.
type Query struct {
	Day    time.Time // midnight of the day, in the report's time zone
	ZoneID string    // "" for every zone
}

// ErrZoneNotFound is returned for a zone_id that does not exist.
var ErrZoneNotFound = errors.New("report: zone not found")

// Service computes reports and serves them over HTTP.
type Service struct {
	pool *pgxpool.Pool
	loc  *time.Location
	log  *slog.Logger
	now  func() time.Time
}

// New returns a report service over the hub's database; loc is the
// municipality's time zone (nil means America/Lima) and must have an IANA
// name PostgreSQL knows.
func New(pool *pgxpool.Pool, loc *time.Location, log *slog.Logger) (*Service, error) {
	if loc == nil {
		l, err := time.LoadLocation("America/Lima")
		if err != nil {
			return nil, fmt.Errorf("report: time zone America/Lima: %w", err)
		}
		loc = l
	}
	if loc.String() == "Local" || loc.String() == "" {
		return nil, fmt.Errorf("report: time zone must have an IANA name, got %q", loc.String())
	}
	return &Service{pool: pool, loc: loc, log: log.With("component", "report"), now: time.Now}, nil
}

// Location returns the report's time zone.
func (s *Service) Location() *time.Location { return s.loc }

// dailySQL computes every figure of a report in one statement, so they all
// come from one snapshot. $1/$2 bound the local day in absolute time, $3 is
// the zone (NULL for all), $4 the time zone name, $5 the top-violators limit.
const dailySQL = `
WITH d AS (
	SELECT type, plate, detected_speed, status, detected_at
	FROM infractions
	WHERE detected_at >= $1 AND detected_at < $2 AND ($3::text IS NULL OR zone_id = $3::text)
), k AS (
	SELECT * FROM d WHERE status IS DISTINCT FROM 'rejected'
)
SELECT
	(SELECT count(*) FROM k),
	(SELECT count(*) FROM d WHERE status = 'rejected'),
	(SELECT COALESCE(jsonb_object_agg(type, n), '{}'::jsonb) FROM (SELECT type, count(*) AS n FROM k GROUP BY type) t),
	(SELECT array_agg(COALESCE(x.n, 0) ORDER BY h.h)
		FROM generate_series(0, 23) AS h(h)
		LEFT JOIN (SELECT extract(hour FROM detected_at AT TIME ZONE $4::text)::int AS hh, count(*) AS n FROM k GROUP BY 1) x
		ON x.hh = h.h),
	(SELECT round(avg(detected_speed)::numeric, 1)::float8 FROM k WHERE type = 'SPEED_VIOLATION' AND detected_speed IS NOT NULL),
	(SELECT COALESCE(jsonb_agg(jsonb_build_object('plate', plate, 'count', n) ORDER BY n DESC, plate), '[]'::jsonb)
		FROM (SELECT plate, count(*) AS n FROM k WHERE plate IS NOT NULL AND plate <> '' GROUP BY plate
			ORDER BY n DESC, plate LIMIT $5) v)`

// listSQL lists the day's infractions (rejected ones included, with their status).
const listSQL = `
SELECT infraction_code, detected_at, type, COALESCE(plate, ''), detected_speed, speed_limit,
	COALESCE(device_id, ''), COALESCE(zone_id, ''), COALESCE(status, '')
FROM infractions
WHERE detected_at >= $1 AND detected_at < $2 AND ($3::text IS NULL OR zone_id = $3::text)
ORDER BY detected_at, infraction_code
LIMIT $4`

// Day returns midnight of the local calendar day given as YYYY-MM-DD.
func (s *Service) Day(date string) (time.Time, error) {
	return time.ParseInLocation(DateLayout, date, s.loc)
}

// Compute computes the report for q; withRows also lists the day's infractions.
func (s *Service) Compute(ctx context.Context, q Query, withRows bool) (*Daily, error) {
	y, m, d := q.Day.In(s.loc).Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, s.loc)
	end := time.Date(y, m, d+1, 0, 0, 0, 0, s.loc) // 23 or 25 hours on a DST change
	date := start.Format(DateLayout)
	rep := &Daily{Date: date, TimeZone: s.loc.String(), ByType: map[string]int64{}, GeneratedAt: s.now().UTC().Truncate(time.Second)}
	var zone *string
	if q.ZoneID != "" {
		zone = &q.ZoneID
		var name string
		err := s.pool.QueryRow(ctx, `SELECT name FROM zones WHERE id = $1`, q.ZoneID).Scan(&name)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, ErrZoneNotFound
		}
		if err != nil {
			return nil, fmt.Errorf("report: zone %s: %w", q.ZoneID, err)
		}
		rep.ZoneID, rep.ZoneName = &q.ZoneID, &name
	}
	var byType, top []byte
	var hours []int64
	err := s.pool.QueryRow(ctx, dailySQL, start, end, zone, s.loc.String(), TopViolatorsLimit).
		Scan(&rep.TotalInfractions, &rep.RejectedCount, &byType, &hours, &rep.AverageSpeedViolation, &top)
	if err != nil {
		return nil, fmt.Errorf("report: daily %s: %w", date, err)
	}
	for _, t := range Types {
		rep.ByType[t] = 0
	}
	if err := json.Unmarshal(byType, &rep.ByType); err != nil {
		return nil, fmt.Errorf("report: daily %s: by_type: %w", date, err)
	}
	if err := json.Unmarshal(top, &rep.TopViolators); err != nil {
		return nil, fmt.Errorf("report: daily %s: top_violators: %w", date, err)
	}
	if len(hours) != 24 {
		return nil, fmt.Errorf("report: daily %s: %d hour buckets, want 24", date, len(hours))
	}
	rep.ByHour = make([]HourCount, 24)
	for h, n := range hours {
		rep.ByHour[h] = HourCount{Hour: h, Count: n}
	}
	v := url.Values{"date": {date}}
	if q.ZoneID != "" {
		v.Set("zone_id", q.ZoneID)
	}
	rep.ExportURL = "/api/reports/daily.pdf?" + v.Encode()
	rep.ExportURLs = map[string]string{"pdf": rep.ExportURL, "xlsx": "/api/reports/daily.xlsx?" + v.Encode()}
	if withRows {
		if err := s.list(ctx, rep, start, end, zone); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

func (s *Service) list(ctx context.Context, rep *Daily, start, end time.Time, zone *string) error {
	rows, err := s.pool.Query(ctx, listSQL, start, end, zone, MaxListed+1)
	if err != nil {
		return fmt.Errorf("report: list %s: %w", rep.Date, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Row, error) {
		var x Row
		err := r.Scan(&x.Code, &x.DetectedAt, &x.Type, &x.Plate, &x.DetectedSpeed, &x.SpeedLimit, &x.DeviceID, &x.ZoneID, &x.Status)
		x.DetectedAt = x.DetectedAt.In(s.loc)
		return x, err
	})
	if err != nil {
		return fmt.Errorf("report: list %s: %w", rep.Date, err)
	}
	if len(out) > MaxListed {
		out, rep.Truncated = out[:MaxListed], true
	}
	rep.Infractions = out
	return nil
}
