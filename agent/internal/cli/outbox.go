package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/app"
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
	cmd.AddCommand(inspect, newOutboxPushCmd(g))
	return cmd
}

func newOutboxPushCmd(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "push EVENTS.jsonl",
		Short: "Send the infractions of an `agent replay` events file through the outbox (evidence to S3, events to MQTT)",
		Long: `push queues every infraction of a replay's events file, with references to its evidence
files under <data_dir>/evidence (replay --evidence writes them there), in the on-disk outbox,
then uploads the evidence (when s3.endpoint is set) and publishes the events exactly as
` + "`agent run`" + ` does, and waits until the outbox is empty. What is not delivered before --timeout
stays in the outbox. Pushing a file again is safe: the hub stores each event once (by its id).`,
		Example: `  AGENT_DATA_DIR=./agent-data agent replay --video clip.mp4 --calibration cal.json --evidence ./agent-data --events out.jsonl
  AGENT_DATA_DIR=./agent-data AGENT_S3_ENDPOINT=127.0.0.1:9000 agent outbox push out.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := app.Push(ctx, cfg, args[0], cfg.Logger(cmd.ErrOrStderr()))
			fmt.Fprintf(cmd.OutOrStdout(), "queued %d, already queued %d, still in the outbox %d\n", res.Queued, res.Duplicate, res.Remaining)
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up waiting after this long (undelivered entries stay queued)")
	return cmd
}
