package event

import "time"

// DeviceState is the agent's overall state in a status message.
type DeviceState string

// Device states. Never reuse a value.
const (
	StateOnline   DeviceState = "online"
	StateOffline  DeviceState = "offline" // sent as the MQTT last will, and on clean shutdown
	StateDegraded DeviceState = "degraded"
)

// CameraStatus is one camera's health inside a status message.
type CameraStatus struct {
	CameraID     string    `json:"camera_id"`
	State        string    `json:"state"` // connecting, streaming, undecodable, reconnecting, stopped
	FPS          float64   `json:"fps"`
	LastFrameAt  time.Time `json:"last_frame_at,omitzero"`
	DecodeErrors int64     `json:"decode_errors"`
	Reconnects   int64     `json:"reconnects"`
	// EncryptionSuspected is true when packets arrive but none decodes
	// (EZVIZ "image encryption" re-enabled after a firmware update).
	EncryptionSuspected bool `json:"encryption_suspected"`
	// ClockSynced (added 2026-11-28) is true when the camera sends its NTP
	// time (RTCP sender reports), so frame capture times come from its clock.
	ClockSynced bool `json:"clock_synced,omitempty"`
	// ClockOffsetMs (added 2026-11-28), only when ClockSynced, is the median
	// over recent frames of (capture time on the camera's clock − receive
	// time on the device's clock); it includes the network transit, so a
	// camera in sync shows a few milliseconds below zero.
	ClockOffsetMs *float64 `json:"clock_offset_ms,omitempty"`
}

// Status is the retained per-device status (and the last will, with State offline).
//
// The clock fields describe the device's own clock as the kernel reports it
// (adjtimex): ClockSynced is false when the kernel says it is not
// synchronised or cannot be asked (ClockSource then says "unavailable");
// ClockOffsetMs is the offset the kernel is still correcting.
//
// Additive history within v1: 2026-11-28 clock_source, clock_est_error_ms,
// clock_max_error_ms here and clock_synced, clock_offset_ms per camera.
type Status struct {
	State         DeviceState       `json:"state"`
	AgentVersion  string            `json:"agent_version,omitempty"`
	StartedAt     time.Time         `json:"started_at,omitzero"`
	Cameras       []CameraStatus    `json:"cameras,omitempty"`
	OutboxDepth   int64             `json:"outbox_depth"`
	DiskUsedBytes int64             `json:"disk_used_bytes"`
	ClockOffsetMs float64           `json:"clock_offset_ms"`
	ClockSynced   bool              `json:"clock_synced"`
	Models        map[string]string `json:"models,omitempty"` // model name → version
	Alarms        []string          `json:"alarms,omitempty"`
	// ClockSource says where the clock fields come from: "kernel" or "unavailable".
	ClockSource string `json:"clock_source,omitempty"`
	// ClockEstErrorMs and ClockMaxErrorMs are the kernel's estimated and
	// maximum error of the device clock (set by the NTP daemon).
	ClockEstErrorMs float64 `json:"clock_est_error_ms,omitempty"`
	ClockMaxErrorMs float64 `json:"clock_max_error_ms,omitempty"`
}

// maxClockMs bounds the clock fields added in 2026-11-28 (a year, in ms).
const maxClockMs = 365 * 24 * 3600 * 1000

// Kind implements Payload.
func (*Status) Kind() Kind { return KindStatus }

// Validate checks the status fields.
func (p *Status) Validate() error {
	switch p.State {
	case StateOnline, StateOffline, StateDegraded:
	default:
		return invalid("data.state", "%q is not online, offline or degraded", trunc(string(p.State)))
	}
	if p.OutboxDepth < 0 || p.DiskUsedBytes < 0 {
		return invalid("data.outbox_depth", "counters must not be negative")
	}
	for i, c := range p.Cameras {
		if !ValidDeviceID(c.CameraID) {
			return invalid("data.cameras", "entry %d: bad camera_id %q", i, trunc(c.CameraID))
		}
		if !finiteIn(c.FPS, 0, 1000) {
			return invalid("data.cameras", "entry %d: fps out of range", i)
		}
		if c.ClockOffsetMs != nil && !finiteIn(*c.ClockOffsetMs, -maxClockMs, maxClockMs) {
			return invalid("data.cameras", "entry %d: clock_offset_ms out of range", i)
		}
	}
	if !finiteIn(p.ClockEstErrorMs, 0, maxClockMs) || !finiteIn(p.ClockMaxErrorMs, 0, maxClockMs) {
		return invalid("data.clock_est_error_ms", "clock errors must be within 0..%g", float64(maxClockMs))
	}
	return nil
}

// Metrics is one inference metrics sample (the specification's inference_metrics row).
type Metrics struct {
	CameraID         string    `json:"camera_id"`
	WindowStart      time.Time `json:"window_start"`
	WindowEnd        time.Time `json:"window_end"`
	FPS              float64   `json:"fps"`
	LatencyMs        float64   `json:"latency_ms"`
	GPUUtilization   *float64  `json:"gpu_utilization,omitempty"` // percent; absent without a GPU
	CPUUtilization   float64   `json:"cpu_utilization"`           // percent
	MemoryMB         float64   `json:"memory_mb"`
	DetectionsCount  int64     `json:"detections_count"`
	InfractionsCount int64     `json:"infractions_count"`
}

// Kind implements Payload.
func (*Metrics) Kind() Kind { return KindMetrics }

// Validate checks the metrics fields.
func (p *Metrics) Validate() error {
	if !ValidDeviceID(p.CameraID) {
		return invalid("data.camera_id", "%q is not a valid device id", trunc(p.CameraID))
	}
	if p.WindowStart.IsZero() || p.WindowEnd.Before(p.WindowStart) {
		return invalid("data.window_end", "window must be non-empty and ordered")
	}
	if !finiteIn(p.FPS, 0, 1000) || !finiteIn(p.LatencyMs, 0, 3.6e6) || !finiteIn(p.CPUUtilization, 0, 100*1024) || !finiteIn(p.MemoryMB, 0, 1<<30) {
		return invalid("data", "fps, latency_ms, cpu_utilization or memory_mb out of range")
	}
	if p.GPUUtilization != nil && !finiteIn(*p.GPUUtilization, 0, 100) {
		return invalid("data.gpu_utilization", "must be within 0..100")
	}
	if p.DetectionsCount < 0 || p.InfractionsCount < 0 {
		return invalid("data.detections_count", "counts must not be negative")
	}
	return nil
}
