package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/internal/testminio"
	"github.com/vigia-pe/vigia/shared/event"
)

// writeInfraction writes an evidence package (snapshot + manifest bytes) under
// dataDir/evidence and returns the infraction envelope that references it.
func writeInfraction(t *testing.T, dataDir, device string, n int) event.Envelope {
	t.Helper()
	id := event.NewID()
	files := map[string][]byte{
		"snapshot.jpg":  []byte(fmt.Sprintf("snapshot %d %s", n, strings.Repeat("x", 5000+n))),
		"manifest.json": []byte(fmt.Sprintf(`{"event_id":%q,"n":%d}`, id, n)),
	}
	ref := func(name string) *event.EvidenceFile {
		key := fmt.Sprintf("2026/11/28/CAM-P/%s/%s", id, name)
		path := filepath.Join(dataDir, "evidence", filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, files[name], 0o640); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(files[name])
		return &event.EvidenceFile{Key: key, SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(files[name]))}
	}
	inf := &event.Infraction{Type: event.SpeedViolation, CameraID: "CAM-P", DetectedAt: time.Now().UTC(),
		Plate: "ABC-123", PlateReadable: true, OCRConfidence: 0.9, DetectedSpeed: 80 + float64(n), SpeedLimit: 60,
		ConfidenceScore: 0.9, Evidence: event.Evidence{Snapshot: ref("snapshot.jpg"), Manifest: ref("manifest.json")}}
	inf.Evidence.ManifestSHA256 = inf.Evidence.Manifest.SHA256
	env, err := event.New(device, time.Now(), inf)
	if err != nil {
		t.Fatal(err)
	}
	env.ID = id
	return env
}

// TestPushDeliversReplayInfractionsThroughTheOutbox sends a replay's
// infraction lines through `agent outbox push`'s path into the real
// Mosquitto and a real MinIO: every event is published once, every evidence
// file lands in the bucket with its bytes, the outbox ends empty, and a
// malformed infraction line is refused with its line number.
func TestPushDeliversReplayInfractionsThroughTheOutbox(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: needs Mosquitto and MinIO")
	}
	broker := testenv.MosquittoAddr()
	testenv.RequireTCP(t, broker)
	s3 := testminio.Start(t)
	dataDir := t.TempDir()
	device := "PUSH-" + strings.ToUpper(event.NewID()[24:32])

	// A subscriber counts what the broker delivers.
	var mu sync.Mutex
	seen := map[string]int{}
	conn, err := net.Dial("tcp", broker)
	if err != nil {
		t.Fatal(err)
	}
	cl := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) {
			env, _, err := event.Parse(pr.Packet.Payload)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				seen[env.ID]++
			}
			return true, nil
		}}})
	ctx := testenv.Context(t, 2*time.Minute)
	if _, err := cl.Connect(ctx, &paho.Connect{ClientID: device + "-sub", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(&paho.Disconnect{})
	if _, err := cl.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: event.Topic(device, event.KindInfraction), QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	var lines []string
	var envs []event.Envelope
	for i := range 5 {
		env := writeInfraction(t, dataDir, device, i)
		b, err := env.Encode()
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, env)
		lines = append(lines, string(b), `{"type":"track","track_id":1,"speed_kmh":50}`)
	}
	events := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(events, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.DeviceID, cfg.DataDir, cfg.MQTT.URL = device, dataDir, "mqtt://"+broker
	cfg.S3.Endpoint, cfg.S3.Bucket, cfg.S3.AccessKey, cfg.S3.SecretKey = s3.Endpoint, "push-test", s3.AccessKey, config.Secret(s3.SecretKey)

	res, err := Push(ctx, cfg, events, quietLogger())
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if res.Queued != 5 || res.Remaining != 0 {
		t.Fatalf("push result %+v, want 5 queued and 0 remaining", res)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	for _, env := range envs {
		if seen[env.ID] != 1 {
			t.Errorf("event %s delivered %d times, want 1", env.ID, seen[env.ID])
		}
	}
	mu.Unlock()

	mc, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range envs {
		_, p, err := event.Parse(mustEncode(t, env))
		if err != nil {
			t.Fatal(err)
		}
		inf := p.(*event.Infraction)
		for _, f := range []*event.EvidenceFile{inf.Evidence.Snapshot, inf.Evidence.Manifest} {
			obj, err := mc.GetObject(context.Background(), "push-test", f.Key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			st, err := obj.Stat()
			if err != nil {
				t.Fatalf("object %s missing: %v", f.Key, err)
			}
			buf := make([]byte, st.Size)
			if _, err := obj.Read(buf); err != nil && err.Error() != "EOF" {
				t.Fatal(err)
			}
			h.Write(buf)
			if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
				t.Errorf("object %s hash %s, want %s", f.Key, got, f.SHA256)
			}
		}
	}

	// A broken infraction line is refused with its position; nothing is queued.
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	if err := os.WriteFile(bad, []byte(lines[0]+"\n"+`{"v":1,"type":"infraction","id":"nope","data":{}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, cfg, bad, quietLogger()); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("malformed line: err = %v, want one naming line 2", err)
	}
}

func mustEncode(t *testing.T, env event.Envelope) []byte {
	t.Helper()
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
