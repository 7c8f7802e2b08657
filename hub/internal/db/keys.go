package db

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/vigia-pe/vigia/shared/evidence"
)

// ErrKeyNotFound is returned when a device key is not registered.
var ErrKeyNotFound = errors.New("device key not found")

// DeviceKey is an agent's registered Ed25519 public key.
type DeviceKey struct {
	DeviceID  string            `json:"device_id"`
	KeyID     string            `json:"key_id"`
	Algorithm string            `json:"algorithm"`
	PublicKey ed25519.PublicKey `json:"public_key"` // base64 in JSON
	CreatedAt time.Time         `json:"created_at"`
	RevokedAt *time.Time        `json:"revoked_at,omitempty"`
}

// Active reports whether the key is not revoked.
func (k DeviceKey) Active() bool { return k.RevokedAt == nil }

// AddDeviceKey registers pub for a device and returns its key id
// (evidence.KeyID). Registering a key again is a no-op, except that a revoked
// key stays revoked: un-revoking is refused, register a new key instead.
// actor names who did it, for the audit log.
func (s *Store) AddDeviceKey(ctx context.Context, deviceID string, pub ed25519.PublicKey, actor string) (keyID string, err error) {
	if len(pub) != ed25519.PublicKeySize {
		return "", fmt.Errorf("db: add key of %s: public key of %d bytes, want %d", deviceID, len(pub), ed25519.PublicKeySize)
	}
	keyID = evidence.KeyID(pub)
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM devices WHERE id = $1)`, deviceID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("%w: %q (register it with `hub device add`)", ErrUnknownDevice, deviceID)
		}
		var revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT revoked_at FROM device_public_keys WHERE device_id = $1 AND key_id = $2`, deviceID, keyID).Scan(&revoked)
		switch {
		case err == nil && revoked != nil:
			return fmt.Errorf("key %s of %s was revoked at %s: a revoked key cannot be registered again", keyID, deviceID, revoked.UTC().Format(time.RFC3339))
		case err == nil:
			return nil
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO device_public_keys(device_id, key_id, public_key) VALUES ($1, $2, $3)`,
			deviceID, keyID, []byte(pub)); err != nil {
			return err
		}
		return keyAuditTx(ctx, tx, actor, "device_key.add", "device_public_key", deviceID+"/"+keyID, nil,
			map[string]any{"device_id": deviceID, "key_id": keyID, "algorithm": "ed25519"})
	})
	if err != nil {
		if errors.Is(err, ErrUnknownDevice) {
			return "", err
		}
		return "", fmt.Errorf("db: add key of %s: %w", deviceID, err)
	}
	return keyID, nil
}

// RevokeDeviceKey marks a device key revoked; manifests it signs afterwards
// are no longer verified. Revoking an already revoked key is a no-op.
func (s *Store) RevokeDeviceKey(ctx context.Context, deviceID, keyID, actor, reason string) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE device_public_keys SET revoked_at = now()
			WHERE device_id = $1 AND key_id = $2 AND revoked_at IS NULL`, deviceID, keyID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS(SELECT 1 FROM device_public_keys WHERE device_id = $1 AND key_id = $2)`,
				deviceID, keyID).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: %s of %s", ErrKeyNotFound, keyID, deviceID)
			}
			return nil
		}
		a := &keyAuditEntry{actor: actor, action: "device_key.revoke", entity: "device_public_key", id: deviceID + "/" + keyID,
			before: map[string]any{"revoked": false}, after: map[string]any{"revoked": true}, reason: reason}
		return a.write(ctx, tx)
	})
	if err != nil {
		if errors.Is(err, ErrKeyNotFound) {
			return err
		}
		return fmt.Errorf("db: revoke key %s of %s: %w", keyID, deviceID, err)
	}
	return nil
}

// ListDeviceKeys returns the keys of one device, or of every device when deviceID is empty.
func (s *Store) ListDeviceKeys(ctx context.Context, deviceID string) ([]DeviceKey, error) {
	rows, err := s.Pool.Query(ctx, `SELECT device_id, key_id, algorithm, public_key, created_at, revoked_at
		FROM device_public_keys WHERE $1 = '' OR device_id = $1 ORDER BY device_id, created_at, key_id`, deviceID)
	if err != nil {
		return nil, fmt.Errorf("db: list device keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceKey, error) {
		var k DeviceKey
		var pub []byte
		err := r.Scan(&k.DeviceID, &k.KeyID, &k.Algorithm, &pub, &k.CreatedAt, &k.RevokedAt)
		k.PublicKey = ed25519.PublicKey(pub)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("db: list device keys: %w", err)
	}
	return out, nil
}

// keyAuditEntry is one audit_log row written by the system or an administrator.
type keyAuditEntry struct {
	actor, action, entity, id string
	before, after             any
	reason                    string
}

func keyAuditTx(ctx context.Context, tx pgx.Tx, actor, action, entity, id string, before, after any) error {
	a := &keyAuditEntry{actor: actor, action: action, entity: entity, id: id, before: before, after: after}
	return a.write(ctx, tx)
}

func (a *keyAuditEntry) write(ctx context.Context, tx pgx.Tx) error {
	js := func(v any) ([]byte, error) {
		if v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	before, err := js(a.before)
	if err != nil {
		return err
	}
	after, err := js(a.after)
	if err != nil {
		return err
	}
	actor := a.actor
	if actor == "" {
		actor = "system"
	}
	_, err = tx.Exec(ctx, `INSERT INTO audit_log(actor, action, entity_type, entity_id, before, after, reason)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''))`, actor, a.action, a.entity, a.id, before, after, a.reason)
	if err != nil {
		return fmt.Errorf("audit %s: %w", a.action, err)
	}
	return nil
}
