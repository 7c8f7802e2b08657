// Package broker runs the hub's embedded MQTT 5 broker (mochi-mqtt), the
// single-box default when no external broker (Mosquitto) is configured.
package broker

import (
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Broker is an embedded MQTT broker listening on one TCP address.
type Broker struct {
	srv  *mqtt.Server
	addr string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves in the background.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	// Bind first so a taken port is reported now, with the address, rather than inside Serve.
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", addr, err)
	}
	bound := l.Addr().String()
	l.Close()

	srv := mqtt.New(&mqtt.Options{
		InlineClient: false,
		Logger:       log.With("component", "broker"),
	})
	// Loopback single-box default: every client allowed. Deployments exposing the
	// broker use an external one with authentication (HUB_MQTT_URL).
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("broker: auth hook: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: bound})); err != nil {
		return nil, fmt.Errorf("broker: listen on %s: %w", bound, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("broker: serve: %w", err)
	}
	return &Broker{srv: srv, addr: bound}, nil
}

// Addr returns the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL returns the broker's mqtt:// URL.
func (b *Broker) URL() string { return "mqtt://" + b.addr }

// Close stops the broker.
func (b *Broker) Close() error { return b.srv.Close() }
