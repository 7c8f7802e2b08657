package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/vigia-pe/vigia/agent/internal/app"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
	"github.com/vigia-pe/vigia/shared/event"
)

func newWatchCmd(g *globals) *cobra.Command {
	var (
		opt    app.ReplayOptions
		noGate bool
		quiet  bool
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Run the vision pipeline on a live RTSP camera, printing its status every second",
		Long: `watch reads an RTSP camera (or the camera simulator), detects, tracks and measures
vehicles like replay does, and prints a status line every second (stream state, fps,
frames skipped because analysis was busy, live tracks, latency). Give the URL with
--rtsp or, to keep a password out of the process list, in AGENT_CAMERA_URL.`,
		Example: `  AGENT_CAMERA_URL='rtsp://admin:pass@192.168.1.100:554/h264/ch1/main/av_stream' \
    agent watch --calibration cal.json --events tracks.jsonl --annotate live.mp4 --duration 60s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.RTSP == "" {
				opt.RTSP = os.Getenv("AGENT_CAMERA_URL")
			}
			if opt.RTSP == "" {
				return fmt.Errorf("give the camera with --rtsp or AGENT_CAMERA_URL")
			}
			cfg, err := prepareVision(g, &opt, noGate)
			if err != nil {
				return err
			}
			stderr := cmd.ErrOrStderr()
			if !quiet {
				opt.Status = func(s app.LiveStatus) {
					fmt.Fprintf(stderr, "[%s] %-11s stream %5.1f fps  analysed %5.1f fps  busy-skipped %d  tracks live %d ended %d  latency %.0f ms  decode errors %d\n",
						time.Now().Format("15:04:05"), s.Source.State, s.StreamFPS, s.AnalysedFPS, s.Dropped,
						s.ActiveTracks, s.EndedTracks, s.LastLatencyMs, s.Source.DecodeErrors)
				}
			}
			log := cfg.Logger(stderr)
			log.Info("watching", "camera", event.RedactURL(opt.RTSP))
			sum, err := app.Replay(cmd.Context(), opt, log)
			if err != nil {
				return err
			}
			fmt.Fprintf(stderr, "watch: %d frames analysed (%d skipped as static, %d while busy); %d tracks, %d with speed\n",
				sum.Frames, sum.Skipped, sum.Dropped, sum.Tracks, sum.WithSpeed)
			return nil
		},
	}
	opt.Pipeline = pipeline.DefaultConfig()
	f := cmd.Flags()
	f.StringVar(&opt.RTSP, "rtsp", "", "camera URL rtsp://[user:pass@]host:port/path (prefer AGENT_CAMERA_URL for passwords)")
	f.StringVar(&opt.Transport, "transport", "tcp", "RTSP transport: tcp or udp")
	f.DurationVar(&opt.Duration, "duration", 0, "stop after this long (default: until Ctrl-C)")
	f.Float64Var(&opt.FPS, "fps", 15, "playback rate of the annotated video")
	f.BoolVar(&quiet, "quiet", false, "no status lines")
	addVisionFlags(f, &opt, &noGate)
	return cmd
}
