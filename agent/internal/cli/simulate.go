package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newSimulateCameraCmd is a placeholder until its feature lands.
func newSimulateCameraCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "simulate-camera",
		Short:  "(not available yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("simulate-camera: not available in this build yet")
		},
	}
}
