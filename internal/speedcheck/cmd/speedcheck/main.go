// Command speedcheck compares `agent replay` output on a scene generator
// clip with the clip's truth.json and prints the speed errors.
//
//	go run ./internal/speedcheck/cmd/speedcheck --truth DIR/truth.json --events tracks.jsonl
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vigia-pe/vigia/internal/scenegen"
	"github.com/vigia-pe/vigia/internal/speedcheck"
)

func main() {
	truthPath := flag.String("truth", "", "truth.json written by scenegen")
	events := flag.String("events", "", "JSON Lines written by agent replay")
	flag.Parse()
	if *truthPath == "" || *events == "" {
		flag.Usage()
		os.Exit(2)
	}
	truth, err := scenegen.ReadTruth(*truthPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tracks, err := speedcheck.ReadTracks(*events)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	speedcheck.Compare(truth, tracks).Print(os.Stdout)
}
