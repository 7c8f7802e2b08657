package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/vigia-pe/vigia/shared/event"
)

// PostgreSQL SQLSTATEs: a missing referenced row (here: a device that is not
// registered), and a duplicate key.
const (
	foreignKeyViolation = "23503"
	uniqueViolation     = "23505"
)

// ErrInvalidValue means PostgreSQL refused a value of the message itself (SQLSTATE
// class 22, e.g. a \u0000 inside JSON or a timestamp out of range): retrying
// cannot help, so ingestion dead-letters the message.
var ErrInvalidValue = errors.New("value refused by the database")

// permanent turns a foreign-key violation into ErrUnknownDevice and a data
// exception into ErrInvalidValue; it returns nil for any other error.
func permanent(err error, device string) error {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return nil
	}
	switch {
	case pg.Code == foreignKeyViolation:
		return fmt.Errorf("%w: %q is not registered (hub device add)", ErrUnknownDevice, device)
	case strings.HasPrefix(pg.Code, "22"):
		return fmt.Errorf("%w: %s (SQLSTATE %s)", ErrInvalidValue, pg.Message, pg.Code)
	}
	return nil
}

// isPermanent reports whether err came from permanent.
func isPermanent(err error) bool {
	return errors.Is(err, ErrUnknownDevice) || errors.Is(err, ErrInvalidValue)
}

// MetricsRow is one inference metrics sample ready to insert.
type MetricsRow struct {
	EventID        string
	SourceDeviceID string
	TS             time.Time
	M              *event.Metrics
}

// MetricsRowOf builds the row of a metrics message.
func MetricsRowOf(env event.Envelope, p *event.Metrics) MetricsRow {
	return MetricsRow{EventID: env.ID, SourceDeviceID: env.DeviceID, TS: env.TS, M: p}
}

const insertMetricsSQL = `INSERT INTO inference_metrics(event_id, device_id, source_device_id, timestamp,
		window_start, window_end, fps, latency_ms, gpu_utilization, cpu_utilization, memory_mb,
		detections_count, infractions_count)
	VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
	ON CONFLICT (event_id, timestamp) DO NOTHING`

func metricsArgs(r MetricsRow) []any {
	m := r.M
	return []any{r.EventID, m.CameraID, r.SourceDeviceID, r.TS, m.WindowStart, m.WindowEnd, m.FPS, m.LatencyMs,
		m.GPUUtilization, m.CPUUtilization, m.MemoryMB, m.DetectionsCount, m.InfractionsCount}
}

// InsertMetrics stores a metrics sample once per envelope id; a redelivered
// message returns duplicate=true. An unregistered camera returns ErrUnknownDevice.
func (s *Store) InsertMetrics(ctx context.Context, env event.Envelope, p *event.Metrics) (duplicate bool, err error) {
	tag, err := s.Pool.Exec(ctx, insertMetricsSQL, metricsArgs(MetricsRowOf(env, p))...)
	if err != nil {
		if u := permanent(err, p.CameraID); u != nil {
			return false, u
		}
		return false, fmt.Errorf("db: insert metrics %s: %w", env.ID, err)
	}
	return tag.RowsAffected() == 0, nil
}

// InsertMetricsBatch stores many samples in one round trip and one
// transaction, skipping those already stored; it returns how many were new.
// One unregistered camera fails the whole batch with ErrUnknownDevice.
func (s *Store) InsertMetricsBatch(ctx context.Context, rows []MetricsRow) (inserted int, err error) {
	if len(rows) == 0 {
		return 0, nil
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, r := range rows {
			b.Queue(insertMetricsSQL, metricsArgs(r)...)
		}
		br := tx.SendBatch(ctx, b)
		for i := range rows {
			tag, err := br.Exec()
			if err != nil {
				br.Close()
				if u := permanent(err, rows[i].M.CameraID); u != nil {
					return u
				}
				return err
			}
			inserted += int(tag.RowsAffected())
		}
		return br.Close()
	})
	if err != nil {
		if isPermanent(err) {
			return 0, err
		}
		return 0, fmt.Errorf("db: insert %d metrics: %w", len(rows), err)
	}
	return inserted, nil
}

// InsertAck stores a command acknowledgement once per envelope id; a
// redelivered message returns duplicate=true. An unregistered device returns
// ErrUnknownDevice.
func (s *Store) InsertAck(ctx context.Context, env event.Envelope, p *event.Ack) (duplicate bool, err error) {
	var result []byte
	if len(p.Result) > 0 {
		result = p.Result
	}
	tag, err := s.Pool.Exec(ctx, `INSERT INTO command_acks(event_id, command_id, device_id, camera_id, outcome, message, result, acked_at)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, NULLIF($6, ''), $7::jsonb, $8)
		ON CONFLICT (event_id) DO NOTHING`,
		env.ID, p.CommandID, env.DeviceID, p.CameraID, string(p.Outcome), p.Message, result, env.TS)
	if err != nil {
		if u := permanent(err, env.DeviceID); u != nil {
			return false, u
		}
		return false, fmt.Errorf("db: insert ack %s: %w", env.ID, err)
	}
	return tag.RowsAffected() == 0, nil
}

// CommandAck is one stored acknowledgement.
type CommandAck struct {
	EventID    string          `json:"event_id"`
	CommandID  string          `json:"command_id"`
	DeviceID   string          `json:"device_id"`
	CameraID   string          `json:"camera_id,omitempty"`
	Outcome    string          `json:"outcome"`
	Message    string          `json:"message,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	AckedAt    time.Time       `json:"acked_at"`
	ReceivedAt time.Time       `json:"received_at"`
}

// AcksOf returns the acknowledgements of a command, newest first.
func (s *Store) AcksOf(ctx context.Context, commandID string) ([]CommandAck, error) {
	rows, err := s.Pool.Query(ctx, `SELECT event_id, command_id, device_id, COALESCE(camera_id, ''), outcome,
		COALESCE(message, ''), result, acked_at, received_at
		FROM command_acks WHERE command_id = $1 ORDER BY received_at DESC, event_id`, commandID)
	if err != nil {
		return nil, fmt.Errorf("db: acks of %s: %w", commandID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CommandAck, error) {
		var a CommandAck
		var result []byte
		err := r.Scan(&a.EventID, &a.CommandID, &a.DeviceID, &a.CameraID, &a.Outcome, &a.Message, &result, &a.AckedAt, &a.ReceivedAt)
		if len(result) > 0 {
			a.Result = result
		}
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: acks of %s: %w", commandID, err)
	}
	return out, nil
}

// RecordStatusEvent does what RecordStatus does (latest status and heartbeat
// on the device row) and, in the same transaction, appends the status to
// events (event_type 'status') once per envelope id. A redelivered message
// returns duplicate=true and changes nothing. An unregistered device returns
// ErrUnknownDevice.
func (s *Store) RecordStatusEvent(ctx context.Context, env event.Envelope) (duplicate bool, err error) {
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO events(event_type, device_id, timestamp, data, event_id)
			VALUES ('status', $1, $2, $3::jsonb, $4)
			ON CONFLICT (event_id, timestamp) DO NOTHING RETURNING id`,
			env.DeviceID, env.TS, []byte(env.Data), env.ID).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			duplicate = true
			return nil
		}
		if err != nil {
			if u := permanent(err, env.DeviceID); u != nil {
				return u
			}
			return err
		}
		return recordStatus(ctx, tx, env.DeviceID, env.TS, env.Data)
	})
	if err != nil {
		if isPermanent(err) {
			return false, err
		}
		return false, fmt.Errorf("db: record status event %s: %w", env.ID, err)
	}
	return duplicate, nil
}

// Event is one row of the events table.
type Event struct {
	ID        int64           `json:"id"`
	Type      string          `json:"event_type"`
	DeviceID  string          `json:"device_id"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data,omitempty"`
	EventID   string          `json:"event_id,omitempty"`
}

// ListEvents returns a device's events of one type within [from, to), newest first.
func (s *Store) ListEvents(ctx context.Context, deviceID, eventType string, from, to time.Time, limit int) ([]Event, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, event_type, COALESCE(device_id, ''), timestamp, data, COALESCE(event_id, '')
		FROM events WHERE device_id = $1 AND event_type = $2 AND timestamp >= $3 AND timestamp < $4
		ORDER BY timestamp DESC, id DESC LIMIT $5`, deviceID, eventType, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("db: list events of %s: %w", deviceID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		var data []byte
		err := r.Scan(&e.ID, &e.Type, &e.DeviceID, &e.Timestamp, &data, &e.EventID)
		if len(data) > 0 {
			e.Data = data
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: list events of %s: %w", deviceID, err)
	}
	return out, nil
}
