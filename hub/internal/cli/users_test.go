package cli

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/db"
	"golang.org/x/crypto/bcrypt"

	"github.com/vigia-pe/vigia/internal/testdb"
)

// withStdin runs fn with os.Stdin reading s (a pipe, not a terminal).
func withStdin(t *testing.T, s string, fn func()) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteString(s); err != nil {
		t.Fatal(err)
	}
	w.Close()
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	fn()
}

func TestUserCreateIntegration(t *testing.T) {
	url := testdb.New(t)
	t.Setenv("HUB_DATABASE_URL", url)
	const pw = "una-clave-bastante-larga"
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"admin from stdin", pw + "\n", []string{"user", "create", "admin", "--role", "admin", "--email", "Admin@Muni.gob.pe"}, 0, "user admin created"},
		{"duplicate", pw + "\n", []string{"user", "create", "admin", "--role", "admin", "--email", "other@muni.gob.pe"}, 1, "already exists"},
		{"bad role", pw + "\n", []string{"user", "create", "x", "--role", "root", "--email", "x@muni.gob.pe"}, 1, "--role must be"},
		{"no email", pw + "\n", []string{"user", "create", "x", "--role", "operator"}, 1, "--email is required"},
		{"empty stdin", "", []string{"user", "create", "x", "--role", "operator", "--email", "x@muni.gob.pe"}, 1, "no password on stdin"},
		{"short password", "short\n", []string{"user", "create", "x", "--role", "operator", "--email", "x@muni.gob.pe"}, 1, "10 to 72 bytes"},
		{"passwd", "otra-clave-bastante-larga\n", []string{"user", "passwd", "admin"}, 0, "password of admin changed"},
		{"passwd unknown", "otra-clave-bastante-larga\n", []string{"user", "passwd", "ghost"}, 1, "no user"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errs string
			var code int
			withStdin(t, tc.stdin, func() { out, errs, code = run(t, tc.args...) })
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("code %d out %q err %q, want %d %q", code, out, errs, tc.code, tc.want)
			}
			if strings.Contains(out+errs, pw) {
				t.Fatal("the password was printed")
			}
		})
	}
	store, err := db.Open(t.Context(), url, time.UTC, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	u, err := store.UserByUsername(t.Context(), "admin")
	if err != nil || u.Email != "admin@muni.gob.pe" || u.Role != "admin" || !u.IsActive {
		t.Fatalf("%+v %v", u, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("otra-clave-bastante-larga")) != nil {
		t.Fatal("passwd did not change the password")
	}
}
