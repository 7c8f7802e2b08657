package camctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

// maxBody bounds a command request body.
const maxBody = 64 << 10

// StreamRequest is the body of POST /api/inference/stream/start and /stop
// (the stop body only uses device_id).
type StreamRequest struct {
	DeviceID string `json:"device_id"`
	// RTSPURL overrides the camera's configured URL; it may hold
	// credentials and is never logged or audited in clear.
	RTSPURL string `json:"rtsp_url,omitempty"`
	// Config is forwarded to the agent as is (fps, resolution, detection_threshold, speed_limit...).
	Config json.RawMessage `json:"config,omitempty"`
}

// DecodeStreamRequest parses a request body strictly (unknown fields,
// trailing data and wrong types refused); stop bodies may only carry
// device_id. It returns the error key of the first problem.
func DecodeStreamRequest(body []byte, action event.Action) (StreamRequest, string) {
	var r StreamRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return StreamRequest{}, "invalid_body"
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return StreamRequest{}, "invalid_body"
	}
	if r.DeviceID == "" {
		return StreamRequest{}, "missing_device_id"
	}
	if !event.ValidDeviceID(r.DeviceID) {
		return StreamRequest{}, "invalid_device_id"
	}
	if action == event.ActionStreamStop && (r.RTSPURL != "" || len(r.Config) > 0) {
		return StreamRequest{}, "invalid_body"
	}
	if r.RTSPURL != "" && !strings.HasPrefix(r.RTSPURL, "rtsp://") && !strings.HasPrefix(r.RTSPURL, "rtsps://") {
		return StreamRequest{}, "invalid_rtsp_url"
	}
	if len(r.Config) > 0 {
		if bytes.Equal(r.Config, []byte("null")) {
			r.Config = nil
		} else {
			var obj map[string]any
			if err := json.Unmarshal(r.Config, &obj); err != nil || obj == nil {
				return StreamRequest{}, "invalid_config"
			}
			// Compact: the agent's Command.Validate wants the object's first byte to be '{'.
			var buf bytes.Buffer
			if err := json.Compact(&buf, r.Config); err != nil {
				return StreamRequest{}, "invalid_config"
			}
			r.Config = buf.Bytes()
		}
	}
	return r, ""
}

// CommandResponse is the 200 answer to start and stop: the specification's
// shape (device_id, status, stream_id, started_at) plus the command's
// trace (command_id, agent_id, outcome, message, acked_at).
type CommandResponse struct {
	DeviceID  string     `json:"device_id"`
	Status    string     `json:"status"`
	StreamID  string     `json:"stream_id,omitempty"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
	CommandID string     `json:"command_id"`
	AgentID   string     `json:"agent_id"`
	Outcome   string     `json:"outcome"`
	Message   string     `json:"message"`
	AckedAt   time.Time  `json:"acked_at"`
}

// Start serves POST /api/inference/stream/start.
func (s *Service) Start(c *gin.Context) { s.command(c, event.ActionStreamStart) }

// Stop serves POST /api/inference/stream/stop.
func (s *Service) Stop(c *gin.Context) { s.command(c, event.ActionStreamStop) }

// actor is who asked, from the gin context set by the auth middleware.
type actor struct {
	id, name, role string
}

func actorOf(c *gin.Context) actor {
	a := actor{id: c.GetString("vigia.user_id"), name: c.GetString("vigia.username"), role: c.GetString("vigia.role")}
	if a.name == "" {
		a.name = "unknown"
	}
	return a
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// audit appends one row to audit_log (INSERT only: the table refuses
// UPDATE and DELETE). A failure is logged, never shown to the user.
func (s *Service) audit(ctx context.Context, c *gin.Context, action, entityID string, after map[string]any, reason string) {
	a := actorOf(c)
	var actorID *string
	if event.ValidID(a.id) && strings.Count(a.id, "-") == 4 { // users.id is a UUID
		actorID = &a.id
	}
	var role, reasonP *string
	if a.role != "" {
		role = &a.role
	}
	if reason != "" {
		reasonP = &reason
	}
	afterJSON, err := json.Marshal(after)
	if err != nil {
		s.log.Error("audit: encode", "action", action, "err", err)
		return
	}
	reqID := clip(c.GetHeader("X-Request-ID"), 64)
	_, err = s.store.Pool.Exec(context.WithoutCancel(ctx), `INSERT INTO audit_log(actor_id, actor, actor_role, action, entity_type, entity_id, after, reason, remote_addr, request_id)
		VALUES ($1::uuid, $2, $3, $4, 'device', $5, $6::jsonb, $7, $8, NULLIF($9, ''))`,
		actorID, clip(a.name, 150), role, action, entityID, afterJSON, reasonP, clip(c.ClientIP(), 64), reqID)
	if err != nil {
		s.log.Error("audit: insert failed", "action", action, "entity", entityID, "err", err)
	}
}

// agentOf resolves the agent that runs a camera (see the package comment)
// and whether the camera is registered.
func (s *Service) agentOf(ctx context.Context, camera string) (agent string, status []byte, heartbeat *time.Time, exists bool, err error) {
	if err := s.store.Pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM devices WHERE id = $1)`, camera).Scan(&exists); err != nil {
		return "", nil, nil, false, fmt.Errorf("camctl: device %s: %w", camera, err)
	}
	if !exists {
		return "", nil, nil, false, nil
	}
	err = s.store.Pool.QueryRow(ctx, `
		WITH cam AS (SELECT jsonb_build_array(jsonb_build_object('camera_id', $1::text)) AS j)
		SELECT a.id, a.metadata->'agent_status', a.last_heartbeat
		FROM devices a, cam
		WHERE (a.metadata->'agent_status'->'cameras') @> cam.j
			OR (a.id = $1 AND a.metadata ? 'agent_status')
			OR a.id = (SELECT d.metadata->>'agent_id' FROM devices d WHERE d.id = $1)
		ORDER BY COALESCE((a.metadata->'agent_status'->'cameras') @> cam.j, false) DESC,
			a.last_heartbeat DESC NULLS LAST, a.id
		LIMIT 1`, camera).Scan(&agent, &status, &heartbeat)
	if errors.Is(err, pgx.ErrNoRows) {
		return camera, nil, nil, true, nil
	}
	if err != nil {
		return "", nil, nil, true, fmt.Errorf("camctl: agent of %s: %w", camera, err)
	}
	return agent, status, heartbeat, true, nil
}

// command publishes a stream command and answers with the agent's ack.
func (s *Service) command(c *gin.Context, action event.Action) {
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/json" {
		fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type", "unsupported_media_type")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			fail(c, http.StatusRequestEntityTooLarge, "body_too_large", "body_too_large")
			return
		}
		fail(c, http.StatusBadRequest, "invalid_body", "invalid_body")
		return
	}
	req, bad := DecodeStreamRequest(body, action)
	if bad != "" {
		fail(c, http.StatusBadRequest, bad, bad)
		return
	}
	ctx := c.Request.Context()
	agent, _, _, exists, err := s.agentOf(ctx, req.DeviceID)
	if err != nil {
		s.log.Error("command: resolve agent", "camera", req.DeviceID, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	if !exists {
		fail(c, http.StatusNotFound, "device_not_found", "device_not_found")
		return
	}
	timeoutS := int(math.Ceil(s.cfg.AckTimeout.Seconds()))
	cmd := &event.Command{Action: action, CameraID: req.DeviceID, RTSPURL: req.RTSPURL, Config: req.Config, TimeoutSeconds: timeoutS}
	env, err := event.New(agent, s.now(), cmd)
	if err != nil {
		// The body was checked already; an agent id that is not a valid topic level lands here.
		s.log.Error("command: build", "camera", req.DeviceID, "agent", agent, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	payload, err := env.Encode()
	if err != nil {
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	auditAction := "camera." + strings.ReplaceAll(string(action), ".", "_")
	sent := map[string]any{"command_id": env.ID, "agent_id": agent, "camera_id": req.DeviceID, "state": "sent",
		"timeout_seconds": timeoutS}
	if req.RTSPURL != "" {
		sent["rtsp_url"] = event.RedactURL(req.RTSPURL)
	}
	if len(req.Config) > 0 {
		sent["config"] = json.RawMessage(req.Config)
	}
	log := s.log.With("command_id", env.ID, "action", action, "camera", req.DeviceID, "agent", agent)

	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = s.pub.Publish(pctx, event.Topic(agent, event.KindCommand), payload)
	cancel()
	if err != nil {
		log.Error("command: publish failed", "err", err)
		sent["state"] = "not_sent"
		s.audit(ctx, c, auditAction, req.DeviceID, sent, "broker unavailable")
		fail(c, http.StatusServiceUnavailable, "broker_unavailable", "broker_unavailable")
		return
	}
	s.audit(ctx, c, auditAction, req.DeviceID, sent, "")
	log.Info("command sent")

	ack, err := s.awaitAck(ctx, env.ID, agent)
	result := map[string]any{"command_id": env.ID, "agent_id": agent, "camera_id": req.DeviceID}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		result["outcome"] = "timeout"
		s.audit(ctx, c, auditAction+".result", req.DeviceID, result, "no acknowledgement")
		log.Warn("command: no ack", "timeout", s.cfg.AckTimeout)
		msg := fmt.Sprintf(message(c, "agent_timeout"), agent, timeoutS)
		c.AbortWithStatusJSON(http.StatusGatewayTimeout, gin.H{"error": gin.H{"code": "agent_timeout", "message": msg},
			"command_id": env.ID, "outcome": "timeout"})
		return
	case err != nil:
		// The client went away (context canceled) or the database failed.
		log.Warn("command: wait for ack interrupted", "err", err)
		result["outcome"] = "unknown"
		s.audit(ctx, c, auditAction+".result", req.DeviceID, result, "wait interrupted")
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	result["outcome"], result["message"], result["ack_event_id"] = ack.Outcome, ack.Message, ack.EventID
	s.audit(ctx, c, auditAction+".result", req.DeviceID, result, "")
	log.Info("command acknowledged", "outcome", ack.Outcome)
	switch event.Outcome(ack.Outcome) {
	case event.OutcomeDone:
		c.JSON(http.StatusOK, doneResponse(action, req.DeviceID, agent, env.ID, ack))
	case event.OutcomeRejected, event.OutcomeFailed:
		status, code := http.StatusConflict, "command_rejected"
		if event.Outcome(ack.Outcome) == event.OutcomeFailed {
			status, code = http.StatusUnprocessableEntity, "command_failed"
		}
		agentMsg := ack.Message
		if agentMsg == "" {
			agentMsg = "-"
		}
		body := gin.H{"error": gin.H{"code": code, "message": fmt.Sprintf(message(c, code), agentMsg)},
			"command_id": env.ID, "outcome": ack.Outcome}
		var res struct {
			Reason string `json:"reason"`
		}
		if json.Unmarshal(ack.Result, &res) == nil && res.Reason != "" && len(res.Reason) <= 64 {
			body["agent_reason"] = res.Reason // the agent's stable code (agent/internal/control)
		}
		c.AbortWithStatusJSON(status, body)
	default:
		fail(c, http.StatusInternalServerError, "internal", "internal")
	}
}

// awaitAck polls command_acks until the agent's ack arrives or AckTimeout
// passes (context.DeadlineExceeded). Acks from other devices are ignored.
func (s *Service) awaitAck(ctx context.Context, commandID, agent string) (*db.CommandAck, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.AckTimeout)
	defer cancel()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		acks, err := s.store.AcksOf(ctx, commandID)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("command: read acks", "command_id", commandID, "err", err)
		}
		for i := range acks { // newest first
			if acks[i].DeviceID == agent {
				return &acks[i], nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// streamResult is what an agent may put in Ack.Result; every field is optional.
type streamResult struct {
	Status    string    `json:"status"`
	StreamID  string    `json:"stream_id"`
	StartedAt time.Time `json:"started_at"`
}

func doneResponse(action event.Action, camera, agent, commandID string, ack *db.CommandAck) CommandResponse {
	r := CommandResponse{DeviceID: camera, CommandID: commandID, AgentID: agent, Outcome: ack.Outcome,
		Message: ack.Message, AckedAt: ack.AckedAt.UTC()}
	var res streamResult
	if len(ack.Result) > 0 {
		_ = json.Unmarshal(ack.Result, &res) // optional details; a malformed result is ignored
	}
	at := ack.AckedAt.UTC()
	if action == event.ActionStreamStart {
		r.Status = "streaming"
		if !res.StartedAt.IsZero() {
			at = res.StartedAt.UTC()
		}
		r.StartedAt = &at
		r.StreamID = res.StreamID
		if r.StreamID == "" || len(r.StreamID) > 100 {
			r.StreamID = "stream_" + camera + "_" + at.Format("20060102_150405")
		}
	} else {
		r.Status = "stopped"
		r.StoppedAt = &at
	}
	if res.Status != "" && len(res.Status) <= 32 {
		r.Status = res.Status
	}
	return r
}
