package camctl

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

// startWatch starts the loop that asks the feed's agent to publish the
// camera's frames (event.LiveWatch on event.LiveWatchTopic) while the feed
// lives; liveMu held. The loop runs apart from any request: the browser
// that opened the feed may leave while others keep watching.
func (s *Service) startWatch(topic string, f *feed) {
	ctx, cancel := context.WithCancel(context.Background())
	f.stopWatch = cancel
	prev := s.watchLoops[topic]
	done := make(chan struct{})
	s.watchLoops[topic] = done
	go func() {
		defer close(done)
		if prev != nil {
			<-prev // its stop goes out first; it is bounded by the publish timeout
		}
		s.watchLoop(ctx, f.agent, f.camera)
		s.liveMu.Lock()
		if s.watchLoops[topic] == done {
			delete(s.watchLoops, topic)
		}
		s.liveMu.Unlock()
	}()
}

// watchLoop sends a watch request at once and every WatchRefresh until ctx
// ends, then a stop. Lost requests only shorten the live view: the agent
// stops publishing when WatchTTL passes without one.
func (s *Service) watchLoop(ctx context.Context, agent, camera string) {
	topic := event.LiveWatchTopic(agent, camera)
	log := s.log.With("agent", agent, "camera", camera)
	tick := time.NewTicker(s.cfg.WatchRefresh)
	defer tick.Stop()
	failed := false
	for {
		if err := s.sendWatch(ctx, topic, s.cfg.WatchTTL); err != nil && ctx.Err() == nil {
			if !failed {
				log.Warn("live: watch request not sent", "err", err)
			}
			failed = true
		} else {
			failed = false
		}
		select {
		case <-ctx.Done():
			// The last watcher left: the agent may stop now rather than at expiry.
			if err := s.sendWatch(context.Background(), topic, 0); err != nil {
				log.Debug("live: stop request not sent; the agent stops at expiry", "err", err)
			}
			return
		case <-tick.C:
		}
	}
}

// sendWatch publishes one watch request (ttl 0: stop) within 5 s.
func (s *Service) sendWatch(ctx context.Context, topic string, ttl time.Duration) error {
	if s.pub == nil {
		return errors.New("camctl: no publisher for watch requests")
	}
	w := event.LiveWatch{Watcher: s.watcher, TTLMs: ttl.Milliseconds()}
	if ttl > 0 {
		w.Until = s.now().Add(ttl).UTC()
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// A request the broker holds for an offline agent is void after the TTL
	// (a stop, after the TTL of the watch it ends).
	if ep, ok := s.pub.(ExpiringPublisher); ok {
		return ep.PublishExpiring(ctx, topic, b, s.cfg.WatchTTL)
	}
	return s.pub.Publish(ctx, topic, b)
}
