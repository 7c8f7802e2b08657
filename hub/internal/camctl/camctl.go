// Package camctl is camera control through the hub: it forwards
// stream.start/stream.stop commands to the agents over MQTT and reports
// the agent's acknowledgement, serves a camera's status and recent events,
// and relays its live detections to browsers over WebSocket.
//
// Commands. A command is an event.Command envelope (its id is the command
// id) published with QoS 1 on traffic/v1/<agent>/command. The hub then
// waits for the agent's event.Ack. Acks reach the database through the
// normal ingestion path (command_acks), and this package polls AcksOf: with
// replicas sharing the subscription ($share groups), the replica that sent
// a command is not necessarily the one that receives its ack, so the
// database is the one place every replica sees it; the poll is one indexed
// lookup every PollInterval while a request waits, which is cheap next to
// a human pressing a button. Only acks from the agent the command was sent
// to count.
//
// Agents and cameras. The devices table holds both the cameras and the
// agents that run them (an agent's status lists its cameras). A camera's
// agent is the device whose latest status lists it, else the device named
// by the camera's metadata->>'agent_id', else the camera itself (a
// single-camera agent whose device id is the camera id).
//
// Live detections. The agent serves WS /ws/stream/{camera} on its own
// network; for browsers that only reach the hub, the agent publishes each
// frame's results too (agent/internal/health FrameMessage JSON, not
// wrapped in an envelope: it is ephemeral, never stored) with QoS 0, not
// retained, on
//
//	traffic/v1/<agent>/live/<camera>
//
// (event.LiveTopic), but only while the hub asks for them with
// event.LiveWatch requests on
//
//	traffic/v1/<agent>/live/<camera>/watch
//
// (event.LiveWatchTopic): edge links are metered, so frames are never
// streamed all the time. While at least one browser watches a camera the
// hub subscribes to its live topic and one loop per camera (watch.go)
// sends a watch request at once and every WatchRefresh, valid WatchTTL
// from its receipt and carrying that TTL as MQTT 5 message expiry, and a
// stop (ttl_ms 0) when the last browser leaves; the agent stops by itself
// when a TTL passes without a request (hub gone). Frames are fanned out to
// the browsers, dropping frames for a client that does not keep up. The
// extra topic levels keep these messages out of the ingestion filters
// (traffic/v1/+/<kind>). See docs/agent-control.md.
package camctl

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// Publisher sends a message to the broker (QoS 1).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// ExpiringPublisher sends a message (QoS 1) that the broker discards,
// undelivered, once expiry has passed. The live watch requests use it when
// the Publisher provides it.
type ExpiringPublisher interface {
	PublishExpiring(ctx context.Context, topic string, payload []byte, expiry time.Duration) error
}

// Subscriber delivers the messages of one exact topic to fn until cancel.
type Subscriber interface {
	Subscribe(ctx context.Context, topic string, fn func(payload []byte)) (cancel func(), err error)
}

// LiveTopic is the topic an agent publishes a camera's live detections on.
func LiveTopic(agentID, cameraID string) string { return event.LiveTopic(agentID, cameraID) }

// Config tunes the service; zero values take the defaults.
type Config struct {
	// AckTimeout is how long a command waits for the agent's ack (default 10 s).
	AckTimeout time.Duration
	// PollInterval is how often command_acks is checked while waiting (default 100 ms).
	PollInterval time.Duration
	// StaleAfter: a status heartbeat older than this means offline (default 2 min).
	StaleAfter time.Duration
	// EventsWindow bounds how far back the events endpoint looks (default 7 days).
	EventsWindow time.Duration
	// AllowedOrigins are the browser origins allowed to open the live
	// WebSocket (e.g. https://vigia.example.pe); empty allows same-origin
	// requests and clients that send no Origin.
	AllowedOrigins []string
	// LiveQueue is each WebSocket client's queue of frames (default 32).
	LiveQueue int
	// MaxLiveClients bounds concurrent WebSocket clients (default 256).
	MaxLiveClients int
	// WatchRefresh is how often the watch request is repeated to the agent
	// while someone watches (default 10 s).
	WatchRefresh time.Duration
	// WatchTTL is how long one watch request lasts at the agent (default
	// three refreshes, at most event.MaxLiveWatchTTL): when the hub goes
	// away, the agent stops publishing at most this long after.
	WatchTTL time.Duration
}

func (c *Config) defaults() {
	if c.AckTimeout <= 0 {
		c.AckTimeout = 10 * time.Second
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = 2 * time.Minute
	}
	if c.EventsWindow <= 0 {
		c.EventsWindow = 7 * 24 * time.Hour
	}
	if c.LiveQueue <= 0 {
		c.LiveQueue = 32
	}
	if c.MaxLiveClients <= 0 {
		c.MaxLiveClients = 256
	}
	if c.WatchRefresh <= 0 {
		c.WatchRefresh = 10 * time.Second
	}
	if c.WatchTTL <= c.WatchRefresh {
		c.WatchTTL = 3 * c.WatchRefresh
	}
	c.WatchTTL = min(c.WatchTTL, event.MaxLiveWatchTTL)
	c.WatchRefresh = min(c.WatchRefresh, c.WatchTTL/2)
}

// Service implements the camera-control endpoints.
type Service struct {
	cfg   Config
	store *db.Store
	pub   Publisher
	sub   Subscriber
	log   *slog.Logger
	now   func() time.Time

	// watcher names this replica in its watch requests (event.LiveWatch).
	watcher string

	liveMu    sync.Mutex
	feeds     map[string]*feed
	liveCount int
	// watchLoops holds the running watch loop of each live topic: a new
	// loop waits for the previous one's final stop, so that the stop never
	// overtakes the new watch at the broker.
	watchLoops map[string]chan struct{}
	closed     chan struct{} // closed by Close: live connections end
	closeOnce  sync.Once
}

// New returns the service. store is the hub's database (acks, devices,
// events, audit log); pub sends commands; sub feeds the live relay (nil
// disables Live with 503).
func New(cfg Config, store *db.Store, pub Publisher, sub Subscriber, log *slog.Logger) *Service {
	cfg.defaults()
	return &Service{cfg: cfg, store: store, pub: pub, sub: sub, log: log.With("component", "camctl"),
		now: time.Now, feeds: map[string]*feed{}, watchLoops: map[string]chan struct{}{}, closed: make(chan struct{}),
		watcher: "hub-" + event.NewID()}
}

// Close ends the live WebSocket connections (http.Server.Shutdown does not
// wait for hijacked connections); command and status requests are not
// affected. Safe to call more than once.
func (s *Service) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
}

// errorMessages are the user-facing texts of the error keys: Spanish, English.
var errorMessages = map[string][2]string{
	"invalid_device_id":      {"El identificador de cámara no es válido.", "The camera id is not valid."},
	"missing_device_id":      {"Falta device_id.", "device_id is required."},
	"invalid_body":           {"El cuerpo de la solicitud no es un JSON válido con los campos esperados.", "The request body is not valid JSON with the expected fields."},
	"unsupported_media_type": {"El cuerpo debe ser application/json.", "The body must be application/json."},
	"body_too_large":         {"El cuerpo de la solicitud es demasiado grande.", "The request body is too large."},
	"invalid_rtsp_url":       {"rtsp_url debe empezar con rtsp:// o rtsps://.", "rtsp_url must start with rtsp:// or rtsps://."},
	"invalid_config":         {"config debe ser un objeto JSON.", "config must be a JSON object."},
	"invalid_limit":          {"limit debe ser un entero entre 1 y 1000.", "limit must be an integer within 1..1000."},
	"invalid_event_type":     {"event_type no es válido.", "event_type is not valid."},
	"device_not_found":       {"La cámara no está registrada.", "The camera is not registered."},
	"broker_unavailable":     {"No se pudo enviar el comando: el broker MQTT no está disponible.", "The command could not be sent: the MQTT broker is unavailable."},
	"internal":               {"Error interno; inténtelo de nuevo.", "Internal error; try again."},
	"live_unavailable":       {"La transmisión en vivo no está disponible en este hub.", "Live streaming is not available on this hub."},
	"too_many_watchers":      {"Demasiados clientes en vivo; inténtelo más tarde.", "Too many live clients; try again later."},
	"websocket_required":     {"Este endpoint requiere una conexión WebSocket.", "This endpoint requires a WebSocket connection."},
	"origin_not_allowed":     {"Origen no permitido.", "Origin not allowed."},
	"command_rejected":       {"El agente rechazó el comando: %s", "The agent rejected the command: %s"},
	"command_failed":         {"El agente no pudo ejecutar el comando: %s", "The agent could not carry out the command: %s"},
	"agent_timeout":          {"El agente %s no confirmó el comando en %d s. Verifique que esté en línea; el comando lleva su plazo (timeout_seconds) para que el agente no lo ejecute si le llega tarde.", "Agent %s did not acknowledge the command within %d s. Check that it is online; the command carries its deadline (timeout_seconds) so that the agent does not run it if it arrives late."},
	"invalid_camera_id_q":    {"camera_id es obligatorio y debe ser un identificador válido.", "camera_id is required and must be a valid id."},
}

func english(c *gin.Context) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(c.GetHeader("Accept-Language"))), "en")
}

// message returns the localised text of key.
func message(c *gin.Context, key string) string {
	m := errorMessages[key]
	if english(c) {
		return m[1]
	}
	return m[0]
}

// fail writes {"error":{"code","message"}} and aborts.
func fail(c *gin.Context, status int, code, key string) {
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": message(c, key)}})
}
