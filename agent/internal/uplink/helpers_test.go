package uplink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
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

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/internal/testminio"
	"github.com/vigia-pe/vigia/internal/testmosquitto"
	"github.com/vigia-pe/vigia/shared/event"
)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testLog logs to the test output at Warn and above (set VIGIA_TEST_DEBUG for Debug).
func testLog(t testing.TB) *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("VIGIA_TEST_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: lvl}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testDevice() string { return "UPL-" + strings.ToUpper(event.NewID()[24:32]) }

// newEntry builds an infraction entry for device with the given evidence.
func newEntry(t testing.TB, device string, files ...outbox.FileRef) outbox.Entry {
	t.Helper()
	now := time.Now()
	env, err := event.New(device, now, &event.Infraction{Type: event.OtherViolation, CameraID: device, DetectedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return outbox.Entry{EventID: env.ID, Kind: env.Type, Topic: event.Topic(device, env.Type), Payload: b, Evidence: files}
}

// writeEvidence writes size random bytes and returns its FileRef.
func writeEvidence(t testing.TB, dir, key string, size int) outbox.FileRef {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(dir, strings.ReplaceAll(key, "/", "_"))
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return outbox.FileRef{Key: key, Path: p, SHA256: hex.EncodeToString(sum[:]), Size: int64(size)}
}

func openOutbox(t testing.TB, path string) *outbox.Outbox {
	t.Helper()
	ob, err := outbox.Open(path, outbox.Config{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return ob
}

// counter is a QoS 1 subscriber that counts received event ids. With a
// fixed client id and a session expiry, the broker keeps its subscription
// and queued messages while it is disconnected (and across a broker
// restart with persistence), and it reconnects by itself.
type counter struct {
	mu    sync.Mutex
	seen  map[string]int
	total int
	bad   int
}

func (c *counter) add(p *paho.Publish) {
	env, err := event.Decode(p.Payload)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.bad++
		return
	}
	if c.seen == nil {
		c.seen = make(map[string]int)
	}
	c.seen[env.ID]++
	c.total++
}

// report returns distinct ids received, raw messages and duplicates.
func (c *counter) report() (distinct, total, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen), c.total, c.total - len(c.seen)
}

func (c *counter) undecodable() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad
}

func (c *counter) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[id]
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// subscribeCounter keeps a subscriber on topic connected until the test ends.
// persistent asks for a session the broker keeps (1 h).
func subscribeCounter(t testing.TB, addr, topic string, persistent bool) *counter {
	t.Helper()
	c := &counter{}
	id := "cnt-" + event.NewID()[20:]
	ctx, cancel := context.WithCancel(context.Background())
	connected := make(chan struct{}, 1)
	connectOnce := func() (*paho.Client, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil, err
		}
		cl := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { c.add(pr.Packet); return true, nil }}})
		cp := &paho.Connect{ClientID: id, CleanStart: !persistent, KeepAlive: 10}
		if persistent {
			exp := uint32(3600)
			cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
		}
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		if _, err := cl.Connect(cctx, cp); err != nil {
			conn.Close()
			return nil, err
		}
		if _, err := cl.Subscribe(cctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
			_ = cl.Disconnect(&paho.Disconnect{})
			return nil, err
		}
		return cl, nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl, err := connectOnce()
			if err != nil {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			select {
			case connected <- struct{}{}:
			default:
			}
			select {
			case <-ctx.Done():
				_ = cl.Disconnect(&paho.Disconnect{})
				return
			case <-cl.Done():
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("subscriber could not connect to %s", addr)
	}
	t.Cleanup(func() { cancel(); <-done })
	return c
}

// startMosquitto starts a private broker with persistence in dir (see internal/testmosquitto).
func startMosquitto(t testing.TB, addr, dir string) *testmosquitto.Server {
	t.Helper()
	return testmosquitto.Start(t, addr, dir)
}

// minioServer is a real MinIO (internal/testminio) that outage tests stop
// and restart in place.
type minioServer struct{ *testminio.Server }

func newMinIO(t testing.TB) *minioServer { return &minioServer{testminio.Start(t)} }

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (s *minioServer) config(bucket string) S3Config {
	return S3Config{Endpoint: s.Endpoint, Bucket: bucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		CreateBucket: true, PartSize: 5 << 20}
}

// objectSHA downloads key and returns its size and SHA-256.
func objectSHA(t testing.TB, u *S3Uploader, key string) (int64, string) {
	t.Helper()
	ctx := testenv.Context(t, time.Minute)
	obj, err := u.client.GetObject(ctx, u.cfg.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer obj.Close()
	h := sha256.New()
	n, err := io.Copy(h, obj)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}
