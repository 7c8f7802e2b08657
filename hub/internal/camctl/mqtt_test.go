package camctl

import (
	"context"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestMQTTPublishWithoutBroker(t *testing.T) {
	m, err := DialMQTT(context.Background(), MQTTConfig{BrokerURL: "mqtt://" + testenv.FreeAddr(t), ClientID: "camctl-test-" + suffix()}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := m.Publish(ctx, "traffic/v1/X/command", []byte("{}")); err == nil {
		t.Fatal("publish succeeded with no broker")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("publish failed only after %v", d)
	}
}

func TestDialMQTTRefusesBadConfig(t *testing.T) {
	for _, cfg := range []MQTTConfig{{BrokerURL: "::bad", ClientID: "x"}, {BrokerURL: "mqtt://127.0.0.1:1"}} {
		if _, err := DialMQTT(context.Background(), cfg, quiet); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// A subscription is sent again after the connection drops and comes back.
func TestMQTTResubscribesIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hub, pub := dialHub(t, ctx, broker), dialHub(t, ctx, broker)
	topic := LiveTopic("AGT-"+suffix(), "CAM1")
	got := make(chan string, 64)
	stop, err := hub.Subscribe(ctx, topic, func(b []byte) {
		select {
		case got <- string(b):
		default:
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case m := <-got:
				if m == want {
					return
				}
			case <-tick.C:
				_ = pub.Publish(ctx, topic, []byte(want))
			case <-deadline:
				t.Fatalf("%q not delivered", want)
			}
		}
	}
	waitFor("before")
	hub.cm.TerminateConnectionForTest()
	waitFor("after")
	stop()
	// After the last cancel nothing more is delivered.
	time.Sleep(200 * time.Millisecond)
	for len(got) > 0 {
		<-got
	}
	_ = pub.Publish(ctx, topic, []byte("late"))
	select {
	case m := <-got:
		t.Errorf("received %q after unsubscribing", m)
	case <-time.After(500 * time.Millisecond):
	}
}
