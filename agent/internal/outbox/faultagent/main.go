// Command faultagent is the agent side of the fault tests in internal/e2e: a
// minimal agent without cameras or models that writes signed evidence
// packages (agent/internal/evidence), commits infraction events referencing
// them to the real outbox, and drains it with the real uplink.Sender to MQTT
// and S3, while the evidence janitor (agent/internal/evquota) enforces its
// quota. Tests kill, starve and restart it; it is not shipped.
//
// It prints one JSON object per line on stdout: {"ev":"ready"},
// {"ev":"produced","id":...}, {"ev":"alarm","source":...,"on":...,"reason":...}
// and, with -exit-when-drained, a final {"ev":"drained",...} with counters.
// The S3 credentials come from FAULTAGENT_S3_ACCESS_KEY and
// FAULTAGENT_S3_SECRET_KEY.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/evidence"
	"github.com/vigia-pe/vigia/agent/internal/evquota"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/agent/internal/uplink"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

type options struct {
	dataDir, device, camera, broker string
	s3Endpoint, s3Bucket            string
	count, statusPer                int
	every                           time.Duration
	clipBytes                       int
	outboxMax, evidenceMax          int64
	janitorEvery                    time.Duration
	exitWhenDrained                 bool
	partSize                        uint64
	maxBackoff                      time.Duration
	produceFirst                    bool
}

func main() {
	var o options
	flag.StringVar(&o.dataDir, "data-dir", "", "agent data directory (outbox.db, evidence/)")
	flag.StringVar(&o.device, "device", "", "device id")
	flag.StringVar(&o.camera, "camera", "", "camera id (default: the device id)")
	flag.StringVar(&o.broker, "broker", "", "MQTT broker host:port")
	flag.StringVar(&o.s3Endpoint, "s3", "", "S3 endpoint host:port")
	flag.StringVar(&o.s3Bucket, "bucket", "evidence", "S3 bucket")
	flag.IntVar(&o.count, "count", 0, "infractions to produce (0: only drain what the outbox holds)")
	flag.IntVar(&o.statusPer, "status-per-infraction", 0, "status samples queued after each infraction")
	flag.DurationVar(&o.every, "every", 0, "pause between infractions")
	flag.IntVar(&o.clipBytes, "clip-bytes", 256<<10, "size of each clip.mp4")
	flag.Int64Var(&o.outboxMax, "outbox-max-bytes", 0, "outbox quota (0: none)")
	flag.Int64Var(&o.evidenceMax, "evidence-max-bytes", 0, "evidence quota (0: none)")
	flag.DurationVar(&o.janitorEvery, "janitor-every", 200*time.Millisecond, "evidence janitor period")
	flag.BoolVar(&o.exitWhenDrained, "exit-when-drained", false, "exit once everything is produced and the outbox is empty")
	flag.Uint64Var(&o.partSize, "part-size", 5<<20, "S3 multipart part size")
	flag.DurationVar(&o.maxBackoff, "max-backoff", 2*time.Second, "sender retry delay cap")
	flag.BoolVar(&o.produceFirst, "produce-first", false, "start sending only once every infraction is committed")
	flag.Parse()
	if o.camera == "" {
		o.camera = o.device
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "faultagent:", err)
		os.Exit(1)
	}
}

// out writes the JSON lines of stdout.
type out struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (w *out) emit(v map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.enc.Encode(v)
}

func run(ctx context.Context, o options) error {
	if o.dataDir == "" || o.device == "" || o.broker == "" {
		return errors.New("-data-dir, -device and -broker are required")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	stdout := &out{enc: json.NewEncoder(os.Stdout)}
	if err := os.MkdirAll(o.dataDir, 0o750); err != nil {
		return err
	}
	ob, err := outbox.Open(filepath.Join(o.dataDir, "outbox.db"), outbox.Config{MaxBytes: o.outboxMax}, log)
	if err != nil {
		return err
	}
	defer ob.Close()
	w, err := evidence.NewWriter(evidence.Config{DataDir: o.dataDir, DeviceID: o.device, AgentVersion: "faultagent"}, log)
	if err != nil {
		return err
	}
	jan, err := evquota.New(evquota.Config{DataDir: o.dataDir, MaxBytes: o.evidenceMax, Interval: o.janitorEvery}, ob, log)
	if err != nil {
		return err
	}
	linkCtx, linkCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer linkCancel()
	link := uplink.NewRedialer(linkCtx, uplink.Config{BrokerURL: "mqtt://" + o.broker, DeviceID: o.device}, log)
	defer link.Close(context.Background())
	var up uplink.Uploader
	if o.s3Endpoint != "" {
		s3, err := uplink.NewS3Uploader(ctx, uplink.S3Config{Endpoint: o.s3Endpoint, Bucket: o.s3Bucket,
			AccessKey: os.Getenv("FAULTAGENT_S3_ACCESS_KEY"), SecretKey: os.Getenv("FAULTAGENT_S3_SECRET_KEY"),
			PartSize: o.partSize, CreateBucket: true}, log)
		if err != nil {
			return err
		}
		up = s3
	}
	sender := uplink.NewSender(uplink.SenderConfig{MaxBackoff: o.maxBackoff, Secrets: []string{os.Getenv("FAULTAGENT_S3_SECRET_KEY")}},
		ob, link, up, log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	startSender := func() {
		wg.Add(1)
		go func() { defer wg.Done(); _ = sender.Run(ctx) }()
	}
	if !o.produceFirst {
		startSender()
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = jan.Run(ctx) }()
	go func() { defer wg.Done(); watchAlarms(ctx, ob, jan, stdout) }()
	defer wg.Wait()
	defer cancel()
	sender.Notify() // replay what a previous run left
	stdout.emit(map[string]any{"ev": "ready"})

	for i := range o.count {
		id, err := produce(ob, w, o, up != nil, i)
		if err != nil {
			return err
		}
		sender.Notify()
		stdout.emit(map[string]any{"ev": "produced", "id": id})
		for range o.statusPer {
			if err := putStatus(ob, o.device); err != nil {
				return err
			}
			sender.Notify()
		}
		if o.every > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(o.every):
			}
		}
	}
	if o.produceFirst {
		startSender()
		sender.Notify()
	}
	if !o.exitWhenDrained {
		<-ctx.Done()
		return nil
	}
	for {
		st, err := ob.Stats()
		if err != nil {
			return err
		}
		if st.Entries == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
	// One janitor pass after the last delivery, so the report reflects it.
	rep, err := jan.Check()
	if err != nil {
		return err
	}
	st, _ := ob.Stats()
	obAlarm, _ := ob.Alarm()
	ss := sender.Stats()
	js := jan.Stats()
	stdout.emit(map[string]any{"ev": "drained", "dropped": st.Dropped, "over_quota_puts": st.OverQuotaPuts,
		"published": ss.Published, "uploaded": ss.Uploaded, "upload_skipped": ss.UploadSkipped, "failures": ss.Failures,
		"evidence_bytes": rep.Bytes, "evidence_packages": rep.Packages, "evidence_pinned": rep.PinnedPackages,
		"evidence_deleted": js.Deleted + js.Expired, "evidence_over_quota": rep.OverQuota, "evidence_max_bytes": o.evidenceMax,
		"outbox_alarm": obAlarm, "outbox_entries": st.Entries})
	return nil
}

// produce writes one evidence package and commits its infraction event.
func produce(ob *outbox.Outbox, w *evidence.Writer, o options, upload bool, i int) (string, error) {
	now := time.Now().UTC()
	inf := &event.Infraction{Type: event.SpeedViolation, CameraID: o.camera, DetectedAt: now,
		DetectedSpeed: 80 + float64(i%20), SpeedLimit: 60, Plate: fmt.Sprintf("F%02d-%03d", i%100, i%1000), PlateReadable: true}
	env, err := event.New(o.device, now, inf)
	if err != nil {
		return "", err
	}
	clip := make([]byte, o.clipBytes)
	_, _ = rand.Read(clip)
	shot := make([]byte, 16<<10)
	_, _ = rand.Read(shot)
	m, hash, err := w.Write(evidence.Infraction{EventID: env.ID, CameraID: o.camera, Type: string(inf.Type), DetectedAt: now,
		Files: []evidence.File{{Name: "clip.mp4", Role: shared.RoleVideoClip, Data: clip},
			{Name: "snapshot.jpg", Role: shared.RoleSnapshot, Data: shot}}})
	if err != nil {
		return "", err
	}
	rel := evidence.PackageRel(m)
	for _, f := range m.Files {
		ef := &event.EvidenceFile{Key: rel + "/" + f.Name, SHA256: f.SHA256, SizeBytes: f.Size, ContentType: f.ContentType}
		switch f.Role {
		case shared.RoleSnapshot:
			inf.Evidence.Snapshot = ef
		case shared.RoleVideoClip:
			inf.Evidence.VideoClip = ef
		}
	}
	inf.Evidence.Manifest = &event.EvidenceFile{Key: rel + "/" + shared.ManifestFile, SHA256: strings.TrimPrefix(hash, "sha256:"),
		ContentType: "application/json"}
	inf.Evidence.ManifestSHA256 = inf.Evidence.Manifest.SHA256
	env, err = event.New(o.device, now, inf)
	if err != nil {
		return "", err
	}
	env.ID = m.EventID // the package is filed under the first id
	b, err := env.Encode()
	if err != nil {
		return "", err
	}
	e := outbox.Entry{EventID: env.ID, Kind: event.KindInfraction, Topic: event.Topic(o.device, event.KindInfraction), Payload: b}
	if upload {
		for _, f := range []*event.EvidenceFile{inf.Evidence.VideoClip, inf.Evidence.Snapshot, inf.Evidence.Manifest} {
			path := filepath.Join(o.dataDir, "evidence", filepath.FromSlash(f.Key))
			size, sum, err := shared.HashFile(path)
			if err != nil {
				return "", err
			}
			e.Evidence = append(e.Evidence, outbox.FileRef{Key: f.Key, SHA256: strings.TrimPrefix(sum, "sha256:"), Size: size, Path: path})
		}
	}
	if _, _, err := ob.Put(e); err != nil {
		return "", err
	}
	return env.ID, nil
}

// putStatus queues a droppable status sample.
func putStatus(ob *outbox.Outbox, device string) error {
	env, err := event.New(device, time.Now(), &event.Status{State: event.StateOnline, AgentVersion: "faultagent"})
	if err != nil {
		return err
	}
	b, err := env.Encode()
	if err != nil {
		return err
	}
	_, _, err = ob.Put(outbox.Entry{EventID: env.ID, Kind: event.KindStatus, Topic: event.Topic(device, event.KindStatus), Payload: b})
	if errors.Is(err, outbox.ErrDropped) {
		return nil
	}
	return err
}

// watchAlarms prints each alarm transition of the outbox and the janitor.
func watchAlarms(ctx context.Context, ob *outbox.Outbox, jan *evquota.Janitor, stdout *out) {
	state := map[string]bool{}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		for src, f := range map[string]func() (bool, string){"outbox": ob.Alarm, "evidence": jan.Alarm} {
			if on, why := f(); on != state[src] {
				state[src] = on
				stdout.emit(map[string]any{"ev": "alarm", "source": src, "on": on, "reason": why})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
