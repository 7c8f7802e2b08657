package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newTokens(t *testing.T) *Tokens {
	t.Helper()
	tk, err := NewTokens(testKey, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokens(t *testing.T) {
	tk := newTokens(t)
	good, ttl, err := tk.Issue("u1", "ana", RoleSupervisor, "s1")
	if err != nil || ttl != time.Hour {
		t.Fatal(err, ttl)
	}
	c, err := tk.Parse(good)
	if err != nil || c.Subject != "u1" || c.Username != "ana" || c.Role != RoleSupervisor || c.SessionID != "s1" {
		t.Fatalf("%+v %v", c, err)
	}
	parts := strings.Split(good, ".")
	old := *tk
	old.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, _ := old.Issue("u1", "ana", RoleSupervisor, "s1")
	other, _ := NewTokens([]byte("ffffffffffffffffffffffffffffffff"), time.Hour)
	foreign, _, _ := other.Issue("u1", "ana", RoleAdmin, "s1")
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	adminPayload := strings.Split(foreign, ".")[1]
	noSession, _, _ := tk.Issue("u1", "ana", RoleAdmin, "")
	cases := []struct {
		name, token string
		want        error
	}{
		{"expired", expired, ErrTokenExpired},
		{"payload swapped", parts[0] + "." + adminPayload + "." + parts[2], ErrTokenInvalid},
		{"other key", foreign, ErrTokenInvalid},
		{"alg none", noneHeader + "." + parts[1] + ".", ErrTokenInvalid},
		{"truncated", parts[0] + "." + parts[1], ErrTokenInvalid},
		{"empty", "", ErrTokenInvalid},
		{"no session", noSession, ErrTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tk.Parse(tc.token); err != tc.want {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewTokens([]byte("short"), time.Hour); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestRefreshTokensAndLinks(t *testing.T) {
	a, ha := NewRefreshToken()
	b, hb := NewRefreshToken()
	if a == b || ha == hb || HashRefreshToken(a) != ha || len(ha) != 64 || strings.Contains(ha, a) {
		t.Fatal("refresh tokens not random or hash wrong")
	}
	tk := newTokens(t)
	exp := time.Now().Add(time.Minute).Unix()
	sig := tk.SignLink("/api/evidence/a.jpg", exp)
	cases := []struct {
		name string
		path string
		exp  int64
		sig  string
		ok   bool
	}{
		{"valid", "/api/evidence/a.jpg", exp, sig, true},
		{"other path", "/api/evidence/b.jpg", exp, sig, false},
		{"extended expiry", "/api/evidence/a.jpg", exp + 3600, sig, false},
		{"expired", "/api/evidence/a.jpg", time.Now().Add(-time.Minute).Unix(), tk.SignLink("/api/evidence/a.jpg", time.Now().Add(-time.Minute).Unix()), false},
		{"empty sig", "/api/evidence/a.jpg", exp, "", false},
	}
	for _, tc := range cases {
		if got := tk.CheckLink(tc.path, tc.exp, tc.sig); got != tc.ok {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPasswordCost("correct-horse-battery", bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, hash, pw string
		ok             bool
	}{
		{"right", h, "correct-horse-battery", true},
		{"wrong", h, "correct-horse-batterY", false},
		{"unknown user", "", "correct-horse-battery", false},
	}
	pw := NewPasswords(bcrypt.MinCost)
	for _, tc := range cases {
		if pw.Check(tc.hash, tc.pw) != tc.ok {
			t.Errorf("%s", tc.name)
		}
	}
	for _, weak := range []string{"short", strings.Repeat("x", 73)} {
		if _, err := HashPasswordCost(weak, bcrypt.MinCost); err != ErrWeakPassword {
			t.Errorf("%d bytes accepted: %v", len(weak), err)
		}
	}
	if h2, _ := HashPasswordCost("correct-horse-battery", bcrypt.MinCost); h2 == h {
		t.Error("hash not salted")
	}
}

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(2, time.Minute)
	l.Now = func() time.Time { return now }
	steps := []struct {
		key     string
		advance time.Duration
		ok      bool
	}{
		{"a", 0, true}, {"a", 0, true}, {"a", 0, false}, {"b", 0, true},
		{"a", 30 * time.Second, false}, {"a", 31 * time.Second, true},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, wait := l.Allow(s.key)
		if ok != s.ok || (!ok && wait <= 0) {
			t.Fatalf("step %d: ok=%v wait=%v", i, ok, wait)
		}
	}
}

func TestMatrixIsComplete(t *testing.T) {
	for perm, roles := range Matrix {
		if !Allowed(RoleAdmin, perm) {
			t.Errorf("admin lacks %s", perm)
		}
		if len(roles) == 0 {
			t.Errorf("%s granted to nobody", perm)
		}
	}
	if Allowed(RoleAdmin, "made:up") {
		t.Error("unknown permission allowed")
	}
	if !ValidRole("auditor") || ValidRole("root") {
		t.Error("ValidRole")
	}
}

// FuzzParse feeds outside bytes (the Authorization header) to the token parser.
func FuzzParse(f *testing.F) {
	tk, _ := NewTokens(testKey, time.Hour)
	good, _, _ := tk.Issue("u1", "ana", RoleAdmin, "s1")
	f.Add(good)
	f.Add("a.b.c")
	f.Add("")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Parse(s)
		if err == nil && (c.Subject == "" || c.SessionID == "") {
			t.Fatalf("accepted a token without subject or session: %q", s)
		}
		if err == nil && s != good {
			// Only tokens signed with the key may pass; the fuzzer cannot forge HMAC.
			if _, err2 := tk.Parse(s); err2 != nil {
				t.Fatal("non-deterministic parse")
			}
		}
		_, _ = BearerToken("Bearer " + s)
	})
}
