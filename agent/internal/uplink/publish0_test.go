package uplink

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// TestIntegrationMosquittoPublishQoS0: a live-style message arrives at QoS
// 0, not retained, with its message expiry; before the first connection
// the Redialer fails at once.
func TestIntegrationMosquittoPublishQoS0(t *testing.T) {
	addr := testenv.MosquittoAddr()
	testenv.RequireTCP(t, addr)
	device := testDevice()
	topic := event.LiveTopic(device, "CAM-1")

	got := make(chan *paho.Publish, 4)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sub := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(pr paho.PublishReceived) (bool, error) { got <- pr.Packet; return true, nil }}})
	ctx := testenv.Context(t, 20*time.Second)
	if _, err := sub.Connect(ctx, &paho.Connect{ClientID: "sub-" + event.NewID()[24:], CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Disconnect(&paho.Disconnect{}) })
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}

	r := NewRedialer(ctx, Config{BrokerURL: "mqtt://" + addr, DeviceID: device}, quietLog())
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	if err := r.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.PublishQoS0(ctx, topic, []byte(`{"frame_id":1}`), 2500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p.Payload) != `{"frame_id":1}` || p.QoS != 0 || p.Retain {
			t.Errorf("received %q qos %d retain %v", p.Payload, p.QoS, p.Retain)
		}
		// The broker forwards the remaining expiry: at most the 3 s sent (2.5 s rounded up).
		if p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry > 3 || *p.Properties.MessageExpiry == 0 {
			t.Errorf("message expiry %+v, want 1..3 s", p.Properties)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("QoS 0 message not delivered")
	}

	dctx, cancel := context.WithCancel(context.Background())
	cancel() // never dials
	idle := NewRedialer(dctx, Config{BrokerURL: "mqtt://" + testenv.FreeAddr(t), DeviceID: device}, quietLog())
	if err := idle.PublishQoS0(ctx, topic, []byte(`{}`), 0); !errors.Is(err, ErrNotConnected) {
		t.Errorf("before the first connection: %v, want ErrNotConnected", err)
	}
}
