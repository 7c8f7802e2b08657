package cli

import (
	"fmt"
	"image"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/vigia-pe/vigia/agent/internal/app"
	"github.com/vigia-pe/vigia/agent/internal/config"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
)

func newReplayCmd(g *globals) *cobra.Command {
	var (
		opt     app.ReplayOptions
		start   string
		noGate  bool
		noProg  bool
		summary bool
	)
	cmd := &cobra.Command{
		Use:   "replay",
		Short: "Run the whole vision pipeline on a video file and write one JSON line per finished track",
		Long: `replay decodes a video file with the same decoder as the cameras, detects, tracks and
measures every vehicle, and writes one JSON object per line to --events:

  {"type":"track","track_id":3,"class":"car","speed_kmh":61.2,"speed_uncertainty_kmh":0.8,
   "first_seen":"…","last_seen":"…","t_start":1.2,"t_end":4.9,"frames":56,…}

speed_kmh is null (with speed_note saying why) when there is no calibration or the
track was too short to measure. Timestamps come from the file (PTS), never a nominal fps.`,
		Example: `  agent replay --video clip.mp4 --calibration cal.json --events out.jsonl --annotate annotated.mp4`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Video == "" {
				return fmt.Errorf("--video is required")
			}
			cfg, err := prepareVision(g, &opt, noGate)
			if err != nil {
				return err
			}
			if start != "" {
				if opt.Start, err = time.Parse(time.RFC3339Nano, start); err != nil {
					return fmt.Errorf("--start: %q is not an RFC 3339 time", start)
				}
			}
			if !noProg && isTerminal(cmd.ErrOrStderr()) {
				opt.Progress = progressBar(cmd.ErrOrStderr())
			}
			log := cfg.Logger(cmd.ErrOrStderr())
			sum, err := app.Replay(cmd.Context(), opt, log)
			if opt.Progress != nil {
				fmt.Fprintln(cmd.ErrOrStderr())
			}
			if err != nil {
				return err
			}
			if summary || opt.Events != "-" {
				fmt.Fprintf(cmd.ErrOrStderr(), "replay: %d frames (%d detected, %d skipped as static) in %s = %.1f fps; %d tracks, %d with speed; %d infractions\n",
					sum.Frames, sum.Processed, sum.Skipped, sum.Elapsed.Round(time.Millisecond), sum.FPS, sum.Tracks, sum.WithSpeed, sum.Infractions)
			}
			return nil
		},
	}
	opt.Pipeline = pipeline.DefaultConfig()
	f := cmd.Flags()
	f.StringVar(&opt.Video, "video", "", "video file (MP4, MKV, TS; H.264/H.265)")
	f.StringVar(&start, "start", "", "capture time of the first frame, RFC 3339 (default: now)")
	addVisionFlags(f, &opt, &noGate)
	f.BoolVar(&noProg, "no-progress", false, "no progress bar")
	f.BoolVar(&summary, "summary", false, "print the summary line even when events go to stdout")
	return cmd
}

// addVisionFlags declares the flags replay and watch share.
func addVisionFlags(f *pflag.FlagSet, opt *app.ReplayOptions, noGate *bool) {
	f.StringVar(&opt.Calibration, "calibration", "", "calibration JSON from `agent calibrate solve` (needed for speeds)")
	f.StringVar(&opt.Events, "events", "-", "JSON Lines output file (- for stdout)")
	f.StringVar(&opt.Annotate, "annotate", "", "write the footage with boxes, IDs and speeds to this MP4")
	f.IntVar(&opt.MaxWidth, "max-width", 0, "downscale wider pictures to this width before analysis (0: keep)")
	f.StringVar(&opt.Detector.Model, "model", "yolox-nano", "model name (models/<name>/manifest.json) or a manifest path")
	f.StringVar(&opt.Detector.ModelsDir, "models-dir", "", "models directory (overrides AGENT_MODELS_DIR)")
	f.StringVar(&opt.Detector.Provider, "provider", "cpu", "ONNX Runtime execution provider: cpu, cuda, tensorrt")
	f.IntVar(&opt.Detector.Threads, "threads", 2, "inference threads")
	f.StringVar(&opt.Detector.Tiles, "tiles", "", "detect on CxR overlapping tiles of the road region (e.g. 3x2) for small, distant vehicles")
	f.BoolVar(&opt.Detector.WholeView, "tiles-whole", true, "with --tiles, also detect on the whole region (catches vehicles cut by tile edges)")
	f.BoolVar(noGate, "no-gate", false, "detect on every frame (disable motion gating)")
	f.StringVar(&opt.Detector.PlateFormat, "plates", "", "read plates in this format (peru, brazil or any); empty: no plate reading")
	f.StringVar(&opt.Evidence, "evidence", "", "write signed evidence packages of cited infractions under this directory")
	f.Float64Var(&opt.SpeedLimitKmh, "speed-limit", 0, "speed limit in km/h, overriding the calibration's speed zones")
	f.Float64Var(&opt.ToleranceKmh, "tolerance", 5, "legal speed tolerance in km/h (Peru: 5)")
	f.StringVar(&opt.CameraID, "camera", "", "camera id for the events (default: the calibration's device id)")
	f.Var(rectFlag{&opt.LightRegion}, "light-region", "traffic light rectangle x1,y1,x2,y2 in pixels, classified when no --signal is given")
	f.StringVar(&opt.Signal, "signal", "", "signal schedule for red-light rules: lines \"<seconds> <red|amber|green>\" (replay only)")
	f.Float64Var(&opt.Pipeline.MinBoxHeightPx, "min-box-height", opt.Pipeline.MinBoxHeightPx, "ignore, for speeds, vehicle boxes shorter than this many pixels")
}

// prepareVision resolves the configuration-dependent options.
func prepareVision(g *globals, opt *app.ReplayOptions, noGate bool) (config.Config, error) {
	cfg, err := g.loadConfig(func(c *config.Config) {
		if opt.Detector.ModelsDir != "" {
			c.ModelsDir = opt.Detector.ModelsDir
		}
	})
	if err != nil {
		return cfg, err
	}
	opt.Detector.ModelsDir = cfg.ModelsDir
	opt.Detector.ORTLibrary = cfg.ORTLibrary
	opt.DeviceID = cfg.DeviceID
	opt.Pipeline.Gate = !noGate
	return cfg, nil
}

// rectFlag parses "x1,y1,x2,y2".
type rectFlag struct{ r *image.Rectangle }

func (f rectFlag) String() string {
	if f.r == nil || f.r.Empty() {
		return ""
	}
	return fmt.Sprintf("%d,%d,%d,%d", f.r.Min.X, f.r.Min.Y, f.r.Max.X, f.r.Max.Y)
}

func (f rectFlag) Set(s string) error {
	var x1, y1, x2, y2 int
	if n, err := fmt.Sscanf(s, "%d,%d,%d,%d", &x1, &y1, &x2, &y2); err != nil || n != 4 || x2 <= x1 || y2 <= y1 || x1 < 0 || y1 < 0 {
		return fmt.Errorf("want x1,y1,x2,y2 with x1<x2 and y1<y2, got %q", s)
	}
	*f.r = image.Rect(x1, y1, x2, y2)
	return nil
}

func (rectFlag) Type() string { return "x1,y1,x2,y2" }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressBar draws a one-line bar, redrawn at most 10 times a second.
func progressBar(w io.Writer) func(done, total int64) {
	var last time.Time
	start := time.Now()
	return func(done, total int64) {
		now := time.Now()
		if now.Sub(last) < 100*time.Millisecond && done != total {
			return
		}
		last = now
		fps := float64(done) / max(now.Sub(start).Seconds(), 1e-3)
		if total <= 0 {
			fmt.Fprintf(w, "\r%6d frames  %5.1f fps", done, fps)
			return
		}
		const width = 30
		n := int(float64(width) * float64(min(done, total)) / float64(total))
		fmt.Fprintf(w, "\r[%s%s] %3d%%  %d/%d frames  %5.1f fps", strings.Repeat("#", n), strings.Repeat(".", width-n),
			100*min(done, total)/total, done, total, fps)
	}
}
