package db

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNotFound is returned when the requested row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique key is already taken.
var ErrConflict = errors.New("already exists")

// User is a hub user. The password hash never leaves the package in JSON.
type User struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	Email        string     `json:"email"`
	FullName     *string    `json:"full_name"`
	Role         string     `json:"role"`
	IsActive     bool       `json:"is_active"`
	CreatedAt    time.Time  `json:"created_at"`
	LastLogin    *time.Time `json:"last_login"`
	FailedLogins int        `json:"failed_logins"`
	LockedUntil  *time.Time `json:"locked_until"`
	PasswordHash string     `json:"-"`
}

const userCols = `id::text, username, email, full_name, role, COALESCE(is_active, false), COALESCE(created_at, now()), last_login,
	failed_logins, locked_until, password_hash`

func scanUser(r pgx.Row) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Username, &u.Email, &u.FullName, &u.Role, &u.IsActive, &u.CreatedAt, &u.LastLogin,
		&u.FailedLogins, &u.LockedUntil, &u.PasswordHash)
	return u, err
}

// auditUser is the audited view of a user (no hash).
func auditUser(u User) map[string]any {
	return map[string]any{"username": u.Username, "email": u.Email, "full_name": u.FullName, "role": u.Role, "is_active": u.IsActive}
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func isForeignKey(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// CreateUser inserts a user (PasswordHash already hashed) and audits it.
func (s *Store) CreateUser(ctx context.Context, u User, a Actor) (User, error) {
	var out User
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanUser(tx.QueryRow(ctx, `INSERT INTO users(username, email, password_hash, full_name, role, is_active)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+userCols, u.Username, u.Email, u.PasswordHash, u.FullName, u.Role, u.IsActive))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "user.create", "user", out.ID, nil, auditUser(out), "")
	})
	if isUnique(err) {
		return User{}, fmt.Errorf("db: create user %s: %w", u.Username, ErrConflict)
	}
	if err != nil {
		return User{}, fmt.Errorf("db: create user %s: %w", u.Username, err)
	}
	return out, nil
}

// UserByUsername returns the user with that username, or ErrNotFound.
func (s *Store) UserByUsername(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: user %s: %w", username, err)
	}
	return u, nil
}

// UserByID returns the user with that id, or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	if !IsUUID(id) {
		return User{}, ErrNotFound
	}
	u, err := scanUser(s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1::uuid`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("db: user %s: %w", id, err)
	}
	return u, nil
}

// ListUsers returns the count and one page of users by username.
func (s *Store) ListUsers(ctx context.Context, role string, limit, offset int) (int64, []User, error) {
	var count int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE ($1 = '' OR role = $1)`, role).Scan(&count); err != nil {
		return 0, nil, fmt.Errorf("db: count users: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+userCols+` FROM users WHERE ($1 = '' OR role = $1) ORDER BY username LIMIT $2 OFFSET $3`, role, limit, offset)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	if err != nil {
		return 0, nil, fmt.Errorf("db: list users: %w", err)
	}
	return count, out, nil
}

// UserPatch changes some of a user's fields (nil = unchanged).
type UserPatch struct {
	Email        *string
	FullName     *string
	Role         *string
	IsActive     *bool
	PasswordHash *string
}

// UpdateUser applies p and audits before/after. Deactivating a user or
// changing the password revokes the user's sessions in the same transaction.
func (s *Store) UpdateUser(ctx context.Context, id string, p UserPatch, a Actor) (User, error) {
	var out User
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if !IsUUID(id) {
			return ErrNotFound
		}
		before, err := scanUser(tx.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1::uuid FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		out, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET email = COALESCE($2, email), full_name = COALESCE($3, full_name),
			role = COALESCE($4, role), is_active = COALESCE($5, is_active), password_hash = COALESCE($6, password_hash),
			failed_logins = CASE WHEN $6::text IS NULL THEN failed_logins ELSE 0 END,
			locked_until = CASE WHEN $6::text IS NULL THEN locked_until ELSE NULL END,
			updated_at = now() WHERE id = $1::uuid RETURNING `+userCols, before.ID, p.Email, p.FullName, p.Role, p.IsActive, p.PasswordHash))
		if err != nil {
			return err
		}
		if (p.IsActive != nil && !*p.IsActive) || p.PasswordHash != nil {
			if _, err := tx.Exec(ctx, `UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1::uuid AND revoked_at IS NULL`, before.ID); err != nil {
				return err
			}
		}
		after := auditUser(out)
		if p.PasswordHash != nil {
			after["password_changed"] = true
		}
		return writeAudit(ctx, tx, a, "user.update", "user", out.ID, auditUser(before), after, "")
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return User{}, ErrNotFound
	case isUnique(err):
		return User{}, fmt.Errorf("db: update user %s: %w", id, ErrConflict)
	case err != nil:
		return User{}, fmt.Errorf("db: update user %s: %w", id, err)
	}
	return out, nil
}

// RecordLoginFailure counts a failed login; at maxFailures consecutive
// failures the account is locked for lockFor. It returns the lock's end when
// this failure locked it.
func (s *Store) RecordLoginFailure(ctx context.Context, userID string, maxFailures int, lockFor time.Duration, a Actor) (*time.Time, error) {
	var locked *time.Time
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1::uuid RETURNING failed_logins`, userID).Scan(&n); err != nil {
			return err
		}
		if err := writeAudit(ctx, tx, a, "auth.login_failed", "user", userID, nil, map[string]any{"failed_logins": n}, ""); err != nil {
			return err
		}
		if n < maxFailures {
			return nil
		}
		var until time.Time
		if err := tx.QueryRow(ctx, `UPDATE users SET failed_logins = 0, locked_until = now() + make_interval(secs => $2)
			WHERE id = $1::uuid RETURNING locked_until`, userID, lockFor.Seconds()).Scan(&until); err != nil {
			return err
		}
		locked = &until
		return writeAudit(ctx, tx, a, "auth.locked", "user", userID, nil, map[string]any{"locked_until": until}, "")
	})
	if err != nil {
		return nil, fmt.Errorf("db: login failure of %s: %w", userID, err)
	}
	return locked, nil
}

// Session is an API session (one refresh token).
type Session struct {
	ID        string
	UserID    string
	ExpiresAt time.Time
}

// StartSession records a successful login: resets the failure counter,
// stamps last_login, creates the session and audits it, in one transaction.
func (s *Store) StartSession(ctx context.Context, userID, refreshHash string, expires time.Time, userAgent string, a Actor) (Session, error) {
	sess := Session{UserID: userID, ExpiresAt: expires}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, last_login = now() WHERE id = $1::uuid`, userID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO auth_sessions(user_id, refresh_hash, expires_at, remote_addr, user_agent)
			VALUES ($1::uuid, $2, $3, NULLIF($4,''), NULLIF($5,'')) RETURNING id::text`,
			userID, refreshHash, expires, truncate(a.RemoteAddr, 64), truncate(userAgent, 512)).Scan(&sess.ID); err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "auth.login", "session", sess.ID, nil, nil, "")
	})
	if err != nil {
		return Session{}, fmt.Errorf("db: start session: %w", err)
	}
	return sess, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// RotateSession replaces a live session's refresh token (refresh-token
// rotation): the old token stops working. Unknown, revoked or expired tokens
// give ErrNotFound; so does a user deactivated since.
func (s *Store) RotateSession(ctx context.Context, oldHash, newHash string, expires time.Time) (Session, error) {
	var sess Session
	err := s.Pool.QueryRow(ctx, `UPDATE auth_sessions AS s SET refresh_hash = $2, expires_at = $3
		FROM users u WHERE s.refresh_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
			AND u.id = s.user_id AND u.is_active
		RETURNING s.id::text, s.user_id::text, s.expires_at`, oldHash, newHash, expires).Scan(&sess.ID, &sess.UserID, &sess.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("db: rotate session: %w", err)
	}
	return sess, nil
}

// RevokeSession ends the session holding refreshHash (logout), if it belongs
// to userID. ErrNotFound when there is no such live session.
func (s *Store) RevokeSession(ctx context.Context, userID, sessionID, refreshHash string, a Actor) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var id string
		err := tx.QueryRow(ctx, `UPDATE auth_sessions SET revoked_at = now()
			WHERE user_id = $1::uuid AND revoked_at IS NULL AND (id::text = $2 OR ($3 <> '' AND refresh_hash = $3))
			RETURNING id::text`, userID, sessionID, refreshHash).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "auth.logout", "session", id, nil, nil, "")
	})
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("db: revoke session: %w", err)
	}
	return nil
}

// Principal is a token's user and session as the database sees them now.
type Principal struct {
	UserID, Username, Role string
	Active, SessionValid   bool
}

// PrincipalOf reads a user and one of its sessions. ErrNotFound when either is missing.
func (s *Store) PrincipalOf(ctx context.Context, userID, sessionID string) (Principal, error) {
	var p Principal
	if !IsUUID(userID) || !IsUUID(sessionID) {
		return Principal{}, ErrNotFound
	}
	err := s.Pool.QueryRow(ctx, `SELECT u.id::text, u.username, u.role, COALESCE(u.is_active, false),
			(s.revoked_at IS NULL AND s.expires_at > now())
		FROM users u JOIN auth_sessions s ON s.user_id = u.id
		WHERE u.id = $1::uuid AND s.id = $2::uuid`, userID, sessionID).Scan(&p.UserID, &p.Username, &p.Role, &p.Active, &p.SessionValid)
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrNotFound
	}
	if err != nil {
		return Principal{}, fmt.Errorf("db: principal: %w", err)
	}
	return p, nil
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsUUID reports whether s is a UUID in its text form.
func IsUUID(s string) bool { return uuidRe.MatchString(s) }
