package camctl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// MQTTConfig configures the hub's control connection.
type MQTTConfig struct {
	BrokerURL string
	// ClientID must differ from the ingestion consumer's and between replicas.
	ClientID string
	Username string
	Password string
}

// MQTT is the hub's control connection to the broker: it publishes
// commands (QoS 1) and subscribes on demand to live-detection topics
// (QoS 0). It implements Publisher and Subscriber. Subscriptions survive
// reconnections: they are sent again whenever the connection comes up.
type MQTT struct {
	cm  *autopaho.ConnectionManager
	log *slog.Logger

	mu   sync.Mutex
	subs map[string]map[int]func([]byte) // topic → handlers
	next int
}

var (
	_ Publisher         = (*MQTT)(nil)
	_ Subscriber        = (*MQTT)(nil)
	_ ExpiringPublisher = (*MQTT)(nil)
)

// DialMQTT starts the connection in the background; it returns at once and
// keeps reconnecting until ctx ends or Close is called.
func DialMQTT(ctx context.Context, cfg MQTTConfig, log *slog.Logger) (*MQTT, error) {
	u, err := url.Parse(cfg.BrokerURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("camctl: broker URL cannot be parsed")
	}
	if cfg.ClientID == "" {
		return nil, errors.New("camctl: MQTT client id required")
	}
	m := &MQTT{log: log.With("component", "camctl.mqtt"), subs: map[string]map[int]func([]byte){}}
	cliCfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     20,
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         0, // nothing to keep: commands wait for acks in the database
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, 500*time.Millisecond, 2.0),
		ConnectTimeout:                10 * time.Second,
		ConnectUsername:               cfg.Username,
		ConnectPassword:               []byte(cfg.Password),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go m.resubscribe(ctx, cm)
		},
		OnConnectError: func(err error) { m.log.Warn("broker connect failed", "broker", u.Redacted(), "err", err) },
		ClientConfig: paho.ClientConfig{
			ClientID: cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				m.dispatch(pr.Packet.Topic, pr.Packet.Payload)
				return true, nil
			}},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cliCfg)
	if err != nil {
		return nil, fmt.Errorf("camctl: connect %s: %w", u.Redacted(), err)
	}
	m.cm = cm
	return m, nil
}

// AwaitConnection blocks until the connection is up or ctx ends.
func (m *MQTT) AwaitConnection(ctx context.Context) error { return m.cm.AwaitConnection(ctx) }

// Close disconnects.
func (m *MQTT) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := m.cm.Disconnect(ctx)
	<-m.cm.Done()
	if errors.Is(err, autopaho.ConnectionDownError) {
		return nil
	}
	return err
}

// Publish sends payload on topic with QoS 1 and waits for the broker's
// PUBACK, waiting first (within ctx) for the connection if it is down.
func (m *MQTT) Publish(ctx context.Context, topic string, payload []byte) error {
	return m.publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
}

// PublishExpiring is Publish with an MQTT 5 message expiry: a broker still
// holding the message for an offline subscriber (a kept session) drops it
// once expiry has passed, instead of delivering it late.
func (m *MQTT) PublishExpiring(ctx context.Context, topic string, payload []byte, expiry time.Duration) error {
	p := &paho.Publish{Topic: topic, QoS: 1, Payload: payload}
	if expiry > 0 {
		s := uint32(min(math.Ceil(expiry.Seconds()), math.MaxUint32))
		p.Properties = &paho.PublishProperties{MessageExpiry: &s}
	}
	return m.publish(ctx, p)
}

func (m *MQTT) publish(ctx context.Context, p *paho.Publish) error {
	topic := p.Topic
	if err := m.cm.AwaitConnection(ctx); err != nil {
		return fmt.Errorf("camctl: publish %s: broker not connected: %w", topic, err)
	}
	res, err := m.cm.Publish(ctx, p)
	if err != nil {
		return fmt.Errorf("camctl: publish %s: %w", topic, err)
	}
	if res != nil && res.ReasonCode >= 0x80 {
		return fmt.Errorf("camctl: publish %s: refused by the broker (reason 0x%02x)", topic, res.ReasonCode)
	}
	return nil
}

// Subscribe calls fn with every message on topic (an exact topic, no
// wildcards) until the returned cancel is called. fn runs on the MQTT
// client's receive goroutine and must not block.
func (m *MQTT) Subscribe(ctx context.Context, topic string, fn func([]byte)) (func(), error) {
	m.mu.Lock()
	hs := m.subs[topic]
	first := hs == nil
	if first {
		hs = map[int]func([]byte){}
		m.subs[topic] = hs
	}
	id := m.next
	m.next++
	hs[id] = fn
	m.mu.Unlock()
	cancel := func() {
		m.mu.Lock()
		hs := m.subs[topic]
		delete(hs, id)
		last := hs != nil && len(hs) == 0
		if last {
			delete(m.subs, topic)
		}
		m.mu.Unlock()
		if last {
			uctx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			if _, err := m.cm.Unsubscribe(uctx, &paho.Unsubscribe{Topics: []string{topic}}); err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
				m.log.Debug("unsubscribe failed", "topic", topic, "err", err)
			}
		}
	}
	if first {
		// Sent outside the lock: the SUBACK is read by the goroutine that dispatches.
		_, err := m.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 0}}})
		if err != nil && !errors.Is(err, autopaho.ConnectionDownError) {
			cancel()
			return nil, fmt.Errorf("camctl: subscribe %s: %w", topic, err)
		}
		// While the connection is down, resubscribe sends it when it comes up.
	}
	return cancel, nil
}

func (m *MQTT) dispatch(topic string, payload []byte) {
	m.mu.Lock()
	hs := make([]func([]byte), 0, len(m.subs[topic]))
	for _, h := range m.subs[topic] {
		hs = append(hs, h)
	}
	m.mu.Unlock()
	for _, h := range hs {
		h(payload)
	}
}

func (m *MQTT) resubscribe(ctx context.Context, cm *autopaho.ConnectionManager) {
	m.mu.Lock()
	var subs []paho.SubscribeOptions
	for t := range m.subs {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: 0})
	}
	m.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		m.log.Warn("resubscribe failed", "topics", len(subs), "err", err)
	}
}
