package calibration_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyStandardLibrary keeps the calibration format readable by
// every binary and tool: the package may depend on the standard library only.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/vigia-pe/vigia/calibration").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/vigia-pe/vigia/calibration" {
			t.Errorf("calibration depends on %s; it must import only the standard library", pkg)
		}
	}
}
