package camctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/ingest"
	"github.com/vigia-pe/vigia/shared/event"
)

const rtspSecret = "Abc123456"

func TestCommandsIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	store := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sfx := suffix()
	agent, cam, camBusy, lonely := "AGT-"+sfx, "CAM-"+sfx, "CAMB-"+sfx, "CAMX-"+sfx
	addDevice(t, store, agent, cam, camBusy, lonely)
	recordStatus(t, store, agent, time.Now(), event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{
		{CameraID: cam, State: "stopped"}, {CameraID: camBusy, State: "streaming"}}})
	hub := dialHub(t, ctx, broker)
	fa := startFakeAgent(t, ctx, broker, store, agent, func(c *event.Command) *event.Ack {
		switch {
		case c.CameraID == camBusy && c.Action == event.ActionStreamStart:
			return &event.Ack{Outcome: event.OutcomeRejected, Message: "camera already streaming", Result: json.RawMessage(`{"reason":"busy"}`)}
		case c.CameraID == camBusy:
			return &event.Ack{Outcome: event.OutcomeFailed, Message: "pipeline did not stop in time"}
		case c.Action == event.ActionStreamStart:
			return &event.Ack{Outcome: event.OutcomeDone, Result: json.RawMessage(`{"stream_id":"stream_x_1"}`)}
		default:
			return &event.Ack{Outcome: event.OutcomeDone, Message: "stopped"}
		}
	})
	const ackTimeout = 1500 * time.Millisecond
	svc := New(Config{AckTimeout: ackTimeout, PollInterval: 50 * time.Millisecond}, store, hub, hub, quiet)
	r := router(svc)

	tests := []struct {
		name, path, body, lang string
		ctype                  string
		status                 int
		code, outcome          string
		msgHas                 string
		wantStatus, wantStream string
	}{
		{name: "start done", path: "/api/inference/stream/start", status: 200, outcome: "done", wantStatus: "streaming", wantStream: "stream_x_1",
			body: `{"device_id":"` + cam + `","rtsp_url":"rtsp://admin:` + rtspSecret + `@192.168.1.100:554/h264/ch1/main/av_stream","config":{"fps":30,"resolution":"2K","detection_threshold":0.5,"speed_limit":60}}`},
		{name: "stop done", path: "/api/inference/stream/stop", body: `{"device_id":"` + cam + `"}`, status: 200, outcome: "done", wantStatus: "stopped"},
		{name: "start rejected", path: "/api/inference/stream/start", body: `{"device_id":"` + camBusy + `"}`, status: 409,
			code: "command_rejected", outcome: "rejected", msgHas: "El agente rechazó el comando: camera already streaming"},
		{name: "stop failed english", path: "/api/inference/stream/stop", body: `{"device_id":"` + camBusy + `"}`, lang: "en", status: 422,
			code: "command_failed", outcome: "failed", msgHas: "The agent could not carry out the command: pipeline did not stop in time"},
		{name: "no agent answers", path: "/api/inference/stream/start", body: `{"device_id":"` + lonely + `"}`, status: 504,
			code: "agent_timeout", outcome: "timeout", msgHas: "El agente " + lonely + " no confirmó el comando en 2 s"},
		{name: "unknown device", path: "/api/inference/stream/start", body: `{"device_id":"NOPE-` + sfx + `"}`, status: 404, code: "device_not_found"},
		{name: "unknown field", path: "/api/inference/stream/start", body: `{"device_id":"` + cam + `","fps":30}`, status: 400, code: "invalid_body"},
		{name: "stop with config", path: "/api/inference/stream/stop", body: `{"device_id":"` + cam + `","config":{}}`, status: 400, code: "invalid_body"},
		{name: "bad url", path: "/api/inference/stream/start", body: `{"device_id":"` + cam + `","rtsp_url":"http://x"}`, status: 400, code: "invalid_rtsp_url"},
		{name: "injection id", path: "/api/inference/stream/start", body: `{"device_id":"x'; DROP TABLE devices;--"}`, status: 400, code: "invalid_device_id"},
		{name: "not json media type", path: "/api/inference/stream/stop", body: `device_id=` + cam, ctype: "application/x-www-form-urlencoded", status: 415, code: "unsupported_media_type"},
		{name: "too large", path: "/api/inference/stream/start", body: `{"device_id":"` + cam + `","config":{"x":"` + strings.Repeat("a", maxBody) + `"}}`, status: 413, code: "body_too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json; charset=utf-8")
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.lang != "" {
				req.Header.Set("Accept-Language", tc.lang)
			}
			w := httptest.NewRecorder()
			start := time.Now()
			r.ServeHTTP(w, req)
			elapsed := time.Since(start)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			conform(t, http.MethodPost, tc.path, w.Code, w.Body.Bytes())
			if bytes.Contains(w.Body.Bytes(), []byte(rtspSecret)) {
				t.Errorf("response leaks the RTSP password: %s", w.Body.String())
			}
			var body struct {
				Error *struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
				CommandID   string `json:"command_id"`
				Outcome     string `json:"outcome"`
				AgentReason string `json:"agent_reason"`
				Status      string `json:"status"`
				StreamID    string `json:"stream_id"`
				DeviceID    string `json:"device_id"`
				AgentID     string `json:"agent_id"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if tc.code != "" && (body.Error == nil || body.Error.Code != tc.code) {
				t.Errorf("error %+v, want code %s", body.Error, tc.code)
			}
			if tc.msgHas != "" && (body.Error == nil || !strings.Contains(body.Error.Message, tc.msgHas)) {
				t.Errorf("message %+v lacks %q", body.Error, tc.msgHas)
			}
			if wantReason := map[string]string{"start rejected": "busy"}[tc.name]; body.AgentReason != wantReason {
				t.Errorf("agent_reason %q, want %q", body.AgentReason, wantReason)
			}
			if body.Outcome != tc.outcome {
				t.Errorf("outcome %q, want %q", body.Outcome, tc.outcome)
			}
			if tc.outcome == "timeout" && (elapsed < ackTimeout || elapsed > ackTimeout+3*time.Second) {
				t.Errorf("timeout answered after %v (ack timeout %v)", elapsed, ackTimeout)
			}
			if tc.outcome != "" && !event.ValidID(body.CommandID) {
				t.Errorf("command_id %q", body.CommandID)
			}
			if body.Status != tc.wantStatus || body.StreamID != tc.wantStream {
				t.Errorf("status %q stream_id %q, want %q %q", body.Status, body.StreamID, tc.wantStatus, tc.wantStream)
			}
			if tc.status == 200 && (body.AgentID != agent || body.DeviceID == "") {
				t.Errorf("agent_id %q device_id %q", body.AgentID, body.DeviceID)
			}
		})
	}

	t.Run("what the agent received", func(t *testing.T) {
		envs, raws, err := fa.commands()
		if err != nil {
			t.Fatalf("fake agent could not answer: %v", err)
		}
		if len(envs) != 4 {
			t.Fatalf("agent got %d commands, want 4", len(envs))
		}
		cmd, err := event.DecodePayload[*event.Command](envs[0])
		if err != nil {
			t.Fatal(err)
		}
		if cmd.Action != event.ActionStreamStart || cmd.CameraID != cam || !strings.Contains(cmd.RTSPURL, rtspSecret) ||
			cmd.TimeoutSeconds != 2 || string(cmd.Config) != `{"fps":30,"resolution":"2K","detection_threshold":0.5,"speed_limit":60}` {
			t.Errorf("first command %+v", cmd)
		}
		if envs[0].DeviceID != agent || !strings.Contains(string(raws[1]), `"action":"stream.stop"`) {
			t.Errorf("envelope device %s, second command %s", envs[0].DeviceID, raws[1])
		}
	})

	t.Run("audit log", func(t *testing.T) {
		rows, err := store.Pool.Query(ctx, `SELECT action, entity_id, actor, actor_role, actor_id::text, after::text, COALESCE(reason, '')
			FROM audit_log ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var actions []string
		for rows.Next() {
			var action, entity, actor, role, actorID, after, reason string
			if err := rows.Scan(&action, &entity, &actor, &role, &actorID, &after, &reason); err != nil {
				t.Fatal(err)
			}
			actions = append(actions, action+" "+entity+" "+reason)
			if actor != "operator01" || role != "operator" || actorID != "550e8400-e29b-41d4-a716-446655440000" {
				t.Errorf("actor %s %s %s", actor, role, actorID)
			}
			if strings.Contains(after, rtspSecret) {
				t.Errorf("audit row leaks the RTSP password: %s", after)
			}
		}
		want := []string{
			"camera.stream_start " + cam + " ", "camera.stream_start.result " + cam + " ",
			"camera.stream_stop " + cam + " ", "camera.stream_stop.result " + cam + " ",
			"camera.stream_start " + camBusy + " ", "camera.stream_start.result " + camBusy + " ",
			"camera.stream_stop " + camBusy + " ", "camera.stream_stop.result " + camBusy + " ",
			"camera.stream_start " + lonely + " ", "camera.stream_start.result " + lonely + " no acknowledgement",
		}
		if strings.Join(actions, "|") != strings.Join(want, "|") {
			t.Errorf("audit actions\n%s\nwant\n%s", strings.Join(actions, "\n"), strings.Join(want, "\n"))
		}
		if _, err := store.Pool.Exec(ctx, `DELETE FROM audit_log`); err == nil {
			t.Error("audit_log accepted a DELETE")
		}
	})
}

// brokenPublisher fails every publish.
type brokenPublisher struct{}

func (brokenPublisher) Publish(context.Context, string, []byte) error {
	return context.DeadlineExceeded
}

func TestBrokerDownIntegrationPostgres(t *testing.T) {
	store := openStore(t)
	addDevice(t, store, "CAM001")
	svc := New(Config{AckTimeout: time.Second}, store, brokenPublisher{}, nil, quiet)
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/api/inference/stream/start", strings.NewReader(`{"device_id":"CAM001"}`))
	req.Header.Set("Content-Type", "application/json")
	router(svc).ServeHTTP(w, req)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"code":"broker_unavailable"`) {
		t.Errorf("%d %s", w.Code, w.Body.String())
	}
	var n int
	if err := store.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE after->>'state' = 'not_sent'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("audit rows for the unsent command: %d (%v)", n, err)
	}
}

func TestDecodeStreamRequest(t *testing.T) {
	tests := []struct {
		name, body string
		action     event.Action
		bad        string
		config     string
	}{
		{name: "minimal", body: `{"device_id":"CAM001"}`, action: event.ActionStreamStart},
		{name: "config compacted", body: `{"device_id":"CAM001","config": { "fps" : 30 }}`, action: event.ActionStreamStart, config: `{"fps":30}`},
		{name: "null config", body: `{"device_id":"CAM001","config":null}`, action: event.ActionStreamStart},
		{name: "config array", body: `{"device_id":"CAM001","config":[1]}`, action: event.ActionStreamStart, bad: "invalid_config"},
		{name: "missing id", body: `{}`, action: event.ActionStreamStop, bad: "missing_device_id"},
		{name: "wrong type", body: `{"device_id":5}`, action: event.ActionStreamStop, bad: "invalid_body"},
		{name: "trailing data", body: `{"device_id":"CAM001"} {}`, action: event.ActionStreamStop, bad: "invalid_body"},
		{name: "not json", body: `device_id=CAM001`, action: event.ActionStreamStop, bad: "invalid_body"},
		{name: "stop with url", body: `{"device_id":"CAM001","rtsp_url":"rtsp://x"}`, action: event.ActionStreamStop, bad: "invalid_body"},
		{name: "topic chars", body: `{"device_id":"CAM/+/#"}`, action: event.ActionStreamStop, bad: "invalid_device_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, bad := DecodeStreamRequest([]byte(tc.body), tc.action)
			if bad != tc.bad {
				t.Fatalf("bad %q, want %q", bad, tc.bad)
			}
			if bad == "" && string(r.Config) != tc.config {
				t.Errorf("config %s, want %s", r.Config, tc.config)
			}
		})
	}
}

func FuzzDecodeStreamRequest(f *testing.F) {
	f.Add([]byte(`{"device_id":"CAM001","rtsp_url":"rtsp://u:p@h/x","config":{"fps":30}}`), true)
	f.Add([]byte(`{"device_id":"CAM001"}`), false)
	f.Add([]byte(`{"device_id":"","config":"x"}`), true)
	f.Fuzz(func(t *testing.T, body []byte, start bool) {
		action := event.ActionStreamStop
		if start {
			action = event.ActionStreamStart
		}
		r, bad := DecodeStreamRequest(body, action)
		if bad != "" {
			return
		}
		// Whatever is accepted must make a valid command envelope.
		cmd := &event.Command{Action: action, CameraID: r.DeviceID, RTSPURL: r.RTSPURL, Config: r.Config, TimeoutSeconds: 10}
		if _, err := event.New(r.DeviceID, time.Now(), cmd); err != nil {
			t.Errorf("accepted body %q makes an invalid command: %v", body, err)
		}
	})
}

// The whole path: command over MQTT, ack over MQTT, stored by the hub's
// real ingestion consumer, found by the waiting request.
func TestAckThroughIngestIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	store := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sfx := suffix()
	agent, cam := "AGT-"+sfx, "CAM-"+sfx
	addDevice(t, store, agent, cam)
	recordStatus(t, store, agent, time.Now(), event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{{CameraID: cam, State: "stopped"}}})
	consumer := ingest.New(ingest.Config{BrokerURL: broker, ClientID: "camctl-test-ingest-" + sfx}, store, quiet)
	ictx, stopIngest := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = consumer.Run(ictx) }()
	defer func() { stopIngest(); <-done }()
	for deadline := time.Now().Add(10 * time.Second); !consumer.Ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("ingest consumer not subscribed within 10 s")
		}
	}
	hub := dialHub(t, ctx, broker)
	startFakeAgent(t, ctx, broker, nil, agent, func(*event.Command) *event.Ack {
		return &event.Ack{Outcome: event.OutcomeDone, Result: json.RawMessage(`{"status":"streaming"}`)}
	})
	svc := New(Config{AckTimeout: 5 * time.Second, PollInterval: 20 * time.Millisecond}, store, hub, hub, quiet)
	r := router(svc)
	var worst time.Duration
	for i := 0; i < 3; i++ {
		req := httptest.NewRequest(http.MethodPost, "/api/inference/stream/start", strings.NewReader(`{"device_id":"`+cam+`"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		start := time.Now()
		r.ServeHTTP(w, req)
		worst = max(worst, time.Since(start))
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"outcome":"done"`) {
			t.Fatalf("start %d: %d %s", i, w.Code, w.Body.String())
		}
		conform(t, http.MethodPost, "/api/inference/stream/start", w.Code, w.Body.Bytes())
	}
	t.Logf("command round trip through Mosquitto and ingestion: worst of 3 = %v", worst)
}
