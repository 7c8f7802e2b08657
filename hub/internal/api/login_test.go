package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
)

func TestLoginRefreshLogoutIntegration(t *testing.T) {
	f := newFixture(t)
	tr := f.login("operator1", testPassword)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 3600 || tr.User.Role != "operator" || tr.User.Username != "operator1" || tr.RefreshToken == "" {
		t.Fatalf("login response %+v", tr)
	}
	if strings.Contains(tr.AccessToken, testPassword) {
		t.Fatal("token carries the password")
	}
	me := f.do("GET", "/api/auth/me", tr.AccessToken, nil)
	if me.status != 200 || !strings.Contains(string(me.body), `"username":"operator1"`) || strings.Contains(string(me.body), "password") {
		t.Fatalf("me: %d %s", me.status, me.body)
	}

	// Refresh rotates: the new pair works, the old refresh token does not.
	res := f.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken})
	if res.status != 200 {
		t.Fatalf("refresh: %d %s", res.status, res.body)
	}
	var tr2 tokenResponse
	res.decode(t, &tr2)
	if tr2.RefreshToken == tr.RefreshToken {
		t.Fatal("refresh token not rotated")
	}
	if res := f.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tr.RefreshToken}); res.status != 401 || res.code() != "invalid_refresh_token" {
		t.Fatalf("old refresh token: %d %s", res.status, res.body)
	}
	if res := f.do("GET", "/api/auth/me", tr2.AccessToken, nil); res.status != 200 {
		t.Fatalf("new access token: %d", res.status)
	}

	// Logout revokes the session: its access and refresh tokens stop working.
	if res := f.do("POST", "/api/auth/logout", tr2.AccessToken, nil); res.status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", res.status, res.body)
	}
	if res := f.do("GET", "/api/auth/me", tr2.AccessToken, nil); res.status != 401 || res.code() != "session_revoked" {
		t.Fatalf("after logout: %d %s", res.status, res.body)
	}
	if res := f.do("POST", "/api/auth/refresh", "", map[string]string{"refresh_token": tr2.RefreshToken}); res.status != 401 {
		t.Fatalf("refresh after logout: %d", res.status)
	}
	// Other sessions of the same user are untouched.
	if res := f.do("GET", "/api/auth/me", f.access[auth.RoleOperator], nil); res.status != 200 {
		t.Fatalf("other session: %d", res.status)
	}

	// The audit log has the logins and the logout.
	n, _, err := f.store.ListAudit(t.Context(), db.AuditFilter{Action: "auth.logout", Limit: 10})
	if err != nil || n != 1 {
		t.Fatalf("auth.logout audit rows: %d %v", n, err)
	}
}

func TestLoginRefusalsIntegration(t *testing.T) {
	f := newFixture(t, func(s *Server) {
		s.Auth.MaxFailedLogins = 3
		s.Auth.LockoutDuration = time.Minute
	})
	cases := []struct {
		name, user, pw string
		status         int
		code           string
	}{
		{"unknown user", "ghost", testPassword, 401, "invalid_credentials"},
		{"wrong password", "supervisor1", "wrong-password-1", 401, "invalid_credentials"},
		{"empty password", "supervisor1", "", 400, "invalid_body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do("POST", "/api/auth/login", "", map[string]string{"username": tc.user, "password": tc.pw})
			if res.status != tc.status || res.code() != tc.code {
				t.Fatalf("%d %s, want %d %s", res.status, res.body, tc.status, tc.code)
			}
			if strings.Contains(string(res.body), tc.pw) && tc.pw != "" {
				t.Fatal("the password is echoed")
			}
		})
	}
	t.Run("lockout after repeated failures", func(t *testing.T) {
		// One failure above, two more lock the account.
		for i := 0; i < 2; i++ {
			if res := f.do("POST", "/api/auth/login", "", map[string]string{"username": "supervisor1", "password": "wrong-password-2"}); res.status != 401 {
				t.Fatalf("attempt %d: %d", i, res.status)
			}
		}
		res := f.do("POST", "/api/auth/login", "", map[string]string{"username": "supervisor1", "password": testPassword})
		if res.status != http.StatusLocked || res.code() != "account_locked" || res.header.Get("Retry-After") == "" {
			t.Fatalf("locked account with the right password: %d %s %v", res.status, res.body, res.header)
		}
		u, _ := f.store.UserByUsername(t.Context(), "supervisor1")
		if u.LockedUntil == nil || time.Until(*u.LockedUntil) < 50*time.Second {
			t.Fatalf("locked_until %v", u.LockedUntil)
		}
		n, _, _ := f.store.ListAudit(t.Context(), db.AuditFilter{Action: "auth.locked", Limit: 10})
		if n != 1 {
			t.Fatalf("auth.locked audit rows: %d", n)
		}
	})
	t.Run("deactivated user cannot log in", func(t *testing.T) {
		u := f.createUser("retired", auth.RoleOperator)
		if _, err := f.store.UpdateUser(t.Context(), u.ID, db.UserPatch{IsActive: ptr(false)}, db.Actor{Username: "system:test"}); err != nil {
			t.Fatal(err)
		}
		res := f.do("POST", "/api/auth/login", "", map[string]string{"username": "retired", "password": testPassword})
		if res.status != 401 || res.code() != "invalid_credentials" {
			t.Fatalf("%d %s", res.status, res.body)
		}
	})
}

func TestLoginRateLimitIntegration(t *testing.T) {
	f := newFixture(t, func(s *Server) { s.Auth.LoginLimiter = auth.NewLimiter(3, time.Minute) })
	// The fixture's logins used one attempt per username; auditor1 has 2 left.
	var last response
	for i := 0; i < 3; i++ {
		last = f.do("POST", "/api/auth/login", "", map[string]string{"username": "auditor1", "password": "wrong-password-x"})
	}
	if last.status != http.StatusTooManyRequests || last.code() != "rate_limited" || last.header.Get("Retry-After") == "" {
		t.Fatalf("third attempt: %d %s", last.status, last.body)
	}
	// Another username from the same client is not limited.
	if res := f.do("POST", "/api/auth/login", "", map[string]string{"username": "admin1", "password": testPassword}); res.status != 200 {
		t.Fatalf("other user: %d", res.status)
	}
}

func TestSpanishByDefaultEnglishOnRequest(t *testing.T) {
	f := newFixture(t)
	es := f.do("GET", "/api/zones/", "", nil)
	en := f.do("GET", "/api/zones/", "", nil, "Accept-Language", "en-US,en;q=0.9")
	var e1, e2 struct{ Error apiError }
	es.decode(t, &e1)
	en.decode(t, &e2)
	if e1.Error.Code != "token_missing" || e2.Error.Code != "token_missing" {
		t.Fatalf("codes %q %q", e1.Error.Code, e2.Error.Code)
	}
	if e1.Error.Message != messages["token_missing"].es || e2.Error.Message != messages["token_missing"].en {
		t.Fatalf("messages %q / %q", e1.Error.Message, e2.Error.Message)
	}
}
