package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/uplink"
	"github.com/vigia-pe/vigia/shared/event"
)

// loadConfig reads the agent configuration, lets the command apply its flag
// overrides, and validates the result.
func (g *globals) loadConfig(override func(*config.Config)) (config.Config, error) {
	cfg, err := config.Load(g.configPath, os.Getenv)
	if err != nil {
		return cfg, err
	}
	if g.logLevel != "" {
		cfg.LogLevel = g.logLevel
	}
	if override != nil {
		override(&cfg)
	}
	return cfg, cfg.Validate()
}

func newEventCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "event",
		Short: "Test the link to the hub by publishing events",
	}
	cmd.AddCommand(newEventSendCmd(g))
	return cmd
}

func newEventSendCmd(g *globals) *cobra.Command {
	var (
		p        event.Infraction
		typ      string
		at       string
		file     string
		count    int
		timeout  time.Duration
		mqttURL  string
		deviceID string
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Publish a test infraction (or a JSON envelope/payload from --file) and wait for the broker's acknowledgement",
		Example: `  agent event send --camera CAM001 --type SPEED_VIOLATION --plate ABC-123 --speed 78.5 --limit 60
  agent event send --file infraction.json      # an envelope, or just the "data" object of an infraction`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig(func(c *config.Config) {
				if mqttURL != "" {
					c.MQTT.URL = mqttURL
				}
				if deviceID != "" {
					c.DeviceID = deviceID
				}
			})
			if err != nil {
				return err
			}
			log := cfg.Logger(cmd.ErrOrStderr())
			var payload *event.Infraction
			var envelopes []event.Envelope
			if file != "" {
				envelopes, payload, err = readInfractionFile(file)
				if err != nil {
					return err
				}
			} else {
				p.Type = event.InfractionType(strings.ToUpper(typ))
				if p.CameraID == "" {
					p.CameraID = cfg.DeviceID
				}
				p.DetectedAt = time.Now().UTC()
				if at != "" {
					if p.DetectedAt, err = time.Parse(time.RFC3339, at); err != nil {
						return fmt.Errorf("--at: %q is not an RFC 3339 time", at)
					}
				}
				p.Plate = strings.ToUpper(p.Plate)
				p.PlateReadable = p.Plate != ""
				payload = &p
			}
			if payload != nil {
				if err := payload.Validate(); err != nil {
					return err
				}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			link, err := uplink.Dial(ctx, uplink.Config{BrokerURL: cfg.MQTT.URL, DeviceID: cfg.DeviceID,
				Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password), WaitConnect: timeout}, log)
			if err != nil {
				return err
			}
			defer link.Close(context.Background())
			out := json.NewEncoder(cmd.OutOrStdout())
			// Whole envelopes (e.g. the infraction lines of `agent replay`) are sent
			// unchanged: same id, so a resend is idempotent at the hub.
			for _, env := range envelopes {
				if err := link.Publish(ctx, env); err != nil {
					return err
				}
				if err := out.Encode(map[string]any{"id": env.ID, "topic": event.Topic(env.DeviceID, env.Type), "acked": true}); err != nil {
					return err
				}
			}
			if payload == nil {
				return nil
			}
			for range count {
				env, err := event.New(cfg.DeviceID, time.Now(), payload)
				if err != nil {
					return err
				}
				if err := link.Publish(ctx, env); err != nil {
					return err
				}
				if err := out.Encode(map[string]any{"id": env.ID, "topic": event.Topic(env.DeviceID, env.Type), "acked": true}); err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&typ, "type", string(event.SpeedViolation), "SPEED_VIOLATION, LANE_INVASION, RED_LIGHT or OTHER")
	f.StringVar(&p.CameraID, "camera", "", "camera id (default: the device id)")
	f.StringVar(&p.ZoneID, "zone", "", "zone id")
	f.StringVar(&p.Plate, "plate", "", "plate text, e.g. ABC-123")
	f.Float64Var(&p.DetectedSpeed, "speed", 0, "measured speed, km/h")
	f.Float64Var(&p.SpeedLimit, "limit", 0, "speed limit, km/h")
	f.Float64Var(&p.OCRConfidence, "ocr-confidence", 0, "plate reader confidence 0..1")
	f.Float64Var(&p.ConfidenceScore, "confidence", 0, "detector confidence 0..1")
	f.StringVar(&at, "at", "", "detection time, RFC 3339 (default now)")
	f.StringVar(&file, "file", "", "read the infraction from a JSON file instead of flags")
	f.IntVar(&count, "count", 1, "how many events to send (each with a new id)")
	f.DurationVar(&timeout, "timeout", 15*time.Second, "give up after this long")
	f.StringVar(&mqttURL, "mqtt-url", "", "broker URL (overrides AGENT_MQTT_URL)")
	f.StringVar(&deviceID, "device", "", "device id (overrides AGENT_DEVICE_ID)")
	return cmd
}

// readInfractionFile reads either whole v1 infraction envelopes, one per
// line (other lines, such as replay's "track" lines, are skipped), or a
// single infraction payload object to wrap in a new envelope.
func readInfractionFile(path string) ([]event.Envelope, *event.Infraction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	var envs []event.Envelope
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || !strings.Contains(line, `"data"`) {
			continue
		}
		env, p, err := event.Parse([]byte(line))
		if err != nil {
			if strings.Contains(line, `"type":"infraction"`) {
				return nil, nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
			}
			continue
		}
		if _, ok := p.(*event.Infraction); ok {
			envs = append(envs, env)
		}
	}
	if len(envs) > 0 {
		return envs, nil, nil
	}
	var p event.Infraction
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, nil, fmt.Errorf("%s: neither infraction envelopes nor an infraction payload: %w", path, err)
	}
	return nil, &p, nil
}
