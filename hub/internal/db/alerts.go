package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Device alert kinds (device_alerts.kind, CHECK in migration 003).
const (
	AlertSilent              = "silent"
	AlertOffline             = "offline"
	AlertDegraded            = "degraded"
	AlertEncryptionSuspected = "encryption_suspected"
	AlertEvidenceUnverified  = "evidence_unverified"
)

// Device statuses (devices.status, CHECK in migration 001).
const (
	DeviceActive      = "active"
	DeviceInactive    = "inactive"
	DeviceMaintenance = "maintenance"
	DeviceError       = "error"
)

// openAlert opens an alert unless one of that kind is already open for the
// device (the partial unique index idx_device_alerts_open); it reports
// whether it opened one.
func openAlert(ctx context.Context, q pgx.Tx, deviceID, kind, detail string, at time.Time) (bool, error) {
	tag, err := q.Exec(ctx, `INSERT INTO device_alerts(device_id, kind, detail, raised_at) VALUES ($1, $2, NULLIF($3, ''), $4)
		ON CONFLICT (device_id, kind) WHERE cleared_at IS NULL DO NOTHING`, deviceID, kind, detail, at)
	if err != nil {
		return false, fmt.Errorf("open %s alert of %s: %w", kind, deviceID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// RaiseDeviceAlert opens an alert of kind for a device (a no-op when one is
// open) and, when markError is set and the alert is new, moves an active
// device to status 'error'. It reports whether a new alert was opened.
func (s *Store) RaiseDeviceAlert(ctx context.Context, deviceID, kind, detail string, at time.Time, markError bool) (bool, error) {
	var raised bool
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if raised, err = openAlert(ctx, tx, deviceID, kind, detail, at); err != nil || !raised || !markError {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET status = 'error', updated_at = $2 WHERE id = $1 AND status = 'active'`, deviceID, at)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("db: raise alert: %w", err)
	}
	return raised, nil
}

// livenessKinds are the alerts that put a device in status 'error'.
var livenessKinds = []string{AlertSilent, AlertOffline}

// ClearDeviceAlert closes the open alert of kind for a device. When it
// closed one, no silent/offline alert remains open and the device is in
// status 'error', the device goes back to 'active'. It reports whether an
// alert was closed.
func (s *Store) ClearDeviceAlert(ctx context.Context, deviceID, kind string, at time.Time) (bool, error) {
	var cleared bool
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE device_alerts SET cleared_at = $3 WHERE device_id = $1 AND kind = $2 AND cleared_at IS NULL`,
			deviceID, kind, at)
		if err != nil {
			return err
		}
		cleared = tag.RowsAffected() > 0
		if !cleared {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE devices SET status = 'active', updated_at = $2 WHERE id = $1 AND status = 'error'
			AND NOT EXISTS (SELECT 1 FROM device_alerts WHERE device_id = $1 AND cleared_at IS NULL AND kind = ANY($3))`,
			deviceID, at, livenessKinds)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("db: clear %s alert of %s: %w", kind, deviceID, err)
	}
	return cleared, nil
}

// DeviceLiveness is what the liveness job needs to know about one device.
type DeviceLiveness struct {
	ID            string
	Status        string
	LastHeartbeat *time.Time
	CreatedAt     time.Time
	// State is the state of the latest status message (online, degraded, offline), "" when none.
	State string
	// EncryptionSuspected is set when a camera of the latest status reports it.
	EncryptionSuspected bool
	// Open lists the kinds of the device's open alerts.
	Open map[string]bool
}

// ListDeviceLiveness returns the liveness facts of every device.
func (s *Store) ListDeviceLiveness(ctx context.Context) ([]DeviceLiveness, error) {
	rows, err := s.Pool.Query(ctx, `SELECT d.id, COALESCE(d.status, 'active'), d.last_heartbeat, COALESCE(d.created_at, now()),
			COALESCE(d.metadata->'agent_status'->>'state', ''),
			COALESCE(jsonb_path_exists(d.metadata, '$.agent_status.cameras[*] ? (@.encryption_suspected == true)'), false),
			COALESCE((SELECT array_agg(a.kind) FROM device_alerts a WHERE a.device_id = d.id AND a.cleared_at IS NULL), '{}')
		FROM devices d ORDER BY d.id`)
	if err != nil {
		return nil, fmt.Errorf("db: device liveness: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceLiveness, error) {
		var d DeviceLiveness
		var open []string
		err := r.Scan(&d.ID, &d.Status, &d.LastHeartbeat, &d.CreatedAt, &d.State, &d.EncryptionSuspected, &open)
		d.Open = make(map[string]bool, len(open))
		for _, k := range open {
			d.Open[k] = true
		}
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: device liveness: %w", err)
	}
	return out, nil
}

// DeviceAlert is one row of device_alerts.
type DeviceAlert struct {
	ID        int64      `json:"id"`
	DeviceID  string     `json:"device_id"`
	Kind      string     `json:"kind"`
	Detail    string     `json:"detail,omitempty"`
	RaisedAt  time.Time  `json:"raised_at"`
	ClearedAt *time.Time `json:"cleared_at,omitempty"`
}

// ListDeviceAlerts returns a device's alerts (every device's when deviceID
// is empty), newest first; only the open ones when openOnly is set.
func (s *Store) ListDeviceAlerts(ctx context.Context, deviceID string, openOnly bool, limit int) ([]DeviceAlert, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, device_id, kind, COALESCE(detail, ''), raised_at, cleared_at FROM device_alerts
		WHERE ($1 = '' OR device_id = $1) AND (NOT $2 OR cleared_at IS NULL) ORDER BY raised_at DESC, id DESC LIMIT $3`,
		deviceID, openOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("db: list device alerts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceAlert, error) {
		var a DeviceAlert
		err := r.Scan(&a.ID, &a.DeviceID, &a.Kind, &a.Detail, &a.RaisedAt, &a.ClearedAt)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: list device alerts: %w", err)
	}
	return out, nil
}
