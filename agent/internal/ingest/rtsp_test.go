package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/camsim"
	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/internal/testenv"
)

const (
	intersectionClip = "video-intersection-pexels/intersection-320x240.mp4"
	testUser         = "admin"
	testPassword     = "S3cr3t-pa55"
)

// startCamera serves the intersection clip on a free loopback port.
func startCamera(t *testing.T, mod func(*camsim.Config)) *camsim.Server {
	t.Helper()
	testenv.RequireTool(t, "ffmpeg") // the clip is MPEG-4 Part 2: camsim transcodes it
	cfg := camsim.Config{
		Video:    testenv.RequireData(t, intersectionClip),
		Addr:     testenv.FreeAddr(t),
		User:     testUser,
		Password: testPassword,
	}
	if mod != nil {
		mod(&cfg)
	}
	cam, err := camsim.New(cfg)
	if err != nil {
		t.Fatalf("camsim.New: %v", err)
	}
	t.Cleanup(cam.Close)
	if err := cam.Start(); err != nil {
		t.Fatalf("camsim.Start: %v", err)
	}
	return cam
}

// authURL inserts the test credentials into a camsim URL.
func authURL(cam *camsim.Server, pass string) string {
	return strings.Replace(cam.URL(), "rtsp://", "rtsp://"+testUser+":"+pass+"@", 1)
}

// runSource runs src in the background until the test ends.
func runSource(t *testing.T, src Source, sink Sink) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("source did not stop within 10 s")
		}
	})
	return done
}

// TestRTSPIntegrationStream reads real H.264 from the camera simulator over
// RTSP/TCP with authentication, and checks the frames and their timing.
func TestRTSPIntegrationStream(t *testing.T) {
	t.Parallel()
	cam := startCamera(t, nil)
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	src, err := NewRTSP(RTSPConfig{URL: authURL(cam, testPassword), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	runSource(t, src, sink)
	const want = 40
	waitFor(t, 15*time.Second, fmt.Sprintf("%d frames", want), func() bool { return sink.frameCount() >= want })

	frames, packets, states := sink.snapshot()
	for i, f := range frames {
		if f.Width != 320 || f.Height != 240 {
			t.Fatalf("frame %d is %dx%d, want 320x240", i, f.Width, f.Height)
		}
		if f.Mean < 5 {
			t.Fatalf("frame %d looks blank (mean %.1f)", i, f.Mean)
		}
		if i > 0 && (f.PTS <= frames[i-1].PTS || !f.Captured.After(frames[i-1].Captured)) {
			t.Fatalf("frame %d: PTS %v / Captured %v not after %v / %v", i, f.PTS, f.Captured, frames[i-1].PTS, frames[i-1].Captured)
		}
	}
	// The frame rate measured from the stream's own timestamps.
	first, last := frames[0], frames[len(frames)-1]
	fpsPTS := float64(len(frames)-1) / (last.PTS - first.PTS).Seconds()
	fpsCaptured := float64(len(frames)-1) / last.Captured.Sub(first.Captured).Seconds()
	t.Logf("%d frames, fps from PTS %.3f, from Captured %.3f", len(frames), fpsPTS, fpsCaptured)
	if math.Abs(fpsPTS-15) > 0.2 || math.Abs(fpsCaptured-15) > 0.2 {
		t.Errorf("fps from PTS %.3f, from Captured %.3f; the clip is 15 fps", fpsPTS, fpsCaptured)
	}
	// RTCP sender reports give the camera's NTP clock; camsim's clock is
	// this machine's, so Captured must be close to the receive time.
	if !last.Synced {
		t.Error("last frame not clock-synced: RTCP sender reports not used")
	}
	for _, f := range frames {
		if lag := f.Received.Sub(f.Captured); f.Synced && (lag < -50*time.Millisecond || lag > 2*time.Second) {
			t.Fatalf("frame %d captured %v before it was received", f.Seq, lag)
		}
	}
	// Packets: keyframes carry SPS and PPS; timestamps increase.
	keyframes := 0
	for i, p := range packets {
		if p.Codec != decode.H264 {
			t.Fatalf("packet codec %v", p.Codec)
		}
		if i > 0 && p.PTS <= packets[i-1].PTS {
			t.Fatalf("packet %d PTS %v after %v", i, p.PTS, packets[i-1].PTS)
		}
		if p.Keyframe {
			keyframes++
			var sps, pps bool
			for _, n := range p.NALUs {
				sps = sps || decode.ParamSetKind(decode.H264, n) == 's'
				pps = pps || decode.ParamSetKind(decode.H264, n) == 'p'
			}
			if !sps || !pps {
				t.Errorf("keyframe packet %d lacks SPS/PPS", i)
			}
		}
	}
	if keyframes == 0 {
		t.Error("no keyframe packet")
	}
	st := src.Status()
	if st.State != StateStreaming || st.Codec != decode.H264 || st.Frames < want || st.Packets < want || st.Width != 320 {
		t.Errorf("status %+v", st)
	}
	if !containsSeq(states, []State{StateConnecting, StateStreaming}) {
		t.Errorf("states %v", states)
	}
	if strings.Contains(logs.String(), testPassword) {
		t.Errorf("password leaked into logs:\n%s", logs.String())
	}
}

// TestRTSPIntegrationReconnect kills the camera mid-stream and brings it back
// on the same port: the source must notice, reconnect and resume, with the
// PTS timeline still increasing.
func TestRTSPIntegrationReconnect(t *testing.T) {
	t.Parallel()
	cam := startCamera(t, nil)
	src, err := NewRTSP(RTSPConfig{
		URL:         authURL(cam, testPassword),
		ReadTimeout: 3 * time.Second,
		Backoff:     Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	runSource(t, src, sink)
	waitFor(t, 15*time.Second, "first frames", func() bool { return sink.frameCount() >= 10 })

	cam.Stop()
	waitFor(t, 10*time.Second, "reconnecting state", func() bool { return src.Status().State == StateReconnecting })
	before := sink.frameCount()
	time.Sleep(600 * time.Millisecond) // let a few dial attempts fail
	if st := src.Status(); st.State != StateReconnecting || st.Reconnects == 0 || st.LastError == "" {
		t.Fatalf("while the camera is down: %+v", st)
	}
	if err := cam.Start(); err != nil {
		t.Fatalf("restart camera: %v", err)
	}
	waitFor(t, 15*time.Second, "frames after reconnect", func() bool { return sink.frameCount() >= before+10 })
	waitFor(t, 5*time.Second, "streaming state", func() bool { return src.Status().State == StateStreaming })

	frames, _, states := sink.snapshot()
	for i := 1; i < len(frames); i++ {
		if frames[i].PTS <= frames[i-1].PTS {
			t.Fatalf("PTS went back at frame %d: %v after %v", i, frames[i].PTS, frames[i-1].PTS)
		}
		if frames[i].Seq != int64(i) {
			t.Fatalf("frame %d has Seq %d: numbering must continue across sessions", i, frames[i].Seq)
		}
	}
	want := []State{StateConnecting, StateStreaming, StateReconnecting, StateStreaming}
	if !containsSeq(states, want) {
		t.Errorf("state transitions %v, want the sequence %v", states, want)
	}
	t.Logf("transitions %v, status %+v", states, src.Status())
}

// TestRTSPIntegrationUndecodable serves "encrypted" H.264: the source must
// report undecodable, not streaming.
func TestRTSPIntegrationUndecodable(t *testing.T) {
	t.Parallel()
	cam := startCamera(t, func(c *camsim.Config) { c.Scramble = true })
	src, err := NewRTSP(RTSPConfig{
		URL:    authURL(cam, testPassword),
		Decode: decode.Config{UndecodablePackets: 20, UndecodableSpan: 1500 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	runSource(t, src, sink)
	waitFor(t, 15*time.Second, "undecodable state", func() bool { return src.Status().State == StateUndecodable })
	st := src.Status()
	if !strings.Contains(st.LastError, "image encryption suspected") || st.Packets < 20 || st.DecodeErrors == 0 {
		t.Errorf("status %+v", st)
	}
	_, _, states := sink.snapshot()
	for _, s := range states {
		if s == StateStreaming {
			t.Errorf("went through streaming: %v", states)
		}
	}
}

// TestRTSPIntegrationUDP reads over the UDP transport.
func TestRTSPIntegrationUDP(t *testing.T) {
	t.Parallel()
	rtpAddr, rtcpAddr := freeUDPPair(t)
	cam := startCamera(t, func(c *camsim.Config) { c.UDPRTPAddr, c.UDPRTCPAddr = rtpAddr, rtcpAddr })
	src, err := NewRTSP(RTSPConfig{URL: authURL(cam, testPassword), Transport: TransportUDP})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	runSource(t, src, sink)
	waitFor(t, 15*time.Second, "frames over UDP", func() bool { return sink.frameCount() >= 15 })
}

// TestRTSPIntegrationH265 reads an H.265 stream (the codec of most recent
// 4 MP cameras).
func TestRTSPIntegrationH265(t *testing.T) {
	t.Parallel()
	ff := testenv.RequireTool(t, "ffmpeg")
	clip := filepath.Join(t.TempDir(), "h265.mp4")
	if b, err := exec.Command(ff, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10",
		"-t", "2", "-c:v", "libx265", "-x265-params", "log-level=error:keyint=10", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		if strings.Contains(string(b), "Unknown encoder") {
			testenv.Missing(t, "ffmpeg libx265 encoder")
		}
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	cam, err := camsim.New(camsim.Config{Video: clip, Addr: testenv.FreeAddr(t), AllowH265: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cam.Close)
	if err := cam.Start(); err != nil {
		t.Fatal(err)
	}
	src, err := NewRTSP(RTSPConfig{URL: cam.URL()})
	if err != nil {
		t.Fatal(err)
	}
	sink := newCollector()
	runSource(t, src, sink)
	waitFor(t, 15*time.Second, "H.265 frames", func() bool { return sink.frameCount() >= 10 })
	frames, packets, _ := sink.snapshot()
	if frames[0].Width != 320 || frames[0].Height != 180 || packets[0].Codec != decode.H265 || src.Status().Codec != decode.H265 {
		t.Errorf("frame %dx%d, packet codec %v, status %+v", frames[0].Width, frames[0].Height, packets[0].Codec, src.Status())
	}
	for _, p := range packets {
		if !p.Keyframe {
			continue
		}
		kinds := map[byte]bool{}
		for _, n := range p.NALUs {
			kinds[decode.ParamSetKind(decode.H265, n)] = true
		}
		if !kinds['v'] || !kinds['s'] || !kinds['p'] {
			t.Errorf("H.265 keyframe without VPS/SPS/PPS: %v", kinds)
		}
	}
}

// TestRTSPIntegrationWrongPassword: the source keeps retrying and reports the
// failure without ever showing the password.
func TestRTSPIntegrationWrongPassword(t *testing.T) {
	t.Parallel()
	cam := startCamera(t, nil)
	const wrong = "wr0ng@pass#word"
	logs := &syncBuffer{}
	src, err := NewRTSP(RTSPConfig{
		URL:     strings.Replace(cam.URL(), "rtsp://", "rtsp://"+testUser+":"+strings.ReplaceAll(strings.ReplaceAll(wrong, "@", "%40"), "#", "%23")+"@", 1),
		Backoff: Backoff{Initial: 50 * time.Millisecond, Max: 100 * time.Millisecond},
		Logger:  slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	runSource(t, src, newCollector())
	waitFor(t, 10*time.Second, "two failed attempts", func() bool { return src.Status().Reconnects >= 2 })
	st := src.Status()
	if st.State != StateReconnecting || !strings.Contains(st.LastError, "401") {
		t.Errorf("status %+v", st)
	}
	for _, secret := range []string{wrong, "wr0ng%40pass%23word"} {
		if strings.Contains(st.LastError, secret) || strings.Contains(logs.String(), secret) {
			t.Errorf("password %q leaked: %s\n%s", secret, st.LastError, logs.String())
		}
	}
}

func TestNewRTSPErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  RTSPConfig
		want string
	}{
		{"unparsable URL with password", RTSPConfig{URL: "rtsp://admin:p%zz@cam:554/x"}, "invalid camera URL"},
		{"http scheme", RTSPConfig{URL: "http://admin:hunter2@cam/x"}, "scheme"},
		{"bad transport", RTSPConfig{URL: "rtsp://admin:hunter2@cam/x", Transport: "sctp"}, "transport"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRTSP(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "p%zz") {
				t.Errorf("password in error: %v", err)
			}
		})
	}
}

// freeUDPPair finds an even UDP port whose successor is free too.
func freeUDPPair(t *testing.T) (string, string) {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		port &^= 1
		a, errA := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		b, errB := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		if a != nil {
			a.Close()
		}
		if b != nil {
			b.Close()
		}
		if errA == nil && errB == nil {
			return fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)
		}
	}
	t.Fatal("no free UDP port pair")
	return "", ""
}
