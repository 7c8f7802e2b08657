package auth

import (
	"testing"
	"time"
)

// BenchmarkTokenParse is the per-request cost of checking an access token
// (the database lookup of the session comes on top).
func BenchmarkTokenParse(b *testing.B) {
	tk, _ := NewTokens(testKey, time.Hour)
	tok, _, _ := tk.Issue("0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f60", "operator01", RoleOperator, "0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f61")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Parse(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	for b.Loop() {
		_ = Allowed(RoleAuditor, PermCamerasRead)
	}
}
