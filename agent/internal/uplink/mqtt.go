// Package uplink carries the agent's messages to the hub: MQTT 5 (QoS 1,
// waiting for the broker's acknowledgement) with a retained status and an
// "offline" last will; evidence files to MinIO/S3 with their hashes checked
// after upload; and the Sender that drains the outbox through both, in order.
package uplink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/shared/event"
)

// Config configures the MQTT link.
type Config struct {
	BrokerURL string
	DeviceID  string
	ClientID  string // defaults to "agent-<device>"
	Username  string
	Password  string
	// Status is published retained on every (re)connection; nil publishes a bare "online".
	Status func() *event.Status
	// WaitConnect bounds how long Dial waits for the first connection (default 10 s).
	WaitConnect time.Duration
	// Subscriptions are topic filters subscribed with QoS 1 on every
	// (re)connection; their messages go to OnMessage. See subscribe.go.
	Subscriptions []string
	// OnMessage receives each message of Subscriptions. It runs on the
	// client's receive goroutine and the broker gets the QoS 1
	// acknowledgement only once it returns, so it must not block for long.
	OnMessage func(topic string, payload []byte)
	// SessionExpiry, when > 0, keeps the broker session (subscriptions and
	// QoS 1 messages queued for the agent) across connection drops for this
	// long; the first connection of a process still starts clean.
	SessionExpiry time.Duration
}

// MQTT is a connected uplink.
type MQTT struct {
	cfg        Config
	cm         *autopaho.ConnectionManager
	log        *slog.Logger
	subscribed atomic.Int64
}

// Dial connects and waits up to cfg.WaitConnect for the first connection;
// afterwards the link reconnects by itself until ctx ends or Close.
func Dial(ctx context.Context, cfg Config, log *slog.Logger) (*MQTT, error) {
	u, err := url.Parse(cfg.BrokerURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("uplink: broker URL must look like mqtt://host:port")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "agent-" + cfg.DeviceID
	}
	will, err := event.New(cfg.DeviceID, time.Now(), &event.Status{State: event.StateOffline})
	if err != nil {
		return nil, fmt.Errorf("uplink: will message: %w", err)
	}
	willBytes, err := will.Encode()
	if err != nil {
		return nil, err
	}
	m := &MQTT{cfg: cfg, log: log.With("component", "uplink", "broker", u.Redacted())}
	acfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     20,
		CleanStartOnInitialConnection: true,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(500*time.Millisecond, 30*time.Second, time.Second, 2.0),
		ConnectTimeout:                10 * time.Second,
		ConnectUsername:               cfg.Username,
		ConnectPassword:               []byte(cfg.Password),
		WillMessage: &paho.WillMessage{Topic: event.Topic(cfg.DeviceID, event.KindStatus), QoS: 1, Retain: true,
			Payload: willBytes},
		SessionExpiryInterval: uint32(cfg.SessionExpiry / time.Second),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			m.log.Info("connected to broker")
			go m.publishStatus(ctx, cm)
			if len(cfg.Subscriptions) > 0 {
				go m.subscribe(ctx, cm)
			}
		},
		OnConnectError: func(err error) { m.log.Warn("broker connect failed", "err", err) },
		ClientConfig: paho.ClientConfig{ClientID: cfg.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){m.received}},
	}
	cm, err := autopaho.NewConnection(ctx, acfg)
	if err != nil {
		return nil, fmt.Errorf("uplink: connect %s: %w", u.Redacted(), err)
	}
	m.cm = cm
	if cfg.WaitConnect <= 0 {
		cfg.WaitConnect = 10 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.WaitConnect)
	defer cancel()
	if err := cm.AwaitConnection(wctx); err != nil {
		_ = m.Close(context.Background())
		return nil, fmt.Errorf("uplink: broker %s not reachable: %w", u.Redacted(), err)
	}
	return m, nil
}

func (m *MQTT) publishStatus(ctx context.Context, cm *autopaho.ConnectionManager) {
	st := &event.Status{State: event.StateOnline}
	if m.cfg.Status != nil {
		st = m.cfg.Status()
	}
	env, err := event.New(m.cfg.DeviceID, time.Now(), st)
	if err != nil {
		m.log.Error("status message invalid", "err", err)
		return
	}
	if err := m.publish(ctx, cm, env, true); err != nil {
		m.log.Warn("status publish failed", "err", err)
	}
}

// Publish sends env with QoS 1 and returns once the broker acknowledged it.
func (m *MQTT) Publish(ctx context.Context, env event.Envelope) error {
	return m.publish(ctx, m.cm, env, env.Type == event.KindStatus)
}

func (m *MQTT) publish(ctx context.Context, cm *autopaho.ConnectionManager, env event.Envelope, retain bool) error {
	b, err := env.Encode()
	if err != nil {
		return err
	}
	res, err := cm.Publish(ctx, &paho.Publish{Topic: event.Topic(env.DeviceID, env.Type), QoS: 1, Retain: retain, Payload: b})
	if err != nil {
		return fmt.Errorf("uplink: publish %s %s: %w", env.Type, env.ID, err)
	}
	if res != nil && res.ReasonCode >= 0x80 {
		return fmt.Errorf("uplink: broker refused %s %s: reason 0x%02x", env.Type, env.ID, res.ReasonCode)
	}
	return nil
}

// Close publishes a retained "offline" status and disconnects.
func (m *MQTT) Close(ctx context.Context) error {
	if m.cm == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if env, err := event.New(m.cfg.DeviceID, time.Now(), &event.Status{State: event.StateOffline}); err == nil {
		if err := m.publish(ctx, m.cm, env, true); err != nil {
			m.log.Debug("offline status not sent", "err", err)
		}
	}
	err := m.cm.Disconnect(ctx)
	<-m.cm.Done()
	return err
}
