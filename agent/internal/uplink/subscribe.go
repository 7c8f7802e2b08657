package uplink

import (
	"context"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// subscribe (re)subscribes to cfg.Subscriptions after a connection came up.
// A session the broker kept would already hold them, but subscribing again
// is harmless and covers a broker that lost its state (restart without
// persistence), so it is done on every connection.
func (m *MQTT) subscribe(ctx context.Context, cm *autopaho.ConnectionManager) {
	subs := make([]paho.SubscribeOptions, len(m.cfg.Subscriptions))
	for i, f := range m.cfg.Subscriptions {
		subs[i] = paho.SubscribeOptions{Topic: f, QoS: 1}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		// The connection dropped meanwhile; the next OnConnectionUp retries.
		m.log.Warn("subscribe failed", "err", err)
		return
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(subs) {
			m.log.Error("broker refused subscription", "filter", subs[i].Topic, "reason", rc)
		}
	}
	m.log.Debug("subscribed", "filters", m.cfg.Subscriptions)
	m.subscribed.Add(1)
}

// received hands a message of a subscription to cfg.OnMessage.
func (m *MQTT) received(pr paho.PublishReceived) (bool, error) {
	if m.cfg.OnMessage == nil || pr.Packet == nil {
		return false, nil
	}
	m.cfg.OnMessage(pr.Packet.Topic, pr.Packet.Payload)
	return true, nil
}

// Subscribed returns how many times the subscriptions were (re)made, one
// per connection (for tests and diagnostics).
func (m *MQTT) Subscribed() int64 { return m.subscribed.Load() }

// Subscribed returns how many times the subscriptions were (re)made; 0
// before the first connection.
func (r *Redialer) Subscribed() int64 {
	if m := r.link(); m != nil {
		return m.Subscribed()
	}
	return 0
}
