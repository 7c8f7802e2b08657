package camsim

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestScramble(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x21, 0xff, 0x10}
	in := [][]byte{sps, pps, idr}
	orig := bytes.Clone(idr)
	out := Scramble(decode.H264, in)
	if !bytes.Equal(out[0], sps) || !bytes.Equal(out[1], pps) {
		t.Error("parameter sets changed")
	}
	if !bytes.Equal(out[2][:scrambleKeep], idr[:scrambleKeep]) {
		t.Error("NAL header changed")
	}
	if bytes.Equal(out[2][scrambleKeep:], idr[scrambleKeep:]) {
		t.Error("slice payload not scrambled")
	}
	if !bytes.Equal(idr, orig) {
		t.Error("input modified")
	}
}

func makeClip(t *testing.T, args ...string) string {
	t.Helper()
	ff := testenv.RequireTool(t, "ffmpeg")
	out := filepath.Join(t.TempDir(), "clip.mp4")
	full := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-t", "1"}, args...)
	if b, err := exec.Command(ff, append(full, out)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	return out
}

func TestNewErrors(t *testing.T) {
	text := filepath.Join(t.TempDir(), "x.mp4")
	if err := os.WriteFile(text, []byte("not video"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no video", Config{Addr: "127.0.0.1:1"}, "required"},
		{"missing file", Config{Video: filepath.Join(t.TempDir(), "none.mp4"), Addr: "127.0.0.1:1"}, "No such file"},
		{"not a video", Config{Video: text, Addr: "127.0.0.1:1"}, "not a readable media file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.cfg)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// received is one RTP packet's timing as a client sees it.
type received struct {
	pts   int64
	ntp   time.Time
	ntpOK bool
}

// play connects a bare gortsplib client and records packet timing.
func play(t *testing.T, url string) (*gortsplib.Client, func() []received, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
	if err := c.Start(); err != nil {
		return nil, nil, err
	}
	desc, _, err := c.Describe(u)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	var forma *format.H264
	medi := desc.FindFormat(&forma)
	if medi == nil || forma.SPS == nil || forma.PPS == nil {
		c.Close()
		t.Fatalf("no H.264 track with SPS/PPS in the SDP")
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		c.Close()
		return nil, nil, err
	}
	var mu sync.Mutex
	var got []received
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		// PacketPTS must see every packet: it starts timing at a keyframe.
		pts, ok := c.PacketPTS(medi, pkt)
		if !ok || !pkt.Marker {
			return
		}
		ntp, ntpOK := c.PacketNTP(medi, pkt)
		mu.Lock()
		got = append(got, received{pts: pts, ntp: ntp, ntpOK: ntpOK})
		mu.Unlock()
	})
	if _, err := c.Play(nil); err != nil {
		c.Close()
		return nil, nil, err
	}
	t.Cleanup(c.Close)
	return c, func() []received {
		mu.Lock()
		defer mu.Unlock()
		return append([]received(nil), got...)
	}, nil
}

// TestIntegrationLoopTiming serves a 1 s clip at 10 fps and reads it over
// RTSP across a loop: RTP time advances by exactly one frame interval per
// access unit, wrap included, and the RTCP NTP time follows the RTP time.
func TestIntegrationLoopTiming(t *testing.T) {
	clip := makeClip(t, "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0", "-g", "5")
	s, err := New(Config{Video: clip, Addr: testenv.FreeAddr(t), Path: "live"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	_, packets, err := play(t, s.URL())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Loops() < 2 || len(packets()) < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("loops %d, packets %d after 10 s", s.Loops(), len(packets()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := packets()
	const step = 9000 // 100 ms at 90 kHz
	for i := 1; i < len(got); i++ {
		if d := got[i].pts - got[i-1].pts; d != step {
			t.Fatalf("access unit %d: PTS step %d, want %d", i, d, step)
		}
	}
	synced := 0
	var offset time.Duration
	for _, p := range got {
		if !p.ntpOK {
			continue
		}
		o := p.ntp.Sub(time.Unix(0, 0)) - time.Duration(p.pts)*time.Second/90000
		if synced > 0 && (o-offset > 2*time.Millisecond || offset-o > 2*time.Millisecond) {
			t.Fatalf("NTP drifts from RTP time: offset %v then %v", offset, o)
		}
		offset = o
		synced++
	}
	if synced < len(got)/2 {
		t.Errorf("only %d of %d packets have an NTP time: no RTCP sender reports?", synced, len(got))
	}
	if s.Readers() != 1 {
		t.Errorf("Readers = %d", s.Readers())
	}
}

// TestIntegrationStopStart stops the server (clients fail to connect) and
// starts it again on the same address.
func TestIntegrationStopStart(t *testing.T) {
	clip := makeClip(t, "-c:v", "libx264", "-preset", "ultrafast")
	s, err := New(Config{Video: clip, Addr: testenv.FreeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for round := range 2 {
		if err := s.Start(); err != nil {
			t.Fatalf("round %d: Start: %v", round, err)
		}
		if err := s.Start(); err == nil {
			t.Fatal("second Start succeeded")
		}
		if _, _, err := play(t, s.URL()); err != nil {
			t.Fatalf("round %d: play: %v", round, err)
		}
		s.Stop()
		if _, _, err := play(t, s.URL()); err == nil {
			t.Fatalf("round %d: play succeeded on a stopped server", round)
		}
	}
}

// TestIntegrationTranscodeAndAuth serves an MPEG-4 Part 2 file (transcoded
// to H.264) behind a password, and checks authentication and paths.
func TestIntegrationTranscodeAndAuth(t *testing.T) {
	clip := makeClip(t, "-c:v", "mpeg4")
	s, err := New(Config{Video: clip, Addr: testenv.FreeAddr(t), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if info := s.Info(); info.Codec != decode.H264 || info.Width != 160 {
		t.Fatalf("served stream %+v, want H.264 160 wide", info)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(s.URL(), "rtsp://")
	tests := []struct {
		name   string
		url    string
		status base.StatusCode
	}{
		{"good credentials", "rtsp://u:p@" + host, base.StatusOK},
		{"no credentials", s.URL(), base.StatusUnauthorized},
		{"wrong password", "rtsp://u:x@" + host, base.StatusUnauthorized},
		{"wrong path", "rtsp://u:p@" + strings.Replace(host, "/cam", "/other", 1), base.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := play(t, tc.url)
			var bad liberrors.ErrClientBadStatusCode
			switch {
			case tc.status == base.StatusOK && err != nil:
				t.Fatalf("play: %v", err)
			case tc.status != base.StatusOK && (!errors.As(err, &bad) || bad.Code != tc.status):
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
		})
	}
	if s.tmpDir == "" {
		t.Fatal("no temporary directory for the transcoded file")
	}
	dir := s.tmpDir
	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary directory left behind: %v", err)
	}
}
