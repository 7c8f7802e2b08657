package app

import (
	"context"
	"image"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// clip2K makes a 2560x1440 H.264 clip of real traffic (the intersection
// footage scaled up) so the benchmark decodes and detects real content.
func clip2K(b *testing.B) string {
	src := testenv.RequireData(b, "video-intersection-pexels/intersection-320x240.mp4")
	out := filepath.Join(b.TempDir(), "2k.mp4")
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-i", src, "-t", "6", "-vf", "scale=2560:1440:flags=bicubic",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p", out)
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, o)
	}
	return out
}

type collectSink struct {
	frames []*frame.Frame
	keep   int
	n      int
	each   func(*frame.Frame)
}

func (c *collectSink) OnPacket(ingest.Packet) {}
func (c *collectSink) OnFrame(f *frame.Frame) {
	c.n++
	if len(c.frames) < c.keep {
		c.frames = append(c.frames, f)
	}
	if c.each != nil {
		c.each(f)
	}
}

func decodeAll(b *testing.B, path string, sink *collectSink) time.Duration {
	src, err := ingest.NewFile(ingest.FileConfig{Path: path, Decode: decode.Config{}})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := src.Run(context.Background(), sink); err != nil {
		b.Fatal(err)
	}
	return time.Since(t0)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkPipeline2K measures, side by side in one run on a 2560x1440 H.264
// clip: decode alone, inference alone, and the whole chain (decode, motion
// gate, YOLOX on the frame, ByteTrack, speed), and reports the ratios.
func BenchmarkPipeline2K(b *testing.B) {
	testenv.RequireORT(b)
	path := clip2K(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	det, err := NewDetector(DetectorOptions{Model: "yolox-nano", ModelsDir: testenv.ModelsDir(), ORTLibrary: testenv.ORTLibrary(),
		Provider: "cpu", Threads: 2}, image.Rectangle{}, log)
	if err != nil {
		b.Fatal(err)
	}
	defer det.Close()
	b.ResetTimer()
	for b.Loop() {
		// 1. Decode alone (the first limit).
		dec := &collectSink{keep: 3}
		decDur := decodeAll(b, path, dec)
		decodeFPS := float64(dec.n) / decDur.Seconds()

		// 2. Inference alone on decoded 2K frames (the second limit).
		var inf []time.Duration
		for i := 0; i < 15; i++ {
			if _, err := det.Detect(dec.frames[i%len(dec.frames)]); err != nil {
				b.Fatal(err)
			}
			inf = append(inf, det.LastTimings().Inference)
		}
		inferFPS := 1 / pct(inf, 0.5).Seconds()

		// 3. End to end.
		pl, err := pipeline.New(pipeline.DefaultConfig(), det, nil, log)
		if err != nil {
			b.Fatal(err)
		}
		var lat, pre, post, trk []time.Duration
		e2e := &collectSink{each: func(f *frame.Frame) {
			t0 := time.Now()
			r, err := pl.Process(f)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
			if r.Processed {
				pre, post, trk = append(pre, r.Timings.Preprocess), append(post, r.Timings.Postprocess), append(trk, r.Timings.Track)
			}
		}}
		e2eDur := decodeAll(b, path, e2e)
		pl.Flush()
		e2eFPS := float64(e2e.n) / e2eDur.Seconds()
		decodePerFrame := decDur / time.Duration(dec.n)

		b.ReportMetric(decodeFPS, "decode_fps")
		b.ReportMetric(inferFPS, "infer_fps")
		b.ReportMetric(e2eFPS, "e2e_fps")
		b.ReportMetric(e2eFPS/min(decodeFPS, inferFPS), "e2e/limit")
		b.ReportMetric(float64(decodePerFrame.Microseconds())/1000, "decode_ms")
		b.ReportMetric(float64(pct(pre, 0.5).Microseconds())/1000, "preprocess_p50_ms")
		b.ReportMetric(float64(pct(inf, 0.5).Microseconds())/1000, "inference_p50_ms")
		b.ReportMetric(float64(pct(post, 0.5).Microseconds())/1000, "postprocess_p50_ms")
		b.ReportMetric(float64(pct(trk, 0.5).Microseconds())/1000, "track_p50_ms")
		b.ReportMetric(float64(pct(lat, 0.5).Microseconds())/1000, "frame_p50_ms")
		b.ReportMetric(float64(pct(lat, 0.95).Microseconds())/1000, "frame_p95_ms")
		b.ReportMetric(procStatusMB("VmHWM"), "peak_rss_MB")
	}
}
