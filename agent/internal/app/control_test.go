package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/control"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/agent/internal/rules"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// fakeRunner stands for a camera pipeline (no camera or model needed): it
// reports streaming and runs until stopped, counting its launches.
type fakeRunner struct {
	mu       sync.Mutex
	launches map[string]int
	urls     map[string]string
	svc      services
	limits   map[string]*liveLimits
}

func (f *fakeRunner) factory(d services) cameraRunner {
	f.mu.Lock()
	f.svc = d
	f.mu.Unlock()
	return func(ctx context.Context, cam config.Camera, limits *liveLimits) error {
		f.mu.Lock()
		f.launches[cam.ID]++
		f.urls[cam.ID] = string(cam.URL)
		f.limits[cam.ID] = limits
		f.mu.Unlock()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			d.reg.UpdateCamera(cam.ID, health.CameraState{State: health.StateStreaming, LastFrameAt: time.Now(), FPS: 10})
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}

func (f *fakeRunner) launchCount(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.launches[id]
}

type hubSide struct {
	t      *testing.T
	c      *paho.Client
	device string
	mu     sync.Mutex
	acks   []event.Ack
	status []*event.Status
}

func newHubSide(t *testing.T, addr, device string) *hubSide {
	t.Helper()
	h := &hubSide{t: t, device: device}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h.c = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			_, p, err := event.Parse(pr.Packet.Payload)
			if err != nil {
				t.Errorf("agent sent an invalid message on %s: %v", pr.Packet.Topic, err)
				return true, nil
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			switch p := p.(type) {
			case *event.Ack:
				h.acks = append(h.acks, *p)
			case *event.Status:
				h.status = append(h.status, p)
			}
			return true, nil
		}}})
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := h.c.Connect(ctx, &paho.Connect{ClientID: "hub-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: event.Topic(device, event.KindAck), QoS: 1}, {Topic: event.Topic(device, event.KindStatus), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Disconnect(&paho.Disconnect{}) })
	return h
}

// send publishes a command as the hub does (QoS 1, not retained) and returns its bytes and id.
func (h *hubSide) send(cmd *event.Command) ([]byte, string) {
	h.t.Helper()
	env, err := event.New(h.device, time.Now(), cmd)
	if err != nil {
		// Deliberately invalid commands (unknown action) are built by hand.
		data, _ := json.Marshal(cmd)
		env = event.Envelope{V: 1, Type: event.KindCommand, ID: event.NewID(), DeviceID: h.device, TS: time.Now().UTC(), Data: data}
	}
	b, _ := env.Encode()
	h.publish(event.Topic(h.device, event.KindCommand), b)
	return b, env.ID
}

func (h *hubSide) publish(topic string, b []byte) {
	h.t.Helper()
	if _, err := h.c.Publish(testenv.Context(h.t, 5*time.Second), &paho.Publish{Topic: topic, QoS: 1, Payload: b}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *hubSide) acksFor(id string) []event.Ack {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event.Ack
	for _, a := range h.acks {
		if a.CommandID == id {
			out = append(out, a)
		}
	}
	return out
}

func (h *hubSide) waitAck(id string, n int) []event.Ack {
	h.t.Helper()
	waitUntil(h.t, 10*time.Second, "ack of "+id, func() bool { return len(h.acksFor(id)) >= n })
	return h.acksFor(id)
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cameraStatus(t *testing.T, base, id string) health.CameraStatus {
	t.Helper()
	resp, err := http.Get(base + "/api/inference/cameras/" + id + "/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cs health.CameraStatus
	if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
		t.Fatal(err)
	}
	return cs
}

func reasonOf(a event.Ack) string {
	var r struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(a.Result, &r)
	return r.Reason
}

// TestIntegrationMosquittoControlPlane runs the service's wiring (serve:
// outbox, uplink with its subscriptions, control, HTTP, status) against
// the real Mosquitto with stand-in camera pipelines, and plays the hub:
// commands in, acks and status out, and a controller's signal feed over
// MQTT and HTTP.
func TestIntegrationMosquittoControlPlane(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	device := "CTL-" + strings.ToUpper(event.NewID()[24:32])
	httpAddr := testenv.FreeAddr(t)
	cfg := config.Default()
	cfg.DeviceID, cfg.MQTT.URL, cfg.DataDir, cfg.HTTPAddr = device, "mqtt://"+addr, t.TempDir(), httpAddr
	cfg.Cameras = []config.Camera{
		{ID: "CAM-A", URL: "rtsp://cam-a/1", Signal: config.SignalMQTT, SignalStaleAfter: time.Second, SpeedLimitKmh: 60},
		{ID: "CAM-B", URL: "rtsp://cam-b/1", Signal: config.SignalHTTP, SignalStaleAfter: 30 * time.Second},
	}
	hub := newHubSide(t, addr, device)
	fr := &fakeRunner{launches: map[string]int{}, urls: map[string]string{}, limits: map[string]*liveLimits{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), fr.factory) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	}()
	base := "http://" + httpAddr

	// Until the agent has subscribed, commands are lost (clean session):
	// probe with a harmless command until one is acknowledged.
	waitUntil(t, 15*time.Second, "the agent's command subscription", func() bool {
		_, id := hub.send(&event.Command{Action: event.ActionStreamStop, CameraID: "NOPE"})
		time.Sleep(300 * time.Millisecond)
		return len(hub.acksFor(id)) > 0
	})
	waitUntil(t, 5*time.Second, "both cameras launched", func() bool { return fr.launchCount("CAM-A") == 1 && fr.launchCount("CAM-B") == 1 })

	t.Run("stream.stop", func(t *testing.T) {
		sent := time.Now()
		_, id := hub.send(&event.Command{Action: event.ActionStreamStop, CameraID: "CAM-A", TimeoutSeconds: 10})
		acks := hub.waitAck(id, 1)
		t.Logf("stream.stop: command to ack at the hub in %v (50 ms polling)", time.Since(sent).Round(time.Millisecond))
		if acks[0].Outcome != event.OutcomeDone || acks[0].CameraID != "CAM-A" {
			t.Fatalf("ack %+v, want done for CAM-A", acks[0])
		}
		if cs := cameraStatus(t, base, "CAM-A"); cs.Status != health.StateStopped {
			t.Fatalf("camera status %q after stream.stop, want stopped", cs.Status)
		}
		waitUntil(t, 10*time.Second, "a status event with CAM-A stopped", func() bool {
			hub.mu.Lock()
			defer hub.mu.Unlock()
			for _, st := range hub.status {
				for _, c := range st.Cameras {
					if c.CameraID == "CAM-A" && c.State == health.StateStopped {
						return true
					}
				}
			}
			return false
		})
	})
	t.Run("unknown action", func(t *testing.T) {
		_, id := hub.send(&event.Command{Action: "camera.reboot", CameraID: "CAM-A"})
		a := hub.waitAck(id, 1)[0]
		if a.Outcome != event.OutcomeRejected || reasonOf(a) != control.ReasonUnknownAction || !strings.Contains(a.Message, "camera.reboot") {
			t.Fatalf("ack %+v (%s), want rejected unknown_action naming the action", a, a.Result)
		}
	})
	t.Run("duplicate command runs once", func(t *testing.T) {
		before := fr.launchCount("CAM-A")
		msg, id := hub.send(&event.Command{Action: event.ActionStreamStart, CameraID: "CAM-A", RTSPURL: "rtsp://u:Secr3tPw@cam-a/2"})
		hub.publish(event.Topic(device, event.KindCommand), msg) // the hub's retry, same id
		acks := hub.waitAck(id, 2)
		time.Sleep(300 * time.Millisecond)
		if n := len(hub.acksFor(id)); n != 2 {
			t.Fatalf("%d acks for two deliveries, want 2", n)
		}
		if acks[0].Outcome != event.OutcomeDone || acks[1].Outcome != acks[0].Outcome || acks[1].Message != acks[0].Message {
			t.Fatalf("acks disagree or failed: %+v", acks)
		}
		if got := fr.launchCount("CAM-A") - before; got != 1 {
			t.Fatalf("CAM-A launched %d times for one command delivered twice", got)
		}
		fr.mu.Lock()
		url := fr.urls["CAM-A"]
		fr.mu.Unlock()
		if url != "rtsp://u:Secr3tPw@cam-a/2" {
			t.Fatal("the new URL was not used")
		}
		waitUntil(t, 5*time.Second, "CAM-A streaming again", func() bool { return cameraStatus(t, base, "CAM-A").Status == health.StateStreaming })
	})
	t.Run("config.update", func(t *testing.T) {
		_, id := hub.send(&event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-B",
			Config: json.RawMessage(`{"speed_limit_kmh":35,"tolerance_kmh":2}`)})
		a := hub.waitAck(id, 1)[0]
		if a.Outcome != event.OutcomeDone || string(a.Result) != `{"speed_limit_kmh":35,"tolerance_kmh":2}` {
			t.Fatalf("ack %+v (%s)", a, a.Result)
		}
		cs := cameraStatus(t, base, "CAM-B")
		if cs.Limits == nil || cs.Limits.SpeedLimitKmh != 35 || cs.Limits.ToleranceKmh != 2 {
			t.Fatalf("limits in status %+v, want 35/2", cs.Limits)
		}
		fr.mu.Lock()
		lim := fr.limits["CAM-B"]
		fr.mu.Unlock()
		if l, tol, _ := lim.get(); l != 35 || tol != 2 {
			t.Fatalf("the pipeline's limits are %g/%g", l, tol)
		}
		_, id = hub.send(&event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-B", Config: json.RawMessage(`{"zones":[]}`)})
		if a := hub.waitAck(id, 1)[0]; a.Outcome != event.OutcomeRejected || reasonOf(a) != control.ReasonConfig || !strings.Contains(a.Message, "zones") {
			t.Fatalf("unknown key: ack %+v", a)
		}
	})
	t.Run("signal over MQTT then stale", func(t *testing.T) {
		feed := fr.svc.feeds.feeds["CAM-A"]
		hub.publish(event.SignalTopic(device, "CAM-A"), []byte(`{"phase":"red"}`))
		waitUntil(t, 5*time.Second, "red on CAM-A", func() bool {
			ph, _ := feed.PhaseAt(time.Now())
			return ph == rules.PhaseRed
		})
		if sig := cameraStatus(t, base, "CAM-A").Signal; sig == nil || sig.Phase != "red" || sig.Stale || sig.Source != "mqtt" {
			t.Fatalf("signal in status %+v, want fresh red", sig)
		}
		time.Sleep(1200 * time.Millisecond) // stale_after is 1 s
		if ph, _ := feed.PhaseAt(time.Now()); ph != rules.PhaseUnknown {
			t.Fatalf("phase %v after the feed fell silent, want unknown", ph)
		}
		cs := cameraStatus(t, base, "CAM-A")
		if cs.Signal == nil || !cs.Signal.Stale || cs.Signal.Phase != "unknown" || cs.Health != health.HealthDegraded {
			t.Fatalf("status %+v / %+v, want a stale signal and degraded health", cs, cs.Signal)
		}
	})
	t.Run("signal over HTTP", func(t *testing.T) {
		post := func(cam, body string) int {
			resp, err := http.Post(base+"/api/signal/"+cam, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if code := post("CAM-B", `{"phase":"green","camera_id":"CAM-B"}`); code != http.StatusOK {
			t.Fatalf("POST green: %d", code)
		}
		if ph, _ := fr.svc.feeds.source("CAM-B").PhaseAt(time.Now()); ph != rules.PhaseGreen {
			t.Fatalf("phase %v after POST green", ph)
		}
		for _, tc := range []struct {
			cam, body string
			want      int
		}{
			{"CAM-A", `{"phase":"red"}`, http.StatusNotFound}, // CAM-A's feed is MQTT
			{"CAM-B", `{"phase":"blue"}`, http.StatusBadRequest},
			{"CAM-B", `{"phase":"red","camera_id":"CAM-A"}`, http.StatusBadRequest},
			{"CAM-B", strings.Repeat(" ", event.MaxSignalBytes+1), http.StatusRequestEntityTooLarge},
		} {
			if code := post(tc.cam, tc.body); code != tc.want {
				t.Errorf("POST %s %.30q: %d, want %d", tc.cam, tc.body, code, tc.want)
			}
		}
		if ph, _ := fr.svc.feeds.source("CAM-B").PhaseAt(time.Now()); ph != rules.PhaseGreen {
			t.Fatalf("a refused message changed the phase to %v", ph)
		}
	})
	// The command store is a file in the data directory.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, "control.db")); err != nil {
		t.Fatal(err)
	}
}

// TestLiveLimitsReachTheEngine: a commanded change is applied to the rules
// engine by the analysis goroutine's next apply, once.
func TestLiveLimitsReachTheEngine(t *testing.T) {
	cal := rulesTestCalibration()
	e, err := rules.New(cal, rules.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lim := newLiveLimits(config.Camera{SpeedLimitKmh: 60})
	onRules, apply := lim.applier(slog.New(slog.DiscardHandler))
	onRules(e)
	apply()
	if l, tol := e.Limits(); l != 60 || tol != 5 {
		t.Fatalf("initial limits %g/%g, want 60/5", l, tol)
	}
	v40, v2 := 40.0, 2.0
	in := lim.set(control.Settings{SpeedLimitKmh: &v40})
	if *in.SpeedLimitKmh != 40 || *in.ToleranceKmh != 5 {
		t.Fatalf("settings in force %v/%v", *in.SpeedLimitKmh, *in.ToleranceKmh)
	}
	lim.set(control.Settings{ToleranceKmh: &v2})
	if l, _ := e.Limits(); l != 60 {
		t.Fatal("the engine changed before the analysis goroutine applied it")
	}
	apply()
	if l, tol := e.Limits(); l != 40 || tol != 2 {
		t.Fatalf("limits %g/%g after apply, want 40/2", l, tol)
	}
}

func rulesTestCalibration() *calibration.Calibration {
	return &calibration.Calibration{Lines: []calibration.Line{
		{Name: "stop", Kind: calibration.LineStop, Ground: []calibration.Point{{X: 0, Y: -5}, {X: 0, Y: 5}}},
	}}
}
