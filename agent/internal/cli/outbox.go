package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
)

func newOutboxCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "Inspect the store-and-forward outbox"}
	var withPayloads bool
	inspect := &cobra.Command{
		Use:   "inspect [FILE]",
		Short: "List what an outbox file holds (read-only; works on a damaged file moved aside)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			} else {
				cfg, err := g.loadConfig(nil)
				if err != nil {
					return err
				}
				path = filepath.Join(cfg.DataDir, "outbox.db")
			}
			rep, err := outbox.Inspect(path, 2*time.Second)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: %d bytes, %d entries, %d problems\n", rep.Path, rep.Size, len(rep.Entries), len(rep.Problems))
			for _, p := range rep.Problems {
				fmt.Fprintln(out, "PROBLEM", p)
			}
			enc := json.NewEncoder(out)
			for _, e := range rep.Entries {
				if !withPayloads {
					e.Payload = nil
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
			if len(rep.Problems) > 0 {
				return errSilent
			}
			return nil
		},
	}
	inspect.Flags().BoolVar(&withPayloads, "payloads", false, "include the message payloads")
	cmd.AddCommand(inspect)
	return cmd
}
