package api

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type userSummary struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Role     string `json:"role"`
}

// tokenResponse is the specification's login response (section 3.1).
type tokenResponse struct {
	AccessToken      string      `json:"access_token"`
	RefreshToken     string      `json:"refresh_token"`
	TokenType        string      `json:"token_type"`
	ExpiresIn        int         `json:"expires_in"`
	RefreshExpiresIn int         `json:"refresh_expires_in"`
	User             userSummary `json:"user"`
}

func retryAfter(c *gin.Context, d time.Duration) {
	c.Header("Retry-After", strconv.Itoa(int(math.Ceil(max(d, time.Second).Seconds()))))
}

func (s *Server) login(c *gin.Context) {
	var req loginRequest
	if !bindJSON(c, &req) {
		return
	}
	req.Username = strings.TrimSpace(req.Username)
	if req.Username == "" || req.Password == "" || len(req.Username) > 150 || len(req.Password) > 1024 {
		failf(c, http.StatusBadRequest, "invalid_body", "Indique usuario y contraseña.", "Give username and password.")
		return
	}
	a := actor(c)
	if ok, wait := s.Auth.LoginLimiter.Allow(c.ClientIP() + "\x00" + strings.ToLower(req.Username)); !ok {
		retryAfter(c, wait)
		fail(c, http.StatusTooManyRequests, "rate_limited")
		return
	}
	ctx := c.Request.Context()
	u, err := s.Store.UserByUsername(ctx, req.Username)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		s.internal(c, "login: read user", err)
		return
	}
	if errors.Is(err, db.ErrNotFound) {
		s.Auth.Passwords.Check("", req.Password) // same cost as a wrong password
		a.Username = "anonymous"
		if err := s.Store.AppendAudit(ctx, a, "auth.login_failed", "user", "", nil, map[string]any{"username": req.Username, "known": false}, ""); err != nil {
			s.Log.Warn("audit login failure", "err", err)
		}
		fail(c, http.StatusUnauthorized, "invalid_credentials")
		return
	}
	a.UserID, a.Username, a.Role = u.ID, u.Username, u.Role
	if u.LockedUntil != nil && u.LockedUntil.After(time.Now()) {
		retryAfter(c, time.Until(*u.LockedUntil))
		fail(c, http.StatusLocked, "account_locked")
		return
	}
	if !s.Auth.Passwords.Check(u.PasswordHash, req.Password) || !u.IsActive {
		if _, err := s.Store.RecordLoginFailure(ctx, u.ID, s.Auth.MaxFailedLogins, s.Auth.LockoutDuration, a); err != nil {
			s.Log.Warn("record login failure", "err", err)
		}
		fail(c, http.StatusUnauthorized, "invalid_credentials")
		return
	}
	refresh, hash := auth.NewRefreshToken()
	sess, err := s.Store.StartSession(ctx, u.ID, hash, time.Now().Add(s.Auth.RefreshTTL), c.GetHeader("User-Agent"), a)
	if err != nil {
		s.internal(c, "login: start session", err)
		return
	}
	s.issue(c, u, sess.ID, refresh)
}

func (s *Server) issue(c *gin.Context, u db.User, sessionID, refresh string) {
	access, ttl, err := s.Auth.Tokens.Issue(u.ID, u.Username, auth.Role(u.Role), sessionID)
	if err != nil {
		s.internal(c, "issue token", err)
		return
	}
	c.JSON(http.StatusOK, tokenResponse{
		AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(ttl.Seconds()), RefreshExpiresIn: int(s.Auth.RefreshTTL.Seconds()),
		User: userSummary{ID: u.ID, Username: u.Username, Email: u.Email, Role: u.Role},
	})
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

// refresh rotates the refresh token: the presented one stops working.
func (s *Server) refresh(c *gin.Context) {
	var req refreshRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.RefreshToken == "" || len(req.RefreshToken) > 256 {
		fail(c, http.StatusUnauthorized, "invalid_refresh_token")
		return
	}
	ctx := c.Request.Context()
	refresh, hash := auth.NewRefreshToken()
	sess, err := s.Store.RotateSession(ctx, auth.HashRefreshToken(req.RefreshToken), hash, time.Now().Add(s.Auth.RefreshTTL))
	if errors.Is(err, db.ErrNotFound) {
		fail(c, http.StatusUnauthorized, "invalid_refresh_token")
		return
	}
	if err != nil {
		s.internal(c, "refresh", err)
		return
	}
	u, err := s.Store.UserByID(ctx, sess.UserID)
	if err != nil {
		s.internal(c, "refresh: read user", err)
		return
	}
	s.issue(c, u, sess.ID, refresh)
}

// logout revokes the access token's session (and so its refresh token).
func (s *Server) logout(c *gin.Context) {
	var req refreshRequest
	if c.Request.ContentLength != 0 && c.GetHeader("Content-Type") != "" {
		if !bindJSON(c, &req) {
			return
		}
	}
	sid := c.GetString(auth.KeySessionID)
	hash := ""
	if req.RefreshToken != "" {
		hash = auth.HashRefreshToken(req.RefreshToken)
	}
	err := s.Store.RevokeSession(c.Request.Context(), c.GetString(auth.KeyUserID), sid, hash, actor(c))
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		s.internal(c, "logout", err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	u, err := s.Store.UserByID(c.Request.Context(), c.GetString(auth.KeyUserID))
	if err != nil {
		s.internal(c, "me", err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// internal logs err once and answers 500 without details.
func (s *Server) internal(c *gin.Context, what string, err error) {
	s.Log.Error(what, "err", err, "path", c.FullPath())
	fail(c, http.StatusInternalServerError, "internal")
}

// writeErr maps store errors to refusals.
func (s *Server) writeErr(c *gin.Context, what string, err error) {
	var te *db.TransitionError
	switch {
	case errors.Is(err, db.ErrNotFound):
		fail(c, http.StatusNotFound, "not_found")
	case errors.Is(err, db.ErrConflict):
		fail(c, http.StatusConflict, "conflict")
	case errors.Is(err, db.ErrInvalidValue):
		fail(c, http.StatusBadRequest, "invalid_value")
	case errors.As(err, &te):
		s.transitionErr(c, te)
	default:
		s.internal(c, what, err)
	}
}
