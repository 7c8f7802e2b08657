package db

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/evidence"
)

func TestDeviceKeysAndAuditIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM001", Name: "c", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := s.AddDeviceKey(ctx, "CAM404", pub, "t"); !errors.Is(err, ErrUnknownDevice) {
		t.Fatalf("unknown device: %v", err)
	}
	if _, err := s.AddDeviceKey(ctx, "CAM001", pub[:31], "t"); err == nil {
		t.Fatal("a 31-byte key was accepted")
	}
	id, err := s.AddDeviceKey(ctx, "CAM001", pub, "cli:ana")
	if err != nil || id != evidence.KeyID(pub) {
		t.Fatalf("add: %q %v", id, err)
	}
	if again, err := s.AddDeviceKey(ctx, "CAM001", pub, "cli:ana"); err != nil || again != id {
		t.Fatalf("re-add: %q %v", again, err)
	}
	keys, err := s.ListDeviceKeys(ctx, "CAM001")
	if err != nil || len(keys) != 1 || !keys[0].Active() || !keys[0].PublicKey.Equal(pub) {
		t.Fatalf("list: %+v %v", keys, err)
	}
	if err := s.RevokeDeviceKey(ctx, "CAM001", "0000000000000000", "cli:ana", ""); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if err := s.RevokeDeviceKey(ctx, "CAM001", id, "cli:ana", "stolen"); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDeviceKey(ctx, "CAM001", id, "cli:ana", "again"); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := s.AddDeviceKey(ctx, "CAM001", pub, "cli:ana"); err == nil {
		t.Fatal("a revoked key was registered again")
	}
	keys, _ = s.ListDeviceKeys(ctx, "")
	if len(keys) != 1 || keys[0].Active() {
		t.Fatalf("after revoke: %+v", keys)
	}
	// One audit row per change (the no-op re-add and second revoke write none).
	rows, err := s.Pool.Query(ctx, `SELECT actor, action, entity_id, COALESCE(reason, '') FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var actor, action, entity, reason string
		if err := rows.Scan(&actor, &action, &entity, &reason); err != nil {
			t.Fatal(err)
		}
		got = append(got, actor+" "+action+" "+entity+" "+reason)
	}
	want := []string{"cli:ana device_key.add CAM001/" + id + " ", "cli:ana device_key.revoke CAM001/" + id + " stolen"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("audit log %q, want %q", got, want)
	}
}

func TestDeviceAlertsOneOpenPerKindIntegration(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.UpsertDevice(ctx, Device{ID: "CAM001", Name: "c", RTSPURL: "rtsp://x"}); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	steps := []struct {
		name       string
		do         func() (bool, error)
		want       bool
		wantStatus string
	}{
		{"raise silent", func() (bool, error) { return s.RaiseDeviceAlert(ctx, "CAM001", AlertSilent, "quiet", at, true) }, true, "error"},
		{"raise silent again", func() (bool, error) { return s.RaiseDeviceAlert(ctx, "CAM001", AlertSilent, "quiet", at, true) }, false, "error"},
		{"raise offline", func() (bool, error) { return s.RaiseDeviceAlert(ctx, "CAM001", AlertOffline, "", at, true) }, true, "error"},
		{"clear silent: offline still open", func() (bool, error) { return s.ClearDeviceAlert(ctx, "CAM001", AlertSilent, at) }, true, "error"},
		{"clear silent again", func() (bool, error) { return s.ClearDeviceAlert(ctx, "CAM001", AlertSilent, at) }, false, "error"},
		{"raise degraded keeps status", func() (bool, error) { return s.RaiseDeviceAlert(ctx, "CAM001", AlertDegraded, "", at, false) }, true, "error"},
		{"clear offline: active again", func() (bool, error) { return s.ClearDeviceAlert(ctx, "CAM001", AlertOffline, at) }, true, "active"},
	}
	for _, st := range steps {
		got, err := st.do()
		if err != nil || got != st.want {
			t.Fatalf("%s: %v %v, want %v", st.name, got, err, st.want)
		}
		var status string
		if err := s.Pool.QueryRow(ctx, `SELECT status FROM devices WHERE id = 'CAM001'`).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status != st.wantStatus {
			t.Fatalf("%s: status %s, want %s", st.name, status, st.wantStatus)
		}
	}
	open, err := s.ListDeviceAlerts(ctx, "CAM001", true, 10)
	if err != nil || len(open) != 1 || open[0].Kind != AlertDegraded {
		t.Fatalf("open alerts %+v %v", open, err)
	}
}
