package testenv

import "testing"

// TestFreeAddrNeverRepeats: addresses asked for one after another are all
// different, even when the kernel offers a just-released port again.
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		a := FreeAddr(t)
		if seen[a] {
			t.Fatalf("%s returned twice", a)
		}
		seen[a] = true
	}
}
