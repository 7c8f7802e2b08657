package scenegen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os/exec"
	"slices"
	"strconv"
	"strings"
)

// findH264Encoder returns the first software H.264 encoder ffmpeg offers
// (libx264, else libopenh264; the hardware ones need devices).
func findH264Encoder(ctx context.Context, ffmpeg string) (string, error) {
	h264Encoders := []string{"libx264", "libopenh264"}
	out, err := exec.CommandContext(ctx, ffmpeg, "-hide_banner", "-encoders").Output()
	if err != nil {
		return "", fmt.Errorf("scenegen: %s -encoders: %w", ffmpeg, err)
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && strings.HasPrefix(f[0], "V") {
			have[f[1]] = true
		}
	}
	for _, e := range h264Encoders {
		if have[e] {
			return e, nil
		}
	}
	return "", fmt.Errorf("scenegen: ffmpeg has none of the H.264 encoders %v", h264Encoders)
}

// encoder pipes raw BGR frames into an ffmpeg process.
type encoder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	out    string
}

// encoderArgs returns ffmpeg's arguments for scene s (expr: the setpts
// filter of a jittered clip, or "").
func encoderArgs(enc string, s *Scene, expr, out string) []string {
	cam := s.Camera
	fps := fmtFloat(s.FPS)
	args := []string{"-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "bgr24", "-s", fmt.Sprintf("%dx%d", cam.Width, cam.Height),
		"-framerate", fps, "-i", "-"}
	if expr != "" {
		// Variable frame rate: keep every frame at the time setpts gives it.
		args = append(args, "-vf", expr, "-fps_mode", "passthrough",
			"-enc_time_base", fmt.Sprintf("1/%d", ptsRate), "-video_track_timescale", strconv.Itoa(ptsRate))
	}
	args = append(args, "-c:v", enc)
	switch enc {
	case "libx264":
		args = append(args, "-preset", "veryfast", "-crf", "20")
	default:
		args = append(args, "-b:v", strconv.Itoa(cam.Width*cam.Height*4))
	}
	return append(args, "-g", strconv.Itoa(max(1, int(math.Round(2*s.FPS)))), "-pix_fmt", "yuv420p",
		"-movflags", "+faststart", "-fflags", "+bitexact", "-flags:v", "+bitexact", out)
}

func startEncoder(ctx context.Context, ffmpeg, enc string, s *Scene, expr, out string) (*encoder, error) {
	e := &encoder{out: out}
	e.cmd = exec.CommandContext(ctx, ffmpeg, encoderArgs(enc, s, expr, out)...)
	e.cmd.Stderr = &e.stderr
	var err error
	if e.stdin, err = e.cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("scenegen: ffmpeg: %w", err)
	}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("scenegen: start %s: %w", ffmpeg, err)
	}
	return e, nil
}

func (e *encoder) write(b []byte) error {
	if _, err := e.stdin.Write(b); err != nil {
		e.stdin.Close()
		werr := e.cmd.Wait()
		return fmt.Errorf("scenegen: ffmpeg stopped reading: %v (%v): %s", err, werr, strings.TrimSpace(e.stderr.String()))
	}
	return nil
}

func (e *encoder) close() error {
	cerr := e.stdin.Close()
	if err := e.cmd.Wait(); err != nil {
		return fmt.Errorf("scenegen: encode %s: %w: %s", e.out, err, strings.TrimSpace(e.stderr.String()))
	}
	if cerr != nil {
		return fmt.Errorf("scenegen: encode %s: %w", e.out, cerr)
	}
	return nil
}

func (e *encoder) abort() {
	e.stdin.Close()
	if e.cmd.Process != nil {
		e.cmd.Process.Kill()
	}
	e.cmd.Wait()
}

// ProbeInfo is what ffprobe reports about a clip's video stream.
type ProbeInfo struct {
	Codec         string
	Width, Height int
	// Frames is the number of video packets.
	Frames int
	// RFrameRate and AvgFrameRate are ffprobe's rates ("25/1").
	RFrameRate, AvgFrameRate string
	// TimeBase is the stream time base ("1/12800").
	TimeBase string
	// PTS are the packets' presentation times in seconds, in display order.
	PTS []float64
	// Ticks are the same times in time-base units.
	Ticks []int64
}

// Probe runs ffprobe on a clip's first video stream.
func Probe(ctx context.Context, ffprobe, path string) (*ProbeInfo, error) {
	out, err := exec.CommandContext(ctx, ffprobe, "-v", "error", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,r_frame_rate,avg_frame_rate,time_base:packet=pts",
		"-of", "json", path).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("scenegen: ffprobe %s: %w: %s", path, err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("scenegen: ffprobe %s: %w", path, err)
	}
	var doc struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			RFrameRate   string `json:"r_frame_rate"`
			AvgFrameRate string `json:"avg_frame_rate"`
			TimeBase     string `json:"time_base"`
		} `json:"streams"`
		Packets []struct {
			PTS *int64 `json:"pts"`
		} `json:"packets"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("scenegen: ffprobe %s: %w", path, err)
	}
	if len(doc.Streams) != 1 {
		return nil, fmt.Errorf("scenegen: ffprobe %s: no video stream", path)
	}
	st := doc.Streams[0]
	tb, ok := new(big.Rat).SetString(st.TimeBase)
	if !ok || tb.Sign() <= 0 {
		return nil, fmt.Errorf("scenegen: ffprobe %s: time base %q", path, st.TimeBase)
	}
	tbf, _ := tb.Float64()
	info := &ProbeInfo{Codec: st.CodecName, Width: st.Width, Height: st.Height, RFrameRate: st.RFrameRate,
		AvgFrameRate: st.AvgFrameRate, TimeBase: st.TimeBase, Frames: len(doc.Packets)}
	for _, p := range doc.Packets {
		if p.PTS == nil {
			return nil, fmt.Errorf("scenegen: ffprobe %s: a packet has no pts", path)
		}
		info.Ticks = append(info.Ticks, *p.PTS)
	}
	slices.Sort(info.Ticks)
	for _, t := range info.Ticks {
		info.PTS = append(info.PTS, float64(t)*tbf)
	}
	return info, nil
}

// verifyClip checks that the encoded clip has every frame, at the times the
// truth was computed for (within one tick of the time base).
func verifyClip(ctx context.Context, ffprobe, path string, s *Scene, times []float64) error {
	info, err := Probe(ctx, ffprobe, path)
	if err != nil {
		return err
	}
	if info.Width != s.Camera.Width || info.Height != s.Camera.Height || info.Frames != len(times) {
		return fmt.Errorf("scenegen: %s has %d frames of %dx%d, want %d of %dx%d", path,
			info.Frames, info.Width, info.Height, len(times), s.Camera.Width, s.Camera.Height)
	}
	tb, _ := new(big.Rat).SetString(info.TimeBase)
	tick, _ := tb.Float64()
	for i, t := range times {
		if d := math.Abs(info.PTS[i] - t); d > tick+1e-9 {
			return fmt.Errorf("scenegen: %s frame %d has pts %.6f s, rendered for %.6f s", path, i, info.PTS[i], t)
		}
	}
	return nil
}
