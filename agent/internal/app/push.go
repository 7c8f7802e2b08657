package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/agent/internal/uplink"
	"github.com/vigia-pe/vigia/shared/event"
)

// PushResult counts what Push queued and what was delivered.
type PushResult struct {
	Queued    int // infraction events put in the outbox by this call
	Duplicate int // already in the outbox (a repeated push)
	Remaining int // entries still in the outbox when Push returned
}

// Push sends the infractions of an events file written by `agent replay`
// (JSON Lines; other lines are skipped) through the same store-and-forward
// path as the service: each event and its evidence references are committed
// to the outbox in cfg.DataDir, then the sender uploads the evidence files
// (when S3 is configured) and publishes the events, and Push waits until the
// outbox is empty or ctx ends. Anything not delivered stays in the outbox
// for the next push or `agent run`.
func Push(ctx context.Context, cfg config.Config, eventsPath string, log *slog.Logger) (PushResult, error) {
	var res PushResult
	envs, err := readInfractionEnvelopes(eventsPath)
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return res, fmt.Errorf("push: data dir: %w", err)
	}
	ob, err := outbox.Open(filepath.Join(cfg.DataDir, "outbox.db"), outbox.Config{MaxBytes: cfg.OutboxMaxBytes}, log)
	if err != nil {
		return res, err
	}
	defer ob.Close()
	upload := cfg.S3.Endpoint != ""
	for _, pe := range envs {
		e, err := InfractionEntry(pe.env, pe.inf, cfg.DataDir, upload)
		if err != nil {
			return res, fmt.Errorf("push: %w", err)
		}
		_, added, err := ob.Put(e)
		if err != nil {
			return res, fmt.Errorf("push: outbox: %w", err)
		}
		if added {
			res.Queued++
		} else {
			res.Duplicate++
		}
	}

	linkCtx, linkCancel := context.WithCancel(ctx)
	defer linkCancel()
	link := uplink.NewRedialer(linkCtx, uplink.Config{BrokerURL: cfg.MQTT.URL, DeviceID: cfg.DeviceID,
		Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password)}, log)
	defer link.Close(context.Background())
	var up uplink.Uploader
	if upload {
		s3, err := uplink.NewS3Uploader(ctx, uplink.S3Config{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket,
			AccessKey: cfg.S3.AccessKey, SecretKey: string(cfg.S3.SecretKey), Region: cfg.S3.Region, UseTLS: cfg.S3.UseTLS,
			CreateBucket: true}, log)
		if err != nil {
			return res, err
		}
		up = s3
	}
	sender := uplink.NewSender(uplink.SenderConfig{Secrets: []string{string(cfg.MQTT.Password), string(cfg.S3.SecretKey)}},
		ob, link, up, log)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sender.Run(sctx) }()
	defer func() { stop(); <-done }()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		st, err := ob.Stats()
		if err != nil {
			return res, err
		}
		res.Remaining = st.Entries
		if st.Entries == 0 {
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("push: %d entries not delivered yet (kept in the outbox): %w", st.Entries, ctx.Err())
		case err := <-done:
			done <- err
			if err == nil {
				err = errors.New("sender stopped")
			}
			return res, fmt.Errorf("push: %w", err)
		case <-t.C:
		}
	}
}

type pushEnvelope struct {
	env event.Envelope
	inf *event.Infraction
}

// readInfractionEnvelopes reads the infraction envelopes of a JSON Lines
// file; a malformed infraction line is an error (with its line number),
// other lines are skipped.
func readInfractionEnvelopes(path string) ([]pushEnvelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	defer f.Close()
	var out []pushEnvelope
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if !isInfractionLine(line) {
			continue
		}
		env, p, err := event.Parse(line)
		if err != nil {
			return nil, fmt.Errorf("push: %s:%d: %w", path, n, err)
		}
		inf, ok := p.(*event.Infraction)
		if !ok {
			continue
		}
		out = append(out, pushEnvelope{env, inf})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("push: %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("push: %s holds no infraction events", path)
	}
	return out, nil
}

func isInfractionLine(b []byte) bool {
	var probe struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(b, &probe) == nil && probe.Type == string(event.KindInfraction)
}
