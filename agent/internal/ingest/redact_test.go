package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"user and password", "rtsp://admin:hunter2@10.0.0.5:554/Streaming/Channels/101", "rtsp://admin:xxxxx@10.0.0.5:554/Streaming/Channels/101"},
		{"no credentials", "rtsp://10.0.0.5/live", "rtsp://10.0.0.5/live"},
		{"user only", "rtsp://admin@10.0.0.5/live", "rtsp://admin@10.0.0.5/live"},
		{"at sign in password", "rtsp://admin:p@ss@10.0.0.5/live", "rtsp://admin:xxxxx@10.0.0.5/live"},
		{"hash and colon in password", "rtsp://admin:a#b:c@cam/live", "rtsp://admin:xxxxx@cam/live"},
		{"slash in password", "rtsp://admin:a/b@cam/live", "rtsp://admin:xxxxx@cam/live"},
		{"percent-encoded password", "rtsp://admin:p%40ss@cam/live", "rtsp://admin:xxxxx@cam/live"},
		{"at sign in password and slash", "rtsp://admin:p@ss#w/rd@cam:554/live", "rtsp://admin:xxxxx@cam:554/live"},
		{"at sign in query over-redacts", "rtsp://admin:pw@cam/live?user=a@b", "rtsp://admin:xxxxx@b"},
		{"ipv6 host", "rtsp://admin:pw@[fe80::1]:554/live", "rtsp://admin:xxxxx@[fe80::1]:554/live"},
		{"empty password", "rtsp://admin:@cam/live", "rtsp://admin:@cam/live"},
		{"not a URL", "cam1", "cam1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RedactURL(tc.in); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSecretURLNeverPrintsPassword(t *testing.T) {
	const pass = "p@ss#w/rd"
	u := NewSecretURL("rtsp://admin:" + pass + "@cam:554/live")
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("x", "url", u, "group", slog.GroupValue(slog.Any("u", u)))
	slog.New(slog.NewTextHandler(&logs, nil)).Info("y", "url", u)
	outputs := map[string]string{
		"String": u.String(),
		"%v":     fmt.Sprintf("%v", u),
		"%s":     fmt.Sprintf("%s", u), //lint:ignore S1025 the %s verb itself is under test
		"%+v":    fmt.Sprintf("%+v", u),
		"%#v":    fmt.Sprintf("%#v", u),
		"slog":   logs.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, pass) || strings.Contains(out, "w/rd") {
			t.Errorf("%s output leaks the password: %s", name, out)
		}
		if !strings.Contains(out, "xxxxx") {
			t.Errorf("%s output lacks the redaction mark: %s", name, out)
		}
	}
	if u.Reveal() != "rtsp://admin:"+pass+"@cam:554/live" {
		t.Errorf("Reveal = %q", u.Reveal())
	}
}

func TestRedactError(t *testing.T) {
	base := errors.New("boom")
	u := NewSecretURL("rtsp://admin:se%23cret@cam/live")
	tests := []struct {
		name string
		err  error
	}{
		{"raw form", fmt.Errorf("dial rtsp://admin:se%%23cret@cam/live: %w", base)},
		{"unescaped form", fmt.Errorf("auth se#cret rejected: %w", base)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := u.RedactError(tc.err)
			if strings.Contains(got.Error(), "se#cret") || strings.Contains(got.Error(), "se%23cret") {
				t.Errorf("still leaks: %v", got)
			}
			if !errors.Is(got, base) {
				t.Error("error chain lost")
			}
		})
	}
	if u.RedactError(nil) != nil {
		t.Error("RedactError(nil) != nil")
	}
	if clean := errors.New("no secret"); u.RedactError(clean) != clean {
		t.Error("clean error rewrapped")
	}
}

// FuzzRedactURL builds camera URLs with arbitrary passwords: the redacted
// form must be exactly the URL with "xxxxx" in place of the password.
func FuzzRedactURL(f *testing.F) {
	f.Add("admin", "hunter2", "10.0.0.5:554", "/Streaming/Channels/101")
	f.Add("u", "p@ss#w/rd:x", "cam", "/live?x=1")
	f.Add("u", "@@@", "[fe80::1]:554", "")
	f.Fuzz(func(t *testing.T, user, pass, host, path string) {
		if user == "" || pass == "" || !looksLikeHost(host) || strings.ContainsAny(user, ":@/?#") ||
			strings.ContainsAny(path, "@") || (path != "" && path[0] != '/' && path[0] != '?') || strings.ContainsAny(host, "/?") {
			return
		}
		raw := "rtsp://" + user + ":" + pass + "@" + host + path
		want := "rtsp://" + user + ":xxxxx@" + host + path
		if got := RedactURL(raw); got != want {
			t.Fatalf("RedactURL(%q) = %q, want %q", raw, got, want)
		}
	})
}
