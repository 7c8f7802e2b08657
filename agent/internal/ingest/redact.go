package ingest

import (
	"log/slog"
	"net/url"
	"strings"
)

// redactedPassword replaces passwords, as url.URL.Redacted does.
const redactedPassword = "xxxxx"

// RedactURL returns rawURL with the password of its user info replaced by
// "xxxxx". It also copes with URLs that net/url rejects, such as an
// unescaped '@', '#' or '/' in the password, which cameras' web pages show.
func RedactURL(rawURL string) string {
	user, pass, ok := splitUserInfo(rawURL)
	if !ok || pass == "" {
		return rawURL
	}
	i := strings.Index(rawURL, "://") + 3
	return rawURL[:i] + user + ":" + redactedPassword + rawURL[i+len(user)+1+len(pass):]
}

// splitUserInfo finds "user:pass" after "scheme://". Passwords in camera
// URLs often hold unescaped '@', '#', ':' or '/', so the user info is taken
// to end at the last '@' that is followed by something shaped like a host
// (or at the last '@' at all). When an '@' also appears later in the path or
// query this over-redacts, which is the safe direction.
func splitUserInfo(rawURL string) (user, pass string, ok bool) {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return "", "", false
	}
	rest := rawURL[i+3:]
	at := -1
	for j := len(rest) - 1; j >= 0; j-- {
		if rest[j] != '@' {
			continue
		}
		if at < 0 {
			at = j // fallback: the last '@'
		}
		if looksLikeHost(rest[j+1:]) {
			at = j
			break
		}
	}
	if at < 0 {
		return "", "", false
	}
	user, pass, _ = strings.Cut(rest[:at], ":")
	return user, pass, true
}

// looksLikeHost reports whether s starts with host[:port] followed by the
// end, '/' or '?'.
func looksLikeHost(s string) bool {
	end := strings.IndexAny(s, "/?")
	if end < 0 {
		end = len(s)
	}
	if end == 0 {
		return false
	}
	for _, c := range s[:end] {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == ':', c == '[', c == ']', c == '%', c == '_':
		default:
			return false
		}
	}
	return true
}

// passwordOf returns the password of rawURL's user info in its raw and
// unescaped forms (either may be empty).
func passwordOf(rawURL string) []string {
	_, pass, ok := splitUserInfo(rawURL)
	if !ok || pass == "" {
		return nil
	}
	out := []string{pass}
	if un, err := url.PathUnescape(pass); err == nil && un != pass {
		out = append(out, un)
	}
	if esc := url.QueryEscape(pass); esc != pass {
		out = append(out, esc)
	}
	return out
}

// SecretURL holds a camera URL that may contain a password. Its String and
// slog value are redacted; only Reveal gives the real URL.
type SecretURL struct{ raw string }

// NewSecretURL wraps rawURL.
func NewSecretURL(rawURL string) SecretURL { return SecretURL{raw: rawURL} }

// String returns the redacted URL.
func (u SecretURL) String() string { return RedactURL(u.raw) }

// LogValue implements slog.LogValuer with the redacted URL.
func (u SecretURL) LogValue() slog.Value { return slog.StringValue(u.String()) }

// Reveal returns the URL with its password, for the RTSP client only.
func (u SecretURL) Reveal() string { return u.raw }

// GoString keeps %#v from printing the password.
func (u SecretURL) GoString() string { return "ingest.SecretURL(" + u.String() + ")" }

// RedactError returns err with every form of the URL's password in its
// message replaced; errors.Is/As still see the original chain.
func (u SecretURL) RedactError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := msg
	for _, p := range passwordOf(u.raw) {
		red = strings.ReplaceAll(red, p, redactedPassword)
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
