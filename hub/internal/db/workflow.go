package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// InfractionDetail is one infraction with its review state, evidence and
// the evidence manifest's verification.
type InfractionDetail struct {
	InfractionRow
	SpeedUncertainty     *float64        `json:"speed_uncertainty"`
	DriverDNI            *string         `json:"driver_dni"`
	ViolationDetails     json.RawMessage `json:"violation_details"`
	Evidence             json.RawMessage `json:"evidence"`
	EvidenceManifestHash *string         `json:"evidence_manifest_sha256"`
	EvidenceVerification string          `json:"evidence_verification"`
	Manifest             *ManifestRow    `json:"evidence_manifest"`
	ValidatedBy          *string         `json:"validated_by"`
	ValidatedAt          *time.Time      `json:"validated_at"`
	RejectionReason      *string         `json:"rejection_reason"`
	ProposedBy           *string         `json:"proposed_by"`
	ProposedStatus       *string         `json:"proposed_status"`
	AppealedAt           *time.Time      `json:"appealed_at"`
	PaidAt               *time.Time      `json:"paid_at"`
	AccidentRisk         *float64        `json:"accident_risk"`
	SourceDeviceID       *string         `json:"source_device_id"`
	CreatedAt            time.Time       `json:"created_at"`
	UpdatedAt            time.Time       `json:"updated_at"`
}

// ManifestRow is the evidence_manifests row of an infraction.
type ManifestRow struct {
	ManifestKey        *string         `json:"manifest_key"`
	ManifestSHA256     *string         `json:"manifest_sha256"`
	Manifest           json.RawMessage `json:"manifest"`
	KeyID              *string         `json:"key_id"`
	Sequence           *int64          `json:"sequence"`
	PrevHash           *string         `json:"prev_hash"`
	Verification       string          `json:"verification"`
	VerificationDetail *string         `json:"verification_detail"`
	VerifiedAt         *time.Time      `json:"verified_at"`
	CreatedAt          time.Time       `json:"created_at"`
}

const detailCols = `i.id::text, i.infraction_code, i.type, i.device_id, i.zone_id, i.plate, i.detected_speed, i.speed_limit,
	i.confidence_score, i.ocr_confidence, i.snapshot_url, i.video_url, COALESCE(i.status, 'pending'), i.detected_at, i.recidivism_risk, i.event_id,
	i.speed_uncertainty, i.driver_dni, COALESCE(i.violation_details, 'null'::jsonb), COALESCE(i.evidence, 'null'::jsonb),
	i.evidence_manifest_sha256, i.evidence_verification, i.validated_by::text, i.validated_at, i.rejection_reason,
	i.proposed_by::text, i.proposed_status, i.appealed_at, i.paid_at, i.accident_risk, i.source_device_id,
	COALESCE(i.created_at, now()), COALESCE(i.updated_at, now())`

func scanDetail(r pgx.Row) (InfractionDetail, error) {
	var x InfractionDetail
	err := r.Scan(&x.ID, &x.InfractionCode, &x.Type, &x.DeviceID, &x.ZoneID, &x.Plate, &x.DetectedSpeed, &x.SpeedLimit,
		&x.ConfidenceScore, &x.OCRConfidence, &x.SnapshotURL, &x.VideoURL, &x.Status, &x.DetectedAt, &x.RecidivismRisk, &x.EventID,
		&x.SpeedUncertainty, &x.DriverDNI, &x.ViolationDetails, &x.Evidence,
		&x.EvidenceManifestHash, &x.EvidenceVerification, &x.ValidatedBy, &x.ValidatedAt, &x.RejectionReason,
		&x.ProposedBy, &x.ProposedStatus, &x.AppealedAt, &x.PaidAt, &x.AccidentRisk, &x.SourceDeviceID,
		&x.CreatedAt, &x.UpdatedAt)
	return x, err
}

// InfractionByID returns an infraction with its evidence manifest row, or ErrNotFound.
func (s *Store) InfractionByID(ctx context.Context, id string) (InfractionDetail, error) {
	if !IsUUID(id) {
		return InfractionDetail{}, ErrNotFound
	}
	x, err := scanDetail(s.Pool.QueryRow(ctx, `SELECT `+detailCols+` FROM infractions i WHERE i.id = $1::uuid`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return InfractionDetail{}, ErrNotFound
	}
	if err != nil {
		return InfractionDetail{}, fmt.Errorf("db: infraction %s: %w", id, err)
	}
	var m ManifestRow
	err = s.Pool.QueryRow(ctx, `SELECT manifest_key, manifest_sha256, COALESCE(manifest, 'null'::jsonb), key_id, sequence, prev_hash,
		verification, verification_detail, verified_at, created_at FROM evidence_manifests WHERE infraction_id = $1::uuid`, id).
		Scan(&m.ManifestKey, &m.ManifestSHA256, &m.Manifest, &m.KeyID, &m.Sequence, &m.PrevHash, &m.Verification, &m.VerificationDetail, &m.VerifiedAt, &m.CreatedAt)
	switch {
	case err == nil:
		x.Manifest = &m
	case !errors.Is(err, pgx.ErrNoRows):
		return InfractionDetail{}, fmt.Errorf("db: manifest of %s: %w", id, err)
	}
	return x, nil
}

// TransitionError refuses a review step; the API answers 409 with its reason.
type TransitionError struct {
	Code string // stable: illegal_transition, same_reviewer, reason_required, confirm_forbidden
	From string
	To   string
}

func (e *TransitionError) Error() string {
	return fmt.Sprintf("review: %s: %s → %s", e.Code, e.From, e.To)
}

// Review is one review request.
type Review struct {
	ID     string
	Status string // validated, rejected (Decide) or appealed, paid (Advance)
	Reason string
	// TwoPersonRule makes the first decision a proposal that another reviewer confirms.
	TwoPersonRule bool
	// CanConfirm says whether the actor may confirm another reviewer's proposal.
	CanConfirm bool
}

// ReviewResult is the state after a review step.
type ReviewResult struct {
	ID              string     `json:"id"`
	Status          string     `json:"status"`
	ValidatedBy     *string    `json:"validated_by"`
	ValidatedAt     *time.Time `json:"validated_at"`
	RejectionReason *string    `json:"rejection_reason"`
	ProposedBy      *string    `json:"proposed_by"`
	ProposedStatus  *string    `json:"proposed_status"`
	AppealedAt      *time.Time `json:"appealed_at"`
	PaidAt          *time.Time `json:"paid_at"`
	// Proposed is true when the step recorded a proposal awaiting confirmation.
	Proposed bool `json:"proposed"`
}

const reviewCols = `id::text, COALESCE(status, 'pending'), validated_by::text, validated_at, rejection_reason,
	proposed_by::text, proposed_status, appealed_at, paid_at`

func scanReview(r pgx.Row) (ReviewResult, error) {
	var x ReviewResult
	err := r.Scan(&x.ID, &x.Status, &x.ValidatedBy, &x.ValidatedAt, &x.RejectionReason, &x.ProposedBy, &x.ProposedStatus, &x.AppealedAt, &x.PaidAt)
	return x, err
}

// decisionFrom lists the states a validate/reject decision may start from:
// a pending infraction, or an appealed one (the appeal's resolution).
var decisionFrom = map[string]bool{"pending": true, "appealed": true}

// advanceFrom lists the legal appealed/paid transitions.
var advanceFrom = map[string]map[string]bool{
	"appealed": {"validated": true},
	"paid":     {"validated": true},
}

// Decide validates or rejects an infraction (spec: PUT /api/infractions/{id}/validate).
// With the two-person rule the first decision is stored as a proposal and a
// different reviewer allowed to confirm makes it final. The change and its
// audit row commit together.
func (s *Store) Decide(ctx context.Context, r Review, a Actor) (ReviewResult, error) {
	if r.Status != "validated" && r.Status != "rejected" {
		return ReviewResult{}, &TransitionError{Code: "illegal_transition", To: r.Status}
	}
	return s.review(ctx, r, a, func(tx pgx.Tx, before ReviewResult) (string, ReviewResult, error) {
		if !decisionFrom[before.Status] {
			return "", ReviewResult{}, &TransitionError{Code: "illegal_transition", From: before.Status, To: r.Status}
		}
		// A rejection needs a reason, except when confirming a rejection
		// proposal that already has one.
		confirmsReasoned := r.TwoPersonRule && before.ProposedStatus != nil && *before.ProposedStatus == "rejected" && before.RejectionReason != nil
		if r.Status == "rejected" && strings.TrimSpace(r.Reason) == "" && !confirmsReasoned {
			return "", ReviewResult{}, &TransitionError{Code: "reason_required", From: before.Status, To: r.Status}
		}
		var reason *string
		if r.Reason != "" {
			reason = &r.Reason
		}
		if r.TwoPersonRule {
			confirming := before.ProposedStatus != nil && *before.ProposedStatus == r.Status
			if confirming && before.ProposedBy != nil && *before.ProposedBy == a.UserID {
				return "", ReviewResult{}, &TransitionError{Code: "same_reviewer", From: before.Status, To: r.Status}
			}
			if !confirming || !r.CanConfirm {
				if confirming && !r.CanConfirm {
					return "", ReviewResult{}, &TransitionError{Code: "confirm_forbidden", From: before.Status, To: r.Status}
				}
				// First decision, or a different one: (re)place the proposal.
				out, err := scanReview(tx.QueryRow(ctx, `UPDATE infractions SET proposed_by = $2::uuid, proposed_status = $3::text,
					rejection_reason = CASE WHEN $3::text = 'rejected' THEN $4::text ELSE rejection_reason END, updated_at = now()
					WHERE id = $1::uuid RETURNING `+reviewCols, r.ID, a.UserID, r.Status, reason))
				out.Proposed = true
				return "infraction.propose", out, err
			}
			// A different reviewer confirms the proposal: the rejection reason
			// given now, if any, replaces the proposer's.
			if reason == nil {
				reason = before.RejectionReason
			}
		}
		out, err := scanReview(tx.QueryRow(ctx, `UPDATE infractions SET status = $2::text, validated_by = $3::uuid, validated_at = now(),
			rejection_reason = CASE WHEN $2::text = 'rejected' THEN $4::text ELSE NULL END,
			proposed_by = NULL, proposed_status = NULL, updated_at = now()
			WHERE id = $1::uuid RETURNING `+reviewCols, r.ID, r.Status, a.UserID, reason))
		action := "infraction.validate"
		if r.Status == "rejected" {
			action = "infraction.reject"
		}
		return action, out, err
	})
}

// Advance moves a validated infraction to appealed or paid.
func (s *Store) Advance(ctx context.Context, r Review, a Actor) (ReviewResult, error) {
	if advanceFrom[r.Status] == nil {
		return ReviewResult{}, &TransitionError{Code: "illegal_transition", To: r.Status}
	}
	if r.Status == "appealed" && strings.TrimSpace(r.Reason) == "" {
		return ReviewResult{}, &TransitionError{Code: "reason_required", To: r.Status}
	}
	return s.review(ctx, r, a, func(tx pgx.Tx, before ReviewResult) (string, ReviewResult, error) {
		if !advanceFrom[r.Status][before.Status] {
			return "", ReviewResult{}, &TransitionError{Code: "illegal_transition", From: before.Status, To: r.Status}
		}
		col := "appealed_at"
		if r.Status == "paid" {
			col = "paid_at"
		}
		out, err := scanReview(tx.QueryRow(ctx, `UPDATE infractions SET status = $2, `+col+` = now(), updated_at = now()
			WHERE id = $1::uuid RETURNING `+reviewCols, r.ID, r.Status))
		return "infraction." + strings.TrimSuffix(r.Status, "ed"), out, err
	})
}

// review locks the infraction, applies step and writes the audit row in one transaction.
func (s *Store) review(ctx context.Context, r Review, a Actor, step func(pgx.Tx, ReviewResult) (string, ReviewResult, error)) (ReviewResult, error) {
	if !IsUUID(r.ID) {
		return ReviewResult{}, ErrNotFound
	}
	var out ReviewResult
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanReview(tx.QueryRow(ctx, `SELECT `+reviewCols+` FROM infractions WHERE id = $1::uuid FOR UPDATE`, r.ID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		action, after, err := step(tx, before)
		if err != nil {
			return err
		}
		out = after
		return writeAudit(ctx, tx, a, action, "infraction", r.ID, before, after, r.Reason)
	})
	var te *TransitionError
	switch {
	case errors.As(err, &te), errors.Is(err, ErrNotFound):
		return ReviewResult{}, err
	case err != nil:
		return ReviewResult{}, fmt.Errorf("db: review %s: %w", r.ID, err)
	}
	return out, nil
}

// Orderings accepted by ListInfractionsOrdered (the API's ordering=), each
// mapped to a fixed SQL clause: user input never reaches the SQL text.
var Orderings = map[string]string{
	"detected_at":       "detected_at ASC, infractions.id",
	"-detected_at":      "detected_at DESC, infractions.id",
	"detected_speed":    "detected_speed ASC NULLS LAST, detected_at DESC, infractions.id",
	"-detected_speed":   "detected_speed DESC NULLS LAST, detected_at DESC, infractions.id",
	"confidence_score":  "confidence_score ASC NULLS LAST, detected_at DESC, infractions.id",
	"-confidence_score": "confidence_score DESC NULLS LAST, detected_at DESC, infractions.id",
	"infraction_code":   "infraction_code ASC",
	"-infraction_code":  "infraction_code DESC",
	"recidivism_risk":   "recidivism_risk ASC NULLS LAST, detected_at DESC, infractions.id",
	"-recidivism_risk":  "recidivism_risk DESC NULLS LAST, detected_at DESC, infractions.id",
}

// ListInfractionsOrdered is ListInfractions with another ordering than the
// default (newest first, which ListInfractions serves). It applies the same
// filters.
func (s *Store) ListInfractionsOrdered(ctx context.Context, f InfractionFilter, ordering string) (int64, []InfractionRow, error) {
	order, ok := Orderings[ordering]
	if !ok {
		return 0, nil, fmt.Errorf("db: %w: unknown ordering", ErrInvalidValue)
	}
	return s.listInfractions(ctx, f, order)
}
