package uplink

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// PublishQoS0 sends payload on topic at most once (QoS 0, not retained):
// for ephemeral messages such as live detections, where a lost message is
// better than a late one. expiry > 0 sets the MQTT 5 message expiry, so a
// broker holding it for a slow subscriber drops it once stale. It fails at
// once while the connection is down. The write itself is not bounded by
// ctx (the MQTT client writes to the socket directly): callers on a hot
// path publish from their own goroutine.
func (m *MQTT) PublishQoS0(ctx context.Context, topic string, payload []byte, expiry time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p := &paho.Publish{Topic: topic, QoS: 0, Payload: payload}
	if expiry > 0 {
		s := uint32(min(math.Ceil(expiry.Seconds()), math.MaxUint32))
		p.Properties = &paho.PublishProperties{MessageExpiry: &s}
	}
	if _, err := m.cm.Publish(ctx, p); err != nil {
		return fmt.Errorf("uplink: publish on %s: %w", topic, err)
	}
	return nil
}

// PublishQoS0 publishes through the link (see MQTT.PublishQoS0), or fails
// with ErrNotConnected before the first connection.
func (r *Redialer) PublishQoS0(ctx context.Context, topic string, payload []byte, expiry time.Duration) error {
	m := r.link()
	if m == nil {
		return ErrNotConnected
	}
	return m.PublishQoS0(ctx, topic, payload, expiry)
}
