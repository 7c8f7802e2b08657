// Package annotate draws detections, track IDs and speeds onto frames
// (OpenCV through gocv) and encodes the annotated footage to H.264 MP4 with
// the ffmpeg CLI, for people to look at.
package annotate

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os/exec"
	"strings"

	"gocv.io/x/gocv"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/pipeline"
)

// Draw paints the frame's active tracks (or bare detections when the frame
// was not processed) onto f in place.
func Draw(f *frame.Frame, r pipeline.FrameResult, last []pipeline.Active) error {
	if f.Stride != 3*f.Width {
		return fmt.Errorf("annotate: frame %d: padded rows (stride %d) not supported", f.Seq, f.Stride)
	}
	// The Mat shares f.BGR: drawing on it draws on the frame.
	mat, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, f.BGR[:f.Height*f.Stride])
	if err != nil {
		return fmt.Errorf("annotate: frame %d: %w", f.Seq, err)
	}
	defer mat.Close()
	scale := float64(f.Width) / 1280
	thick := max(1, int(2*scale+0.5))
	font := 0.5 * max(scale, 0.6)
	active := r.Active
	if !r.Processed {
		active = last
	}
	for _, a := range active {
		c := colourFor(a.TrackID)
		rect := image.Rect(int(a.Box.X1), int(a.Box.Y1), int(a.Box.X2), int(a.Box.Y2))
		gocv.Rectangle(&mat, rect, c, thick)
		label := fmt.Sprintf("#%d %s", a.TrackID, a.Class)
		if a.SpeedKmh != nil {
			label += fmt.Sprintf(" %.0f km/h", *a.SpeedKmh)
			if a.Sigma != nil {
				label += fmt.Sprintf(" ±%.1f", *a.Sigma)
			}
		}
		label = strings.ReplaceAll(label, "±", "+-") // Hershey fonts are ASCII only
		sz := gocv.GetTextSize(label, gocv.FontHersheySimplex, font, 1)
		org := image.Pt(rect.Min.X, max(rect.Min.Y-4, sz.Y+2))
		gocv.Rectangle(&mat, image.Rect(org.X, org.Y-sz.Y-3, org.X+sz.X+4, org.Y+3), c, -1)
		gocv.PutText(&mat, label, image.Pt(org.X+2, org.Y), gocv.FontHersheySimplex, font, color.RGBA{0, 0, 0, 255}, 1)
	}
	status := fmt.Sprintf("frame %d  t=%.2fs  %s", f.Seq, f.PTS.Seconds(), f.Captured.UTC().Format("15:04:05.000"))
	if !r.Processed {
		status += "  (static: detection skipped)"
	}
	gocv.PutText(&mat, status, image.Pt(8, int(22*max(scale, 0.7))), gocv.FontHersheySimplex, font, color.RGBA{255, 255, 255, 255}, 1)
	return nil
}

// colourFor gives each track a stable, distinct colour.
func colourFor(id int64) color.RGBA {
	palette := []color.RGBA{{255, 99, 71, 255}, {60, 179, 113, 255}, {30, 144, 255, 255}, {255, 215, 0, 255},
		{238, 130, 238, 255}, {0, 206, 209, 255}, {255, 140, 0, 255}, {154, 205, 50, 255}}
	return palette[int(id)%len(palette)]
}

// Writer encodes BGR frames to an H.264 MP4 through the ffmpeg CLI.
type Writer struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	w, h   int
}

// NewWriter starts ffmpeg writing path at fps.
func NewWriter(path string, width, height int, fps float64) (*Writer, error) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return nil, errors.New("annotate: the ffmpeg CLI is required for --annotate (apt install ffmpeg)")
	}
	if fps <= 0 || fps > 240 {
		fps = 15
	}
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "bgr24", "-s", fmt.Sprintf("%dx%d", width, height), "-r", fmt.Sprintf("%.3f", fps), "-i", "-",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-movflags", "+faststart", path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("annotate: %w", err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("annotate: start ffmpeg: %w", err)
	}
	return &Writer{cmd: cmd, stdin: stdin, stderr: &stderr, w: width, h: height}, nil
}

// Write appends one frame; frames of another size are refused.
func (w *Writer) Write(f *frame.Frame) error {
	if f.Width != w.w || f.Height != w.h {
		return fmt.Errorf("annotate: frame %d is %dx%d, the video is %dx%d", f.Seq, f.Width, f.Height, w.w, w.h)
	}
	for y := 0; y < f.Height; y++ {
		row := f.BGR[y*f.Stride : y*f.Stride+3*f.Width]
		if _, err := w.stdin.Write(row); err != nil {
			return fmt.Errorf("annotate: ffmpeg stopped: %w (%s)", err, strings.TrimSpace(w.stderr.String()))
		}
	}
	return nil
}

// Close finishes the file.
func (w *Writer) Close() error {
	_ = w.stdin.Close()
	if err := w.cmd.Wait(); err != nil {
		return fmt.Errorf("annotate: ffmpeg: %w (%s)", err, strings.TrimSpace(w.stderr.String()))
	}
	return nil
}

// Snapshot draws an infraction's vehicle box and caption lines onto a copy
// of f and returns it as a JPEG (quality 92).
func Snapshot(f *frame.Frame, box [4]float32, lines []string) ([]byte, error) {
	if f.Stride != 3*f.Width {
		return nil, fmt.Errorf("annotate: frame %d: padded rows (stride %d) not supported", f.Seq, f.Stride)
	}
	buf := append([]byte(nil), f.BGR[:f.Height*f.Stride]...)
	mat, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, buf)
	if err != nil {
		return nil, fmt.Errorf("annotate: snapshot: %w", err)
	}
	defer mat.Close()
	scale := max(float64(f.Width)/1280, 0.5)
	red := color.RGBA{230, 30, 30, 255}
	gocv.Rectangle(&mat, image.Rect(int(box[0]), int(box[1]), int(box[2]), int(box[3])), red, max(2, int(3*scale)))
	font := 0.55 * scale
	lineH := int(26 * scale)
	panelH := lineH*len(lines) + 10
	gocv.Rectangle(&mat, image.Rect(0, 0, f.Width, panelH), color.RGBA{0, 0, 0, 255}, -1)
	for i, l := range lines {
		gocv.PutText(&mat, l, image.Pt(8, lineH*(i+1)), gocv.FontHersheySimplex, font, color.RGBA{255, 255, 255, 255}, 1)
	}
	jpg, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, mat, []int{gocv.IMWriteJpegQuality, 92})
	if err != nil {
		return nil, fmt.Errorf("annotate: snapshot: %w", err)
	}
	defer jpg.Close()
	return append([]byte(nil), jpg.GetBytes()...), nil
}

// PNG encodes the region r of f as a PNG (a plate crop).
func PNG(f *frame.Frame, r image.Rectangle) ([]byte, error) {
	r = r.Intersect(image.Rect(0, 0, f.Width, f.Height))
	if r.Empty() {
		return nil, fmt.Errorf("annotate: empty crop")
	}
	img := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		for x := 0; x < r.Dx(); x++ {
			b, g, rr := f.At(r.Min.X+x, r.Min.Y+y)
			i := img.PixOffset(x, y)
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = rr, g, b, 255
		}
	}
	var out bytes.Buffer
	if err := png.Encode(&out, img); err != nil {
		return nil, fmt.Errorf("annotate: png: %w", err)
	}
	return out.Bytes(), nil
}
