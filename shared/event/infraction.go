package event

import (
	"math"
	"time"
)

// InfractionType is the specification's infraction type. Never reuse a value.
type InfractionType string

// Infraction types (spec section 2.1, infractions.type).
const (
	SpeedViolation InfractionType = "SPEED_VIOLATION"
	LaneInvasion   InfractionType = "LANE_INVASION"
	RedLight       InfractionType = "RED_LIGHT"
	OtherViolation InfractionType = "OTHER"
)

// Valid reports whether t is a known infraction type.
func (t InfractionType) Valid() bool {
	switch t {
	case SpeedViolation, LaneInvasion, RedLight, OtherViolation:
		return true
	}
	return false
}

// EvidenceFile references one stored evidence file.
type EvidenceFile struct {
	// Key is the object key in the evidence store (e.g. 2025/11/01/CAM001/<id>/clip.mp4).
	Key string `json:"key"`
	// URL is where the agent uploaded it (s3://bucket/key, or a hub URL); may be empty until uploaded.
	URL         string `json:"url,omitempty"`
	SHA256      string `json:"sha256"`
	SizeBytes   int64  `json:"size_bytes"`
	ContentType string `json:"content_type,omitempty"`
}

// Evidence lists the files of an infraction's evidence package.
type Evidence struct {
	VideoClip *EvidenceFile `json:"video_clip,omitempty"`
	Snapshot  *EvidenceFile `json:"snapshot,omitempty"`
	PlateCrop *EvidenceFile `json:"plate_crop,omitempty"`
	Manifest  *EvidenceFile `json:"manifest,omitempty"`
	// ManifestSHA256 is the hash of the signed evidence manifest (the device's hash chain link).
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
}

// Location is a WGS84 point.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Infraction is a cited infraction (spec 1.3 step 8 and 4.1).
type Infraction struct {
	Type InfractionType `json:"type"`
	// CameraID is the camera (the hub's devices.id) that saw it; the envelope's
	// device_id is the agent that published it (often the same).
	CameraID string `json:"camera_id"`
	ZoneID   string `json:"zone_id,omitempty"`
	// DetectedAt is the capture time of the decisive frame.
	DetectedAt time.Time `json:"detected_at"`

	Plate string `json:"plate,omitempty"` // normalised (e.g. ABC-123); empty when unreadable
	// PlateReadable is false when the reader's confidence was below threshold.
	PlateReadable bool    `json:"plate_readable"`
	OCRConfidence float64 `json:"ocr_confidence,omitempty"` // 0..1

	DetectedSpeed    float64 `json:"detected_speed,omitempty"`        // km/h
	SpeedUncertainty float64 `json:"speed_uncertainty_kmh,omitempty"` // km/h, 1-sigma
	SpeedLimit       float64 `json:"speed_limit,omitempty"`           // km/h
	ToleranceKmh     float64 `json:"tolerance_kmh,omitempty"`         // legal tolerance applied

	ConfidenceScore float64 `json:"confidence_score,omitempty"` // detector confidence 0..1
	TrackID         int64   `json:"track_id,omitempty"`
	VehicleClass    string  `json:"vehicle_class,omitempty"`
	// BBox is the vehicle box in the snapshot, pixels [x1,y1,x2,y2].
	BBox []float64 `json:"bbox,omitempty"`

	Location *Location `json:"location,omitempty"`
	Evidence Evidence  `json:"evidence"`
	// Details carries type-specific facts (signal phase, lines crossed, distance in lane...).
	Details map[string]any `json:"details,omitempty"`
	// CalibrationSHA256 identifies the calibration the measurement used.
	CalibrationSHA256 string `json:"calibration_sha256,omitempty"`
}

// Kind implements Payload.
func (*Infraction) Kind() Kind { return KindInfraction }

func finiteIn(v, lo, hi float64) bool { return !math.IsNaN(v) && v >= lo && v <= hi }

// Validate checks required fields and ranges.
func (p *Infraction) Validate() error {
	if !p.Type.Valid() {
		return invalid("data.type", "%q is not one of SPEED_VIOLATION, LANE_INVASION, RED_LIGHT, OTHER", trunc(string(p.Type)))
	}
	if !ValidDeviceID(p.CameraID) {
		return invalid("data.camera_id", "%q is not a valid device id", trunc(p.CameraID))
	}
	if p.ZoneID != "" && !ValidDeviceID(p.ZoneID) {
		return invalid("data.zone_id", "%q is not a valid zone id", trunc(p.ZoneID))
	}
	if p.DetectedAt.IsZero() || p.DetectedAt.Year() < 2000 || p.DetectedAt.After(time.Now().Add(maxFuture)) {
		return invalid("data.detected_at", "missing or out of range")
	}
	if p.Plate != "" && !isPlate(p.Plate) {
		return invalid("data.plate", "%q must be 2-15 of [A-Z0-9-]", trunc(p.Plate))
	}
	if p.PlateReadable && p.Plate == "" {
		return invalid("data.plate", "plate_readable is true but plate is empty")
	}
	if !finiteIn(p.OCRConfidence, 0, 1) {
		return invalid("data.ocr_confidence", "must be within 0..1")
	}
	if !finiteIn(p.ConfidenceScore, 0, 1) {
		return invalid("data.confidence_score", "must be within 0..1")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"detected_speed", p.DetectedSpeed}, {"speed_uncertainty_kmh", p.SpeedUncertainty},
		{"speed_limit", p.SpeedLimit}, {"tolerance_kmh", p.ToleranceKmh}} {
		if !finiteIn(f.v, 0, 500) {
			return invalid("data."+f.name, "%v must be within 0..500 km/h", f.v)
		}
	}
	if p.Type == SpeedViolation && (p.DetectedSpeed <= 0 || p.SpeedLimit <= 0) {
		return invalid("data.detected_speed", "a SPEED_VIOLATION needs detected_speed and speed_limit")
	}
	if p.BBox != nil && len(p.BBox) != 4 {
		return invalid("data.bbox", "must have 4 numbers [x1,y1,x2,y2]")
	}
	if p.Location != nil && (!finiteIn(p.Location.Lat, -90, 90) || !finiteIn(p.Location.Lon, -180, 180)) {
		return invalid("data.location", "lat/lon out of range")
	}
	if p.CalibrationSHA256 != "" && !isSHA256Hex(p.CalibrationSHA256) {
		return invalid("data.calibration_sha256", "must be 64 lowercase hex digits")
	}
	return p.Evidence.validate()
}

func (e Evidence) validate() error {
	for _, f := range []struct {
		name string
		f    *EvidenceFile
	}{{"video_clip", e.VideoClip}, {"snapshot", e.Snapshot}, {"plate_crop", e.PlateCrop}, {"manifest", e.Manifest}} {
		if f.f == nil {
			continue
		}
		field := "data.evidence." + f.name
		if !validKey(f.f.Key) {
			return invalid(field+".key", "%q must be a relative path of [A-Za-z0-9_./-] without '..'", trunc(f.f.Key))
		}
		if !isSHA256Hex(f.f.SHA256) {
			return invalid(field+".sha256", "must be 64 lowercase hex digits")
		}
		if f.f.SizeBytes < 0 {
			return invalid(field+".size_bytes", "negative")
		}
	}
	if e.ManifestSHA256 != "" && !isSHA256Hex(e.ManifestSHA256) {
		return invalid("data.evidence.manifest_sha256", "must be 64 lowercase hex digits")
	}
	return nil
}

// validKey reports whether k is a safe relative object key (no traversal).
func validKey(k string) bool {
	if !isKeySyntax(k) {
		return false
	}
	for _, seg := range splitSlash(k) {
		if seg == ".." || seg == "." || seg == "" {
			return false
		}
	}
	return true
}

// ValidKey reports whether k is a safe evidence object key.
func ValidKey(k string) bool { return validKey(k) }

func splitSlash(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
