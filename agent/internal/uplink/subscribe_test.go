package uplink

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// hubClient is a plain MQTT 5 client playing the hub: it publishes
// commands (QoS 1, not retained).
func hubClient(t *testing.T, addr string) *paho.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx := testenv.Context(t, 10*time.Second)
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "hub-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

type inbox struct {
	mu   sync.Mutex
	msgs map[string][]string // topic -> payloads
}

func (b *inbox) add(topic string, payload []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.msgs == nil {
		b.msgs = map[string][]string{}
	}
	b.msgs[topic] = append(b.msgs[topic], string(payload))
}

func (b *inbox) count(topic string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs[topic])
}

// TestIntegrationMosquittoSubscribeSurvivesBrokerRestart: the link's
// subscriptions receive QoS 1 messages, and are made again after the broker
// restarted (a broker may lose its sessions), without the process's help.
func TestIntegrationMosquittoSubscribeSurvivesBrokerRestart(t *testing.T) {
	addr := testenv.FreeAddr(t)
	mq := startMosquitto(t, addr, t.TempDir())
	device := testDevice()
	cmdTopic := event.Topic(device, event.KindCommand)
	sigTopic := event.SignalTopic(device, "CAM-1")
	var in inbox
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRedialer(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device,
		Subscriptions: []string{cmdTopic, event.SignalFilter(device)}, OnMessage: in.add, SessionExpiry: time.Minute}, testLog(t))
	defer r.Close(context.Background())
	waitFor(t, 10*time.Second, "first subscription", func() bool { return r.Subscribed() >= 1 })

	hub := hubClient(t, addr)
	pub := func(topic, payload string) {
		t.Helper()
		if _, err := hub.Publish(testenv.Context(t, 5*time.Second), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil {
			t.Fatal(err)
		}
	}
	pub(cmdTopic, `{"first":1}`)
	pub(sigTopic, `{"phase":"red"}`)
	pub(event.Topic(device, event.KindStatus), `{"not":"subscribed"}`)
	waitFor(t, 10*time.Second, "command and signal delivered", func() bool { return in.count(cmdTopic) == 1 && in.count(sigTopic) == 1 })
	if n := in.count(event.Topic(device, event.KindStatus)); n != 0 {
		t.Fatalf("received %d messages on a topic never subscribed", n)
	}

	// A broker restart with its persistence file removed forgets every session.
	mq.Stop()
	startMosquitto(t, addr, t.TempDir())
	waitFor(t, 30*time.Second, "re-subscription after the restart", func() bool { return r.Subscribed() >= 2 })
	hub = hubClient(t, addr)
	pub(cmdTopic, `{"second":2}`)
	waitFor(t, 10*time.Second, "command after the restart", func() bool { return in.count(cmdTopic) == 2 })
}
