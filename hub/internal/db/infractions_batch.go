package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/event"
)

// InfractionMessage is one infraction event of an ingestion batch.
type InfractionMessage struct {
	Env event.Envelope
	P   *event.Infraction
}

// InsertInfractions stores many infraction events in one transaction with the
// same outcome as calling InsertInfraction for each, in order: idempotent on
// the envelope id (a repeat, in the table or earlier in the batch, is a
// duplicate with the stored code), gap-free daily codes given in batch order,
// zone and device links, a vehicles row for a new plate, evidence pending
// verification (the column default). The daily counter row is locked once
// per batch instead of once per infraction, and there is one commit.
//
// Any error fails the whole batch and nothing is stored (codes included). An
// unregistered camera returns ErrUnknownDevice: the caller isolates it by
// storing the infractions one by one with InsertInfraction.
func (s *Store) InsertInfractions(ctx context.Context, msgs []InfractionMessage) ([]InsertResult, error) {
	res := make([]InsertResult, len(msgs))
	if len(msgs) == 0 {
		return res, nil
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		for i := range res {
			res[i] = InsertResult{}
		}
		ids := make([]string, len(msgs))
		var cameras, zones []string
		for i, m := range msgs {
			ids[i] = m.Env.ID
			cameras = append(cameras, m.P.CameraID)
			if m.P.ZoneID != "" {
				zones = append(zones, m.P.ZoneID)
			}
		}
		type stored struct{ id, code string }
		existing := map[string]stored{}
		deviceZone := map[string]*string{}
		knownZone := map[string]bool{}
		var plates []string
		for _, m := range msgs {
			if m.P.Plate != "" {
				plates = append(plates, m.P.Plate)
			}
		}
		// The lookups and the vehicles upsert go in one round trip.
		lookups := &pgx.Batch{}
		lookups.Queue(`SELECT event_id, id::text, infraction_code FROM infractions WHERE event_id = ANY($1)`, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var e string
				var st stored
				if err := rows.Scan(&e, &st.id, &st.code); err != nil {
					return err
				}
				existing[e] = st
			}
			return rows.Err()
		})
		lookups.Queue(`SELECT id, zone_id FROM devices WHERE id = ANY($1)`, cameras).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id string
				var z *string
				if err := rows.Scan(&id, &z); err != nil {
					return err
				}
				deviceZone[id] = z
			}
			return rows.Err()
		})
		if len(zones) > 0 {
			lookups.Queue(`SELECT id FROM zones WHERE id = ANY($1)`, zones).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					var id string
					if err := rows.Scan(&id); err != nil {
						return err
					}
					knownZone[id] = true
				}
				return rows.Err()
			})
		}
		if len(plates) > 0 {
			// Plates of duplicates are already there: upserting them is harmless.
			lookups.Queue(`INSERT INTO vehicles(plate) SELECT DISTINCT unnest($1::text[]) ON CONFLICT (plate) DO NOTHING`, plates)
		}
		if err := tx.SendBatch(ctx, lookups).Close(); err != nil {
			return err
		}

		// Which messages are new, in order; codes per local day in that order.
		var fresh []int
		perDay := map[time.Time]int{}
		var days []time.Time
		for i, m := range msgs {
			if st, ok := existing[m.Env.ID]; ok {
				res[i] = InsertResult{ID: st.id, Code: st.code, Duplicate: true}
				continue
			}
			if _, ok := deviceZone[m.P.CameraID]; !ok {
				return fmt.Errorf("%w: camera %q is not registered (hub device add)", ErrUnknownDevice, m.P.CameraID)
			}
			existing[m.Env.ID] = stored{} // a later repeat in this batch is a duplicate
			fresh = append(fresh, i)
			d := s.codeDay(m.P.DetectedAt)
			if perDay[d] == 0 {
				days = append(days, d)
			}
			perDay[d]++
		}
		if len(fresh) == 0 {
			return nil
		}
		next := map[time.Time]int{}
		for _, d := range days {
			var last int
			if err := tx.QueryRow(ctx, `INSERT INTO infraction_code_counters(day, last_value) VALUES ($1, $2)
				ON CONFLICT (day) DO UPDATE SET last_value = infraction_code_counters.last_value + $2
				RETURNING last_value`, d, perDay[d]).Scan(&last); err != nil {
				return err
			}
			next[d] = last - perDay[d] + 1
		}
		cols := []string{"id", "event_id", "infraction_code", "type", "device_id", "zone_id", "plate",
			"detected_speed", "speed_limit", "speed_uncertainty", "violation_details",
			"video_url", "snapshot_url", "evidence", "evidence_manifest_sha256",
			"confidence_score", "ocr_confidence", "source_device_id", "detected_at"}
		var copyRows [][]any
		for _, i := range fresh {
			m := msgs[i]
			p := m.P
			d := s.codeDay(p.DetectedAt)
			code := fmt.Sprintf("INF-%s-%03d", d.Format("20060102"), next[d])
			next[d]++
			zone := deviceZone[p.CameraID]
			if p.ZoneID != "" && knownZone[p.ZoneID] {
				zone = &p.ZoneID
			}
			var plate *string
			if p.Plate != "" {
				plate = &p.Plate
			}
			evidence, err := json.Marshal(p.Evidence)
			if err != nil {
				return err
			}
			details, err := infractionDetails(p)
			if err != nil {
				return err
			}
			id := event.NewID() // a UUIDv7: time-ordered, kind to the primary key index
			res[i] = InsertResult{ID: id, Code: code}
			copyRows = append(copyRows, []any{id, m.Env.ID, code, string(p.Type), p.CameraID, zone, plate,
				nullFloat(p.DetectedSpeed), nullFloat(p.SpeedLimit), nullFloat(p.SpeedUncertainty), details,
				evidenceURL(p.Evidence.VideoClip), evidenceURL(p.Evidence.Snapshot), evidence, nullString(p.Evidence.ManifestSHA256),
				nullFloat(p.ConfidenceScore), nullFloat(p.OCRConfidence), m.Env.DeviceID, p.DetectedAt})
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"infractions"}, cols, pgx.CopyFromRows(copyRows))
		return err
	})
	if err != nil {
		if errors.Is(err, ErrUnknownDevice) {
			return nil, err
		}
		if u := permanent(err, "a camera of the batch"); u != nil {
			return nil, u
		}
		return nil, fmt.Errorf("db: insert %d infractions: %w", len(msgs), err)
	}
	// Repeats inside the batch carry the code of their first occurrence.
	first := map[string]int{}
	for i, m := range msgs {
		if j, ok := first[m.Env.ID]; ok {
			res[i] = InsertResult{ID: res[j].ID, Code: res[j].Code, Duplicate: true}
			continue
		}
		first[m.Env.ID] = i
	}
	return res, nil
}

// codeDay is the calendar day (in the municipality's zone) of an infraction code.
func (s *Store) codeDay(t time.Time) time.Time {
	d := t.In(s.Loc)
	return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
}

// infractionDetails is the violation_details JSON InsertInfraction stores.
func infractionDetails(p *event.Infraction) ([]byte, error) {
	if len(p.Details) == 0 && p.VehicleClass == "" && p.TrackID == 0 && p.BBox == nil {
		return nil, nil
	}
	d := map[string]any{}
	for k, v := range p.Details {
		d[k] = v
	}
	if p.VehicleClass != "" {
		d["vehicle_class"] = p.VehicleClass
	}
	if p.TrackID != 0 {
		d["track_id"] = p.TrackID
	}
	if p.BBox != nil {
		d["bbox"] = p.BBox
	}
	if p.ToleranceKmh != 0 {
		d["tolerance_kmh"] = p.ToleranceKmh
	}
	if p.CalibrationSHA256 != "" {
		d["calibration_sha256"] = p.CalibrationSHA256
	}
	return json.Marshal(d)
}
