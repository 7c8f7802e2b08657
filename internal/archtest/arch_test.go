// Package archtest enforces the import rules of STYLE.md: the wire contract
// and the calibration stay standard-library only, agent and hub never import
// each other, and the agent binary links neither the database driver nor the
// web framework.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vigia-pe/vigia"

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, out)
	}
	return strings.Fields(string(out))
}

func isStd(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".") && pkg != "C"
}

func TestLeafPackagesImportOnlyStdlib(t *testing.T) {
	pkgs := goList(t, module+"/shared/...", module+"/calibration/...")
	if len(pkgs) < 2 {
		t.Fatalf("expected the shared packages and calibration, got %v", pkgs)
	}
	for _, p := range pkgs {
		for _, dep := range goList(t, "-deps", p) {
			if isStd(dep) || strings.HasPrefix(dep, module+"/shared/") || strings.HasPrefix(dep, module+"/calibration") {
				continue
			}
			t.Errorf("%s imports %s: shared/* and calibration may import only the standard library", p, dep)
		}
	}
}

func TestAgentAndHubStayApart(t *testing.T) {
	cases := []struct {
		root, forbidden string
	}{
		{module + "/agent/...", module + "/hub/"},
		{module + "/hub/...", module + "/agent/"},
	}
	for _, tc := range cases {
		for _, dep := range goList(t, "-deps", tc.root) {
			if strings.HasPrefix(dep, tc.forbidden) {
				t.Errorf("%s depends on %s", tc.root, dep)
			}
		}
	}
}

func TestAgentBinaryLinksNoDatabaseOrWebFramework(t *testing.T) {
	deps := goList(t, "-deps", module+"/agent")
	if len(deps) < 20 {
		t.Fatalf("implausibly few deps for the agent: %d", len(deps))
	}
	for _, dep := range deps {
		for _, bad := range []string{"github.com/jackc/pgx", "github.com/gin-gonic/gin", "github.com/mochi-mqtt"} {
			if strings.HasPrefix(dep, bad) {
				t.Errorf("the agent binary links %s", dep)
			}
		}
	}
}
