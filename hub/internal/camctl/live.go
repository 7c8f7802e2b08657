package camctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/vigia-pe/vigia/shared/event"
)

// WebSocket timings.
const (
	writeWait  = 10 * time.Second
	pingPeriod = 30 * time.Second
	pongWait   = pingPeriod + 15*time.Second
)

// feed is one live topic and its watchers.
type feed struct {
	agent, camera string
	cancel        func() // unsubscribes
	stopWatch     func() // ends the watch loop, which then sends the stop
	clients       map[*liveClient]struct{}
}

// liveClient is one browser connection with its bounded queue.
type liveClient struct {
	queue   chan []byte
	dropped int64 // guarded by Service.liveMu
}

// ValidFrame reports whether an MQTT live payload may be relayed: at most
// event.MaxPayloadBytes, a JSON object with a numeric frame_id.
func ValidFrame(b []byte) bool {
	if len(b) > event.MaxPayloadBytes {
		return false
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	var f struct {
		FrameID *int64 `json:"frame_id"`
	}
	return json.Unmarshal(t, &f) == nil && f.FrameID != nil
}

func (s *Service) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: the API's authentication still applies
	}
	for _, o := range s.cfg.AllowedOrigins {
		if strings.EqualFold(strings.TrimRight(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// Live serves GET /api/inference/cameras/:id/live: a WebSocket that relays
// the camera's live detections (one JSON text message per frame, the
// agent's FrameMessage) from traffic/v1/<agent>/live/<camera>.
func (s *Service) Live(c *gin.Context) {
	id := c.Param("id")
	if !event.ValidDeviceID(id) {
		fail(c, http.StatusBadRequest, "invalid_device_id", "invalid_device_id")
		return
	}
	if s.sub == nil || s.isClosed() {
		fail(c, http.StatusServiceUnavailable, "live_unavailable", "live_unavailable")
		return
	}
	if !websocket.IsWebSocketUpgrade(c.Request) {
		fail(c, http.StatusBadRequest, "websocket_required", "websocket_required")
		return
	}
	if !s.checkOrigin(c.Request) {
		fail(c, http.StatusForbidden, "origin_not_allowed", "origin_not_allowed")
		return
	}
	agent, _, _, exists, err := s.agentOf(c.Request.Context(), id)
	if err != nil {
		s.log.Error("live: resolve agent", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	if !exists {
		fail(c, http.StatusNotFound, "device_not_found", "device_not_found")
		return
	}
	topic := LiveTopic(agent, id)
	cl := &liveClient{queue: make(chan []byte, s.cfg.LiveQueue)}
	if !s.join(agent, id, cl) {
		fail(c, http.StatusServiceUnavailable, "too_many_watchers", "too_many_watchers")
		return
	}
	defer s.leave(topic, cl)
	if err := s.ensureFeed(c.Request.Context(), topic); err != nil {
		s.log.Error("live: subscribe", "topic", topic, "err", err)
		fail(c, http.StatusServiceUnavailable, "broker_unavailable", "broker_unavailable")
		return
	}
	up := websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 16 << 10, CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(c.Writer, c.Request, nil) // writes its own error response
	if err != nil {
		s.log.Debug("live: upgrade failed", "camera", id, "err", err)
		return
	}
	s.log.Info("live: watching", "camera", id, "agent", agent, "user", c.GetString("vigia.username"))
	s.pump(c.Request.Context(), conn, cl)
}

// join registers a client on the camera's live topic, creating the feed
// entry if needed.
func (s *Service) join(agent, camera string, cl *liveClient) bool {
	topic := LiveTopic(agent, camera)
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if s.liveCount >= s.cfg.MaxLiveClients {
		return false
	}
	f := s.feeds[topic]
	if f == nil {
		f = &feed{agent: agent, camera: camera, clients: map[*liveClient]struct{}{}}
		s.feeds[topic] = f
	}
	f.clients[cl] = struct{}{}
	s.liveCount++
	return true
}

// ensureFeed subscribes to topic unless already subscribed. The broker
// round trip happens outside liveMu: the subscriber's delivery goroutine
// takes liveMu in fanOut.
func (s *Service) ensureFeed(ctx context.Context, topic string) error {
	s.liveMu.Lock()
	f := s.feeds[topic]
	need := f != nil && f.cancel == nil
	if need {
		f.cancel = func() {} // claimed: concurrent joiners do not subscribe again
	}
	s.liveMu.Unlock()
	if !need {
		return nil
	}
	cancel, err := s.sub.Subscribe(ctx, topic, func(b []byte) { s.fanOut(topic, b) })
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	if err != nil {
		if s.feeds[topic] == f {
			f.cancel = nil
		}
		return err
	}
	if s.feeds[topic] != f { // every watcher left meanwhile
		go cancel()
		return nil
	}
	f.cancel = cancel
	s.startWatch(topic, f)
	return nil
}

// leave unregisters a client; the last one out unsubscribes.
func (s *Service) leave(topic string, cl *liveClient) {
	s.liveMu.Lock()
	f := s.feeds[topic]
	var cancel func()
	if f != nil {
		if _, ok := f.clients[cl]; ok {
			delete(f.clients, cl)
			s.liveCount--
		}
		if len(f.clients) == 0 {
			delete(s.feeds, topic)
			cancel = f.cancel
			if f.stopWatch != nil {
				f.stopWatch()
			}
		}
	}
	if cl.dropped > 0 {
		s.log.Debug("live: frames dropped for a slow client", "topic", topic, "dropped", cl.dropped)
	}
	s.liveMu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// fanOut hands a frame to every watcher without blocking: a full queue
// drops the frame for that watcher only.
func (s *Service) fanOut(topic string, b []byte) {
	if !ValidFrame(b) {
		return
	}
	msg := bytes.Clone(b)
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	f := s.feeds[topic]
	if f == nil {
		return
	}
	for cl := range f.clients {
		select {
		case cl.queue <- msg:
		default:
			cl.dropped++
		}
	}
}

// pump writes queued frames and pings until the browser goes away.
func (s *Service) pump(ctx context.Context, conn *websocket.Conn, cl *liveClient) {
	defer conn.Close()
	done := make(chan struct{})
	conn.SetReadLimit(4 << 10)
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	go func() { // reads only to see pongs and the close
		defer close(done)
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-s.closed:
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), time.Now().Add(time.Second))
			return
		case <-done:
			return
		case msg := <-cl.queue:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				return
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		}
	}
}

func (s *Service) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}
