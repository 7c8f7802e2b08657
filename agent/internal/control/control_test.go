package control

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/shared/event"
)

const dev = "EDGE-T"

// fakeCameras records what the controller asked for.
type fakeCameras struct {
	mu       sync.Mutex
	running  map[string]bool
	urls     map[string]string
	settings map[string]Settings
	calls    []string
	startErr error
}

func newFake(ids ...string) *fakeCameras {
	f := &fakeCameras{running: map[string]bool{}, urls: map[string]string{}, settings: map[string]Settings{}}
	for _, id := range ids {
		f.running[id] = true
	}
	return f
}

func (f *fakeCameras) Known(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.running[id]
	return ok
}

func (f *fakeCameras) Stop(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "stop "+id)
	f.running[id] = false
	return nil
}

func (f *fakeCameras) Start(_ context.Context, id, url string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "start "+id)
	if f.startErr != nil {
		return f.startErr
	}
	f.running[id] = true
	if url != "" {
		f.urls[id] = url
	}
	return nil
}

func (f *fakeCameras) Configure(id string, s Settings) (Settings, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "configure "+id)
	cur := f.settings[id]
	if s.SpeedLimitKmh != nil {
		cur.SpeedLimitKmh = s.SpeedLimitKmh
	}
	if s.ToleranceKmh != nil {
		cur.ToleranceKmh = s.ToleranceKmh
	}
	f.settings[id] = cur
	return cur, nil
}

func (f *fakeCameras) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func command(t *testing.T, device string, ts time.Time, c *event.Command) []byte {
	t.Helper()
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	env := event.Envelope{V: 1, Type: event.KindCommand, ID: event.NewID(), DeviceID: device, TS: ts.UTC(), Data: data}
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reasonOf(a event.Ack) string {
	var r struct {
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(a.Result, &r)
	return r.Reason
}

func TestHandleOutcomes(t *testing.T) {
	now := time.Now()
	topic := event.Topic(dev, event.KindCommand)
	tests := []struct {
		name        string
		payload     []byte
		topic       string
		wantAck     bool
		outcome     event.Outcome
		reason      string
		msgContains string
		calls       []string
	}{
		{name: "stop", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeDone, calls: []string{"stop CAM-1"}},
		{name: "start with url", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStart, CameraID: "CAM-1",
			RTSPURL: "rtsp://admin:S3cretPass@10.0.0.9/ch1"}), wantAck: true, outcome: event.OutcomeDone, calls: []string{"start CAM-1"}},
		{name: "config update", payload: command(t, dev, now, &event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1",
			Config: json.RawMessage(`{"speed_limit_kmh":40,"tolerance_kmh":3}`)}), wantAck: true, outcome: event.OutcomeDone,
			msgContains: "configuration applied", calls: []string{"configure CAM-1"}},
		{name: "start with spec-named limit", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStart, CameraID: "CAM-1",
			Config: json.RawMessage(`{"speed_limit":60}`)}), wantAck: true, outcome: event.OutcomeDone, calls: []string{"configure CAM-1", "start CAM-1"}},
		{name: "unknown config key", payload: command(t, dev, now, &event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1",
			Config: json.RawMessage(`{"speed_limit_kmh":40,"fps":30}`)}), wantAck: true, outcome: event.OutcomeRejected,
			reason: ReasonConfig, msgContains: `unsupported keys "fps"`},
		{name: "limit out of range", payload: command(t, dev, now, &event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1",
			Config: json.RawMessage(`{"speed_limit_kmh":"fast"}`)}), wantAck: true, outcome: event.OutcomeRejected,
			reason: ReasonConfig, msgContains: "speed_limit_kmh must be a number"},
		{name: "empty config update", payload: command(t, dev, now, &event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonConfig},
		{name: "unknown action", payload: command(t, dev, now, &event.Command{Action: "camera.reboot", CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonUnknownAction, msgContains: "camera.reboot"},
		{name: "unknown camera", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-9"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonUnknownCamera, msgContains: "CAM-9"},
		{name: "bad camera id", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop, CameraID: "../etc"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonInvalid, msgContains: "data.camera_id"},
		{name: "missing camera", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonInvalid, msgContains: "camera_id"},
		{name: "wrong device", payload: command(t, "EDGE-OTHER", now, &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonWrongDevice, msgContains: "EDGE-OTHER"},
		{name: "expired", payload: command(t, dev, now.Add(-time.Minute), &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1",
			TimeoutSeconds: 10}), wantAck: true, outcome: event.OutcomeRejected, reason: ReasonExpired},
		{name: "not expired without timeout", payload: command(t, dev, now.Add(-time.Hour), &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeDone, calls: []string{"stop CAM-1"}},
		{name: "malformed JSON", payload: []byte(`{"v":1,"type":"command",`), wantAck: false},
		{name: "not JSON", payload: []byte("stop CAM-1"), wantAck: false},
		{name: "invalid envelope with id", payload: []byte(`{"v":2,"type":"command","id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f64","device_id":"EDGE-T","data":{}}`),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonMalformed},
		{name: "ack on the command topic", payload: func() []byte {
			env, _ := event.New(dev, now, &event.Ack{CommandID: event.NewID(), Outcome: event.OutcomeDone})
			b, _ := env.Encode()
			return b
		}(), wantAck: true, outcome: event.OutcomeRejected, reason: ReasonNotCommand},
		{name: "stop with config", payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1",
			Config: json.RawMessage(`{"speed_limit_kmh":40}`)}), wantAck: true, outcome: event.OutcomeRejected, reason: ReasonConfig},
		{name: "topic of another device", topic: event.Topic("EDGE-OTHER", event.KindCommand),
			payload: command(t, dev, now, &event.Command{Action: event.ActionStreamStop, CameraID: "CAM-1"}),
			wantAck: true, outcome: event.OutcomeRejected, reason: ReasonWrongDevice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cams := newFake("CAM-1", "CAM-2")
			var emitted []event.Envelope
			c := New(Config{DeviceID: dev, Emit: func(e event.Envelope) error { emitted = append(emitted, e); return nil }}, cams, nil)
			top := topic
			if tc.topic != "" {
				top = tc.topic
			}
			ack, ok := c.Handle(context.Background(), top, tc.payload)
			if ok != tc.wantAck {
				t.Fatalf("acknowledged = %v, want %v (%+v)", ok, tc.wantAck, ack)
			}
			if !tc.wantAck {
				if len(emitted) != 0 || c.Dropped() != 1 {
					t.Fatalf("emitted %d acks, dropped %d; want none and 1", len(emitted), c.Dropped())
				}
				return
			}
			if len(emitted) != 1 {
				t.Fatalf("emitted %d acks, want exactly 1", len(emitted))
			}
			_, p, err := event.Parse(mustEncode(t, emitted[0]))
			if err != nil {
				t.Fatalf("emitted ack invalid: %v", err)
			}
			got := p.(*event.Ack)
			if got.Outcome != tc.outcome || reasonOf(*got) != tc.reason || got.CommandID != ack.CommandID {
				t.Fatalf("ack %+v (result %s): want outcome %s reason %q", got, got.Result, tc.outcome, tc.reason)
			}
			if !strings.Contains(got.Message, tc.msgContains) || !strings.Contains(got.Message, " / ") {
				t.Fatalf("message %q: want it to contain %q and both languages", got.Message, tc.msgContains)
			}
			if strings.Contains(got.Message, "S3cretPass") {
				t.Fatalf("message leaks the camera password: %q", got.Message)
			}
			if calls := cams.callList(); strings.Join(calls, ",") != strings.Join(tc.calls, ",") {
				t.Fatalf("camera calls %v, want %v", calls, tc.calls)
			}
		})
	}
}

func mustEncode(t *testing.T, e event.Envelope) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailedStartRedactsURL(t *testing.T) {
	cams := newFake("CAM-1")
	url := "rtsp://admin:S3cretPass@10.0.0.9/ch1"
	cams.startErr = errors.New("dial " + url + ": connection refused")
	c := New(Config{DeviceID: dev, Emit: func(event.Envelope) error { return nil }}, cams, nil)
	ack, _ := c.Handle(context.Background(), event.Topic(dev, event.KindCommand),
		command(t, dev, time.Now(), &event.Command{Action: event.ActionStreamStart, CameraID: "CAM-1", RTSPURL: url}))
	if ack.Outcome != event.OutcomeFailed || reasonOf(ack) != ReasonFailed {
		t.Fatalf("ack %+v, want failed", ack)
	}
	if strings.Contains(ack.Message, "S3cretPass") || !strings.Contains(ack.Message, "connection refused") {
		t.Fatalf("message %q: want the cause without the password", ack.Message)
	}
}

// TestDuplicateCommandRunsOnce: a redelivered command id is acknowledged
// again with the same outcome but not executed again, also after a restart
// (the store is a file).
func TestDuplicateCommandRunsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.db")
	cams := newFake("CAM-1")
	var acks []event.Ack
	emit := func(e event.Envelope) error {
		p, err := event.DecodePayload[*event.Ack](e)
		if err != nil {
			t.Fatal(err)
		}
		acks = append(acks, *p)
		return nil
	}
	msg := command(t, dev, time.Now(), &event.Command{Action: event.ActionConfigUpdate, CameraID: "CAM-1",
		Config: json.RawMessage(`{"speed_limit_kmh":45}`)})
	for round := range 2 {
		st, err := OpenStore(path, 10)
		if err != nil {
			t.Fatal(err)
		}
		c := New(Config{DeviceID: dev, Store: st, Emit: emit}, cams, nil)
		for range 2 {
			c.Handle(context.Background(), c.Topic(), msg)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if want := 2 * (round + 1); len(acks) != want {
			t.Fatalf("round %d: %d acks, want %d", round, len(acks), want)
		}
	}
	if calls := cams.callList(); len(calls) != 1 {
		t.Fatalf("camera calls %v, want exactly one execution", calls)
	}
	for _, a := range acks[1:] {
		if a.CommandID != acks[0].CommandID || a.Outcome != acks[0].Outcome || a.Message != acks[0].Message || string(a.Result) != string(acks[0].Result) {
			t.Fatalf("acks disagree: %+v vs %+v", a, acks[0])
		}
	}
	if string(acks[0].Result) != `{"speed_limit_kmh":45}` {
		t.Fatalf("result %s, want the settings in force", acks[0].Result)
	}
}

func TestStoreForgetsOldest(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "c.db")} {
		st, err := OpenStore(path, 3)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		var ids []string
		for i := range 5 {
			id := event.NewID()
			ids = append(ids, id)
			if err := st.Put(event.Ack{CommandID: id, Outcome: event.OutcomeDone}, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		if st.Len() != 3 {
			t.Fatalf("store %q keeps %d ids, want 3", path, st.Len())
		}
		for i, id := range ids {
			_, ok, err := st.Get(id)
			if err != nil || ok != (i >= 2) {
				t.Fatalf("store %q: id %d remembered=%v err=%v", path, i, ok, err)
			}
		}
		st.Close()
	}
}

func TestParseSettings(t *testing.T) {
	tests := []struct {
		name, in string
		limit    float64
		tol      float64
		err      string
	}{
		{name: "both", in: `{"speed_limit_kmh":50,"tolerance_kmh":5}`, limit: 50, tol: 5},
		{name: "spec alias", in: `{"speed_limit":60}`, limit: 60, tol: -1},
		{name: "clear override", in: `{"speed_limit_kmh":0}`, limit: 0, tol: -1},
		{name: "only tolerance", in: `{"tolerance_kmh":3}`, limit: -1, tol: 3},
		{name: "alias and key", in: `{"speed_limit":60,"speed_limit_kmh":50}`, err: "not both"},
		{name: "unknown keys", in: `{"zones":[],"fps":30}`, err: `unsupported keys "fps", "zones"`},
		{name: "negative", in: `{"speed_limit_kmh":-5}`, err: "within 0..200"},
		{name: "tolerance too big", in: `{"tolerance_kmh":80}`, err: "within 0..50"},
		{name: "string", in: `{"tolerance_kmh":"5"}`, err: "must be a number"},
		{name: "empty", in: `{}`, err: "no setting"},
		{name: "array", in: `[1]`, err: "JSON object"},
		{name: "null", in: `null`, err: "JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(json.RawMessage(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, p *float64, want float64) {
				if (p == nil) != (want < 0) || (p != nil && *p != want) {
					t.Fatalf("%s = %v, want %g (-1: unset)", name, p, want)
				}
			}
			check("limit", s.SpeedLimitKmh, tc.limit)
			check("tolerance", s.ToleranceKmh, tc.tol)
		})
	}
}

// FuzzHandle: command payloads come from the network; whatever arrives, the
// controller must not panic and must acknowledge at most once with a valid ack.
func FuzzHandle(f *testing.F) {
	f.Add([]byte(`{"v":1,"type":"command","id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f64","device_id":"EDGE-T","ts":"2026-11-01T15:30:00Z","data":{"action":"stream.stop","camera_id":"CAM-1"}}`))
	f.Add([]byte(`{"v":1,"type":"command","id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f64","device_id":"EDGE-T","ts":"2026-11-01T15:30:00Z","data":{"action":"config.update","camera_id":"CAM-1","config":{"speed_limit_kmh":1e400}}}`))
	f.Add([]byte(`{"id":"0193f2a4-7c1e-7b3a-9f10-2b6c8d4e5f64"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		c := New(Config{DeviceID: dev, Emit: func(e event.Envelope) error {
			n++
			if _, _, err := event.Parse(mustEncode(t, e)); err != nil {
				t.Fatalf("invalid ack emitted: %v", err)
			}
			return nil
		}}, newFake("CAM-1"), nil)
		_, ok := c.Handle(context.Background(), c.Topic(), b)
		if (n == 1) != ok || n > 1 {
			t.Fatalf("%d acks emitted, acknowledged=%v", n, ok)
		}
	})
}
