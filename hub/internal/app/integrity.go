package app

import (
	"context"
	"log/slog"

	"github.com/vigia-pe/vigia/hub/internal/config"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/liveness"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/hub/internal/sunarp"
	"github.com/vigia-pe/vigia/hub/internal/verify"
)

// integrity holds the integrity workers started by startIntegrity.
type integrity struct {
	Verify   *verify.Worker // nil when disabled
	Liveness *liveness.Job  // always on
	SUNARP   *sunarp.Worker // nil without a registry URL
}

// startIntegrity starts the evidence verification worker, the device
// liveness job and, when a registry URL is configured, SUNARP enrichment;
// each runs until ctx is cancelled and logs its own errors.
func startIntegrity(ctx context.Context, cfg config.Config, store *db.Store, evidence objstore.Store, log *slog.Logger) *integrity {
	var in integrity
	if !cfg.Verify.Disabled {
		in.Verify = verify.New(verify.Config{GiveUpAfter: cfg.Verify.GiveUpAfter, Interval: cfg.Verify.Interval}, store, evidence, log)
		go func() { _ = in.Verify.Run(ctx) }()
	}
	in.Liveness = liveness.New(liveness.Config{SilentAfter: cfg.Liveness.SilentAfter, Interval: cfg.Liveness.Interval}, store, log)
	go func() { _ = in.Liveness.Run(ctx) }()
	if cfg.SUNARP.URL != "" {
		client, err := sunarp.NewClient(sunarp.ClientConfig{BaseURL: cfg.SUNARP.URL, Token: cfg.SUNARP.Token, Timeout: cfg.SUNARP.Timeout})
		if err != nil {
			log.Error("SUNARP enrichment disabled", "err", err)
		} else {
			in.SUNARP = sunarp.NewWorker(sunarp.Config{TTL: cfg.SUNARP.TTL}, store.Pool, client, log)
			go func() { _ = in.SUNARP.Run(ctx) }()
		}
	}
	return &in
}
