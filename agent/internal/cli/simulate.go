package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/vigia-pe/vigia/agent/internal/camsim"
)

// newSimulateCameraCmd serves a video file as a live RTSP camera.
func newSimulateCameraCmd(g *globals) *cobra.Command {
	var (
		cfg           camsim.Config
		passwordStdin bool
	)
	cmd := &cobra.Command{
		Use:   "simulate-camera --video clip.mp4 [--listen 127.0.0.1:8554] [--path /cam]",
		Short: "Serve a video file as a live RTSP camera (H.264, looping, real-time)",
		Long: `Serve a video file as a live RTSP camera, for demos and tests without a
physical camera. The file loops forever with increasing timestamps, paced in
real time, and RTCP sender reports carry this machine's clock as the camera's
NTP time. Files that are not H.264 are re-encoded with the ffmpeg CLI first
(--transcode forces it).

--encrypt scrambles the slice payloads the way a camera with "image
encryption" enabled does, to try the agent's undecodable-stream detection.
With --user, clients must authenticate; the password is read from stdin
(--password-stdin), from AGENT_CAMERA_PASSWORD, or from a prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.User != "" {
				pw, err := cameraPassword(g, cmd.ErrOrStderr(), passwordStdin, "RTSP password for "+cfg.User+": ")
				if err != nil {
					return err
				}
				cfg.Password = pw
			}
			log, err := newVideoLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			cfg.Logger = log
			cam, err := camsim.New(cfg)
			if err != nil {
				return err
			}
			defer cam.Close()
			if err := cam.Start(); err != nil {
				return err
			}
			info := cam.Info()
			extra := ""
			if cfg.Scramble {
				extra = ", slice payloads scrambled (\"encrypted\")"
			}
			if cfg.User != "" {
				extra += ", authentication required"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving %s (H.264 %dx%d @ %.3g fps, looping%s); Ctrl-C to stop\n",
				cam.URL(), info.Width, info.Height, info.FrameRate, extra)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			<-ctx.Done()
			fmt.Fprintf(cmd.OutOrStdout(), "stopped after %d frames\n", cam.Sent())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Video, "video", "", "video file to serve (required)")
	f.StringVar(&cfg.Addr, "listen", "127.0.0.1:8554", "RTSP listen address host:port")
	f.StringVar(&cfg.Path, "path", "/cam", "stream path")
	f.BoolVar(&cfg.Transcode, "transcode", false, "re-encode to H.264 with ffmpeg even if the file is H.264")
	f.BoolVar(&cfg.Scramble, "encrypt", false, "scramble slice payloads like a camera with image encryption on")
	f.StringVar(&cfg.User, "user", "", "require RTSP authentication with this user")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the RTSP password from the first line of stdin")
	f.StringVar(&cfg.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg executable used to transcode")
	_ = cmd.MarkFlagRequired("video")
	return cmd
}

// newVideoLogger builds the logger of the camera commands from --log-level.
func newVideoLogger(g *globals, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if g.logLevel == "" {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
	}
	if err := level.UnmarshalText([]byte(strings.ToUpper(g.logLevel))); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q (want debug, info, warn or error)", g.logLevel)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}
