// Package secret holds configuration values that must never be printed:
// passwords, keys and URLs that embed credentials. They render as
// "[redacted]" in fmt, log/slog and JSON.
package secret

import "log/slog"

// String is a secret string value.
type String string

// String hides the value.
func (s String) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s String) GoString() string { return `secret.String("` + s.String() + `")` }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON hides the value.
func (s String) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// Reveal returns the value itself, for the one place that must use it.
func (s String) Reveal() string { return string(s) }
