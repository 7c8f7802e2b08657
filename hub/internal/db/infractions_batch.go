package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// A batch takes one round trip when none of its infractions is stored yet,
// two otherwise (see insertInfractions; under load a round trip costs about a
// millisecond, more than the work itself): one statement moves the daily
// counters and inserts the rows, and the zone and the camera's registration
// are resolved in it.
//
// Any error fails the whole batch and nothing is stored (codes included). An
// unregistered camera returns ErrUnknownDevice: the caller isolates it by
// storing the infractions one by one with InsertInfraction.
func (s *Store) InsertInfractions(ctx context.Context, msgs []InfractionMessage) ([]InsertResult, error) {
	res := make([]InsertResult, len(msgs))
	if len(msgs) == 0 {
		return res, nil
	}
	err := s.insertInfractions(ctx, msgs, res)
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

// insertInfractionsSQL moves the daily code counters of a batch (locking
// their rows in day order, so concurrent writers do not deadlock) and inserts
// the new infractions, each numbered from its day's counter: the code of the
// k-th new infraction of a day ($4, 1-based) is the counter's value before
// the batch plus k. The lpad keeps Go's %03d (at least three digits, never cut).
// The zone is the payload's when it is registered, else the camera's; an
// unregistered camera fails the statement (the foreign key).
const insertInfractionsSQL = `WITH d AS (
		SELECT * FROM unnest($1::date[], $2::int[]) AS d(day, n)
	), c AS (
		INSERT INTO infraction_code_counters AS k (day, last_value)
		SELECT day, n FROM d ORDER BY day
		ON CONFLICT (day) DO UPDATE SET last_value = k.last_value + EXCLUDED.last_value
		RETURNING k.day, k.last_value
	)
	INSERT INTO infractions(id, event_id, infraction_code, type, device_id, zone_id, plate,
		detected_speed, speed_limit, speed_uncertainty, violation_details,
		video_url, snapshot_url, evidence, evidence_manifest_sha256,
		confidence_score, ocr_confidence, source_device_id, detected_at)
	SELECT r.id, r.event_id, r.prefix || lpad(v.n::text, greatest(3, length(v.n::text)), '0'), r.type, r.device_id,
		coalesce(zk.id, dv.zone_id), r.plate,
		r.detected_speed, r.speed_limit, r.speed_uncertainty, r.details::jsonb,
		r.video_url, r.snapshot_url, r.evidence::jsonb, r.manifest_sha256,
		r.confidence, r.ocr_confidence, r.source_device_id, r.detected_at
	FROM unnest($3::date[], $4::int[], $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
		$12::float8[], $13::float8[], $14::float8[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[],
		$20::float8[], $21::float8[], $22::text[], $23::timestamptz[])
		WITH ORDINALITY AS r(day, k, prefix, id, event_id, type, device_id, zone_id, plate,
			detected_speed, speed_limit, speed_uncertainty, details, video_url, snapshot_url, evidence, manifest_sha256,
			confidence, ocr_confidence, source_device_id, detected_at, ord)
	JOIN d ON d.day = r.day
	JOIN c ON c.day = r.day
	LEFT JOIN zones zk ON zk.id = r.zone_id
	LEFT JOIN devices dv ON dv.id = r.device_id
	CROSS JOIN LATERAL (SELECT c.last_value - d.n + r.k AS n) v
	ORDER BY r.ord
	RETURNING event_id, infraction_code`

// insertInfractions does InsertInfractions' work in one transaction and
// fills res for the first occurrence of each event id. It first assumes no
// infraction of the batch is stored yet (the common case: duplicates are
// redeliveries after an outage) and sends everything in one round trip, with
// no lookup: BEGIN, the vehicles upsert, the insert, COMMIT. A batch holding
// a stored infraction fails whole with a unique violation (codes and counters
// roll back with it) and is stored again with the lookup of stored event ids
// first (two round trips), which reports the duplicates and their codes.
func (s *Store) insertInfractions(ctx context.Context, msgs []InfractionMessage, res []InsertResult) error {
	err := s.insertInfractionsTx(ctx, msgs, res, true)
	if isUniqueViolation(err) {
		clear(res)
		err = s.insertInfractionsTx(ctx, msgs, res, false)
	}
	return err
}

func (s *Store) insertInfractionsTx(ctx context.Context, msgs []InfractionMessage, res []InsertResult, optimistic bool) (err error) {
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { release(ctx, conn, err) }()

	var plates []string
	for _, m := range msgs {
		if m.P.Plate != "" {
			plates = append(plates, m.P.Plate)
		}
	}
	type stored struct{ id, code string }
	existing := map[string]stored{}
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	if len(plates) > 0 {
		// Plates of duplicates are already there: upserting them is harmless.
		b.Queue(`INSERT INTO vehicles(plate) SELECT DISTINCT unnest($1::text[]) ON CONFLICT (plate) DO NOTHING`, plates)
	}
	if !optimistic {
		// Round trip 1: BEGIN, the vehicles and the lookup of stored ids. A
		// join on unnest, not "event_id = ANY($1)": the generic plan of the
		// latter, cached while the table was small, kept scanning the whole
		// table and comparing every row with every id (46 ms for 200 ids over
		// 8,500 rows); the join probes the unique index once per id.
		ids := make([]string, len(msgs))
		for i, m := range msgs {
			ids[i] = m.Env.ID
		}
		b.Queue(`SELECT i.event_id, i.id::text, i.infraction_code
			FROM unnest($1::text[]) AS u(event_id) JOIN infractions i ON i.event_id = u.event_id`, ids).Query(func(rows pgx.Rows) error {
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
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		b = &pgx.Batch{}
	}

	// Which messages are new, in order; their rank within their local day.
	var fresh []int
	perDay := map[time.Time]int32{}
	var days []time.Time
	rank := make([]int32, len(msgs))
	for i, m := range msgs {
		if st, ok := existing[m.Env.ID]; ok {
			res[i] = InsertResult{ID: st.id, Code: st.code, Duplicate: true}
			continue
		}
		existing[m.Env.ID] = stored{} // a later repeat in this batch is a duplicate
		fresh = append(fresh, i)
		d := s.codeDay(m.P.DetectedAt)
		if perDay[d] == 0 {
			days = append(days, d)
		}
		perDay[d]++
		rank[i] = perDay[d]
	}

	// Counters and rows in one statement, then COMMIT.
	if len(fresh) > 0 {
		n := len(fresh)
		var (
			dayCounts                  = make([]int32, len(days))
			rowDay                     = make([]time.Time, n)
			ks                         = make([]int32, n)
			prefixes, rowIDs, eventIDs = make([]string, n), make([]string, n), make([]string, n)
			types, devices, sources    = make([]string, n), make([]string, n), make([]string, n)
			zoneIDs, plateIDs, sha     = make([]*string, n), make([]*string, n), make([]*string, n)
			details                    = make([]*string, n)
			videos, snaps, evidences   = make([]string, n), make([]string, n), make([]string, n)
			speeds, limits, uncert     = make([]*float64, n), make([]*float64, n), make([]*float64, n)
			conf, ocr                  = make([]*float64, n), make([]*float64, n)
			at                         = make([]time.Time, n)
		)
		for j, d := range days {
			dayCounts[j] = perDay[d]
		}
		for j, i := range fresh {
			m := msgs[i]
			p := m.P
			d := s.codeDay(p.DetectedAt)
			evidence, err := json.Marshal(p.Evidence)
			if err != nil {
				return err
			}
			det, err := infractionDetails(p)
			if err != nil {
				return err
			}
			if det != nil {
				ds := string(det)
				details[j] = &ds
			}
			id := event.NewID() // a UUIDv7: time-ordered, kind to the primary key index
			res[i] = InsertResult{ID: id}
			rowDay[j], ks[j], prefixes[j], rowIDs[j], eventIDs[j] = d, rank[i], "INF-"+d.Format("20060102")+"-", id, m.Env.ID
			types[j], devices[j], zoneIDs[j], plateIDs[j] = string(p.Type), p.CameraID, nullString(p.ZoneID), nullString(p.Plate)
			speeds[j], limits[j], uncert[j] = nullFloat(p.DetectedSpeed), nullFloat(p.SpeedLimit), nullFloat(p.SpeedUncertainty)
			videos[j], snaps[j], evidences[j], sha[j] = evidenceURL(p.Evidence.VideoClip), evidenceURL(p.Evidence.Snapshot), string(evidence), nullString(p.Evidence.ManifestSHA256)
			conf[j], ocr[j], sources[j], at[j] = nullFloat(p.ConfidenceScore), nullFloat(p.OCRConfidence), m.Env.DeviceID, p.DetectedAt
		}
		byEvent := make(map[string]int, n)
		for _, i := range fresh {
			byEvent[msgs[i].Env.ID] = i
		}
		got := 0
		b.Queue(insertInfractionsSQL, days, dayCounts, rowDay, ks, prefixes, rowIDs, eventIDs, types, devices, zoneIDs, plateIDs,
			speeds, limits, uncert, details, videos, snaps, evidences, sha, conf, ocr, sources, at).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var e, code string
				if err := rows.Scan(&e, &code); err != nil {
					return err
				}
				if i, ok := byEvent[e]; ok {
					res[i].Code = code
					got++
				}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if got != n {
				return fmt.Errorf("%d of %d infractions inserted", got, n)
			}
			return nil
		})
	}
	b.Queue("COMMIT").Exec(func(ct pgconn.CommandTag) error {
		if ct.String() != "COMMIT" {
			return pgx.ErrTxCommitRollback
		}
		return nil
	})
	return conn.SendBatch(ctx, b).Close()
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
