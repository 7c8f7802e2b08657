package health

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the package light: the standard library and gorilla/websocket only.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	allowed := map[string]bool{
		"github.com/vigia-pe/vigia/agent/internal/health": true,
		"github.com/gorilla/websocket":                    true,
	}
	for _, dep := range strings.Fields(string(out)) {
		if !allowed[dep] {
			t.Errorf("health depends on %s", dep)
		}
	}
}
