package camctl

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/event"
)

// CameraStatus is GET /api/inference/cameras/{id}/status: the
// specification's shape plus agent_id, last_heartbeat, counts_since,
// encryption_suspected and alarms. Unknown values are null.
type CameraStatus struct {
	DeviceID string  `json:"device_id"`
	AgentID  *string `json:"agent_id"`
	// Status is the camera's pipeline state as the agent reports it
	// (connecting, streaming, undecodable, reconnecting, stopped), or
	// offline, or unknown when no status was ever received.
	Status string `json:"status"`
	// Health is healthy, degraded, offline or unknown.
	Health              string     `json:"health"`
	UptimeSeconds       *int64     `json:"uptime_seconds"`
	FPS                 *float64   `json:"fps"`
	LatencyMs           *float64   `json:"latency_ms"`
	DetectionsCount     int64      `json:"detections_count"`
	InfractionsCount    int64      `json:"infractions_count"`
	CountsSince         time.Time  `json:"counts_since"`
	LastFrameAt         *time.Time `json:"last_frame_at"`
	LastHeartbeat       *time.Time `json:"last_heartbeat"`
	EncryptionSuspected bool       `json:"encryption_suspected"`
	Alarms              []string   `json:"alarms"`
}

// Health values.
const (
	HealthHealthy  = "healthy"
	HealthDegraded = "degraded"
	HealthOffline  = "offline"
	HealthUnknown  = "unknown"
)

// Status serves GET /api/inference/cameras/:id/status.
func (s *Service) Status(c *gin.Context) {
	id := c.Param("id")
	if !event.ValidDeviceID(id) {
		fail(c, http.StatusBadRequest, "invalid_device_id", "invalid_device_id")
		return
	}
	ctx := c.Request.Context()
	agent, raw, heartbeat, exists, err := s.agentOf(ctx, id)
	if err != nil {
		s.log.Error("status: resolve agent", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	if !exists {
		fail(c, http.StatusNotFound, "device_not_found", "device_not_found")
		return
	}
	now := s.now()
	out := CameraStatus{DeviceID: id, Status: HealthUnknown, Health: HealthUnknown, Alarms: []string{}}
	var st *event.Status
	if len(raw) > 0 && string(raw) != "null" {
		var v event.Status
		if err := json.Unmarshal(raw, &v); err == nil {
			st = &v
		} else {
			s.log.Warn("status: stored agent_status unreadable", "agent", agent, "err", err)
		}
	}
	if st != nil {
		out.AgentID = &agent
		evaluate(&out, st, heartbeat, now, s.cfg.StaleAfter)
	}
	if heartbeat != nil {
		hb := heartbeat.UTC()
		out.LastHeartbeat = &hb
	}

	// Counters from inference_metrics since the agent started (else since local midnight).
	y, m, d := now.In(s.store.Loc).Date()
	out.CountsSince = time.Date(y, m, d, 0, 0, 0, 0, s.store.Loc).UTC()
	if st != nil && !st.StartedAt.IsZero() {
		out.CountsSince = st.StartedAt.UTC()
	}
	if err := s.store.Pool.QueryRow(ctx, `SELECT COALESCE(sum(detections_count), 0), COALESCE(sum(infractions_count), 0)
		FROM inference_metrics WHERE device_id = $1 AND timestamp >= $2`, id, out.CountsSince).
		Scan(&out.DetectionsCount, &out.InfractionsCount); err != nil {
		s.log.Error("status: metrics counts", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	var fps, latency *float64
	err = s.store.Pool.QueryRow(ctx, `SELECT fps, latency_ms FROM inference_metrics WHERE device_id = $1
		ORDER BY timestamp DESC LIMIT 1`, id).Scan(&fps, &latency)
	if err != nil && err != pgx.ErrNoRows {
		s.log.Error("status: latest metrics", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	out.LatencyMs = latency
	if out.FPS == nil && out.Health != HealthOffline {
		out.FPS = fps
	}
	c.JSON(http.StatusOK, out)
}

// evaluate fills status, health, uptime, fps and alarms from the agent's
// latest status message.
func evaluate(out *CameraStatus, st *event.Status, heartbeat *time.Time, now time.Time, staleAfter time.Duration) {
	if st.Alarms != nil {
		out.Alarms = st.Alarms
	}
	var cam *event.CameraStatus
	for i := range st.Cameras {
		if st.Cameras[i].CameraID == out.DeviceID {
			cam = &st.Cameras[i]
		}
	}
	if cam != nil {
		out.EncryptionSuspected = cam.EncryptionSuspected
		if !cam.LastFrameAt.IsZero() {
			t := cam.LastFrameAt.UTC()
			out.LastFrameAt = &t
		}
	}
	if st.State == event.StateOffline || heartbeat == nil || now.Sub(*heartbeat) > staleAfter {
		out.Status, out.Health = HealthOffline, HealthOffline
		return
	}
	if !st.StartedAt.IsZero() {
		up := int64(now.Sub(st.StartedAt) / time.Second)
		out.UptimeSeconds = &up
	}
	if cam == nil {
		out.Status, out.Health = HealthUnknown, HealthDegraded
		return
	}
	out.Status = cam.State
	fps := cam.FPS
	out.FPS = &fps
	out.Health = HealthHealthy
	if st.State == event.StateDegraded || cam.State != "streaming" || cam.EncryptionSuspected {
		out.Health = HealthDegraded
	}
}

// EventItem is one row of GET /api/inference/events.
type EventItem struct {
	ID        int64           `json:"id"`
	EventType string          `json:"event_type"`
	DeviceID  string          `json:"device_id"`
	Timestamp time.Time       `json:"timestamp"`
	EventID   *string         `json:"event_id"`
	Data      json.RawMessage `json:"data"`
}

// EventsPage is the answer of GET /api/inference/events.
type EventsPage struct {
	CameraID string      `json:"camera_id"`
	Count    int         `json:"count"`
	Results  []EventItem `json:"results"`
}

var eventTypeRe = regexp.MustCompile(`^[a-z_]{1,50}$`)

// Events serves GET /api/inference/events?camera_id=&limit=&event_type=:
// the camera's newest events within EventsWindow (rows whose device or
// data.camera_id is the camera, plus the status events of its agent).
func (s *Service) Events(c *gin.Context) {
	q := c.Request.URL.Query()
	id := q.Get("camera_id")
	if !event.ValidDeviceID(id) {
		fail(c, http.StatusBadRequest, "invalid_parameter", "invalid_camera_id_q")
		return
	}
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(c, http.StatusBadRequest, "invalid_parameter", "invalid_limit")
			return
		}
		limit = n
	}
	var typ *string
	if v := q.Get("event_type"); v != "" {
		if !eventTypeRe.MatchString(v) {
			fail(c, http.StatusBadRequest, "invalid_parameter", "invalid_event_type")
			return
		}
		typ = &v
	}
	ctx := c.Request.Context()
	agent, _, _, exists, err := s.agentOf(ctx, id)
	if err != nil {
		s.log.Error("events: resolve agent", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	if !exists {
		fail(c, http.StatusNotFound, "device_not_found", "device_not_found")
		return
	}
	rows, err := s.store.Pool.Query(ctx, `SELECT id, event_type, COALESCE(device_id, ''), timestamp, event_id, data
		FROM events
		WHERE timestamp >= $2 AND ($5::text IS NULL OR event_type = $5::text)
			AND (device_id = $1 OR data->>'camera_id' = $1 OR (device_id = $3 AND event_type = 'status'))
		ORDER BY timestamp DESC, id DESC LIMIT $4`, id, s.now().Add(-s.cfg.EventsWindow), agent, limit, typ)
	if err != nil {
		s.log.Error("events: query", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (EventItem, error) {
		var e EventItem
		var data []byte
		err := r.Scan(&e.ID, &e.EventType, &e.DeviceID, &e.Timestamp, &e.EventID, &data)
		e.Data = json.RawMessage("null")
		if len(data) > 0 {
			e.Data = data
		}
		e.Timestamp = e.Timestamp.UTC()
		return e, err
	})
	if err != nil {
		s.log.Error("events: scan", "camera", id, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "internal")
		return
	}
	if items == nil {
		items = []EventItem{}
	}
	c.JSON(http.StatusOK, EventsPage{CameraID: id, Count: len(items), Results: items})
}
