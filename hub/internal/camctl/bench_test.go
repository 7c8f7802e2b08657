package camctl

import (
	"testing"
)

// BenchmarkFanOut relays one frame (validation + copy + queue) to 10 watchers.
func BenchmarkFanOut(b *testing.B) {
	s := New(Config{LiveQueue: 1}, nil, nil, nil, quiet)
	const topic = "traffic/v1/AGT1/live/CAM1"
	for i := 0; i < 10; i++ {
		cl := &liveClient{queue: make(chan []byte, 1)}
		if !s.join("AGT1", "CAM1", cl) {
			b.Fatal("join refused")
		}
		go func() {
			for range cl.queue {
			}
		}()
	}
	frame := []byte(`{"frame_id":12345,"timestamp":"2026-11-01T16:30:00.123Z","detections":[` +
		`{"class":"car","bbox":[120,340,450,680],"confidence":0.92,"track_id":12345,"speed":45.3},` +
		`{"class":"truck","bbox":[20,40,250,380],"confidence":0.81,"track_id":12346,"speed":null}],` +
		`"infractions":[{"type":"SPEED_VIOLATION","track_id":12345,"plate":"ABC-1234","speed":78.5}]}`)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		s.fanOut(topic, frame)
	}
	b.StopTimer()
	s.liveMu.Lock()
	for cl := range s.feeds[topic].clients {
		close(cl.queue)
	}
	s.liveMu.Unlock()
}
