package uplink

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

func subscribe(t *testing.T, addr, topic string) <-chan *paho.Publish {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { ch <- pr.Packet; return true, nil }}})
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "sub-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return ch
}

func next(t *testing.T, ch <-chan *paho.Publish) (event.Envelope, event.Payload) {
	t.Helper()
	select {
	case p := <-ch:
		env, pl, err := event.Parse(p.Payload)
		if err != nil {
			t.Fatalf("received an invalid message: %v", err)
		}
		return env, pl
	case <-time.After(10 * time.Second):
		t.Fatal("nothing received within 10 s")
	}
	return event.Envelope{}, nil
}

func TestMosquittoStatusPublishAndOffline(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	device := "UPL-" + strings.ToUpper(event.NewID()[24:32])
	status := subscribe(t, addr, event.Topic(device, event.KindStatus))
	infr := subscribe(t, addr, event.Topic(device, event.KindInfraction))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := testenv.Context(t, 30*time.Second)
	m, err := Dial(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, p := next(t, status); p.(*event.Status).State != event.StateOnline {
		t.Fatalf("first status is %+v, want online", p)
	}
	now := time.Now()
	env, err := event.New(device, now, &event.Infraction{Type: event.OtherViolation, CameraID: device, DetectedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(ctx, env); err != nil {
		t.Fatal(err)
	}
	if got, _ := next(t, infr); got.ID != env.ID {
		t.Fatalf("received %s, sent %s", got.ID, env.ID)
	}
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, p := next(t, status); p.(*event.Status).State != event.StateOffline {
		t.Fatalf("status after Close is %+v, want offline", p)
	}
	// Clear the retained status so the broker does not keep test debris.
	conn, _ := net.Dial("tcp", addr)
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "clr-" + device, CleanStart: true}); err == nil {
		_, _ = c.Publish(ctx, &paho.Publish{Topic: event.Topic(device, event.KindStatus), QoS: 1, Retain: true})
		_ = c.Disconnect(&paho.Disconnect{})
	}
}

func TestDeadBrokerIsReported(t *testing.T) {
	addr := testenv.FreeAddr(t) // nothing listens there
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := time.Now()
	_, err := Dial(context.Background(), Config{BrokerURL: "mqtt://" + addr, DeviceID: "CAM1", WaitConnect: time.Second}, log)
	if err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("got %v, want a not-reachable error", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("WaitConnect was not honoured")
	}
	if _, err := Dial(context.Background(), Config{BrokerURL: "::bad", DeviceID: "CAM1"}, log); err == nil {
		t.Fatal("bad URL accepted")
	}
}
