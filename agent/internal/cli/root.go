// Package cli holds the agent's cobra commands: the service, the technicians'
// calibration and diagnostic tools, and the camera simulator.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// globals are the flags shared by every command.
type globals struct {
	configPath string
	logLevel   string
	stdin      io.Reader
}

// errSilent marks an error whose message was already printed.
var errSilent = errors.New("")

// newRoot builds the command tree.
func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdin: stdin}
	root := &cobra.Command{
		Use:   "agent",
		Short: "Vigía edge agent: cameras in, tracked vehicles, infractions and evidence out",
		Long: `The Vigía edge agent runs next to a camera (x86 box or NVIDIA Jetson).

It reads RTSP cameras or video files, detects and tracks vehicles, measures their
speed through a ground-plane calibration, and sends events to the hub over MQTT.
Field technicians use its calibrate, camera and event commands on site.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "agent YAML config file (see deploy/jetson/agent.sample.yaml)")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: debug, info, warn, error (overrides the config; default info)")
	root.AddCommand(
		newVersionCmd(),
		newEventCmd(g),
		newCalibrateCmd(g),
		newCameraCmd(g),
		newSimulateCameraCmd(g),
		newReplayCmd(g),
		newWatchCmd(g),
		newEvidenceCmd(g),
		newPlatesCmd(g),
		newOutboxCmd(g),
		newRunCmd(g),
	)
	return root
}

// Execute runs the agent CLI and returns the process exit code.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if !errors.Is(err, errSilent) {
			fmt.Fprintln(stderr, "agent:", err)
		}
		return 1
	}
	return 0
}
