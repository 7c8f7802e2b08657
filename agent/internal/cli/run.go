package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/app"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the agent service: every configured camera, the outbox, the uplink and the local HTTP endpoints",
		Long: `run is the service (systemd: deploy/jetson/vigia-agent.service). For each camera in the
config it runs the vision pipeline on the live stream, cites infractions with signed evidence,
commits each event to the on-disk outbox before sending it, and drains the outbox to the hub's
MQTT broker (and evidence to S3 when configured). It serves /health, /ready, /metrics,
/api/inference/cameras/{id}/status and /ws/stream/{id} on http_addr.`,
		Example: `  agent run --config /etc/vigia/agent.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(nil)
			if err != nil {
				return err
			}
			log := cfg.Logger(cmd.ErrOrStderr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx, cfg, os.Getenv, log)
		},
	}
}
