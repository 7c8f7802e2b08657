// Package app wires the hub's subsystems together: database, migrations,
// embedded or external broker, ingestion, evidence store and the HTTP API.
// It is the only package that knows them all.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/api"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/broker"
	"github.com/vigia-pe/vigia/hub/internal/camctl"
	"github.com/vigia-pe/vigia/hub/internal/config"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/ingest"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/hub/internal/report"
	"github.com/vigia-pe/vigia/hub/internal/retention"
)

// Location is the municipality's time zone (infraction codes, daily reports).
const Location = "America/Lima"

// OpenStore connects to the database in the municipality's time zone.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*db.Store, error) {
	loc, err := time.LoadLocation(Location)
	if err != nil {
		return nil, fmt.Errorf("app: time zone %s: %w", Location, err)
	}
	return db.Open(ctx, string(cfg.DatabaseURL), loc, log.With("component", "db"))
}

// OpenEvidence opens the configured evidence store.
func OpenEvidence(ctx context.Context, cfg config.Config) (objstore.Store, error) {
	if cfg.Evidence.S3.Endpoint == "" {
		return objstore.NewLocal(cfg.Evidence.Dir)
	}
	s3 := cfg.Evidence.S3
	return objstore.NewS3(ctx, objstore.S3Config{Endpoint: s3.Endpoint, Bucket: s3.Bucket, AccessKey: s3.AccessKey,
		SecretKey: string(s3.SecretKey), Region: s3.Region, UseTLS: s3.UseTLS})
}

// Serve runs the hub until ctx is cancelled.
func Serve(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	tokens, err := apiTokens(cfg, log) // first: refuse to start without a signing key
	if err != nil {
		return err
	}
	store, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := store.Migrate(ctx); err != nil {
		return err
	}
	// Time-series partitions: created ahead, dropped after the 90-day retention.
	job, err := retention.New(store.Pool, retention.Config{}, log)
	if err != nil {
		return err
	}
	if _, _, err := job.RunOnce(ctx, time.Now()); err != nil {
		return err
	}
	evidence, err := OpenEvidence(ctx, cfg)
	if err != nil {
		return err
	}

	brokerURL := cfg.MQTT.URL
	if brokerURL == "" {
		b, err := broker.Start(cfg.MQTT.Listen, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokerURL = b.URL()
		log.Info("embedded MQTT broker listening", "addr", b.Addr())
	}

	if gogc, set := ingest.TuneGC(os.Getenv); set {
		log.Info("garbage collector target set for ingestion (GOGC unset)", "gogc", gogc)
	}
	consumer := ingest.New(ingest.Config{
		BrokerURL: brokerURL, ClientID: cfg.MQTT.ClientID, ShareGroup: cfg.MQTT.ShareGroup,
		Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password), SessionExpiry: cfg.MQTT.SessionExpiry,
	}, store, log)

	// Camera control and device config pushes use their own MQTT connection
	// (a client id of its own: the consumer's session must not be taken over).
	ctl, err := camctl.DialMQTT(ctx, camctl.MQTTConfig{BrokerURL: brokerURL, ClientID: cfg.MQTT.ClientID + "-ctl",
		Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password)}, log)
	if err != nil {
		return err
	}
	defer ctl.Close()
	cams := camctl.New(camctl.Config{AllowedOrigins: cfg.CORSOrigins}, store, ctl, ctl, log)
	defer cams.Close()
	reports, err := report.New(store.Pool, store.Loc, log)
	if err != nil {
		return err
	}

	srv := &api.Server{
		Publisher: ctl, Reports: reports, Cameras: cams,
		Store: store, DB: store.Pool, Evidence: evidence, IngestReady: consumer.Ready, Loc: store.Loc,
		Log: log.With("component", "api"), CORSOrigins: cfg.CORSOrigins,
		Auth: api.AuthConfig{Tokens: tokens, RefreshTTL: cfg.Auth.RefreshTTL, MaxFailedLogins: cfg.Auth.MaxFailedLogins,
			LockoutDuration: cfg.Auth.Lockout, TwoPersonRule: cfg.Auth.TwoPersonRule},
		IngestStats: func() map[string]int64 {
			s := &consumer.Stats
			return map[string]int64{"received": s.Received.Load(), "stored": s.Stored.Load(),
				"duplicates": s.Duplicates.Load(), "dead_letters": s.DeadLetters.Load(), "retries": s.Retries.Load(),
				"batches": s.Batches.Load(), "batch_fallbacks": s.BatchFallbacks.Load()}
		},
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("app: listen on %s: %w", cfg.HTTPAddr, err)
	}
	httpSrv := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	log.Info("hub API listening", "addr", ln.Addr().String())

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { _ = job.Run(ctx) }() // logs its own errors; retried every interval
	// Evidence verification, device liveness and SUNARP enrichment (integrity.go).
	startIntegrity(ctx, cfg, store, evidence, log)
	go func() { errc <- consumer.Run(ctx) }()
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("app: http: %w", err)
			return
		}
		errc <- nil
	}()
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	_ = httpSrv.Shutdown(sctx)
	<-errc
	log.Info("hub stopped")
	return first
}

// apiTokens builds the access-token signer from the configured key; without
// one, serve refuses to start unless the development ephemeral key is asked for.
func apiTokens(cfg config.Config, log *slog.Logger) (*auth.Tokens, error) {
	key, err := cfg.Auth.SigningKey()
	if errors.Is(err, config.ErrNoJWTKey) && cfg.Auth.DevEphemeralKey {
		log.Warn("DEVELOPMENT: using an ephemeral JWT key generated for this run; tokens stop working at restart (set HUB_JWT_KEY for production)")
		key, err = auth.NewKey(), nil
	}
	if err != nil {
		return nil, err
	}
	return auth.NewTokens(key, cfg.Auth.AccessTTL)
}
