package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newCameraCmd is a placeholder until its feature lands.
func newCameraCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "camera",
		Short:  "(not available yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("camera: not available in this build yet")
		},
	}
}
