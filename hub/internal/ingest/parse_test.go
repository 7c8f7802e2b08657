package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// FuzzParse feeds arbitrary topics and payloads (outside bytes) to parse: it
// must never panic, refuse with a reason, or accept only a consumed kind
// whose envelope matches the topic.
func FuzzParse(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "shared", "event", "testdata", "v1", "*.json"))
	for _, g := range golden {
		b, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		if env, err := event.Decode(b); err == nil {
			f.Add(event.Topic(env.DeviceID, env.Type), b)
		}
	}
	f.Add("traffic/v1/CAM1/metrics", []byte(`{"v":1}`))
	f.Add("traffic/v1/CAM1/status", []byte(`not json`))
	f.Add("garbage", []byte{0xff, 0x00})
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		env, p, err := parse(&paho.Publish{Topic: topic, Payload: payload})
		if err != nil {
			var ref *refusal
			if !errors.As(err, &ref) || ref.reason == "" {
				t.Fatalf("parse error is not a refusal with a reason: %v", err)
			}
			return
		}
		device, kind, terr := event.ParseTopic(topic)
		if terr != nil || env.DeviceID != device || env.Type != kind || p == nil || p.Kind() != kind {
			t.Fatalf("accepted %q as %s/%s (payload %T)", topic, env.DeviceID, env.Type, p)
		}
		switch kind {
		case event.KindInfraction, event.KindStatus, event.KindMetrics, event.KindAck:
		default:
			t.Fatalf("accepted a %s message, which the hub does not consume", kind)
		}
	})
}
