package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/outbox"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/internal/scenegen"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/shared/event"
)

// BenchmarkIntegrationInfractionLatency measures per-infraction latency on
// the rendered speed scene (seed 1: speeders among cars at known speeds),
// replayed through the whole pipeline with the real detector, the plate
// reader and signed evidence, each cited infraction committed (fsync) to a
// real outbox as `agent run` does. The file is replayed as fast as it
// decodes, so capture time is not wall time; it reports:
//   - processing-p50/p95-ms: the agent's own work per infraction, from the
//     deciding frame entering the pipeline to its verdict, plus writing the
//     evidence package (clip, snapshot, plate crop, signed manifest) and
//     committing the event;
//   - live-p50/p95-ms: the capture-to-commit latency a live stream would
//     see: the same plus the wait for the clip's 5 s post-window (stream
//     time) and the analysis of the frame that completes the clip.
//
// Run: go test -run '^$' -bench InfractionLatency -benchtime 1x ./agent/internal/app/
func BenchmarkIntegrationInfractionLatency(b *testing.B) {
	ort := testenv.RequireORT(b)
	testenv.RequireTool(b, "ffmpeg")
	testenv.RequireFile(b, scenegen.DefaultPhotoDir())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	type clip struct{ dir, cal string }
	var clips []clip
	for _, seed := range []uint64{1, 3} {
		dir := b.TempDir()
		scene := scenegen.DefaultSpeedScene(seed)
		if _, err := scenegen.Render(ctx, scene, dir); err != nil {
			b.Fatal(err)
		}
		clips = append(clips, clip{dir, solveSceneCalibration(b, dir, scene)})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var all []InfractionTiming
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		for _, c := range clips {
			all = append(all, replayTimings(ctx, b, c.dir, c.cal, ort, log)...)
		}
	}
	b.StopTimer()
	if len(all) == 0 {
		b.Fatal("no infraction cited: the scenes have speeders")
	}
	var proc, live, moment []time.Duration
	for _, tm := range all {
		proc = append(proc, tm.Processing())
		live = append(live, tm.LiveEstimate())
		moment = append(moment, tm.FromMoment())
	}
	b.ReportMetric(float64(len(all))/float64(b.N), "infractions/op")
	b.ReportMetric(ms(percentile(proc, 0.50)), "processing-p50-ms")
	b.ReportMetric(ms(percentile(proc, 0.95)), "processing-p95-ms")
	b.ReportMetric(ms(percentile(live, 0.50)), "live-p50-ms")
	b.ReportMetric(ms(percentile(live, 0.95)), "live-p95-ms")
	b.ReportMetric(ms(percentile(moment, 0.50)), "moment-p50-ms")
	b.ReportMetric(ms(percentile(moment, 0.95)), "moment-p95-ms")
	r := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	b.Logf("%d infractions: processing p50 %v p95 %v; live capture-to-commit estimate p50 %v p95 %v; "+
		"from the infraction's moment p50 %v p95 %v (post-window waits after the verdict %v)",
		len(all), r(percentile(proc, 0.50)), r(percentile(proc, 0.95)), r(percentile(live, 0.50)), r(percentile(live, 0.95)),
		r(percentile(moment, 0.50)), r(percentile(moment, 0.95)), postWindows(all))
}

// replayTimings replays one clip with evidence, committing each infraction
// to a fresh outbox, and returns the infractions' timings.
func replayTimings(ctx context.Context, b *testing.B, dir, calPath, ort string, log *slog.Logger) []InfractionTiming {
	data := filepath.Join(b.TempDir(), "agent-data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		b.Fatal(err)
	}
	ob, err := outbox.Open(filepath.Join(data, "outbox.db"), outbox.Config{}, log)
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close()
	var all []InfractionTiming
	opt := ReplayOptions{Video: filepath.Join(dir, "clip.mp4"), Events: os.DevNull, Calibration: calPath,
		Start: time.Date(2026, 11, 1, 14, 0, 0, 0, time.UTC), Pipeline: pipeline.DefaultConfig(),
		Detector: DetectorOptions{Model: "yolox-nano", ModelsDir: testenv.ModelsDir(), ORTLibrary: ort, Provider: "cpu",
			Threads: 2, PlateFormat: "brazil"}, // the car photos carry Brazilian plates
		SpeedLimitKmh: 60, ToleranceKmh: 5, Evidence: data, DeviceID: "EDGE-BENCH", CameraID: "CAM-SCENE",
		// As agent run does: the event is committed (fsynced) before anything is sent.
		OnInfraction: func(env event.Envelope, inf *event.Infraction) error {
			payload, err := env.Encode()
			if err != nil {
				return err
			}
			_, _, err = ob.Put(outbox.Entry{EventID: env.ID, Kind: event.KindInfraction,
				Topic: event.Topic(env.DeviceID, env.Type), Payload: payload})
			return err
		},
		OnCommitted: func(tm InfractionTiming) { all = append(all, tm) },
	}
	if _, err := Replay(ctx, opt, log); err != nil {
		b.Fatal(err)
	}
	return all
}

func postWindows(tms []InfractionTiming) []time.Duration {
	out := make([]time.Duration, len(tms))
	for i, tm := range tms {
		out[i] = tm.PostWindow.Round(time.Millisecond)
	}
	return out
}

// percentile is the nearest-rank percentile of ds (q in 0..1).
func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(len(s)-1, i))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// solveSceneCalibration is calibrateScene for benchmarks: the scene's
// points.csv solved as a technician would, without zones or lines.
func solveSceneCalibration(tb testing.TB, dir string, s scenegen.Scene) string {
	tb.Helper()
	f, err := os.Open(filepath.Join(dir, "points.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	pairs, _, err := calibration.ReadPointsCSV(f)
	f.Close()
	if err != nil {
		tb.Fatal(err)
	}
	cal, err := calibration.New(pairs, calibration.Options{DeviceID: "SCENE", Image: calibration.ImageSize{Width: s.Camera.Width, Height: s.Camera.Height}})
	if err != nil {
		tb.Fatal(err)
	}
	cal.Seal()
	p := filepath.Join(dir, "cal.json")
	if err := cal.Save(p); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestPercentile(t *testing.T) {
	d := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	cases := []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.95, 10}, {0.1, 1}, {0, 1}, {1, 10}}
	for _, tc := range cases {
		if got := percentile(d, tc.q); got != tc.want {
			t.Errorf("percentile %.2f = %v, want %v", tc.q, got, tc.want)
		}
	}
}
