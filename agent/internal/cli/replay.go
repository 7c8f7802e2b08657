package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newReplayCmd is a placeholder until its feature lands.
func newReplayCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "replay",
		Short:  "(not available yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("replay: not available in this build yet")
		},
	}
}
