package app

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/control"
	"github.com/vigia-pe/vigia/agent/internal/evquota"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/agent/internal/uplink"
	"github.com/vigia-pe/vigia/shared/event"
	shared "github.com/vigia-pe/vigia/shared/evidence"
)

// Run is the agent service: one pipeline per configured camera, infractions
// and their evidence committed to the outbox before anything is sent, the
// sender draining it to the broker (and S3), a retained status, and the
// local HTTP endpoints. It returns when ctx ends.
func Run(ctx context.Context, cfg config.Config, getenv func(string) string, log *slog.Logger) error {
	if len(cfg.Cameras) == 0 {
		return errors.New("run: no cameras configured (see deploy/jetson/agent.sample.yaml)")
	}
	rt := infer.NewRuntime(cfg.ORTLibrary, log)
	if err := rt.Start(); err != nil {
		return err
	}
	defer rt.Close()
	return serve(ctx, cfg, log, func(d services) cameraRunner {
		return func(ctx context.Context, cam config.Camera, limits *liveLimits) error {
			return runCamera(ctx, cfg, cam, limits, d.feeds.source(cam.ID), getenv, rt, d.ob, d.sender, d.upload, d.reg,
				d.live, log.With("camera", cam.ID))
		}
	})
}

// services are what serve wires for the camera pipelines.
type services struct {
	ob     *outbox.Outbox
	sender *uplink.Sender
	reg    *health.Registry
	feeds  *signalFeeds
	live   *liveFeed
	upload bool
}

// serve is Run without the inference runtime: the outbox, uplink and its
// subscriptions (commands, signal feeds), HTTP endpoints, status, and one
// pipeline per camera made by runner (tests pass a pipeline without models).
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, runner func(services) cameraRunner) error {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("run: data dir: %w", err)
	}
	ob, err := outbox.Open(filepath.Join(cfg.DataDir, "outbox.db"), outbox.Config{MaxBytes: cfg.OutboxMaxBytes}, log)
	if err != nil {
		return err
	}
	defer ob.Close()
	// The evidence buffer's quota: delivered packages go first, undelivered
	// ones are kept with an alarm.
	jan, err := evquota.New(evquota.Config{DataDir: cfg.DataDir, MaxBytes: cfg.Evidence.MaxBytes,
		MinFreeBytes: uint64(cfg.Evidence.MinFreeBytes), Retention: cfg.Evidence.Retention,
		ScratchDirs: []string{filepath.Join(cfg.DataDir, "debug")}}, ob, log)
	if err != nil {
		return err
	}

	ids := make([]string, len(cfg.Cameras))
	for i, c := range cfg.Cameras {
		ids[i] = c.ID
	}
	reg := health.NewRegistry(ids...)
	reg.AddCheck("outbox", func(context.Context) error {
		st, err := ob.Stats()
		if err != nil {
			return err
		}
		reg.SetOutbox(int64(st.Entries), st.Bytes)
		if on, why := ob.Alarm(); on {
			return errors.New(why)
		}
		return nil
	})
	reg.AddCheck("evidence", func(context.Context) error {
		if on, why := jan.Alarm(); on {
			return errors.New(why)
		}
		return nil
	})
	feeds := newSignalFeeds(cfg, reg, log)
	live := newLiveFeed(liveFeedConfig{DeviceID: cfg.DeviceID, Cameras: ids}, log)
	store, err := control.OpenStore(filepath.Join(cfg.DataDir, "control.db"), 0)
	if err != nil {
		return err
	}
	defer store.Close()
	// Commands and signal messages may arrive as soon as the link is up;
	// they wait until the service is wired (ready closed).
	ready, closing := make(chan struct{}), make(chan struct{})
	var ctl *control.Controller
	onMessage := func(topic string, payload []byte) {
		select {
		case <-ready:
		case <-closing:
			return
		}
		if topic == event.Topic(cfg.DeviceID, event.KindCommand) {
			ctl.OnMessage(topic, payload)
			return
		}
		if live.handles(topic) {
			live.OnWatch(topic, payload)
			return
		}
		feeds.onMQTT(topic, payload)
	}
	subs := []string{event.Topic(cfg.DeviceID, event.KindCommand), event.LiveWatchFilter(cfg.DeviceID)}
	if feeds.hasMQTT() {
		subs = append(subs, event.SignalFilter(cfg.DeviceID))
	}
	ss := &statusSource{ids: ids, reg: reg, ob: ob, jan: jan, feeds: feeds, started: time.Now(), clock: readHostClock, now: time.Now}
	status := ss.status
	reg.SetEvidenceSource(ss.evidence)
	// The link outlives the service's context so that Close can still send
	// the retained "offline" status after SIGTERM.
	linkCtx, linkCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer linkCancel()
	link := uplink.NewRedialer(linkCtx, uplink.Config{BrokerURL: cfg.MQTT.URL, DeviceID: cfg.DeviceID,
		Username: cfg.MQTT.Username, Password: string(cfg.MQTT.Password), Status: status,
		Subscriptions: subs, OnMessage: onMessage, SessionExpiry: commandSessionExpiry}, log)
	defer link.Close(context.Background())
	// Runs before link.Close: a message waiting for ready must not hold the
	// client's receive loop when serve returns early.
	defer close(closing)
	var up uplink.Uploader
	if cfg.S3.Endpoint != "" {
		s3, err := uplink.NewS3Uploader(ctx, uplink.S3Config{Endpoint: cfg.S3.Endpoint, Bucket: cfg.S3.Bucket,
			AccessKey: cfg.S3.AccessKey, SecretKey: string(cfg.S3.SecretKey), Region: cfg.S3.Region, UseTLS: cfg.S3.UseTLS,
			CreateBucket: true}, log)
		if err != nil {
			return err
		}
		up = s3
	}
	sender := uplink.NewSender(uplink.SenderConfig{Secrets: []string{string(cfg.MQTT.Password), string(cfg.S3.SecretKey)}},
		ob, link, up, log)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(cfg.Cameras)+4)
	srv := health.New(health.Config{Addr: cfg.HTTPAddr}, reg, log)
	wg.Add(2)
	go func() { defer wg.Done(); errc <- srv.Run(ctx, cfg.HTTPAddr) }()
	go func() { defer wg.Done(); errc <- sender.Run(ctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); _ = jan.Run(ctx) }() // logs its own errors; returns when ctx ends
	wg.Add(1)
	go func() { defer wg.Done(); live.Run(ctx, link) }() // live frames while the hub watches
	// A periodic status keeps the hub's view fresh (also published on every reconnection).
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				putStatus(ob, sender, cfg.DeviceID, status(), log)
			}
		}
	}()
	cams := newCameraSet(ctx, cfg.Cameras, runner(services{ob: ob, sender: sender, reg: reg, feeds: feeds, live: live, upload: up != nil}),
		reg, errc, &wg, log)
	cams.startAll()
	ctl = control.New(control.Config{DeviceID: cfg.DeviceID, Store: store,
		Secrets: []string{string(cfg.MQTT.Password), string(cfg.S3.SecretKey)},
		Emit: func(env event.Envelope) error {
			if err := putAck(ob, sender, env); err != nil {
				return err
			}
			// The hub's view of the cameras changes with stream commands.
			putStatus(ob, sender, cfg.DeviceID, status(), log)
			return nil
		}}, cams, log)
	srv.Handle("POST /api/signal/{camera_id}", feeds)
	close(ready)
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		if first != nil {
			log.Error("agent stopping", "err", first)
		}
	}
	cancel()
	wg.Wait()
	return first
}

// commandSessionExpiry keeps the broker session through connection drops,
// so that a command sent during a short outage is still delivered (an old
// one is then rejected as expired by its timeout_seconds).
const commandSessionExpiry = 10 * time.Minute

// putAck queues a command acknowledgement; it is never dropped for the quota.
func putAck(ob *outbox.Outbox, sender *uplink.Sender, env event.Envelope) error {
	b, err := env.Encode()
	if err != nil {
		return err
	}
	if _, _, err := ob.Put(outbox.Entry{EventID: env.ID, Kind: event.KindAck, Topic: event.Topic(env.DeviceID, event.KindAck),
		Payload: b, Priority: outbox.PriorityKeep}); err != nil {
		return fmt.Errorf("ack: outbox: %w", err)
	}
	sender.Notify()
	return nil
}

func putStatus(ob *outbox.Outbox, sender *uplink.Sender, device string, st *event.Status, log *slog.Logger) {
	env, err := event.New(device, time.Now(), st)
	if err != nil {
		log.Warn("status not built", "err", err)
		return
	}
	b, err := env.Encode()
	if err != nil {
		return
	}
	if _, _, err := ob.Put(outbox.Entry{EventID: env.ID, Kind: event.KindStatus, Topic: event.Topic(device, event.KindStatus),
		Payload: b}); err != nil && !errors.Is(err, outbox.ErrDropped) {
		log.Warn("status not queued", "err", err)
		return
	}
	sender.Notify()
}

// runCamera runs one camera's pipeline until ctx ends; the RTSP source
// reconnects by itself, so only configuration errors end it early.
func runCamera(ctx context.Context, cfg config.Config, cam config.Camera, limits *liveLimits, signal rules.SignalSource,
	getenv func(string) string, rt *infer.Runtime, ob *outbox.Outbox, sender *uplink.Sender, upload bool, reg *health.Registry,
	live *liveFeed, log *slog.Logger) error {
	url := cam.StreamURL(getenv)
	if url == "" {
		return fmt.Errorf("camera %s: no stream URL (url, or the variable %s)", cam.ID, cam.URLEnv)
	}
	plates := cam.PlateFormat
	switch plates {
	case "":
		plates = "peru"
	case "none":
		plates = ""
	}
	started := time.Now()
	// Written by the analysis goroutine, read by the status and metrics tickers.
	var detections, infractions, frames, latencyUs atomic.Int64
	clk := newCamClock()
	lightRegion := cam.SignalSource() == config.SignalLightRegion
	go sendMetrics(ctx, cfg, cam.ID, ob, sender, &frames, &detections, &infractions, &latencyUs, log)
	onRules, applyLimits := limits.applier(log)
	opt := ReplayOptions{
		SignalSource: signal, OnRules: onRules,
		RTSP: url, Transport: cam.Transport, Calibration: cam.Calibration, Events: os.DevNull, MaxWidth: cam.MaxWidth,
		Evidence: cfg.DataDir, SpeedLimitKmh: cam.SpeedLimitKmh, ToleranceKmh: cam.ToleranceKmh,
		DeviceID: cfg.DeviceID, CameraID: cam.ID, Pipeline: pipeline.DefaultConfig(),
		Detector: DetectorOptions{Model: "yolox-nano", ModelsDir: cfg.ModelsDir, Runtime: rt, Provider: "cpu", Threads: 2,
			Tiles: cam.Tiles, WholeView: true, PlateFormat: plates},
		Status: func(s LiveStatus) {
			synced, offset := clk.offsetMs()
			reg.UpdateCamera(cam.ID, health.CameraState{State: s.Source.State.String(), FPS: s.StreamFPS,
				LatencyMs: s.LastLatencyMs, DetectionsCount: detections.Load(), InfractionsCount: infractions.Load(),
				LastFrameAt: s.Source.LastFrame, StartedAt: started, DecodeErrors: s.Source.DecodeErrors,
				Reconnects: s.Source.Reconnects, EncryptionSuspected: s.Source.State.String() == "undecodable",
				ClockSynced: synced, ClockOffsetMs: offset})
		},
		OnPacket: clk.observe,
		OnModels: func(m map[string]shared.Model) { reg.SetModels(cam.ID, statusModels(m)) },
		OnPhase: func(ph rules.Phase) {
			if lightRegion {
				reg.SetSignal(cam.ID, health.SignalState{Source: config.SignalLightRegion, Phase: ph.String()})
			}
		},
		OnCommitted: func(tm InfractionTiming) {
			// A camera clock ahead of the device's could make it negative.
			reg.ObserveInfractionLatency(cam.ID, max(0, tm.EndToEnd()))
			log.Debug("infraction committed", "event_id", tm.EventID, "type", tm.Type, "latency", tm.EndToEnd(),
				"processing", tm.Processing())
		},
		OnFrame: func(f *frame.Frame, r pipeline.FrameResult) {
			// On the analysis goroutine, between two frames: the rules engine
			// takes a commanded limit change here, for the next decisions.
			applyLimits()
			reg.AddFrames(cam.ID, 1)
			frames.Add(1)
			latencyUs.Add((r.Timings.Gate + r.Timings.Detect + r.Timings.Track + r.Timings.Speed + r.Timings.Plates).Microseconds())
			if r.Processed {
				detections.Add(int64(len(r.Detections)))
				reg.ObserveLatency("inference", r.Timings.Inference)
				reg.ObserveLatency("preprocess", r.Timings.Preprocess)
				reg.ObserveLatency("postprocess", r.Timings.Postprocess)
				reg.ObserveLatency("tracking", r.Timings.Track)
			}
			msg := health.FrameMessage{FrameID: f.Seq, Timestamp: f.Captured}
			for _, a := range r.Active {
				msg.Detections = append(msg.Detections, health.StreamDetection{Class: a.Class,
					BBox: [4]float32{a.Box.X1, a.Box.Y1, a.Box.X2, a.Box.Y2}, Confidence: a.Score, TrackID: a.TrackID, Speed: a.SpeedKmh})
			}
			for _, v := range r.Violations {
				msg.Infractions = append(msg.Infractions, health.StreamInfraction{Type: string(v.Type), TrackID: v.TrackID,
					Plate: v.Track.Plate, Speed: nonZero(v.SpeedKmh)})
			}
			reg.Publish(cam.ID, msg)
			live.Offer(cam.ID, msg) // to the hub over MQTT, only while it watches
		},
		OnInfraction: func(env event.Envelope, inf *event.Infraction) error {
			infractions.Add(1)
			reg.AddInfraction(cam.ID, string(inf.Type))
			b, err := env.Encode()
			if err != nil {
				return err
			}
			e := outbox.Entry{EventID: env.ID, Kind: event.KindInfraction, Topic: event.Topic(env.DeviceID, env.Type), Payload: b}
			if upload {
				for _, f := range []*event.EvidenceFile{inf.Evidence.VideoClip, inf.Evidence.Snapshot, inf.Evidence.PlateCrop, inf.Evidence.Manifest} {
					if f == nil {
						continue
					}
					path := filepath.Join(cfg.DataDir, "evidence", filepath.FromSlash(f.Key))
					// The manifest's reference carries its chain hash; the upload checks the file's bytes.
					size, sum, err := shared.HashFile(path)
					if err != nil {
						return fmt.Errorf("camera %s: evidence %s: %w", cam.ID, f.Key, err)
					}
					e.Evidence = append(e.Evidence, outbox.FileRef{Key: f.Key, SHA256: strings.TrimPrefix(sum, "sha256:"), Size: size, Path: path})
				}
			}
			// Committed (fsynced) before anything is sent: a crash from here on loses nothing.
			if _, _, err := ob.Put(e); err != nil {
				return fmt.Errorf("camera %s: outbox: %w", cam.ID, err)
			}
			sender.Notify()
			return nil
		},
	}
	if r := cam.LightRegion; cam.SignalSource() == config.SignalLightRegion && len(r) == 4 {
		opt.LightRegion = image.Rect(r[0], r[1], r[2], r[3])
	}
	reg.UpdateCamera(cam.ID, health.CameraState{State: "connecting", StartedAt: started})
	_, err := Replay(ctx, opt, log)
	// The pipeline is gone: its models are unloaded, its light unread.
	reg.SetModels(cam.ID, nil)
	if lightRegion {
		reg.SetSignal(cam.ID, health.SignalState{Source: config.SignalLightRegion, Phase: rules.PhaseUnknown.String()})
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sendMetrics queues one inference metrics sample per interval (droppable
// under the outbox quota, unlike infractions).
func sendMetrics(ctx context.Context, cfg config.Config, camera string, ob *outbox.Outbox, sender *uplink.Sender,
	frames, detections, infractions, latencyUs *atomic.Int64, log *slog.Logger) {
	t := time.NewTicker(cfg.MetricsInterval)
	defer t.Stop()
	start := time.Now()
	var f0, d0, i0, l0 int64
	cpu0 := cpuSeconds()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f, d, i, l := frames.Load(), detections.Load(), infractions.Load(), latencyUs.Load()
			cpu := cpuSeconds()
			win := now.Sub(start).Seconds()
			m := &event.Metrics{CameraID: camera, WindowStart: start.UTC(), WindowEnd: now.UTC(),
				FPS: float64(f-f0) / win, DetectionsCount: d - d0, InfractionsCount: i - i0,
				CPUUtilization: 100 * (cpu - cpu0) / win, MemoryMB: procStatusMB("VmRSS")}
			if f > f0 {
				m.LatencyMs = float64(l-l0) / float64(f-f0) / 1000
			}
			start, f0, d0, i0, l0, cpu0 = now, f, d, i, l, cpu
			env, err := event.New(cfg.DeviceID, now, m)
			if err != nil {
				log.Warn("metrics sample not built", "err", err)
				continue
			}
			b, err := env.Encode()
			if err != nil {
				continue
			}
			if _, _, err := ob.Put(outbox.Entry{EventID: env.ID, Kind: event.KindMetrics, Topic: event.Topic(cfg.DeviceID, event.KindMetrics),
				Payload: b}); err != nil && !errors.Is(err, outbox.ErrDropped) {
				log.Warn("metrics sample not queued", "err", err)
				continue
			}
			sender.Notify()
		}
	}
}

// cpuSeconds is the process's user+system CPU time (Linux /proc), 0 elsewhere.
func cpuSeconds() float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: utime and stime are the 12th and 13th.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// procStatusMB reads a memory field of /proc/self/status (VmRSS: resident
// now, VmHWM: peak) in MiB; 0 where /proc is missing.
func procStatusMB(field string) float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			if f := strings.Fields(line); len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func nonZero(v float64) *float64 {
	if v == 0 {
		return nil
	}
	return &v
}
