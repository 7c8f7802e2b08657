package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/event"
)

// ErrUnknownDevice is returned when a message names a camera the hub does not know.
var ErrUnknownDevice = errors.New("unknown device")

// InsertResult says what happened to an infraction event.
type InsertResult struct {
	ID        string
	Code      string
	Duplicate bool // the event id was already stored; nothing changed
}

// InsertInfraction stores an infraction event exactly once (keyed on the
// envelope id), assigning its gap-free daily code, linking zone and device,
// and creating the vehicles row of a new plate.
func (s *Store) InsertInfraction(ctx context.Context, env event.Envelope, p *event.Infraction) (InsertResult, error) {
	var res InsertResult
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var existingID, existingCode string
		err := tx.QueryRow(ctx, `SELECT id::text, infraction_code FROM infractions WHERE event_id = $1`, env.ID).Scan(&existingID, &existingCode)
		if err == nil {
			res = InsertResult{ID: existingID, Code: existingCode, Duplicate: true}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var deviceZone *string
		if err := tx.QueryRow(ctx, `SELECT zone_id FROM devices WHERE id = $1`, p.CameraID).Scan(&deviceZone); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: camera %q is not registered (hub device add)", ErrUnknownDevice, p.CameraID)
			}
			return err
		}
		zone := deviceZone
		if p.ZoneID != "" {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM zones WHERE id = $1)`, p.ZoneID).Scan(&ok); err != nil {
				return err
			}
			if ok {
				zone = &p.ZoneID
			}
		}
		var plate *string
		if p.Plate != "" {
			plate = &p.Plate
			if _, err := tx.Exec(ctx, `INSERT INTO vehicles(plate) VALUES ($1) ON CONFLICT (plate) DO NOTHING`, p.Plate); err != nil {
				return err
			}
		}
		day := p.DetectedAt.In(s.Loc)
		dayDate := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		var n int
		if err := tx.QueryRow(ctx, `INSERT INTO infraction_code_counters(day, last_value) VALUES ($1, 1)
			ON CONFLICT (day) DO UPDATE SET last_value = infraction_code_counters.last_value + 1
			RETURNING last_value`, dayDate).Scan(&n); err != nil {
			return err
		}
		code := fmt.Sprintf("INF-%s-%03d", day.Format("20060102"), n)
		evidence, err := json.Marshal(p.Evidence)
		if err != nil {
			return err
		}
		details, err := infractionDetails(p)
		if err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `INSERT INTO infractions (
				event_id, infraction_code, type, device_id, zone_id, plate,
				detected_speed, speed_limit, speed_uncertainty, violation_details,
				video_url, snapshot_url, evidence, evidence_manifest_sha256,
				confidence_score, ocr_confidence, source_device_id, detected_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18)
			RETURNING id::text`,
			env.ID, code, string(p.Type), p.CameraID, zone, plate,
			nullFloat(p.DetectedSpeed), nullFloat(p.SpeedLimit), nullFloat(p.SpeedUncertainty), details,
			evidenceURL(p.Evidence.VideoClip), evidenceURL(p.Evidence.Snapshot), evidence, nullString(p.Evidence.ManifestSHA256),
			nullFloat(p.ConfidenceScore), nullFloat(p.OCRConfidence), env.DeviceID, p.DetectedAt,
		).Scan(&res.ID)
		if err != nil {
			return err
		}
		res.Code = code
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrUnknownDevice) {
			return res, err
		}
		// A concurrent insert of the same event id lost the race: report it as a duplicate.
		if strings.Contains(err.Error(), "infractions_event_id_key") {
			return InsertResult{Duplicate: true}, nil
		}
		return res, fmt.Errorf("db: insert infraction %s: %w", env.ID, err)
	}
	return res, nil
}

func evidenceURL(f *event.EvidenceFile) string {
	if f == nil {
		return ""
	}
	if f.URL != "" {
		return f.URL
	}
	return f.Key
}

func nullFloat(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}

func nullString(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}

// InfractionFilter selects infractions for the list endpoint.
type InfractionFilter struct {
	Status, Type, DeviceID, ZoneID, Plate string
	Date                                  *time.Time // a calendar day in Store.Loc
	Limit, Offset                         int
}

// InfractionRow is one infraction as the API lists it (spec section 3.1).
type InfractionRow struct {
	ID              string    `json:"id"`
	InfractionCode  string    `json:"infraction_code"`
	Type            string    `json:"type"`
	DeviceID        *string   `json:"device_id"`
	ZoneID          *string   `json:"zone_id"`
	Plate           *string   `json:"plate"`
	DetectedSpeed   *float64  `json:"detected_speed"`
	SpeedLimit      *float64  `json:"speed_limit"`
	ConfidenceScore *float64  `json:"confidence_score"`
	OCRConfidence   *float64  `json:"ocr_confidence"`
	SnapshotURL     string    `json:"snapshot_url"`
	VideoURL        string    `json:"video_url"`
	Status          string    `json:"status"`
	DetectedAt      time.Time `json:"detected_at"`
	RecidivismRisk  *float64  `json:"recidivism_risk"`
	EventID         string    `json:"event_id"`
}

// infractionWhere is the WHERE clause (empty without filters) and arguments of f.
func (s *Store) infractionWhere(f InfractionFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.Type != "" {
		add("type = $%d", f.Type)
	}
	if f.DeviceID != "" {
		add("device_id = $%d", f.DeviceID)
	}
	if f.ZoneID != "" {
		add("zone_id = $%d", f.ZoneID)
	}
	if f.Plate != "" {
		add("plate = $%d", f.Plate)
	}
	if f.Date != nil {
		d := *f.Date
		start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, s.Loc)
		add("detected_at >= $%d", start)
		add("detected_at < $%d", start.AddDate(0, 0, 1))
	}
	if len(where) == 0 {
		return "", nil
	}
	return "WHERE " + strings.Join(where, " AND "), args
}

// ListInfractions returns the exact total matching count and one page,
// newest first. The count of filters by status, type, zone and camera comes
// from infraction_counts (migration 004), kept exact by triggers.
func (s *Store) ListInfractions(ctx context.Context, f InfractionFilter) (int64, []InfractionRow, error) {
	return s.listInfractions(ctx, f, "detected_at DESC, infractions.id")
}

// listInfractions lists a page of f in the given order (a fixed SQL clause,
// never user input).
func (s *Store) listInfractions(ctx context.Context, f InfractionFilter, order string) (int64, []InfractionRow, error) {
	cond, args := s.infractionWhere(f)
	count, err := s.countInfractions(ctx, f, cond, args)
	if err != nil {
		return 0, nil, err
	}
	args = append(args, f.Limit, f.Offset)
	q := fmt.Sprintf(`SELECT id::text, infraction_code, type, device_id, zone_id, plate, detected_speed, speed_limit,
		confidence_score, ocr_confidence, snapshot_url, video_url, status, detected_at, recidivism_risk, event_id
		FROM infractions %s ORDER BY %s LIMIT $%d OFFSET $%d`, cond, order, len(args)-1, len(args))
	rows, err := s.Pool.Query(ctx, q, args...)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list infractions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InfractionRow, error) {
		var x InfractionRow
		err := r.Scan(&x.ID, &x.InfractionCode, &x.Type, &x.DeviceID, &x.ZoneID, &x.Plate, &x.DetectedSpeed, &x.SpeedLimit,
			&x.ConfidenceScore, &x.OCRConfidence, &x.SnapshotURL, &x.VideoURL, &x.Status, &x.DetectedAt, &x.RecidivismRisk, &x.EventID)
		return x, err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("db: list infractions: %w", err)
	}
	return count, out, nil
}
