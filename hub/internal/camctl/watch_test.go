package camctl

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// rawMsg is one message seen by a spy, with its MQTT 5 expiry.
type rawMsg struct {
	at      time.Time
	payload []byte
	expiry  *uint32
}

// mqttSpy records what arrives on one topic filter.
type mqttSpy struct {
	mu   sync.Mutex
	msgs []rawMsg
}

func newMQTTSpy(t *testing.T, broker, filter string) *mqttSpy {
	t.Helper()
	s := &mqttSpy{}
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(broker, "mqtt://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			m := rawMsg{at: time.Now(), payload: pr.Packet.Payload}
			if pr.Packet.Properties != nil {
				m.expiry = pr.Packet.Properties.MessageExpiry
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			return true, nil
		}}})
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "camctl-spy-" + suffix(), CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *mqttSpy) all() []rawMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rawMsg(nil), s.msgs...)
}

func (s *mqttSpy) watches(t *testing.T) []event.LiveWatch {
	t.Helper()
	var ws []event.LiveWatch
	for _, m := range s.all() {
		w, err := event.ParseLiveWatch(m.payload)
		if err != nil {
			t.Fatalf("the hub sent an invalid watch request %q: %v", m.payload, err)
		}
		ws = append(ws, w)
	}
	return ws
}

func liveServer(t *testing.T, svc *Service, cam string) (wsURL, origin string) {
	t.Helper()
	srv := httptest.NewServer(router(svc))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/inference/cameras/" + cam + "/live", srv.URL
}

func dialLive(t *testing.T, ctx context.Context, wsURL, origin string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, http.Header{"Origin": {origin}})
	if err != nil {
		t.Fatalf("dial: %v (%v)", err, resp)
	}
	return c
}

// TestLiveWatchRequestsIntegrationMosquitto: while browsers watch a camera
// the hub repeats one watch request (not one per browser) to the camera's
// agent, with its TTL as MQTT message expiry; the last browser out sends
// a stop, and a browser arriving right after gets a watch that follows
// that stop.
func TestLiveWatchRequestsIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	store := openStore(t)
	ctx := testenv.Context(t, 60*time.Second)
	sfx := suffix()
	agent, cam := "AGT-"+sfx, "CAM-"+sfx
	addDevice(t, store, agent, cam)
	recordStatus(t, store, agent, time.Now(), event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{{CameraID: cam, State: "streaming"}}})
	spy := newMQTTSpy(t, broker, event.LiveWatchTopic(agent, cam))
	hub := dialHub(t, ctx, broker)
	svc := New(Config{WatchRefresh: 500 * time.Millisecond, WatchTTL: 2 * time.Second}, store, hub, hub, quiet)
	defer svc.Close()
	wsURL, origin := liveServer(t, svc, cam)

	a, b := dialLive(t, ctx, wsURL, origin), dialLive(t, ctx, wsURL, origin)
	time.Sleep(1600 * time.Millisecond)
	ws := spy.watches(t)
	// One loop for both browsers: a watch at once, then one per 500 ms.
	if len(ws) < 2 || len(ws) > 5 {
		t.Fatalf("%d watch requests in 1.6 s for two browsers, want 2..5 (one loop, 500 ms refresh)", len(ws))
	}
	for i, w := range ws {
		if w.Watcher != svc.watcher || w.TTL() != 2*time.Second || w.Until.IsZero() {
			t.Errorf("request %d: %+v", i, w)
		}
	}
	if m := spy.all()[0]; m.expiry == nil || *m.expiry != 2 {
		t.Errorf("message expiry %v, want 2 s", m.expiry)
	}
	a.Close()
	time.Sleep(700 * time.Millisecond)
	if last := spy.watches(t); last[len(last)-1].TTLMs == 0 {
		t.Fatal("stop sent while a browser still watches")
	}
	b.Close()
	waitUntil := func(what string, ok func([]event.LiveWatch) bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !ok(spy.watches(t)) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, spy.watches(t))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("the stop", func(ws []event.LiveWatch) bool { return ws[len(ws)-1].TTLMs == 0 })
	n := len(spy.watches(t))
	time.Sleep(1200 * time.Millisecond)
	if got := len(spy.watches(t)); got != n {
		t.Fatalf("%d watch requests after the stop", got-n)
	}

	// Leave and come back at once: the new watch must follow the old stop.
	c := dialLive(t, ctx, wsURL, origin)
	c.Close()
	c = dialLive(t, ctx, wsURL, origin)
	defer c.Close()
	time.Sleep(1200 * time.Millisecond)
	if ws := spy.watches(t); ws[len(ws)-1].TTLMs == 0 {
		t.Fatalf("a browser watches but the last request is a stop: %+v", ws[n:])
	}
}

// appTestBinary builds agent/internal/app's test binary (a cached build
// takes seconds) into a directory removed after the test.
func appTestBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "app.test")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./agent/internal/app")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent/internal/app tests: %v\n%s", err, out)
	}
	return bin
}

// TestLiveEndToEndIntegrationMosquitto goes browser → hub → agent and
// back over the real Mosquitto. The agent is the real agent wiring
// (agent/internal/app serve: uplink, subscriptions, live feed) with a
// synthetic 25 fps camera, in a child process (TestLiveAgentHelperProcess:
// the hub's packages may not import the agent's). Nothing is published
// until a browser opens the camera's live WebSocket; then its frames reach
// the browser; once the browser leaves the agent stops publishing (at once
// on the hub's stop, at the latest when the watch expires).
func TestLiveEndToEndIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	store := openStore(t)
	bin := appTestBinary(t)
	ctx := testenv.Context(t, 90*time.Second)
	sfx := suffix()
	agent, cam := "EDGE-"+sfx, "CAM-"+sfx
	addDevice(t, store, agent, cam)
	recordStatus(t, store, agent, time.Now(), event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{{CameraID: cam, State: "streaming"}}})
	frames := newMQTTSpy(t, broker, event.LiveTopic(agent, cam))

	child := exec.Command(bin, "-test.run", "^TestLiveAgentHelperProcess$", "-test.v")
	child.Env = append(os.Environ(), "VIGIA_LIVE_AGENT_HELPER=1", "VIGIA_LIVE_BROKER="+strings.TrimPrefix(broker, "mqtt://"),
		"VIGIA_LIVE_DEVICE="+agent, "VIGIA_LIVE_CAMERA="+cam)
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = child.Stdout
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	var outMu sync.Mutex
	serving := make(chan struct{})
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			outMu.Lock()
			out.WriteString(sc.Text() + "\n")
			outMu.Unlock()
			if strings.Contains(sc.Text(), "live agent helper: serving") {
				once.Do(func() { close(serving) })
			}
		}
	}()
	var exited atomic.Bool
	defer func() {
		if !exited.Load() {
			_ = stdin.Close()
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	}()
	select {
	case <-serving:
	case <-copied:
		outMu.Lock()
		t.Fatalf("agent helper ended early:\n%s", out.String())
	case <-time.After(30 * time.Second):
		t.Fatal("agent helper not serving within 30 s")
	}

	hub := dialHub(t, ctx, broker)
	const ttl = 3 * time.Second
	svc := New(Config{WatchRefresh: time.Second, WatchTTL: ttl}, store, hub, hub, quiet)
	defer svc.Close()
	wsURL, origin := liveServer(t, svc, cam)

	time.Sleep(time.Second)
	if n := len(frames.all()); n != 0 {
		t.Fatalf("the agent published %d frames before anyone watched", n)
	}
	// The agent subscribes once its link is up; the hub's refresh reaches it then.
	opened := time.Now()
	ws := dialLive(t, ctx, wsURL, origin)
	var first time.Duration
	var ids []int64
	for len(ids) < 10 {
		_ = ws.SetReadDeadline(time.Now().Add(15 * time.Second))
		typ, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("browser read after %d frames: %v", len(ids), err)
		}
		if first == 0 {
			first = time.Since(opened)
		}
		var f struct {
			FrameID    int64  `json:"frame_id"`
			Timestamp  string `json:"timestamp"`
			Detections []struct {
				Class   string   `json:"class"`
				BBox    []int    `json:"bbox"`
				TrackID int64    `json:"track_id"`
				Speed   *float64 `json:"speed"`
			} `json:"detections"`
			Infractions []json.RawMessage `json:"infractions"`
		}
		if typ != websocket.TextMessage || json.Unmarshal(msg, &f) != nil || len(f.Detections) != 1 || f.Detections[0].Class != "car" ||
			f.Detections[0].TrackID != 7 || len(f.Detections[0].BBox) != 4 || f.Infractions == nil {
			t.Fatalf("browser got %d %s", typ, msg)
		}
		if n := len(ids); n > 0 && f.FrameID <= ids[n-1] {
			t.Fatalf("frames out of order: %v then %d", ids, f.FrameID)
		}
		ids = append(ids, f.FrameID)
	}
	t.Logf("first live frame %v after the browser connected; frame ids %v", first.Round(time.Millisecond), ids)
	// 25 fps at the camera, at most 10/s on the link: frames are skipped.
	if span := ids[len(ids)-1] - ids[0]; span < int64(len(ids)) {
		t.Errorf("frame ids %v: want frames skipped by the agent's rate limit", ids)
	}

	ws.Close()
	left := time.Now()
	time.Sleep(ttl + time.Second)
	all := frames.all()
	last := all[len(all)-1].at
	t.Logf("%d frames on MQTT; last %v after the browser left (stop request; watch TTL %v)", len(all), last.Sub(left).Round(time.Millisecond), ttl)
	if last.Sub(left) > ttl {
		t.Errorf("the agent published %v after the browser left, beyond the %v TTL", last.Sub(left), ttl)
	}
	for _, m := range all {
		if m.expiry == nil || *m.expiry == 0 || *m.expiry > 2 {
			t.Errorf("live frame with message expiry %v, want 1..2 s", m.expiry)
			break
		}
	}

	_ = stdin.Close()
	werr := make(chan error, 1)
	go func() { werr <- child.Wait() }()
	select {
	case err := <-werr:
		exited.Store(true)
		<-copied
		outMu.Lock()
		defer outMu.Unlock()
		if err != nil || !strings.Contains(out.String(), "PASS") {
			t.Errorf("agent helper: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("agent helper did not stop")
	}
}
