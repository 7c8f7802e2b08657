// Package control is the agent's side of the hub's command channel: it
// decodes each command published on traffic/v1/<device>/command, checks it
// (shape, device, camera, age), carries it out on the camera pipelines
// (stream.start, stream.stop, config.update) and answers every command with
// exactly one acknowledgement (event.Ack) carrying the outcome. A command
// delivered again (same id) is not executed again: it is re-acknowledged
// with the outcome recorded the first time.
//
// Ack messages are for operators: Spanish first, then English, separated by
// " / "; the ack's result carries a stable reason code for programs.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/uplink"
	"github.com/vigia-pe/vigia/shared/event"
)

// Cameras is what commands act on (the service's camera pipelines).
type Cameras interface {
	// Known reports whether a camera is configured on this agent.
	Known(id string) bool
	// Stop stops a camera's pipeline and returns once it ended; stopping a
	// stopped camera succeeds.
	Stop(ctx context.Context, id string) error
	// Start (re)starts a camera's pipeline, with a new stream URL when
	// rtspURL is not empty (it holds credentials: never log it).
	Start(ctx context.Context, id, rtspURL string) error
	// Configure applies settings to a running or stopped camera and returns
	// the settings now in force.
	Configure(id string, s Settings) (Settings, error)
}

// Reason codes carried in the ack's result ({"reason": ...}) of rejected
// and failed commands. Never reuse a value.
const (
	ReasonMalformed     = "malformed"      // not JSON, or not a valid envelope
	ReasonNotCommand    = "not_a_command"  // an envelope of another kind
	ReasonUnknownAction = "unknown_action" // action not supported by this agent
	ReasonInvalid       = "invalid_field"  // a field failed validation
	ReasonWrongDevice   = "wrong_device"   // addressed to another device
	ReasonUnknownCamera = "unknown_camera" // camera missing or not configured here
	ReasonExpired       = "expired"        // older than its timeout_seconds on arrival
	ReasonConfig        = "bad_config"     // config keys unknown or values out of range
	ReasonFailed        = "failed"         // accepted but could not be carried out
)

// Config configures a Controller.
type Config struct {
	// DeviceID is this agent; commands for another device are rejected.
	DeviceID string
	// Store remembers recent command ids (nil: in memory only).
	Store *Store
	// Emit queues an acknowledgement for sending (the service puts it in
	// the outbox); it must not block for long.
	Emit func(event.Envelope) error
	// ExecTimeout bounds one command's execution (default 30 s).
	ExecTimeout time.Duration
	// Secrets are removed from ack messages, besides URL credentials.
	Secrets []string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Controller executes commands. It is safe for concurrent use; commands
// are carried out one at a time, in arrival order.
type Controller struct {
	cfg  Config
	cams Cameras
	log  *slog.Logger
	mu   sync.Mutex

	dropped int64 // messages without a usable id: nothing to acknowledge
}

// New returns a controller over cams.
func New(cfg Config, cams Cameras, log *slog.Logger) *Controller {
	if cfg.ExecTimeout <= 0 {
		cfg.ExecTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Store == nil {
		cfg.Store, _ = OpenStore("", 0)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, cams: cams, log: log.With("component", "control")}
}

// Topic is the command topic the controller serves.
func (c *Controller) Topic() string { return event.Topic(c.cfg.DeviceID, event.KindCommand) }

// OnMessage is an uplink.Config.OnMessage handler.
func (c *Controller) OnMessage(topic string, payload []byte) {
	c.Handle(context.Background(), topic, payload)
}

// Dropped returns how many messages could not be acknowledged at all
// (no readable command id).
func (c *Controller) Dropped() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// Handle decides and carries out one command message and emits its
// acknowledgement; it returns the ack, or false when the message carried no
// usable command id (then nothing can be acknowledged and it is only
// logged). The payload is never logged: a stream.start may carry a password.
func (c *Controller) Handle(ctx context.Context, topic string, payload []byte) (event.Ack, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	env, p, perr := event.Parse(payload)
	id := env.ID
	if perr != nil {
		id = salvageID(payload)
		if id == "" {
			c.dropped++
			c.log.Warn("command without a readable id dropped", "topic", topic, "bytes", len(payload),
				"reason", event.ReasonOf(perr))
			return event.Ack{}, false
		}
	}
	if prev, seen, err := c.cfg.Store.Get(id); err != nil {
		c.log.Error("command store unreadable; executing anyway", "command_id", id, "err", err)
	} else if seen {
		c.log.Info("command delivered again: re-acknowledged, not executed", "command_id", id, "outcome", prev.Outcome)
		c.emit(prev)
		return prev, true
	}
	ack := c.decide(ctx, topic, env, p, perr)
	ack.CommandID = id
	if len(ack.Message) > 2048 {
		ack.Message = ack.Message[:2048]
	}
	if err := c.cfg.Store.Put(ack, c.cfg.Now()); err != nil {
		c.log.Error("command outcome not recorded: a redelivery would run it again", "command_id", id, "err", err)
	}
	c.emit(ack)
	return ack, true
}

func (c *Controller) emit(ack event.Ack) {
	env, err := event.New(c.cfg.DeviceID, c.cfg.Now(), &ack)
	if err != nil {
		c.log.Error("ack not built", "command_id", ack.CommandID, "err", err)
		return
	}
	if c.cfg.Emit == nil {
		return
	}
	if err := c.cfg.Emit(env); err != nil {
		c.log.Error("ack not queued", "command_id", ack.CommandID, "err", err)
		return
	}
	c.log.Info("command acknowledged", "command_id", ack.CommandID, "outcome", ack.Outcome, "camera", ack.CameraID)
}

// decide validates the command and, when it is acceptable, executes it.
func (c *Controller) decide(ctx context.Context, topic string, env event.Envelope, p event.Payload, perr error) event.Ack {
	if perr != nil {
		var e *event.Error
		if errors.As(perr, &e) && e.Field == "data.action" {
			return reject(ReasonUnknownAction, "acción desconocida: "+e.Msg+"; admitidas: stream.start, stream.stop, config.update",
				"unknown action: "+e.Msg+"; supported: stream.start, stream.stop, config.update")
		}
		if errors.As(perr, &e) && e.Reason == event.ReasonInvalid && e.Field != "" {
			return reject(ReasonInvalid, "campo inválido "+e.Field+": "+e.Msg, "invalid field "+e.Field+": "+e.Msg)
		}
		msg := perr.Error()
		return reject(ReasonMalformed, "comando malformado: "+msg, "malformed command: "+msg)
	}
	if dev, _, err := event.ParseTopic(topic); err == nil && dev != c.cfg.DeviceID {
		return reject(ReasonWrongDevice, "el tópico es de otro dispositivo ("+dev+")", "topic is for another device ("+dev+")")
	}
	if env.DeviceID != c.cfg.DeviceID {
		return reject(ReasonWrongDevice,
			fmt.Sprintf("comando para el dispositivo %s, este es %s", env.DeviceID, c.cfg.DeviceID),
			fmt.Sprintf("command for device %s, this is %s", env.DeviceID, c.cfg.DeviceID))
	}
	cmd, ok := p.(*event.Command)
	if !ok {
		return reject(ReasonNotCommand, fmt.Sprintf("se esperaba un comando, llegó %q", env.Type),
			fmt.Sprintf("expected a command, got %q", env.Type))
	}
	ack := c.execute(ctx, env, cmd)
	ack.CameraID = cmd.CameraID
	return ack
}

func (c *Controller) execute(ctx context.Context, env event.Envelope, cmd *event.Command) event.Ack {
	now := c.cfg.Now()
	if cmd.TimeoutSeconds > 0 {
		if age := now.Sub(env.TS); age > time.Duration(cmd.TimeoutSeconds)*time.Second {
			a := age.Round(time.Second)
			return reject(ReasonExpired,
				fmt.Sprintf("comando vencido: emitido hace %s, plazo %d s", a, cmd.TimeoutSeconds),
				fmt.Sprintf("command expired: issued %s ago, timeout %d s", a, cmd.TimeoutSeconds))
		}
	}
	if cmd.CameraID == "" {
		return reject(ReasonInvalid, "falta camera_id", "camera_id is required")
	}
	if !c.cams.Known(cmd.CameraID) {
		return reject(ReasonUnknownCamera,
			fmt.Sprintf("la cámara %s no está configurada en %s", cmd.CameraID, c.cfg.DeviceID),
			fmt.Sprintf("camera %s is not configured on %s", cmd.CameraID, c.cfg.DeviceID))
	}
	var settings *Settings
	if len(cmd.Config) > 0 && cmd.Action != event.ActionStreamStop {
		s, err := ParseSettings(cmd.Config)
		if err != nil {
			return reject(ReasonConfig, "configuración rechazada: "+err.Error(), "configuration rejected: "+err.Error())
		}
		settings = &s
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ExecTimeout)
	defer cancel()
	switch cmd.Action {
	case event.ActionStreamStop:
		if len(cmd.Config) > 0 {
			return reject(ReasonConfig, "stream.stop no admite config", "stream.stop takes no config")
		}
		if err := c.cams.Stop(ctx, cmd.CameraID); err != nil {
			return c.failed(err, cmd.RTSPURL)
		}
		return done("cámara detenida", "camera stopped", nil)
	case event.ActionStreamStart:
		var result json.RawMessage
		if settings != nil {
			in, err := c.cams.Configure(cmd.CameraID, *settings)
			if err != nil {
				return c.configError(err, cmd.RTSPURL)
			}
			result, _ = json.Marshal(in)
		}
		if err := c.cams.Start(ctx, cmd.CameraID, cmd.RTSPURL); err != nil {
			return c.failed(err, cmd.RTSPURL)
		}
		return done("cámara iniciada", "camera started", result)
	case event.ActionConfigUpdate:
		if settings == nil {
			return reject(ReasonConfig, "config.update sin config", "config.update without config")
		}
		in, err := c.cams.Configure(cmd.CameraID, *settings)
		if err != nil {
			return c.configError(err, cmd.RTSPURL)
		}
		result, _ := json.Marshal(in)
		return done("configuración aplicada", "configuration applied", result)
	}
	// Unreachable: Command.Validate admits only the actions above.
	return reject(ReasonUnknownAction, fmt.Sprintf("acción no admitida %q", cmd.Action), fmt.Sprintf("unsupported action %q", cmd.Action))
}

func (c *Controller) failed(err error, url string) event.Ack {
	if errors.Is(err, ErrUnknownCamera) {
		return reject(ReasonUnknownCamera, "cámara desconocida", "unknown camera")
	}
	msg := uplink.Redact(err.Error(), append([]string{url}, c.cfg.Secrets...)...)
	return event.Ack{Outcome: event.OutcomeFailed, Message: "no se pudo ejecutar: " + msg + " / could not be carried out: " + msg,
		Result: reasonJSON(ReasonFailed)}
}

func (c *Controller) configError(err error, url string) event.Ack {
	if errors.Is(err, ErrBadSettings) {
		msg := err.Error()
		return reject(ReasonConfig, "configuración rechazada: "+msg, "configuration rejected: "+msg)
	}
	return c.failed(err, url)
}

// ErrUnknownCamera is returned by Cameras for a camera it does not run.
var ErrUnknownCamera = errors.New("unknown camera")

// ErrBadSettings is returned (wrapped) by Cameras.Configure for settings it
// cannot apply to that camera; the command is rejected rather than failed.
var ErrBadSettings = errors.New("bad settings")

func reject(reason, es, en string) event.Ack {
	return event.Ack{Outcome: event.OutcomeRejected, Message: es + " / " + en, Result: reasonJSON(reason)}
}

func done(es, en string, result json.RawMessage) event.Ack {
	return event.Ack{Outcome: event.OutcomeDone, Message: es + " / " + en, Result: result}
}

func reasonJSON(reason string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"reason": reason})
	return b
}

// salvageID reads the envelope id of a message that failed validation, so
// that it can still be rejected with a reason.
func salvageID(payload []byte) string {
	if len(payload) > event.MaxPayloadBytes {
		return ""
	}
	var v struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(payload, &v) != nil || !event.ValidID(v.ID) {
		return ""
	}
	return v.ID
}
