package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigia-pe/vigia/agent/internal/decode"
	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/ingest"
	"github.com/vigia-pe/vigia/agent/internal/onvif"
)

// envCameraPassword supplies camera passwords without a flag, which would
// show in the process list and shell history.
const envCameraPassword = "AGENT_CAMERA_PASSWORD"

// newCameraCmd groups the technicians' camera diagnostics.
func newCameraCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "camera",
		Short: "Camera diagnostics: ONVIF probe, RTSP stream check",
		Long: `Camera diagnostics for field technicians.

Passwords are never taken as flags: they come from stdin (--password-stdin),
from the AGENT_CAMERA_PASSWORD environment variable, or from a prompt that
does not echo. They are never printed.`,
	}
	cmd.AddCommand(newCameraProbeCmd(g), newCameraCheckCmd(g))
	return cmd
}

func newCameraProbeCmd(g *globals) *cobra.Command {
	var (
		addr, user    string
		passwordStdin bool
		asJSON        bool
		timeout       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "probe --onvif host:port --user U [--password-stdin]",
		Short: "Ask an ONVIF camera for its model, profiles and RTSP URIs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pw string
			if user != "" {
				var err error
				if pw, err = cameraPassword(g, cmd.ErrOrStderr(), passwordStdin, "ONVIF password for "+user+"@"+addr+": "); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, err := onvif.Probe(ctx, onvif.Config{Addr: addr, User: user, Password: pw, Timeout: timeout})
			if err != nil {
				return err
			}
			// Some cameras put credentials into the URIs they return.
			for i := range rep.Profiles {
				rep.Profiles[i].StreamURI = ingest.RedactURL(rep.Profiles[i].StreamURI)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printProbe(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "onvif", "", "camera ONVIF address host[:port] (required)")
	f.StringVar(&user, "user", "", "ONVIF user")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	f.BoolVar(&asJSON, "json", false, "print the report as JSON")
	f.DurationVar(&timeout, "timeout", 10*time.Second, "timeout of each request")
	_ = cmd.MarkFlagRequired("onvif")
	return cmd
}

func printProbe(w io.Writer, rep *onvif.Report) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	d := rep.Device
	fmt.Fprintf(tw, "Camera\t%s\n", rep.Addr)
	fmt.Fprintf(tw, "  Manufacturer\t%s\n", d.Manufacturer)
	fmt.Fprintf(tw, "  Model\t%s\n", d.Model)
	fmt.Fprintf(tw, "  Firmware\t%s\n", d.FirmwareVersion)
	fmt.Fprintf(tw, "  Serial\t%s\n", d.SerialNumber)
	if rep.ClockOffsetKnown {
		note := ""
		if math.Abs(rep.ClockOffset.Seconds()) > 2 {
			note = "  (set NTP on the camera: evidence timestamps depend on it)"
		}
		fmt.Fprintf(tw, "  Clock\t%+.1f s from this machine%s\n", rep.ClockOffset.Seconds(), note)
	}
	tw.Flush()
	fmt.Fprintf(w, "Profiles (%d):\n", len(rep.Profiles))
	for _, p := range rep.Profiles {
		video := "no video encoder"
		if p.Encoding != "" {
			video = fmt.Sprintf("%s %dx%d @ %g fps", p.Encoding, p.Width, p.Height, p.FrameRate)
			if p.BitrateKbps > 0 {
				video += fmt.Sprintf(", %d kbit/s", p.BitrateKbps)
			}
			if p.GOVLength > 0 {
				video += fmt.Sprintf(", keyframe every %d frames", p.GOVLength)
			}
		}
		fmt.Fprintf(w, "  %s (token %s): %s\n", p.Name, p.Token, video)
		if p.StreamURI != "" {
			fmt.Fprintf(w, "    %s\n", p.StreamURI)
		} else if p.StreamURIError != "" {
			fmt.Fprintf(w, "    no RTSP URI: %s\n", p.StreamURIError)
		}
	}
}

func newCameraCheckCmd(g *globals) *cobra.Command {
	var (
		rawURL, user, transport string
		passwordStdin           bool
		duration                time.Duration
		maxWidth                int
	)
	cmd := &cobra.Command{
		Use:   "check --rtsp rtsp://host/path [--user U --password-stdin] [--duration 10s]",
		Short: "Read an RTSP stream for a while and report what arrives",
		Long: `Connect to an RTSP camera, decode its stream for --duration, and report
codec, resolution, measured frame rate, clock synchronisation (RTCP), losses
and decode errors. Exits with an error unless the stream decoded cleanly.
An "undecodable" verdict usually means the camera's image/video encryption
is on (EZVIZ and Hik-Connect apps enable it): switch it off on the camera.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			target := rawURL
			if user != "" {
				pw, err := cameraPassword(g, cmd.ErrOrStderr(), passwordStdin, "RTSP password for "+user+": ")
				if err != nil {
					return err
				}
				if target, err = withCredentials(rawURL, user, pw); err != nil {
					return err
				}
			}
			log, err := newVideoLogger(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			src, err := ingest.NewRTSP(ingest.RTSPConfig{URL: target, Transport: transport, Logger: log,
				Decode: decode.Config{MaxWidth: maxWidth}})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, duration)
			defer cancel()
			sink := &checkSink{pool: &decode.FramePool{}}
			if err := src.Run(ctx, sink); err != nil {
				return err
			}
			return printCheck(cmd.OutOrStdout(), src.URL(), src.Status(), sink)
		},
	}
	f := cmd.Flags()
	f.StringVar(&rawURL, "rtsp", "", "camera RTSP URL (required; credentials may be given with --user instead)")
	f.StringVar(&user, "user", "", "RTSP user (the password comes from stdin, the environment or a prompt)")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")
	f.StringVar(&transport, "transport", ingest.TransportTCP, "RTSP transport: tcp or udp")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to read the stream")
	f.IntVar(&maxWidth, "max-width", 0, "downscale decoded frames wider than this (0: native)")
	_ = cmd.MarkFlagRequired("rtsp")
	return cmd
}

// checkSink measures the stream's frame rate from its own timestamps.
type checkSink struct {
	pool *decode.FramePool

	mu                  sync.Mutex
	frames              int
	firstPTS, lastPTS   time.Duration
	keyframes, packets  int
	firstKey, secondKey time.Duration
}

func (s *checkSink) OnPacket(p ingest.Packet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	if p.Keyframe {
		s.keyframes++
		switch s.keyframes {
		case 1:
			s.firstKey = p.PTS
		case 2:
			s.secondKey = p.PTS
		}
	}
}

func (s *checkSink) OnFrame(f *frame.Frame) {
	s.mu.Lock()
	if s.frames == 0 {
		s.firstPTS = f.PTS
	}
	s.lastPTS = f.PTS
	s.frames++
	s.mu.Unlock()
	s.pool.Put(f)
}

func printCheck(w io.Writer, u ingest.SecretURL, st ingest.Status, s *checkSink) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Stream\t%s\n", u)
	fmt.Fprintf(tw, "  Codec\t%s\n", st.Codec)
	if st.Width > 0 {
		fmt.Fprintf(tw, "  Frames\t%dx%d, %d decoded\n", st.Width, st.Height, s.frames)
	} else {
		fmt.Fprintf(tw, "  Frames\tnone decoded\n")
	}
	if s.frames > 1 && s.lastPTS > s.firstPTS {
		fmt.Fprintf(tw, "  Frame rate\t%.2f fps (from stream timestamps)\n", float64(s.frames-1)/(s.lastPTS-s.firstPTS).Seconds())
	}
	if s.keyframes >= 2 {
		fmt.Fprintf(tw, "  Keyframes\tevery %.2f s\n", (s.secondKey - s.firstKey).Seconds())
	}
	synced := "no (no RTCP sender reports: capture times from the receive clock)"
	if st.ClockSynced {
		synced = "yes (camera NTP time from RTCP sender reports)"
	}
	fmt.Fprintf(tw, "  Clock synced\t%s\n", synced)
	fmt.Fprintf(tw, "  Packets\t%d access units, %d RTP packets lost, %d dropped, %d decode errors\n",
		st.Packets, st.Lost, st.Dropped, st.DecodeErrors)
	if st.Reconnects > 0 {
		fmt.Fprintf(tw, "  Reconnects\t%d\n", st.Reconnects)
	}
	if st.LastError != "" {
		fmt.Fprintf(tw, "  Last error\t%s\n", st.LastError)
	}
	tw.Flush()
	switch {
	case s.frames > 0 && st.DecodeErrors == 0 && st.Reconnects == 0:
		fmt.Fprintln(w, "Verdict: OK")
		return nil
	case st.LastError != "" && strings.Contains(st.LastError, "image encryption"):
		fmt.Fprintln(w, "Verdict: UNDECODABLE - image encryption suspected: switch off the camera's image/video encryption")
		return errors.New("camera check: stream undecodable")
	case s.frames > 0:
		fmt.Fprintln(w, "Verdict: DEGRADED - frames decoded, with errors or reconnections")
		return errors.New("camera check: stream degraded")
	default:
		fmt.Fprintln(w, "Verdict: NO VIDEO")
		return errors.New("camera check: no video decoded")
	}
}

// withCredentials puts user and password, escaped, into an RTSP URL.
func withCredentials(rawURL, user, password string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("invalid --rtsp URL %s", ingest.RedactURL(rawURL))
	}
	u.User = url.UserPassword(user, password)
	return u.String(), nil
}

// cameraPassword reads a password from stdin (--password-stdin), from
// AGENT_CAMERA_PASSWORD, or from a prompt without echo on a terminal.
func cameraPassword(g *globals, prompt io.Writer, fromStdin bool, question string) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(g.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("--password-stdin: no password on stdin")
		}
		return pw, nil
	}
	if pw, ok := os.LookupEnv(envCameraPassword); ok && pw != "" {
		return pw, nil
	}
	f, ok := g.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("no password: use --password-stdin, set %s, or run in a terminal to be prompted", envCameraPassword)
	}
	fmt.Fprint(prompt, question)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if len(b) == 0 {
		return "", errors.New("empty password")
	}
	return string(b), nil
}
