package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Device is a camera registered at the hub.
type Device struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	ZoneID   string   `json:"zone_id,omitempty"`
	RTSPURL  string   `json:"-"` // holds credentials: never serialised
	Lat, Lon *float64 `json:"-"`
}

// UpsertDevice registers or updates a camera.
func (s *Store) UpsertDevice(ctx context.Context, d Device) error {
	var zone *string
	if d.ZoneID != "" {
		zone = &d.ZoneID
	}
	var loc *string
	if d.Lat != nil && d.Lon != nil {
		p := fmt.Sprintf("SRID=4326;POINT(%f %f)", *d.Lon, *d.Lat)
		loc = &p
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO devices(id, name, zone_id, rtsp_url, location)
		VALUES ($1, $2, $3, $4, $5::geography)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, zone_id = EXCLUDED.zone_id,
			rtsp_url = EXCLUDED.rtsp_url, location = COALESCE(EXCLUDED.location, devices.location), updated_at = now()`,
		d.ID, d.Name, zone, d.RTSPURL, loc)
	if err != nil {
		return fmt.Errorf("db: upsert device %s: %w", d.ID, err)
	}
	return nil
}

// UpsertZone registers or updates a zone (without geometry).
func (s *Store) UpsertZone(ctx context.Context, id, name string, speedLimit int) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO zones(id, name, speed_limit) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, speed_limit = EXCLUDED.speed_limit, updated_at = now()`,
		id, name, speedLimit)
	if err != nil {
		return fmt.Errorf("db: upsert zone %s: %w", id, err)
	}
	return nil
}

// RecordStatus stores a device's latest status payload and heartbeat.
// Status messages for unknown devices return ErrUnknownDevice.
func (s *Store) RecordStatus(ctx context.Context, deviceID string, ts time.Time, status json.RawMessage) error {
	return recordStatus(ctx, s.Pool, deviceID, ts, status)
}

// execer is what a pool and a transaction share.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func recordStatus(ctx context.Context, q execer, deviceID string, ts time.Time, status json.RawMessage) error {
	tag, err := q.Exec(ctx, `UPDATE devices SET last_heartbeat = GREATEST(COALESCE(last_heartbeat, $2), $2),
		metadata = jsonb_set(COALESCE(metadata, '{}'::jsonb), '{agent_status}', $3::jsonb), updated_at = now()
		WHERE id = $1`, deviceID, ts, status)
	if err != nil {
		return fmt.Errorf("db: record status of %s: %w", deviceID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %q", ErrUnknownDevice, deviceID)
	}
	return nil
}

// DeviceExists reports whether a camera is registered.
func (s *Store) DeviceExists(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM devices WHERE id = $1)`, id).Scan(&ok)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("db: device %s: %w", id, err)
	}
	return ok, nil
}

// DeadLetter is a refused message.
type DeadLetter struct {
	ID         int64     `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Topic      string    `json:"topic"`
	Reason     string    `json:"reason"`
	Detail     string    `json:"detail"`
	EventID    string    `json:"event_id,omitempty"`
	DeviceID   string    `json:"device_id,omitempty"`
	Payload    []byte    `json:"-"`
	Size       int       `json:"payload_size"`
}

// maxKeptPayload bounds what is kept of an oversized payload.
const maxKeptPayload = 64 << 10

// InsertDeadLetter keeps a refused message with its reason.
func (s *Store) InsertDeadLetter(ctx context.Context, d DeadLetter) error {
	payload := d.Payload
	if len(payload) > maxKeptPayload {
		payload = payload[:maxKeptPayload]
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO dead_letters(topic, reason, detail, event_id, device_id, payload, payload_size)
		VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $7)`,
		d.Topic, d.Reason, d.Detail, d.EventID, d.DeviceID, payload, len(d.Payload))
	if err != nil {
		return fmt.Errorf("db: insert dead letter: %w", err)
	}
	return nil
}

// ListDeadLetters returns the newest refused messages.
func (s *Store) ListDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, received_at, topic, reason, detail, COALESCE(event_id, ''), COALESCE(device_id, ''), payload_size
		FROM dead_letters ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("db: list dead letters: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeadLetter, error) {
		var d DeadLetter
		err := r.Scan(&d.ID, &d.ReceivedAt, &d.Topic, &d.Reason, &d.Detail, &d.EventID, &d.DeviceID, &d.Size)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: list dead letters: %w", err)
	}
	return out, nil
}
