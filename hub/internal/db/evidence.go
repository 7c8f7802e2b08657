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

// Evidence verification outcomes (evidence_manifests.verification and
// infractions.evidence_verification).
const (
	EvidencePending    = "pending"
	EvidenceVerified   = "verified"
	EvidenceUnverified = "unverified"
	EvidenceFailed     = "failed"
)

// EvidenceJob is one infraction whose evidence waits for verification.
type EvidenceJob struct {
	InfractionID string
	Code         string
	EventID      string
	// DeviceID is the agent that published the event (the manifest's signer).
	DeviceID string
	// CameraID is the camera that saw the infraction.
	CameraID   string
	Evidence   event.Evidence
	Attempts   int       // including this one
	ReceivedAt time.Time // when the hub stored the infraction
}

// ClaimEvidence takes up to limit pending infractions that are due (never
// tried, or whose retry time has passed) and leases them until now+lease, so
// that concurrent workers (other hub replicas) skip them: the rows are picked
// with FOR UPDATE SKIP LOCKED and the lease is written in the same
// transaction.
//
// The lease is checked a second time when it is written. A worker whose
// statement started just before another worker's claim committed still sees
// the old lease in its snapshot (only the infractions row is locked and
// re-read, not the joined evidence_manifests row), finds the row unlocked
// once that claim committed and would take it again; the conditional upsert
// reads the committed lease and leaves such a row out.
func (s *Store) ClaimEvidence(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]EvidenceJob, error) {
	var jobs []EvidenceJob
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT i.id::text, i.infraction_code, i.event_id, COALESCE(i.source_device_id, ''),
				COALESCE(i.device_id, ''), i.evidence, i.created_at
			FROM infractions i LEFT JOIN evidence_manifests e ON e.infraction_id = i.id
			WHERE i.evidence_verification = 'pending' AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= $1)
			ORDER BY i.created_at, i.id LIMIT $2
			FOR UPDATE OF i SKIP LOCKED`, now, limit)
		if err != nil {
			return err
		}
		candidates, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EvidenceJob, error) {
			var j EvidenceJob
			var ev []byte
			if err := r.Scan(&j.InfractionID, &j.Code, &j.EventID, &j.DeviceID, &j.CameraID, &ev, &j.ReceivedAt); err != nil {
				return j, err
			}
			if len(ev) > 0 && string(ev) != "null" {
				if err := json.Unmarshal(ev, &j.Evidence); err != nil {
					return j, fmt.Errorf("evidence of %s: %w", j.Code, err)
				}
			}
			return j, nil
		})
		if err != nil {
			return err
		}
		for _, j := range candidates {
			err := tx.QueryRow(ctx, `INSERT INTO evidence_manifests(infraction_id, device_id, attempts, next_attempt_at)
				VALUES ($1, NULLIF($2, ''), 1, $3)
				ON CONFLICT (infraction_id) DO UPDATE SET attempts = evidence_manifests.attempts + 1,
					next_attempt_at = EXCLUDED.next_attempt_at
				WHERE evidence_manifests.next_attempt_at IS NULL OR evidence_manifests.next_attempt_at <= $4
				RETURNING attempts`, j.InfractionID, j.DeviceID, now.Add(lease), now).Scan(&j.Attempts)
			if errors.Is(err, pgx.ErrNoRows) {
				continue // claimed by another worker since this statement's snapshot
			}
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("db: claim evidence: %w", err)
	}
	return jobs, nil
}

// RetryEvidence leaves an infraction pending and sets when it is tried again.
func (s *Store) RetryEvidence(ctx context.Context, infractionID string, next time.Time, detail string) error {
	_, err := s.Pool.Exec(ctx, `UPDATE evidence_manifests SET next_attempt_at = $2, verification_detail = $3
		WHERE infraction_id = $1`, infractionID, next, detail)
	if err != nil {
		return fmt.Errorf("db: retry evidence of %s: %w", infractionID, err)
	}
	return nil
}

// EvidenceOutcome is the final result of verifying one infraction's evidence.
type EvidenceOutcome struct {
	InfractionID string
	DeviceID     string
	Verification string // verified, unverified or failed
	Detail       string
	At           time.Time
	// Manifest facts, when the manifest could be read.
	ManifestKey    string
	ManifestSHA256 string
	Manifest       []byte // the manifest file (JSON)
	KeyID          string
	Sequence       uint64
	PrevHash       string
	// DeadLetter, when set, is written in the same transaction (failed evidence).
	DeadLetter *DeadLetter
	// Alert, when set, opens a device alert of that kind (one open per device and kind).
	Alert string
}

// RecordEvidenceOutcome stores a final verification result on the manifest
// row and the infraction, with its dead letter and alert, in one
// transaction. It changes nothing when the infraction is no longer pending
// (another worker finished it) and reports whether it wrote.
func (s *Store) RecordEvidenceOutcome(ctx context.Context, o EvidenceOutcome) (bool, error) {
	switch o.Verification {
	case EvidenceVerified, EvidenceUnverified, EvidenceFailed:
	default:
		return false, fmt.Errorf("db: record evidence of %s: outcome %q is not final", o.InfractionID, o.Verification)
	}
	wrote := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE infractions SET evidence_verification = $2, updated_at = $3
			WHERE id = $1 AND evidence_verification = 'pending'`, o.InfractionID, o.Verification, o.At)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		wrote = true
		var manifest []byte
		if len(o.Manifest) > 0 && json.Valid(o.Manifest) {
			manifest = o.Manifest
		}
		var seq *int64
		if o.Sequence > 0 {
			v := int64(o.Sequence)
			seq = &v
		}
		if _, err := tx.Exec(ctx, `INSERT INTO evidence_manifests(infraction_id, device_id, manifest_key, manifest_sha256, manifest,
				key_id, sequence, prev_hash, verification, verification_detail, verified_at, next_attempt_at)
			VALUES ($1, NULLIF($2, ''), NULLIF($3, ''), NULLIF($4, ''), $5, NULLIF($6, ''), $7, NULLIF($8, ''), $9, $10, $11, NULL)
			ON CONFLICT (infraction_id) DO UPDATE SET device_id = EXCLUDED.device_id, manifest_key = EXCLUDED.manifest_key,
				manifest_sha256 = EXCLUDED.manifest_sha256, manifest = EXCLUDED.manifest, key_id = EXCLUDED.key_id,
				sequence = EXCLUDED.sequence, prev_hash = EXCLUDED.prev_hash, verification = EXCLUDED.verification,
				verification_detail = EXCLUDED.verification_detail, verified_at = EXCLUDED.verified_at, next_attempt_at = NULL`,
			o.InfractionID, o.DeviceID, o.ManifestKey, o.ManifestSHA256, manifest, o.KeyID, seq, o.PrevHash,
			o.Verification, o.Detail, o.At); err != nil {
			return err
		}
		if d := o.DeadLetter; d != nil {
			payload := d.Payload
			if len(payload) > maxKeptPayload {
				payload = payload[:maxKeptPayload]
			}
			if _, err := tx.Exec(ctx, `INSERT INTO dead_letters(received_at, topic, reason, detail, event_id, device_id, payload, payload_size)
				VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7, $8)`,
				o.At, d.Topic, d.Reason, d.Detail, d.EventID, d.DeviceID, payload, len(d.Payload)); err != nil {
				return err
			}
		}
		if o.Alert != "" && o.DeviceID != "" {
			if _, err := openAlert(ctx, tx, o.DeviceID, o.Alert, o.Detail, o.At); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("db: record evidence of %s: %w", o.InfractionID, err)
	}
	return wrote, nil
}

// ChainEntry is a verified manifest's place in its device's hash chain.
type ChainEntry struct {
	InfractionID   string
	Sequence       uint64
	ManifestSHA256 string
}

// ChainNeighbours returns, among the verified manifests of a device signed
// with keyID, the one with the highest sequence below seq (prev) and one
// with exactly seq other than the given infraction (same): a second manifest
// with one sequence number means a forked chain.
func (s *Store) ChainNeighbours(ctx context.Context, deviceID, keyID string, seq uint64, infractionID string) (prev, same *ChainEntry, err error) {
	scan := func(q string, args ...any) (*ChainEntry, error) {
		var e ChainEntry
		var sq int64
		err := s.Pool.QueryRow(ctx, q, args...).Scan(&e.InfractionID, &sq, &e.ManifestSHA256)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		e.Sequence = uint64(sq)
		return &e, nil
	}
	prev, err = scan(`SELECT infraction_id::text, sequence, manifest_sha256 FROM evidence_manifests
		WHERE verification = 'verified' AND device_id = $1 AND key_id = $2 AND sequence < $3
		ORDER BY sequence DESC LIMIT 1`, deviceID, keyID, int64(seq))
	if err != nil {
		return nil, nil, fmt.Errorf("db: chain of %s: %w", deviceID, err)
	}
	same, err = scan(`SELECT infraction_id::text, sequence, manifest_sha256 FROM evidence_manifests
		WHERE verification = 'verified' AND device_id = $1 AND key_id = $2 AND sequence = $3 AND infraction_id <> $4::uuid
		LIMIT 1`, deviceID, keyID, int64(seq), infractionID)
	if err != nil {
		return nil, nil, fmt.Errorf("db: chain of %s: %w", deviceID, err)
	}
	return prev, same, nil
}

// EvidenceRecord is an infraction's evidence_manifests row.
type EvidenceRecord struct {
	InfractionID string     `json:"infraction_id"`
	ManifestKey  string     `json:"manifest_key,omitempty"`
	ManifestSHA  string     `json:"manifest_sha256,omitempty"`
	KeyID        string     `json:"key_id,omitempty"`
	Sequence     int64      `json:"sequence,omitempty"`
	Verification string     `json:"verification"`
	Detail       string     `json:"detail,omitempty"`
	VerifiedAt   *time.Time `json:"verified_at,omitempty"`
	Attempts     int        `json:"attempts"`
}

// EvidenceRecordOf returns an infraction's verification row (pgx.ErrNoRows wrapped when absent).
func (s *Store) EvidenceRecordOf(ctx context.Context, infractionID string) (EvidenceRecord, error) {
	var r EvidenceRecord
	err := s.Pool.QueryRow(ctx, `SELECT infraction_id::text, COALESCE(manifest_key, ''), COALESCE(manifest_sha256, ''),
			COALESCE(key_id, ''), COALESCE(sequence, 0), verification, COALESCE(verification_detail, ''), verified_at, attempts
		FROM evidence_manifests WHERE infraction_id = $1`, infractionID).Scan(&r.InfractionID, &r.ManifestKey, &r.ManifestSHA,
		&r.KeyID, &r.Sequence, &r.Verification, &r.Detail, &r.VerifiedAt, &r.Attempts)
	if err != nil {
		return r, fmt.Errorf("db: evidence record of %s: %w", infractionID, err)
	}
	return r, nil
}
