package health

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func dialStream(t *testing.T, baseURL, id string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/ws/stream/" + id
	c, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	resp.Body.Close()
	t.Cleanup(func() { c.Close() })
	return c
}

// waitSubs waits until the camera has n stream subscribers.
func waitSubs(t *testing.T, reg *Registry, id string, n int32) {
	t.Helper()
	c := reg.camera(id, false)
	deadline := time.Now().Add(5 * time.Second)
	for c.nsubs.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("camera %s has %d subscribers, want %d", id, c.nsubs.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func speedPtr(v float64) *float64 { return &v }

func testFrame(id int64, nDet int) FrameMessage {
	m := FrameMessage{FrameID: id, Timestamp: t0.Add(time.Duration(id) * 40 * time.Millisecond)}
	for i := range nDet {
		m.Detections = append(m.Detections, StreamDetection{
			Class: "car", BBox: [4]float32{float32(i), 340, 450, 680}, Confidence: 0.92, TrackID: int64(i + 1), Speed: speedPtr(45.3),
		})
	}
	return m
}

func TestStreamInOrder(t *testing.T) {
	const n = 50
	_, reg, _, ts := newTestServer(t, Config{ClientQueue: n}, "CAM001", "CAM002")
	ws := dialStream(t, ts.URL, "CAM001")
	waitSubs(t, reg, "CAM001", 1)
	for i := range int64(n) {
		reg.Publish("CAM001", testFrame(i+1, 2))
		reg.Publish("CAM002", testFrame(1000+i, 1)) // another camera: must not leak in
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for want := int64(1); want <= n; want++ {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("read frame %d: %v", want, err)
		}
		var got struct {
			FrameID    int64             `json:"frame_id"`
			Timestamp  string            `json:"timestamp"`
			Detections []StreamDetection `json:"detections"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		if got.FrameID != want {
			t.Fatalf("frame_id = %d, want %d", got.FrameID, want)
		}
		if len(got.Detections) != 2 || got.Detections[1].TrackID != 2 {
			t.Errorf("frame %d detections = %+v", want, got.Detections)
		}
		if ts, err := time.Parse(time.RFC3339Nano, got.Timestamp); err != nil || !ts.Equal(testFrame(want, 0).Timestamp) {
			t.Errorf("timestamp %q: %v", got.Timestamp, err)
		}
	}
	if d := reg.camera("CAM001", false).dropped.Load(); d != 0 {
		t.Errorf("dropped %d messages for a reading client", d)
	}
}

func TestStreamSlowClientNeverBlocks(t *testing.T) {
	_, reg, _, ts := newTestServer(t, Config{ClientQueue: 4, WriteTimeout: time.Second}, "CAM001")
	// The slow client never reads, with a small receive buffer (which turns
	// off the kernel's autotuning) so that its socket fills quickly.
	smallBuf := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, resp, err := smallBuf.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/ws/stream/CAM001", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer slow.Close()
	fast := dialStream(t, ts.URL, "CAM001")
	waitSubs(t, reg, "CAM001", 2)

	const n = 96
	// The fast client records what it receives.
	got := make(chan int64, n)
	go func() {
		defer close(got)
		for {
			_, b, err := fast.ReadMessage()
			if err != nil {
				return
			}
			var m struct {
				FrameID int64 `json:"frame_id"`
			}
			if json.Unmarshal(b, &m) == nil {
				got <- m.FrameID
			}
		}
	}()

	// 96 messages of 64 KiB: 6 MiB, more than the socket buffers hold
	// (4 MiB send buffer at most), so the slow client's writer stalls.
	big := strings.Repeat("x", 64<<10)
	frames := make([]FrameMessage, n)
	for i := range frames {
		frames[i] = testFrame(int64(i+1), 0)
		frames[i].Detections = []StreamDetection{{Class: big}}
	}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		for _, f := range frames {
			reg.Publish("CAM001", f)
		}
		close(done)
	}()
	select {
	case <-done:
		t.Logf("%d publishes took %v", n, time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a slow client")
	}
	if d := reg.camera("CAM001", false).dropped.Load(); d == 0 {
		t.Error("no message dropped although a client never reads")
	}

	// The fast client gets frames in increasing order (with gaps when it lags).
	fast.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	var prev, count int64
	for id := range got {
		if id <= prev {
			t.Fatalf("frame %d after %d", id, prev)
		}
		prev = id
		count++
	}
	if count == 0 {
		t.Error("fast client received nothing")
	}
	_, vals, _ := scrape(t, reg)
	if vals[seriesKey("ws_messages_dropped_total", map[string]string{"device_id": "CAM001"})] == 0 {
		t.Error("ws_messages_dropped_total not counted")
	}
}

func TestStreamClientGoneUnsubscribes(t *testing.T) {
	_, reg, _, ts := newTestServer(t, Config{}, "CAM001")
	ws := dialStream(t, ts.URL, "CAM001")
	waitSubs(t, reg, "CAM001", 1)
	ws.Close()
	waitSubs(t, reg, "CAM001", 0)
}

func TestStreamUnknownCamera(t *testing.T) {
	_, _, _, ts := newTestServer(t, Config{}, "CAM001")
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/stream/NOPE"
	_, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err == nil {
		t.Fatal("dial to an unknown camera succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("response %v, want 404", resp)
	}
	resp.Body.Close()
}

func TestStreamRejectsForeignOrigin(t *testing.T) {
	_, _, _, ts := newTestServer(t, Config{}, "CAM001")
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/stream/CAM001"
	_, resp, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {"http://evil.example"}})
	if err == nil {
		t.Fatal("cross-origin upgrade accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("response %v, want 403", resp)
	}
	resp.Body.Close()
}

func TestFrameMessageGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  FrameMessage
	}{
		{"spec_example", FrameMessage{
			FrameID:   12345,
			Timestamp: time.Date(2025, 11, 1, 11, 30, 0, 123456789, time.FixedZone("PET", -5*3600)),
			Detections: []StreamDetection{{Class: "car", BBox: [4]float32{120, 340, 450, 680}, Confidence: 0.92, TrackID: 12345, Speed: speedPtr(45.3)},
				{Class: "person", BBox: [4]float32{1, 2, 3, 4}, Confidence: 0.5}},
			Infractions: []StreamInfraction{{Type: "SPEED_VIOLATION", TrackID: 12345, Plate: "ABC-1234", Speed: speedPtr(78.5)}},
		}},
		{"empty", FrameMessage{FrameID: 1, Timestamp: time.Date(2025, 11, 1, 16, 30, 0, 0, time.UTC)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.MarshalIndent(tc.msg, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			path := filepath.Join("testdata", "frame_"+tc.name+".json")
			if *update {
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update): %v", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("JSON differs from %s:\n%s", path, b)
			}
		})
	}
}

func benchmarkPublish(b *testing.B, clients int) {
	reg := NewRegistry("CAM001")
	s := New(Config{ClientQueue: 64}, reg, nil)
	ts := httptest.NewServer(s.Handler())
	defer func() {
		s.shutdownStreams()
		ts.Close()
	}()
	u := "ws" + strings.TrimPrefix(ts.URL, "http") + "/ws/stream/CAM001"
	for range clients {
		c, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		defer c.Close()
		go func() {
			for {
				if _, _, err := c.NextReader(); err != nil {
					return
				}
			}
		}()
	}
	cam := reg.camera("CAM001", false)
	for cam.nsubs.Load() != int32(clients) {
		time.Sleep(time.Millisecond)
	}
	msg := testFrame(1, 10)
	b.ReportAllocs()
	for b.Loop() {
		msg.FrameID++
		reg.Publish("CAM001", msg)
	}
}

func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{0, 1, 10} {
		b.Run(fmt.Sprintf("clients=%d", n), func(b *testing.B) { benchmarkPublish(b, n) })
	}
}

func BenchmarkUpdateCamera(b *testing.B) {
	reg := NewRegistry("CAM001")
	st := CameraState{State: StateStreaming, FPS: 25, LastFrameAt: t0}
	b.ReportAllocs()
	for b.Loop() {
		reg.UpdateCamera("CAM001", st)
	}
}

func TestPublishFullQueueDrops(t *testing.T) {
	reg := NewRegistry("CAM001")
	cam := reg.camera("CAM001", false)
	stuck := cam.subscribe(4) // a client whose writer never drains its queue
	const n = 100
	done := make(chan struct{})
	go func() {
		for i := range int64(n) {
			reg.Publish("CAM001", testFrame(i+1, 1))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Publish blocked on a full client queue")
	}
	for want := int64(1); want <= 4; want++ {
		var m struct {
			FrameID int64 `json:"frame_id"`
		}
		if err := json.Unmarshal(<-stuck.queue, &m); err != nil || m.FrameID != want {
			t.Errorf("queued frame %d (%v), want %d", m.FrameID, err, want)
		}
	}
	if missed := cam.unsubscribe(stuck); missed != n-4 {
		t.Errorf("client missed %d, want %d", missed, n-4)
	}
	_, vals, _ := scrape(t, reg)
	if got := vals[seriesKey("ws_messages_dropped_total", map[string]string{"device_id": "CAM001"})]; got != n-4 {
		t.Errorf("ws_messages_dropped_total = %v, want %d", got, n-4)
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	msg := testFrame(1, 10)
	b.ReportAllocs()
	for b.Loop() {
		w := msg.wire()
		if _, err := json.Marshal(&w); err != nil {
			b.Fatal(err)
		}
	}
}
