package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// fakeClock is a settable clock for the live feed.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testLiveFeed(t *testing.T, cfg liveFeedConfig) (*liveFeed, *fakeClock) {
	t.Helper()
	if cfg.DeviceID == "" {
		cfg.DeviceID = "EDGE-1"
	}
	if cfg.Cameras == nil {
		cfg.Cameras = []string{"CAM-1", "CAM-2"}
	}
	clk := &fakeClock{t: time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)}
	f := newLiveFeed(cfg, slog.New(slog.DiscardHandler))
	f.now, f.epoch = clk.now, clk.now()
	return f, clk
}

func watchMsg(watcher string, ttl time.Duration) []byte {
	b, _ := json.Marshal(event.LiveWatch{Watcher: watcher, TTLMs: ttl.Milliseconds()})
	return b
}

// admitted drains the feed's queue and returns how many frames it held.
func admitted(f *liveFeed) int {
	n := 0
	for {
		select {
		case <-f.queue:
			n++
		default:
			return n
		}
	}
}

func TestLiveWatchFreshAndExpired(t *testing.T) {
	topic1 := event.LiveWatchTopic("EDGE-1", "CAM-1")
	type step struct {
		advance time.Duration
		topic   string // "" = CAM-1's watch topic
		payload []byte // nil: no message, only Offer
		watched bool   // CAM-1 watched after the step, and a frame offered now is admitted
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"nobody watches", []step{{watched: false}}},
		{"fresh then expired", []step{
			{payload: watchMsg("hub-a", 3*time.Second), watched: true},
			{advance: 2900 * time.Millisecond, watched: true},
			{advance: 200 * time.Millisecond, watched: false},
		}},
		{"refresh extends", []step{
			{payload: watchMsg("hub-a", 3*time.Second), watched: true},
			{advance: 2 * time.Second, payload: watchMsg("hub-a", 3*time.Second), watched: true},
			{advance: 2 * time.Second, watched: true},
			{advance: 1100 * time.Millisecond, watched: false},
		}},
		{"stop ends at once", []step{
			{payload: watchMsg("hub-a", 30*time.Second), watched: true},
			{advance: time.Second, payload: watchMsg("hub-a", 0), watched: false},
		}},
		{"a stop withdraws only its watcher", []step{
			{payload: watchMsg("hub-a", 30*time.Second), watched: true},
			{payload: watchMsg("hub-b", 5*time.Second), watched: true},
			{advance: time.Second, payload: watchMsg("hub-a", 0), watched: true},
			{advance: 4100 * time.Millisecond, watched: false},
		}},
		{"invalid requests are ignored", []step{
			{payload: []byte(`{"watcher":"hub-a","ttl_ms":-5}`), watched: false},
			{payload: []byte(`{"watcher":"hub-a","ttl_ms":600000}`), watched: false},
			{payload: []byte(`not json`), watched: false},
			{topic: event.LiveWatchTopic("EDGE-2", "CAM-1"), payload: watchMsg("hub-a", 30*time.Second), watched: false},
			{topic: event.LiveWatchTopic("EDGE-1", "CAM-9"), payload: watchMsg("hub-a", 30*time.Second), watched: false},
		}},
		{"another camera's watch", []step{
			{topic: event.LiveWatchTopic("EDGE-1", "CAM-2"), payload: watchMsg("hub-a", 30*time.Second), watched: false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, clk := testLiveFeed(t, liveFeedConfig{})
			for i, s := range tc.steps {
				clk.add(s.advance)
				if s.payload != nil {
					tp := s.topic
					if tp == "" {
						tp = topic1
					}
					f.OnWatch(tp, s.payload)
				}
				// At most two offers share an instant: the rate limiter's burst admits both.
				f.Offer("CAM-1", health.FrameMessage{FrameID: int64(i)})
				got := admitted(f)
				if st := f.stats("CAM-1"); st.Watched != s.watched || got != map[bool]int{true: 1}[s.watched] {
					t.Fatalf("step %d: watched %v, %d frame(s) admitted; want watched %v", i, st.Watched, got, s.watched)
				}
			}
		})
	}
}

func TestLiveWatchersBounded(t *testing.T) {
	f, clk := testLiveFeed(t, liveFeedConfig{MaxWatchers: 2})
	topic := event.LiveWatchTopic("EDGE-1", "CAM-1")
	f.OnWatch(topic, watchMsg("hub-a", 10*time.Second))
	f.OnWatch(topic, watchMsg("hub-b", 20*time.Second))
	f.OnWatch(topic, watchMsg("hub-c", 5*time.Second)) // evicts hub-a, the soonest
	c := f.cams["CAM-1"]
	c.mu.Lock()
	_, a := c.watchers["hub-a"]
	n := len(c.watchers)
	c.mu.Unlock()
	if a || n != 2 {
		t.Fatalf("hub-a kept %v, %d watchers; want 2 without hub-a", a, n)
	}
	clk.add(19 * time.Second)
	if !f.stats("CAM-1").Watched {
		t.Fatal("hub-b's watch lost")
	}
}

func TestLiveRateLimit(t *testing.T) {
	tests := []struct {
		name       string
		maxRate    float64
		fps        int
		seconds    int
		minN, maxN int
	}{
		// 10/s plus a burst of two at the start.
		{"30 fps at 10/s", 10, 30, 3, 29, 32},
		{"15 fps at 10/s", 10, 15, 4, 39, 42},
		{"5 fps under 10/s: every frame", 10, 5, 4, 20, 20},
		{"25 fps at 2/s", 2, 25, 5, 10, 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, clk := testLiveFeed(t, liveFeedConfig{MaxRate: tc.maxRate, Queue: 1000})
			f.OnWatch(event.LiveWatchTopic("EDGE-1", "CAM-1"), watchMsg("hub-a", time.Minute))
			step := time.Second / time.Duration(tc.fps)
			for i := 0; i < tc.fps*tc.seconds; i++ {
				f.Offer("CAM-1", health.FrameMessage{FrameID: int64(i)})
				clk.add(step)
			}
			n := admitted(f)
			if n < tc.minN || n > tc.maxN {
				t.Fatalf("%d frames admitted, want %d..%d", n, tc.minN, tc.maxN)
			}
			if d := f.stats("CAM-1").Dropped; int(d) != tc.fps*tc.seconds-n {
				t.Errorf("dropped %d, want %d", d, tc.fps*tc.seconds-n)
			}
		})
	}
}

// blockedPublisher never returns until released: a stuck link.
type blockedPublisher struct {
	release chan struct{}
	calls   chan string
}

func (p *blockedPublisher) PublishQoS0(ctx context.Context, topic string, payload []byte, _ time.Duration) error {
	select {
	case p.calls <- topic:
	default:
	}
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return nil
}

// Offer never blocks the pipeline, even when the link is stuck.
func TestLiveOfferNeverBlocks(t *testing.T) {
	f := newLiveFeed(liveFeedConfig{DeviceID: "EDGE-1", Cameras: []string{"CAM-1"}, MaxRate: 1e6, Queue: 2}, slog.New(slog.DiscardHandler))
	pub := &blockedPublisher{release: make(chan struct{}), calls: make(chan string, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, pub); close(done) }()
	defer func() { cancel(); close(pub.release); <-done }()
	f.OnWatch(event.LiveWatchTopic("EDGE-1", "CAM-1"), watchMsg("hub-a", time.Minute))
	f.Offer("CAM-1", health.FrameMessage{FrameID: 1})
	select {
	case <-pub.calls: // the publisher is now stuck in its first publish
	case <-time.After(5 * time.Second):
		t.Fatal("publisher not called")
	}
	const n = 10000
	start := time.Now()
	for i := 0; i < n; i++ {
		f.Offer("CAM-1", health.FrameMessage{FrameID: int64(i + 2)})
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("%d offers took %v with a stuck link", n, el)
	}
	if st := f.stats("CAM-1"); st.Dropped < n-2 || st.Sent != 0 {
		t.Fatalf("stats %+v: want at least %d dropped, none sent", st, n-2)
	}
	var nilFeed *liveFeed
	nilFeed.Offer("CAM-1", health.FrameMessage{}) // a service without a feed
}

// recordingPublisher keeps what it is asked to publish.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs map[string][][]byte
	err  error
}

func (p *recordingPublisher) PublishQoS0(_ context.Context, topic string, payload []byte, _ time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	if p.msgs == nil {
		p.msgs = map[string][][]byte{}
	}
	p.msgs[topic] = append(p.msgs[topic], payload)
	return nil
}

func (p *recordingPublisher) count(topic string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs[topic])
}

// The published payload is the /ws/stream message (spec 3.2), on the
// camera's live topic, and nothing is published for an unwatched camera.
func TestLiveFeedPublishesSpecShape(t *testing.T) {
	f := newLiveFeed(liveFeedConfig{DeviceID: "EDGE-1", Cameras: []string{"CAM-1", "CAM-2"}, MaxRate: 1000, Queue: 64}, slog.New(slog.DiscardHandler))
	pub := &recordingPublisher{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, pub); close(done) }()
	defer func() { cancel(); <-done }()
	f.OnWatch(event.LiveWatchTopic("EDGE-1", "CAM-1"), watchMsg("hub-a", time.Minute))
	speed, plate := 78.5, 45.3
	ts := time.Date(2026, 11, 1, 16, 30, 0, 123e6, time.UTC)
	f.Offer("CAM-1", health.FrameMessage{FrameID: 12345, Timestamp: ts,
		Detections:  []health.StreamDetection{{Class: "car", BBox: [4]float32{120, 340, 450, 680}, Confidence: 0.92, TrackID: 12345, Speed: &plate}},
		Infractions: []health.StreamInfraction{{Type: "SPEED_VIOLATION", TrackID: 12345, Plate: "ABC-1234", Speed: &speed}}})
	f.Offer("CAM-2", health.FrameMessage{FrameID: 1})
	live1 := event.LiveTopic("EDGE-1", "CAM-1")
	waitUntil(t, 5*time.Second, "the frame published", func() bool { return pub.count(live1) == 1 })
	pub.mu.Lock()
	got := string(pub.msgs[live1][0])
	n2 := len(pub.msgs[event.LiveTopic("EDGE-1", "CAM-2")])
	pub.mu.Unlock()
	want := `{"frame_id":12345,"timestamp":"2026-11-01T16:30:00.123Z","detections":[{"class":"car","bbox":[120,340,450,680],"confidence":0.92,"track_id":12345,"speed":45.3}],"infractions":[{"type":"SPEED_VIOLATION","track_id":12345,"plate":"ABC-1234","speed":78.5}]}`
	if got != want {
		t.Errorf("published\n%s\nwant\n%s", got, want)
	}
	if n2 != 0 {
		t.Errorf("%d frames published for the unwatched CAM-2", n2)
	}

	pub.mu.Lock()
	pub.err = fmt.Errorf("link down")
	pub.mu.Unlock()
	f.Offer("CAM-1", health.FrameMessage{FrameID: 2})
	waitUntil(t, 5*time.Second, "the failure counted", func() bool { return f.stats("CAM-1").Failed == 1 })
}

func BenchmarkLiveOfferUnwatched(b *testing.B) {
	f := newLiveFeed(liveFeedConfig{DeviceID: "EDGE-1", Cameras: []string{"CAM-1"}}, slog.New(slog.DiscardHandler))
	msg := health.FrameMessage{FrameID: 1, Detections: make([]health.StreamDetection, 10)}
	b.ReportAllocs()
	for b.Loop() {
		f.Offer("CAM-1", msg)
	}
}

func BenchmarkLiveOfferWatched(b *testing.B) {
	f := newLiveFeed(liveFeedConfig{DeviceID: "EDGE-1", Cameras: []string{"CAM-1"}, MaxRate: 1e9, Queue: 1}, slog.New(slog.DiscardHandler))
	f.OnWatch(event.LiveWatchTopic("EDGE-1", "CAM-1"), watchMsg("hub-a", time.Minute))
	msg := health.FrameMessage{FrameID: 1, Detections: make([]health.StreamDetection, 10)}
	b.ReportAllocs()
	for b.Loop() {
		f.Offer("CAM-1", msg) // the queue stays full: the drop path
	}
}

// syntheticFrames is a camera runner without video or models: 25 frames a
// second, each with one tracked car, handed to the local stream and the
// live feed as runCamera's OnFrame does.
func syntheticFrames(d services) cameraRunner {
	return func(ctx context.Context, cam config.Camera, _ *liveLimits) error {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		d.reg.UpdateCamera(cam.ID, health.CameraState{State: "streaming", StartedAt: time.Now()})
		speed := 45.3
		for seq := int64(1); ; seq++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			msg := health.FrameMessage{FrameID: seq, Timestamp: time.Now(), Detections: []health.StreamDetection{
				{Class: "car", BBox: [4]float32{120, 340, 450, 680}, Confidence: 0.92, TrackID: 7, Speed: &speed}}}
			d.reg.Publish(cam.ID, msg)
			d.live.Offer(cam.ID, msg)
		}
	}
}

// liveAgent runs serve (the agent's real wiring: uplink, subscriptions,
// live feed) with synthetic cameras until the test ends.
func liveAgent(t *testing.T, broker, device string, cameras ...string) {
	t.Helper()
	cfg := config.Default()
	cfg.DeviceID, cfg.MQTT.URL, cfg.DataDir, cfg.HTTPAddr = device, "mqtt://"+broker, t.TempDir(), testenv.FreeAddr(t)
	for _, c := range cameras {
		cfg.Cameras = append(cfg.Cameras, config.Camera{ID: c, URL: config.Secret("rtsp://192.0.2.1/" + c)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), syntheticFrames) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop")
		}
	})
}

// liveSpy is a plain MQTT client playing the hub's side of the live feed.
type liveSpy struct {
	c        *paho.Client
	frames   atomic.Int64
	detected atomic.Int64 // frames with at least one detection
	last     atomic.Int64 // unix nanos of the last frame
	bad      atomic.Int64
}

func newLiveSpy(t *testing.T, broker, liveTopic string) *liveSpy {
	t.Helper()
	s := &liveSpy{}
	conn, err := net.DialTimeout("tcp", broker, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.c = paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			var f struct {
				FrameID    *int64 `json:"frame_id"`
				Timestamp  string `json:"timestamp"`
				Detections []struct {
					Class string    `json:"class"`
					BBox  []float64 `json:"bbox"`
				} `json:"detections"`
				Infractions []json.RawMessage `json:"infractions"`
			}
			if pr.Packet.QoS != 0 || pr.Packet.Retain || json.Unmarshal(pr.Packet.Payload, &f) != nil || f.FrameID == nil ||
				f.Detections == nil || f.Infractions == nil || !strings.HasSuffix(f.Timestamp, "Z") {
				s.bad.Add(1)
				return true, nil
			}
			for _, d := range f.Detections {
				if d.Class == "" || len(d.BBox) != 4 {
					s.bad.Add(1)
					return true, nil
				}
			}
			if len(f.Detections) > 0 {
				s.detected.Add(1)
			}
			s.frames.Add(1)
			s.last.Store(time.Now().UnixNano())
			return true, nil
		}}})
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := s.c.Connect(ctx, &paho.Connect{ClientID: "spy-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.c.Disconnect(&paho.Disconnect{}) })
	if _, err := s.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: liveTopic, QoS: 0}}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *liveSpy) watch(t *testing.T, topic, watcher string, ttl time.Duration) {
	t.Helper()
	b, _ := json.Marshal(event.LiveWatch{Watcher: watcher, TTLMs: ttl.Milliseconds(), Until: time.Now().Add(ttl)})
	ctx := testenv.Context(t, 5*time.Second)
	if _, err := s.c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: b}); err != nil {
		t.Fatal(err)
	}
}

// TestLiveWatchIntegrationMosquitto runs the agent's wiring (serve) with a
// synthetic 25 fps camera on the real Mosquitto: nothing is published
// until a watch arrives; then frames flow at no more than 10 a second;
// a stop ends them at once, and a watch that is not refreshed (the hub
// went away) ends them by itself within its TTL.
func TestLiveWatchIntegrationMosquitto(t *testing.T) {
	broker := testenv.MosquittoAddr()
	testenv.RequireTCP(t, broker)
	device := "LIV-" + strings.ToUpper(event.NewID()[24:32])
	spy := newLiveSpy(t, broker, event.LiveTopic(device, "CAM-1"))
	liveAgent(t, broker, device, "CAM-1", "CAM-2")
	other := newLiveSpy(t, broker, event.LiveTopic(device, "CAM-2"))
	watchTopic := event.LiveWatchTopic(device, "CAM-1")

	time.Sleep(time.Second)
	if n := spy.frames.Load(); n != 0 {
		t.Fatalf("%d frames published before any watch", n)
	}
	// The agent subscribes once its link is up: repeat the watch until frames come.
	waitUntil(t, 15*time.Second, "frames after a watch", func() bool {
		spy.watch(t, watchTopic, "hub-a", 30*time.Second)
		time.Sleep(200 * time.Millisecond)
		return spy.frames.Load() > 0
	})
	n0, t0 := spy.frames.Load(), time.Now()
	time.Sleep(2 * time.Second)
	n1, el := spy.frames.Load(), time.Since(t0).Seconds()
	rate := float64(n1-n0) / el
	t.Logf("live rate %.1f frames/s from a 25 fps camera (limit 10/s)", rate)
	if rate > 11.5 || rate < 5 {
		t.Errorf("%.1f frames/s, want about 10", rate)
	}
	if b := spy.bad.Load() + other.bad.Load(); b != 0 || spy.detected.Load() != spy.frames.Load() {
		t.Errorf("%d malformed or non-QoS-0 frames; %d of %d with the car", b, spy.detected.Load(), spy.frames.Load())
	}
	if n := other.frames.Load(); n != 0 {
		t.Errorf("%d frames published for the unwatched CAM-2", n)
	}

	spy.watch(t, watchTopic, "hub-a", 0) // stop
	stopped := time.Now()
	time.Sleep(time.Second)
	if last := time.Unix(0, spy.last.Load()); last.After(stopped.Add(500 * time.Millisecond)) {
		t.Errorf("frames until %v after the stop", last.Sub(stopped))
	}

	// A hub that disappears: one watch of 1.5 s and no refresh.
	spy.watch(t, watchTopic, "hub-b", 1500*time.Millisecond)
	sent := time.Now()
	waitUntil(t, 5*time.Second, "frames again", func() bool { return spy.last.Load() > sent.UnixNano() })
	time.Sleep(3 * time.Second)
	last := time.Unix(0, spy.last.Load())
	t.Logf("last frame %v after a 1.5 s watch that was not refreshed", last.Sub(sent).Round(time.Millisecond))
	if d := last.Sub(sent); d > 2200*time.Millisecond || d < 1000*time.Millisecond {
		t.Errorf("last frame %v after a 1.5 s watch, want about 1.5 s", d)
	}
}

// TestLiveAgentHelperProcess is the agent side of camctl's cross-process
// test (hub/internal/camctl TestLiveEndToEndIntegrationMosquitto): the hub
// packages and the agent's cannot import each other, so that test runs this
// one in a child process. It serves until its stdin closes.
func TestLiveAgentHelperProcess(t *testing.T) {
	if os.Getenv("VIGIA_LIVE_AGENT_HELPER") != "1" {
		t.Skip("helper process for hub/internal/camctl's live end-to-end test; runs only with VIGIA_LIVE_AGENT_HELPER=1")
	}
	broker, device, camera := os.Getenv("VIGIA_LIVE_BROKER"), os.Getenv("VIGIA_LIVE_DEVICE"), os.Getenv("VIGIA_LIVE_CAMERA")
	if broker == "" || !event.ValidDeviceID(device) || !event.ValidDeviceID(camera) {
		t.Fatalf("VIGIA_LIVE_BROKER, VIGIA_LIVE_DEVICE and VIGIA_LIVE_CAMERA are required (got %q %q %q)", broker, device, camera)
	}
	liveAgent(t, broker, device, camera)
	fmt.Println("live agent helper: serving")
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Error("helper not told to stop within 2 minutes")
	}
}

// FuzzLiveOnWatch feeds outside bytes (any topic level, any payload) to
// the watch handler: it never panics, and a camera becomes watched only by
// a valid request with a TTL on that camera's own watch topic.
func FuzzLiveOnWatch(f *testing.F) {
	f.Add("CAM-1", []byte(`{"watcher":"hub-a","ttl_ms":30000}`))
	f.Add("CAM-1", []byte(`{"watcher":"hub-a","ttl_ms":0}`))
	f.Add("CAM-9", []byte(`{"watcher":"hub-a","ttl_ms":1000}`))
	f.Add("+", []byte(`{"watcher":"","ttl_ms":1e9}`))
	f.Fuzz(func(t *testing.T, level string, payload []byte) {
		feed := newLiveFeed(liveFeedConfig{DeviceID: "EDGE-1", Cameras: []string{"CAM-1"}}, slog.New(slog.DiscardHandler))
		still := feed.epoch
		feed.now = func() time.Time { return still } // a 1 ms TTL must not expire meanwhile
		topic := event.LiveWatchTopic("EDGE-1", level)
		feed.OnWatch(topic, payload)
		w, err := event.ParseLiveWatch(payload)
		want := level == "CAM-1" && err == nil && w.TTLMs > 0
		if got := feed.stats("CAM-1").Watched; got != want {
			t.Fatalf("topic %q payload %q: watched %v, want %v", topic, payload, got, want)
		}
	})
}

// TestLiveWatchIntegrationRunOnLiveCamera goes through app.Run's own
// pipeline hook: the real detector on a simulated RTSP camera, the real
// Mosquitto. Watched, the camera's analysed frames (with detections of the
// intersection's traffic) are published on its live topic; stopped, they
// are not.
func TestLiveWatchIntegrationRunOnLiveCamera(t *testing.T) {
	broker, ort := requireRunServices(t)
	cam := liveCamera(t, testenv.RequireData(t, "video-intersection-pexels/intersection-320x240.mp4"))
	cfg := runConfig(t, "LRN", broker, ort, config.Camera{ID: "CAM-1", URL: config.Secret(cam.URL()), PlateFormat: "none",
		Calibration: flatCalibration(t)})
	device := cfg.DeviceID
	spy := newLiveSpy(t, broker, event.LiveTopic(device, "CAM-1"))
	agent := startRun(t, cfg)
	watchTopic := event.LiveWatchTopic(device, "CAM-1")
	waitUntil(t, 60*time.Second, "live frames with detections", func() bool {
		agent.alive(t)
		spy.watch(t, watchTopic, "hub-a", 30*time.Second)
		time.Sleep(300 * time.Millisecond)
		return spy.detected.Load() >= 3
	})
	if b := spy.bad.Load(); b != 0 {
		t.Errorf("%d malformed live frames", b)
	}
	t.Logf("%d live frames, %d with detections", spy.frames.Load(), spy.detected.Load())
	spy.watch(t, watchTopic, "hub-a", 0)
	stopped := time.Now()
	time.Sleep(1500 * time.Millisecond)
	if last := time.Unix(0, spy.last.Load()); last.After(stopped.Add(500 * time.Millisecond)) {
		t.Errorf("frames until %v after the stop", last.Sub(stopped))
	}
}
