// Command agent is the edge agent: it reads cameras, detects and tracks
// vehicles, measures speed, cites infractions and keeps their evidence, and
// gives field technicians calibration and diagnostic commands.
package main

import (
	"os"

	"github.com/vigia-pe/vigia/agent/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
