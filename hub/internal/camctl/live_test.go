package camctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/vigia-pe/vigia/shared/event"
)

func TestLiveRelayIntegrationMosquitto(t *testing.T) {
	broker := brokerURL(t)
	store := openStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sfx := suffix()
	agent, cam := "AGT-"+sfx, "CAM-"+sfx
	addDevice(t, store, agent, cam)
	recordStatus(t, store, agent, time.Now(), event.Status{State: event.StateOnline, Cameras: []event.CameraStatus{{CameraID: cam, State: "streaming"}}})
	hub := dialHub(t, ctx, broker)
	agentLink := dialHub(t, ctx, broker) // the agent's side: publishes frames
	svc := New(Config{}, store, hub, hub, quiet)
	srv := httptest.NewServer(router(svc))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/inference/cameras/" + cam + "/live"

	// The agent publishes a garbage message and a frame every 50 ms.
	var frameID atomic.Int64
	pubCtx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pubCtx.Done():
				return
			case <-tick.C:
			}
			_ = agentLink.Publish(pubCtx, LiveTopic(agent, cam), []byte(`not json {"frame_id":1}`))
			id := frameID.Add(1)
			frame := fmt.Sprintf(`{"frame_id":%d,"timestamp":"2026-11-01T16:30:00.123Z","detections":[{"class":"car","bbox":[120,340,450,680],"confidence":0.92,"track_id":7,"speed":45.3}],"infractions":[]}`, id)
			_ = agentLink.Publish(pubCtx, LiveTopic(agent, cam), []byte(frame))
		}
	}()

	dial := func(t *testing.T) *websocket.Conn {
		t.Helper()
		c, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, http.Header{"Origin": {srv.URL}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		return c
	}
	read := func(t *testing.T, c *websocket.Conn, n int) []int64 {
		t.Helper()
		var ids []int64
		for len(ids) < n {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			typ, msg, err := c.ReadMessage()
			if err != nil {
				t.Fatalf("read after %d frames: %v", len(ids), err)
			}
			var f struct {
				FrameID    int64 `json:"frame_id"`
				Detections []struct {
					Class   string `json:"class"`
					TrackID int64  `json:"track_id"`
				} `json:"detections"`
			}
			if typ != websocket.TextMessage || json.Unmarshal(msg, &f) != nil || len(f.Detections) != 1 || f.Detections[0].Class != "car" {
				t.Fatalf("relayed message %d %q", typ, msg)
			}
			ids = append(ids, f.FrameID)
		}
		return ids
	}

	a, b := dial(t), dial(t)
	ida, idb := read(t, a, 5), read(t, b, 5)
	for _, ids := range [][]int64{ida, idb} {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("frames out of order: %v", ids)
			}
		}
	}
	svc.liveMu.Lock()
	watchers := svc.liveCount
	svc.liveMu.Unlock()
	if watchers != 2 {
		t.Errorf("%d watchers, want 2", watchers)
	}
	a.Close()
	b.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		svc.liveMu.Lock()
		n, feeds := svc.liveCount, len(svc.feeds)
		svc.liveMu.Unlock()
		if n == 0 && feeds == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing: %d watchers, %d feeds", n, feeds)
		}
		time.Sleep(20 * time.Millisecond)
	}

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name, url, origin string
			code              int
		}{
			{"foreign origin", wsURL, "https://evil.example", http.StatusForbidden},
			{"unknown camera", strings.Replace(wsURL, cam, "NOPE-"+sfx, 1), srv.URL, http.StatusNotFound},
		} {
			_, resp, err := websocket.DefaultDialer.DialContext(ctx, tc.url, http.Header{"Origin": {tc.origin}})
			if err == nil || resp == nil || resp.StatusCode != tc.code {
				t.Errorf("%s: err %v, response %v, want %d", tc.name, err, resp, tc.code)
			}
		}
		w := httptest.NewRecorder()
		router(svc).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/inference/cameras/"+cam+"/live", nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "websocket_required") {
			t.Errorf("plain GET: %d %s", w.Code, w.Body.String())
		}
	})

	t.Run("close ends live connections", func(t *testing.T) {
		c := dial(t)
		read(t, c, 1)
		svc.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, _, err := c.ReadMessage()
			if err == nil {
				continue // frames queued before the close
			}
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Errorf("read after Close: %v, want a going-away close", err)
			}
			break
		}
		_, resp, err := websocket.DefaultDialer.DialContext(ctx, wsURL, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("dial after Close: %v %v", err, resp)
		}
	})
}

func TestValidFrame(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{`{"frame_id":1,"detections":[]}`, true},
		{` {"frame_id":12345}`, true},
		{`{"frame_id":1.5}`, false},
		{`{"frame_id":"1"}`, false},
		{`{"detections":[]}`, false},
		{`[{"frame_id":1}]`, false},
		{`{"frame_id":1`, false},
		{``, false},
		{`{"frame_id":1,"x":"` + strings.Repeat("a", event.MaxPayloadBytes) + `"}`, false},
	}
	for _, tc := range tests {
		if got := ValidFrame([]byte(tc.in)); got != tc.want {
			t.Errorf("ValidFrame(%.40q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func FuzzValidFrame(f *testing.F) {
	f.Add([]byte(`{"frame_id":1,"timestamp":"2026-11-01T16:30:00.123Z","detections":[],"infractions":[]}`))
	f.Add([]byte(`{"frame_id":null}`))
	f.Add([]byte("\xff{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ValidFrame(b) && !json.Valid(b) {
			t.Errorf("invalid JSON accepted: %q", b)
		}
	})
}
