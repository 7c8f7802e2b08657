// Command hub is the central system of record: it ingests the agents' MQTT
// events into PostgreSQL/PostGIS, keeps evidence and serves the API.
package main

import (
	"os"
	_ "time/tzdata" // America/Lima must resolve on minimal hosts without zoneinfo.

	"github.com/vigia-pe/vigia/hub/internal/cli"
)

func main() {
	os.Exit(cli.Execute(os.Args[1:], os.Stdout, os.Stderr))
}
