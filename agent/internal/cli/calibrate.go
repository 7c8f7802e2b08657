package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCalibrateCmd is a placeholder until its feature lands.
func newCalibrateCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "calibrate",
		Short:  "(not available yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("calibrate: not available in this build yet")
		},
	}
}
