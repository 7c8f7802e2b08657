// Package cli holds the hub's cobra commands: serve, migrate, version and
// the administrators' commands.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/hub/internal/app"
	"github.com/vigia-pe/vigia/hub/internal/config"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/buildinfo"
	"github.com/vigia-pe/vigia/shared/event"
)

type globals struct {
	configPath string
	getenv     func(string) string
	stderr     io.Writer
}

func (g *globals) load() (config.Config, *slog.Logger, error) {
	cfg, err := config.Load(g.configPath, g.getenv)
	if err != nil {
		return cfg, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, err
	}
	return cfg, cfg.Logger(os.Stderr), nil
}

// Execute runs the hub CLI and returns the exit code.
func Execute(args []string, stdout, stderr io.Writer) int {
	g := &globals{getenv: os.Getenv, stderr: stderr}
	root := &cobra.Command{
		Use:   "hub",
		Short: "Vigía hub: the system of record for the fleet's infractions",
		Long: `The Vigía hub receives the edge agents' events over MQTT (embedded broker by
default, or an external one such as Mosquitto), stores them in PostgreSQL/PostGIS
exactly once, keeps evidence files (local directory or MinIO/S3) and serves the API.

Start with:  hub serve            (applies migrations, then runs)
Configure with --config hub.yaml and HUB_* variables (deploy/hub/hub.sample.yaml).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "hub YAML config file")
	root.AddCommand(versionCmd(), serveCmd(g), migrateCmd(g), deviceCmd(g), zoneCmd(g), deadLettersCmd(g))
	root.AddCommand(userCmd(g))
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, "hub:", err)
		return 1
	}
	return 0
}

func versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print build information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(buildinfo.Get())
			}
			fmt.Fprintln(cmd.OutOrStdout(), "hub "+buildinfo.Get().String())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func serveCmd(g *globals) *cobra.Command {
	var httpAddr, mqttURL, mqttListen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Apply migrations, start the broker (embedded by default), ingestion and the API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(g.configPath, g.getenv)
			if err != nil {
				return err
			}
			if httpAddr != "" {
				cfg.HTTPAddr = httpAddr
			}
			if mqttURL != "" {
				cfg.MQTT.URL = mqttURL
			}
			if mqttListen != "" {
				cfg.MQTT.Listen = mqttListen
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			log := cfg.Logger(os.Stderr)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Serve(ctx, cfg, log)
		},
	}
	cmd.Flags().StringVar(&httpAddr, "http-addr", "", "API address (overrides HUB_HTTP_ADDR)")
	cmd.Flags().StringVar(&mqttURL, "mqtt-url", "", "external broker URL (overrides HUB_MQTT_URL)")
	cmd.Flags().StringVar(&mqttListen, "mqtt-listen", "", "embedded broker address (overrides HUB_MQTT_LISTEN)")
	return cmd
}

func withStore(g *globals, cmd *cobra.Command, fn func(ctx context.Context, s *db.Store) error) error {
	cfg, log, err := g.load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	s, err := app.OpenStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func migrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations that are not applied yet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				done, err := s.Migrate(ctx)
				if err != nil {
					return err
				}
				v, err := s.SchemaVersion(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "applied %d migration(s); schema version %d\n", len(done), v)
				ts, err := s.TimescaleVersion(ctx)
				if err != nil {
					return err
				}
				if ts != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "time series: TimescaleDB %s hypertables\n", ts)
				} else {
					fmt.Fprintln(cmd.OutOrStdout(), "time series: native daily partitions (TimescaleDB is not installed)")
				}
				return nil
			})
		},
	}
}

func deviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Manage cameras registered at the hub"}
	var d db.Device
	var lat, lon float64
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Register (or update) a camera; the RTSP URL is read from HUB_DEVICE_RTSP_URL, never from argv",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d.ID = args[0]
			if !event.ValidDeviceID(d.ID) {
				return fmt.Errorf("device id %q must be 1-50 of [A-Za-z0-9_.-]", d.ID)
			}
			if d.Name == "" {
				d.Name = d.ID
			}
			// The URL holds the camera password: from the environment, so it stays out of shell history and ps.
			d.RTSPURL = g.getenv("HUB_DEVICE_RTSP_URL")
			if cmd.Flags().Changed("lat") != cmd.Flags().Changed("lon") {
				return errors.New("give both --lat and --lon, or neither")
			}
			if cmd.Flags().Changed("lat") {
				if lat < -90 || lat > 90 || lon < -180 || lon > 180 {
					return errors.New("--lat/--lon out of range")
				}
				d.Lat, d.Lon = &lat, &lon
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				if _, err := s.Migrate(ctx); err != nil {
					return err
				}
				if err := s.UpsertDevice(ctx, d); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "device %s registered\n", d.ID)
				return nil
			})
		},
	}
	add.Flags().StringVar(&d.Name, "name", "", "human name (e.g. \"Av. Javier Prado / Av. Arequipa\")")
	add.Flags().StringVar(&d.ZoneID, "zone", "", "zone id (create it with `hub zone add`)")
	add.Flags().Float64Var(&lat, "lat", 0, "latitude (WGS84)")
	add.Flags().Float64Var(&lon, "lon", 0, "longitude (WGS84)")
	cmd.AddCommand(add)
	cmd.AddCommand(newDeviceKeyCmd(g))
	return cmd
}

func zoneCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "zone", Short: "Manage enforcement zones"}
	var name string
	var limit int
	add := &cobra.Command{
		Use:   "add ID",
		Short: "Register (or update) a zone with its speed limit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !event.ValidDeviceID(args[0]) {
				return fmt.Errorf("zone id %q must be 1-50 of [A-Za-z0-9_.-]", args[0])
			}
			if limit <= 0 || limit > 200 {
				return errors.New("--speed-limit must be within 1..200 km/h")
			}
			if name == "" {
				name = args[0]
			}
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				if _, err := s.Migrate(ctx); err != nil {
					return err
				}
				if err := s.UpsertZone(ctx, args[0], name, limit); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "zone %s registered (limit %d km/h)\n", args[0], limit)
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "human name")
	add.Flags().IntVar(&limit, "speed-limit", 0, "speed limit in km/h (required)")
	cmd.AddCommand(add)
	return cmd
}

func deadLettersCmd(g *globals) *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List the newest refused messages with their reasons",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(g, cmd, func(ctx context.Context, s *db.Store) error {
				rows, err := s.ListDeadLetters(ctx, limit)
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				for _, r := range rows {
					if err := enc.Encode(r); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many")
	return cmd
}
