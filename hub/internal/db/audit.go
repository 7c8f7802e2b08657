package db

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Actor is who performs a change, as written to the audit log.
type Actor struct {
	UserID     string // empty for the system
	Username   string // or "system:<component>"
	Role       string
	RemoteAddr string
	RequestID  string
}

// AuditEntry is one audit_log row.
type AuditEntry struct {
	ID         int64           `json:"id"`
	At         time.Time       `json:"at"`
	ActorID    *string         `json:"actor_id"`
	Actor      string          `json:"actor"`
	ActorRole  *string         `json:"actor_role"`
	Action     string          `json:"action"`
	EntityType string          `json:"entity_type"`
	EntityID   *string         `json:"entity_id"`
	Before     json.RawMessage `json:"before"`
	After      json.RawMessage `json:"after"`
	Reason     *string         `json:"reason"`
	RemoteAddr *string         `json:"remote_addr"`
	RequestID  *string         `json:"request_id"`
}

// writeAudit appends an audit row through q (a transaction, so that the
// change and its record commit together). before/after are marshalled to JSON.
func writeAudit(ctx context.Context, q execer, a Actor, action, entityType, entityID string, before, after any, reason string) error {
	enc := func(v any) ([]byte, error) {
		if v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	b, err := enc(before)
	if err != nil {
		return fmt.Errorf("db: audit before: %w", err)
	}
	af, err := enc(after)
	if err != nil {
		return fmt.Errorf("db: audit after: %w", err)
	}
	actor := a.Username
	if actor == "" {
		actor = "system"
	}
	_, err = q.Exec(ctx, `INSERT INTO audit_log(actor_id, actor, actor_role, action, entity_type, entity_id, before, after, reason, remote_addr, request_id)
		VALUES (NULLIF($1,'')::uuid, $2, NULLIF($3,''), $4, $5, NULLIF($6,''), $7, $8, NULLIF($9,''), NULLIF($10,''), NULLIF($11,''))`,
		a.UserID, actor, a.Role, action, entityType, entityID, b, af, reason, a.RemoteAddr, a.RequestID)
	if err != nil {
		return fmt.Errorf("db: audit %s: %w", action, err)
	}
	return nil
}

// AppendAudit writes one audit row on its own (events that change nothing
// else, such as a failed login).
func (s *Store) AppendAudit(ctx context.Context, a Actor, action, entityType, entityID string, before, after any, reason string) error {
	return writeAudit(ctx, s.Pool, a, action, entityType, entityID, before, after, reason)
}

// AuditFilter selects audit rows.
type AuditFilter struct {
	EntityType, EntityID, Action, ActorID string
	Since, Until                          *time.Time
	Limit, Offset                         int
}

// ListAudit returns the matching count and one page, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) (int64, []AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.EntityType != "" {
		add("entity_type = $%d", f.EntityType)
	}
	if f.EntityID != "" {
		add("entity_id = $%d", f.EntityID)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.ActorID != "" {
		add("actor_id::text = $%d", f.ActorID)
	}
	if f.Since != nil {
		add("at >= $%d", *f.Since)
	}
	if f.Until != nil {
		add("at < $%d", *f.Until)
	}
	cond := ""
	if len(where) > 0 {
		cond = "WHERE " + strings.Join(where, " AND ")
	}
	var count int64
	if err := s.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log "+cond, args...).Scan(&count); err != nil {
		return 0, nil, fmt.Errorf("db: count audit: %w", err)
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.Pool.Query(ctx, fmt.Sprintf(`SELECT id, at, actor_id::text, actor, actor_role, action, entity_type, entity_id,
		before, after, reason, remote_addr, request_id FROM audit_log %s ORDER BY id DESC LIMIT $%d OFFSET $%d`,
		cond, len(args)-1, len(args)), args...)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list audit: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.At, &e.ActorID, &e.Actor, &e.ActorRole, &e.Action, &e.EntityType, &e.EntityID,
			&e.Before, &e.After, &e.Reason, &e.RemoteAddr, &e.RequestID)
		return e, err
	})
	if err != nil {
		return 0, nil, fmt.Errorf("db: list audit: %w", err)
	}
	return count, out, nil
}
