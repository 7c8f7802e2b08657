package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/health"
	"github.com/vigia-pe/vigia/shared/event"
)

// livePublisher sends an ephemeral message at QoS 0 (uplink.Redialer).
type livePublisher interface {
	PublishQoS0(ctx context.Context, topic string, payload []byte, expiry time.Duration) error
}

// liveFeedConfig tunes the live feed; zero values take the defaults.
type liveFeedConfig struct {
	DeviceID string
	Cameras  []string
	// MaxRate bounds the frames published per camera per second (default
	// 10): a browser overlay needs no more, and edge links are metered.
	MaxRate float64
	// Queue is how many frames may wait for the publisher (default 8);
	// when it is full, frames are dropped.
	Queue int
	// MaxWatchers bounds the watchers remembered per camera (default 8).
	MaxWatchers int
	// Expiry is the MQTT message expiry of a published frame (default 2 s).
	Expiry time.Duration
}

func (c *liveFeedConfig) defaults() {
	if c.MaxRate <= 0 {
		c.MaxRate = 10
	}
	if c.Queue <= 0 {
		c.Queue = 8
	}
	if c.MaxWatchers <= 0 {
		c.MaxWatchers = 8
	}
	if c.Expiry <= 0 {
		c.Expiry = 2 * time.Second
	}
}

// liveFeed publishes each camera's per-frame results (the /ws/stream
// FrameMessage) on event.LiveTopic while the hub watches that camera, as
// asked by event.LiveWatch messages on event.LiveWatchTopic; see
// docs/agent-control.md. A watch lasts its TTL from receipt, so frames stop
// by themselves when the hub goes away. Offer, on the analysis goroutine,
// never blocks: it admits at most MaxRate frames per second per camera
// (GCRA, bursts of two) into a small queue, and a publisher goroutine
// encodes and sends them; anything more is dropped.
type liveFeed struct {
	cfg   liveFeedConfig
	log   *slog.Logger
	now   func() time.Time
	epoch time.Time
	gap   time.Duration // 1 / MaxRate
	cams  map[string]*liveCam
	queue chan liveItem
}

// liveCam is one camera's watch state. The map of cameras is fixed at
// construction, so Offer reads it without a lock.
type liveCam struct {
	id    string
	topic string
	// until is when the freshest watch expires, as time since epoch
	// (monotonic): Offer's lock-free test.
	until atomic.Int64

	mu       sync.Mutex
	watchers map[string]time.Duration // watcher → expiry since epoch
	tat      time.Duration            // GCRA theoretical arrival time

	sent, dropped, failed atomic.Int64
}

type liveItem struct {
	cam *liveCam
	msg health.FrameMessage
}

func newLiveFeed(cfg liveFeedConfig, log *slog.Logger) *liveFeed {
	cfg.defaults()
	f := &liveFeed{cfg: cfg, log: log.With("component", "livefeed"), now: time.Now, gap: time.Duration(float64(time.Second) / cfg.MaxRate),
		cams: map[string]*liveCam{}, queue: make(chan liveItem, cfg.Queue)}
	f.epoch = f.now()
	for _, id := range cfg.Cameras {
		f.cams[id] = &liveCam{id: id, topic: event.LiveTopic(cfg.DeviceID, id), watchers: map[string]time.Duration{}}
	}
	return f
}

// clock is the time since epoch; with time.Now it is monotonic, so a
// wall-clock step neither extends nor cuts a watch.
func (f *liveFeed) clock() time.Duration { return f.now().Sub(f.epoch) }

// handles reports whether topic is one of this device's watch topics.
func (f *liveFeed) handles(topic string) bool {
	_, err := event.ParseLiveWatchTopic(f.cfg.DeviceID, topic)
	return err == nil
}

// OnWatch applies a watch request received on topic. Invalid requests and
// unknown cameras are ignored (logged at debug: the topic is open to any
// client the broker lets publish there).
func (f *liveFeed) OnWatch(topic string, payload []byte) {
	id, err := event.ParseLiveWatchTopic(f.cfg.DeviceID, topic)
	if err != nil {
		return
	}
	c := f.cams[id]
	if c == nil {
		f.log.Debug("live watch for an unknown camera", "camera", id)
		return
	}
	w, err := event.ParseLiveWatch(payload)
	if err != nil {
		f.log.Debug("live watch refused", "camera", id, "err", err)
		return
	}
	now := f.clock()
	c.mu.Lock()
	if w.TTLMs == 0 {
		delete(c.watchers, w.Watcher)
	} else {
		if _, ok := c.watchers[w.Watcher]; !ok && len(c.watchers) >= f.cfg.MaxWatchers {
			c.evictSoonest()
		}
		c.watchers[w.Watcher] = now + w.TTL()
	}
	var until time.Duration
	for k, exp := range c.watchers {
		if exp <= now {
			delete(c.watchers, k)
			continue
		}
		until = max(until, exp)
	}
	was := time.Duration(c.until.Swap(int64(until))) > now
	watchers := len(c.watchers)
	c.mu.Unlock()
	switch is := until > now; {
	case is && !was:
		f.log.Info("live: publishing frames", "camera", id, "watchers", watchers, "ttl", w.TTL())
	case !is && was:
		f.log.Info("live: stopped", "camera", id, "sent", c.sent.Load(), "dropped", c.dropped.Load())
	}
}

// evictSoonest forgets the watcher whose request expires first; c.mu held.
func (c *liveCam) evictSoonest() {
	var victim string
	var first time.Duration
	for k, exp := range c.watchers {
		if victim == "" || exp < first {
			victim, first = k, exp
		}
	}
	delete(c.watchers, victim)
}

// Offer hands one frame's results to the feed. It never blocks: without a
// fresh watch it returns at once; over the rate or with a full queue the
// frame is dropped. Safe on a nil feed.
func (f *liveFeed) Offer(camera string, msg health.FrameMessage) {
	if f == nil {
		return
	}
	c := f.cams[camera]
	if c == nil {
		return
	}
	now := f.clock()
	if now >= time.Duration(c.until.Load()) {
		return // nobody watches: the common case
	}
	c.mu.Lock()
	if now < c.tat-f.gap { // over the rate (a tolerance of one gap: bursts of two)
		c.mu.Unlock()
		c.dropped.Add(1)
		return
	}
	c.tat = max(c.tat, now) + f.gap
	c.mu.Unlock()
	select {
	case f.queue <- liveItem{cam: c, msg: msg}:
	default:
		c.dropped.Add(1)
	}
}

// Run publishes admitted frames through pub until ctx ends.
func (f *liveFeed) Run(ctx context.Context, pub livePublisher) {
	for {
		var it liveItem
		select {
		case <-ctx.Done():
			return
		case it = <-f.queue:
		}
		c := it.cam
		if f.clock() >= time.Duration(c.until.Load()) {
			c.dropped.Add(1) // stopped while queued
			continue
		}
		b, err := json.Marshal(it.msg)
		if err != nil { // only NaN/Inf values
			c.failed.Add(1)
			continue
		}
		if err := pub.PublishQoS0(ctx, c.topic, b, f.cfg.Expiry); err != nil {
			// Offline or broken link: frames are ephemeral, the next one may pass.
			if c.failed.Add(1)%100 == 1 {
				f.log.Debug("live frame not published", "camera", c.id, "err", err)
			}
			continue
		}
		c.sent.Add(1)
	}
}

// liveStats is one camera's live-feed counters.
type liveStats struct {
	Watched               bool
	Sent, Dropped, Failed int64
}

func (f *liveFeed) stats(camera string) liveStats {
	c := f.cams[camera]
	if c == nil {
		return liveStats{}
	}
	return liveStats{Watched: f.clock() < time.Duration(c.until.Load()), Sent: c.sent.Load(), Dropped: c.dropped.Load(), Failed: c.failed.Load()}
}
