package cli

import (
	"errors"

	"github.com/spf13/cobra"
)

// newEventCmd is a placeholder until its feature lands.
func newEventCmd(_ *globals) *cobra.Command {
	return &cobra.Command{
		Use:    "event",
		Short:  "(not available yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errors.New("event: not available in this build yet")
		},
	}
}
