package event

import (
	"regexp"
	"strings"
	"testing"
)

// The regular expressions the matchers of charset.go replace: the reference.
var referenceSyntaxes = []struct {
	name  string
	re    *regexp.Regexp
	match func(string) bool
}{
	{"device id", regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$`), isDeviceID},
	{"uuid", regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`), isUUID},
	{"ulid", regexp.MustCompile(`^[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}$`), isULID},
	{"plate", regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,14}$`), isPlate},
	{"sha256", regexp.MustCompile(`^[0-9a-f]{64}$`), isSHA256Hex},
	{"key", regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]{0,511}$`), isKeySyntax},
}

func TestMatchersAgreeWithRegexps(t *testing.T) {
	inputs := []string{"", "A", "a", "0", "_", "-", ".", "/", "AB", "A-", "-A", "ABC-123", "abc-123", "CAM001", "EDGE-LIM-001",
		"edge_lim.01", "0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63", "0193F2A4-7C1E-7B3A-9F10-2B6C8D4E5F63",
		"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f6", "0193f2a4x7c1e-7b3a-9f10-2b6c8d4e5f63", "0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f6g",
		"01ARZ3NDEKTSV4RRFFQ69G5FAV", "01arz3ndektsv4rrffq69g5fav", "81ARZ3NDEKTSV4RRFFQ69G5FAV", "01ARZ3NDEKTSV4RRFFQ69G5FAI",
		"01ARZ3NDEKTSV4RRFFQ69G5FAL", "01ARZ3NDEKTSV4RRFFQ69G5FAO", "01ARZ3NDEKTSV4RRFFQ69G5FAU", "01ARZ3NDEKTSV4RRFFQ69G5FA",
		strings.Repeat("a", 64), strings.Repeat("f", 63) + "A", strings.Repeat("0", 65), strings.Repeat("A", 50), strings.Repeat("A", 51),
		strings.Repeat("A", 15), strings.Repeat("A", 16), strings.Repeat("k", 512), strings.Repeat("k", 513),
		"2025/11/01/CAM001/0193f2a4/clip.mp4", "../etc/passwd", "a b", "a\n", "\nA", "ÁBC-123", "AB\xff", "a\x00", "ABC_123"}
	for _, s := range referenceSyntaxes {
		for _, in := range inputs {
			if got, want := s.match(in), s.re.MatchString(in); got != want {
				t.Errorf("%s %q: matcher %v, regexp %v", s.name, in, got, want)
			}
		}
	}
}

func FuzzMatchers(f *testing.F) {
	for _, s := range []string{"ABC-123", "0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f63", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "EDGE-LIM-001", "a/b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, s := range referenceSyntaxes {
			if got, want := s.match(in), s.re.MatchString(in); got != want {
				t.Fatalf("%s %q: matcher %v, regexp %v", s.name, in, got, want)
			}
		}
	})
}
