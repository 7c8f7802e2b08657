package decode

import (
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// BenchmarkDecode2K measures decoding a 2560x1440 H.264 stream (15 fps, GOP
// 30, libx264 ultrafast: a typical 4 MP camera main stream) to BGR, alone and
// with a downscale to 1280 wide in the same swscale pass. One op is one frame.
func BenchmarkDecode2K(b *testing.B) {
	path := ffmpegClip(b, "2k.mp4", "-f", "lavfi", "-i", "testsrc2=size=2560x1440:rate=15", "-t", "4",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-pix_fmt", "yuv420p")
	info, pkts := readPackets(b, path)
	for _, bc := range []struct {
		name     string
		maxWidth int
		threads  int
	}{
		{"native/threads=1", 0, 1},
		{"scale1280/threads=1", 1280, 1},
		{"native/threads=2", 0, 2},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pool := &FramePool{}
			d, err := New(Config{Codec: info.Codec, MaxWidth: bc.maxWidth, Threads: bc.threads, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			frames := 0
			emit := func(f *frame.Frame) { frames++; pool.Put(f) }
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				j := i % len(pkts)
				if j == 0 && i > 0 {
					if err := d.Flush(emit); err != nil {
						b.Fatal(err)
					}
				}
				p := pkts[j]
				if err := d.Decode(AccessUnit{NALUs: p.NALUs, PTS: p.PTS}, emit); err != nil {
					b.Fatal(err)
				}
			}
			if err := d.Flush(emit); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(frames)/time.Since(start).Seconds(), "frames/s")
		})
	}
}

// BenchmarkSplitAnnexB splits a 2K keyframe-sized access unit (run on every
// packet read from a file).
func BenchmarkSplitAnnexB(b *testing.B) {
	units := [][]byte{make([]byte, 20), make([]byte, 5), make([]byte, 300000), make([]byte, 2000)}
	for i, u := range units {
		for j := range u {
			u[j] = byte(j*31 + i + 1) // no zero bytes: no false start codes
		}
	}
	stream := JoinAnnexB(nil, units)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		if n := len(SplitAnnexB(stream)); n != len(units) {
			b.Fatalf("%d units", n)
		}
	}
}
