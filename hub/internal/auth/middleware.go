package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Context keys under which Require stores the principal (strings). Other
// packages' handlers read them.
const (
	KeyUserID   = "vigia.user_id"
	KeyUsername = "vigia.username"
	KeyRole     = "vigia.role"
	// KeySessionID is the session of the access token.
	KeySessionID = "vigia.session_id"
)

// Principal is the current state of a token's user and session in the database.
type Principal struct {
	UserID, Username string
	Role             Role
	Active           bool // users.is_active
	SessionValid     bool // session exists, not revoked, not expired
}

// ErrUnknownPrincipal is returned by a Lookup when the user or session does not exist.
var ErrUnknownPrincipal = errors.New("unknown user or session")

// Lookup reads a token's user and session from the database.
type Lookup func(ctx context.Context, userID, sessionID string) (Principal, error)

// Refusal codes written by the middleware.
const (
	CodeTokenMissing   = "token_missing"
	CodeTokenInvalid   = "token_invalid"
	CodeTokenExpired   = "token_expired"
	CodeUserInactive   = "user_inactive"
	CodeSessionRevoked = "session_revoked"
	CodeForbidden      = "forbidden"
	CodeInternal       = "internal"
)

// Middleware authenticates bearer tokens and checks permissions.
type Middleware struct {
	Tokens *Tokens
	Lookup Lookup
	// Fail writes a refusal (the API's JSON error shape) and aborts.
	Fail func(c *gin.Context, status int, code string)
}

// Require authenticates the request and checks that the user's current role
// (read from the database, so that role changes and deactivation apply at
// once) holds perm. On success the principal is in the gin context.
func (m *Middleware) Require(perm Permission) gin.HandlerFunc {
	return func(c *gin.Context) {
		p, ok := m.Authenticate(c)
		if !ok {
			return
		}
		if !Allowed(p.Role, perm) {
			m.Fail(c, http.StatusForbidden, CodeForbidden)
			return
		}
		c.Next()
	}
}

// Authenticate checks the bearer token and stores the principal in c; on
// failure it has already written the refusal.
func (m *Middleware) Authenticate(c *gin.Context) (Principal, bool) {
	raw, ok := BearerToken(c.GetHeader("Authorization"))
	if !ok && strings.EqualFold(c.GetHeader("Upgrade"), "websocket") {
		// Browsers cannot set headers on a WebSocket handshake: the token
		// comes in the query (never logged: the API logs paths only).
		raw = c.Query("access_token")
		ok = raw != ""
	}
	if !ok {
		m.Fail(c, http.StatusUnauthorized, CodeTokenMissing)
		return Principal{}, false
	}
	claims, err := m.Tokens.Parse(raw)
	if err != nil {
		code := CodeTokenInvalid
		if errors.Is(err, ErrTokenExpired) {
			code = CodeTokenExpired
		}
		m.Fail(c, http.StatusUnauthorized, code)
		return Principal{}, false
	}
	p, err := m.Lookup(c.Request.Context(), claims.Subject, claims.SessionID)
	switch {
	case errors.Is(err, ErrUnknownPrincipal):
		m.Fail(c, http.StatusUnauthorized, CodeTokenInvalid)
		return Principal{}, false
	case err != nil:
		_ = c.Error(err)
		m.Fail(c, http.StatusInternalServerError, CodeInternal)
		return Principal{}, false
	case !p.Active:
		m.Fail(c, http.StatusUnauthorized, CodeUserInactive)
		return Principal{}, false
	case !p.SessionValid:
		m.Fail(c, http.StatusUnauthorized, CodeSessionRevoked)
		return Principal{}, false
	}
	c.Set(KeyUserID, p.UserID)
	c.Set(KeyUsername, p.Username)
	c.Set(KeyRole, string(p.Role))
	c.Set(KeySessionID, claims.SessionID)
	return p, true
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header.
func BearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
