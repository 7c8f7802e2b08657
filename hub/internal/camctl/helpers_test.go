package camctl

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/api"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/internal/testdb"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// The API mounts the service and may share the MQTT link for device commands.
var (
	_ api.Cameras   = (*Service)(nil)
	_ api.Publisher = (*MQTT)(nil)
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

func openStore(t *testing.T) *db.Store {
	t.Helper()
	loc, err := time.LoadLocation("America/Lima")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := db.Open(ctx, testdb.New(t), loc, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func addDevice(t *testing.T, s *db.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.UpsertDevice(context.Background(), db.Device{ID: id, Name: id, RTSPURL: "rtsp://192.0.2.1/x"}); err != nil {
			t.Fatal(err)
		}
	}
}

func recordStatus(t *testing.T, s *db.Store, agent string, ts time.Time, st event.Status) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RecordStatus(context.Background(), agent, ts, b); err != nil {
		t.Fatal(err)
	}
}

func brokerURL(t *testing.T) string {
	t.Helper()
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	return "mqtt://" + addr
}

func dialHub(t *testing.T, ctx context.Context, broker string) *MQTT {
	t.Helper()
	m, err := DialMQTT(ctx, MQTTConfig{BrokerURL: broker, ClientID: "camctl-test-hub-" + suffix()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.AwaitConnection(actx); err != nil {
		t.Fatalf("hub MQTT: %v", err)
	}
	return m
}

// fakeAgent is an agent on the real broker: it receives commands on its
// command topic and answers with acks, either stored through db.InsertAck
// (the call the hub's ingestion makes for an ack message), or, when store
// is nil, published on its ack topic for the hub's real ingestion.
type fakeAgent struct {
	id    string
	store *db.Store
	cm    *autopaho.ConnectionManager
	mu    sync.Mutex
	err   error // the first failure to answer
	got   []event.Envelope
	raw   [][]byte
	// answer decides the outcome of a command; nil result means no answer.
	answer func(*event.Command) *event.Ack
}

func startFakeAgent(t *testing.T, ctx context.Context, broker string, store *db.Store, id string, answer func(*event.Command) *event.Ack) *fakeAgent {
	t.Helper()
	u, _ := url.Parse(broker)
	a := &fakeAgent{id: id, store: store, answer: answer}
	subscribed := make(chan struct{})
	var once sync.Once
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 20, CleanStartOnInitialConnection: true, ConnectTimeout: 5 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: event.Topic(id, event.KindCommand), QoS: 1}}}); err == nil {
					once.Do(func() { close(subscribed) })
				}
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: "camctl-test-agent-" + suffix(),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				go a.handle(ctx, pr.Packet.Payload)
				return true, nil
			}}},
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.cm = cm
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = cm.Disconnect(dctx)
	})
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("fake agent not subscribed within 10 s")
	}
	return a
}

func (a *fakeAgent) handle(ctx context.Context, payload []byte) {
	env, p, err := event.Parse(payload)
	if err != nil {
		return
	}
	cmd, ok := p.(*event.Command)
	if !ok {
		return
	}
	a.mu.Lock()
	a.got = append(a.got, env)
	a.raw = append(a.raw, payload)
	a.mu.Unlock()
	ack := a.answer(cmd)
	if ack == nil {
		return
	}
	ack.CommandID = env.ID
	ack.CameraID = cmd.CameraID
	out, err := event.New(a.id, time.Now(), ack)
	if err != nil {
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
		return
	}
	if a.store == nil {
		b, _ := out.Encode()
		if _, err := a.cm.Publish(ctx, &paho.Publish{Topic: event.Topic(a.id, event.KindAck), QoS: 1, Payload: b}); err != nil && ctx.Err() == nil {
			a.mu.Lock()
			a.err = err
			a.mu.Unlock()
		}
		return
	}
	if _, err := a.store.InsertAck(ctx, out, ack); err != nil && ctx.Err() == nil {
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
	}
}

func (a *fakeAgent) commands() ([]event.Envelope, [][]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]event.Envelope(nil), a.got...), append([][]byte(nil), a.raw...), a.err
}

// router mounts the service as T6 will, with a signed-in operator.
func router(s *Service) *gin.Engine {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(func(c *gin.Context) {
		c.Set("vigia.user_id", "550e8400-e29b-41d4-a716-446655440000")
		c.Set("vigia.username", "operator01")
		c.Set("vigia.role", "operator")
	})
	r.POST("/api/inference/stream/start", s.Start)
	r.POST("/api/inference/stream/stop", s.Stop)
	r.GET("/api/inference/cameras/:id/status", s.Status)
	r.GET("/api/inference/events", s.Events)
	r.GET("/api/inference/cameras/:id/live", s.Live)
	return r
}

// conform checks a response against the hub's merged OpenAPI document,
// which includes hub/internal/api/openapi/reports_cameras.json.
func conform(t *testing.T, method, pathTemplate string, status int, body []byte) {
	t.Helper()
	if err := api.CheckResponse(method, pathTemplate, status, body); err != nil {
		t.Errorf("OpenAPI conformance: %v", err)
	}
}
