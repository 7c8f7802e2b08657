package scenegen

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigia-pe/vigia/calibration"
)

// Frame is one rendered picture, packed BGR24 like the agent's frames.
type Frame struct {
	// Index counts frames from 0.
	Index int
	// T is the presentation time (the MP4's PTS); Seconds the same value as
	// a float, exactly the time the car positions were computed at.
	T       time.Duration
	Seconds float64
	// Width, Height and Stride (bytes per row, 3·Width) describe BGR.
	Width, Height, Stride int
	// BGR is reused for the next frame: copy it to keep it.
	BGR []byte
}

// Output file names written by Render.
const (
	ClipFile   = "clip.mp4"
	TruthFile  = "truth.json"
	PointsFile = "points.csv"
	FrameFile  = "frame.jpg"
)

// Renderer renders scenes with sprites from one photo library.
type Renderer struct {
	lib    *Library
	logger *slog.Logger
	// FFmpeg and FFprobe are the tools' paths ("ffmpeg", "ffprobe" on PATH
	// by default).
	FFmpeg, FFprobe string
}

// NewRenderer returns a renderer; a nil library is loaded from each
// scene's PhotoDir.
func NewRenderer(lib *Library, logger *slog.Logger) *Renderer {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Renderer{lib: lib, logger: logger.With("component", "scenegen"), FFmpeg: "ffmpeg", FFprobe: "ffprobe"}
}

// Render renders s into outDir (clip.mp4, truth.json, points.csv,
// frame.jpg) with a library loaded from s.PhotoDir.
func Render(ctx context.Context, s Scene, outDir string) (*Truth, error) {
	return NewRenderer(nil, nil).Render(ctx, s, outDir)
}

func (r *Renderer) library(s *Scene) (*Library, error) {
	if r.lib != nil {
		return r.lib, nil
	}
	if s.PhotoDir == "" {
		return nil, errors.New("scenegen: scene has no photo directory")
	}
	return LoadLibrary(s.PhotoDir, LibraryOptions{Logger: r.logger})
}

// prepared is a scene ready to render.
type prepared struct {
	s     Scene
	cars  []placedCar
	tm    timing
	truth *Truth
}

func (r *Renderer) prepare(s Scene) (*prepared, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("scenegen: invalid scene: %w", err)
	}
	lib, err := r.library(&s)
	if err != nil {
		return nil, err
	}
	cars, err := placeCars(&s, lib)
	if err != nil {
		return nil, err
	}
	tm := newTiming(s)
	truth, err := buildTruth(&s, cars, tm)
	if err != nil {
		return nil, err
	}
	return &prepared{s: s, cars: cars, tm: tm, truth: truth}, nil
}

// Truth computes the ground truth of s without rendering pixels.
func (r *Renderer) Truth(s Scene) (*Truth, error) {
	p, err := r.prepare(s)
	if err != nil {
		return nil, err
	}
	return p.truth, nil
}

// Frames renders every frame of s in order and passes it to yield (with
// the scene's jittered times, for tests that feed frames directly); it
// stops at the first error from yield or ctx.
func (r *Renderer) Frames(ctx context.Context, s Scene, yield func(*Frame) error) (*Truth, error) {
	p, err := r.prepare(s)
	if err != nil {
		return nil, err
	}
	if err := r.frames(ctx, p, yield); err != nil {
		return nil, err
	}
	return p.truth, nil
}

func (r *Renderer) frames(ctx context.Context, p *prepared, yield func(*Frame) error) error {
	t0 := time.Now()
	fr := newFrameRenderer(p)
	r.logger.Debug("background rendered", "scene", p.s.Name, "took", time.Since(t0))
	f := &Frame{Width: p.s.Camera.Width, Height: p.s.Camera.Height, Stride: 3 * p.s.Camera.Width}
	for n, t := range p.tm.t {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("scenegen: render: %w", err)
		}
		f.Index, f.Seconds = n, t
		f.T = time.Duration(math.Round(t * 1e9))
		f.BGR = fr.render(n, t)
		if err := yield(f); err != nil {
			return err
		}
	}
	return nil
}

// Render renders s into outDir: clip.mp4 (H.264), truth.json, points.csv
// and frame.jpg (the first frame); scenes with rules also get geometry.json
// and, with a signal, signal.txt.
func (r *Renderer) Render(ctx context.Context, s Scene, outDir string) (*Truth, error) {
	p, err := r.prepare(s)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("scenegen: %w", err)
	}
	encName, err := findH264Encoder(ctx, r.FFmpeg)
	if err != nil {
		return nil, err
	}
	clip := filepath.Join(outDir, ClipFile)
	enc, err := startEncoder(ctx, r.FFmpeg, encName, &p.s, p.tm.expr, clip)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	err = r.frames(ctx, p, func(f *Frame) error {
		if f.Index == 0 {
			if err := writeJPEG(filepath.Join(outDir, FrameFile), f); err != nil {
				return err
			}
		}
		return enc.write(f.BGR)
	})
	if err != nil {
		enc.abort()
		return nil, err
	}
	if err := enc.close(); err != nil {
		return nil, err
	}
	r.logger.Info("clip encoded", "scene", p.s.Name, "frames", len(p.tm.t), "encoder", encName, "took", time.Since(t0), "out", clip)
	if err := verifyClip(ctx, r.FFprobe, clip, &p.s, p.tm.t); err != nil {
		return nil, err
	}
	p.truth.Clip, p.truth.Encoder = ClipFile, encName
	if err := writeFile(filepath.Join(outDir, TruthFile), p.truth.WriteJSON); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(outDir, PointsFile), p.truth.WritePointsCSV); err != nil {
		return nil, err
	}
	if g := p.truth.Geometry; g != nil {
		if err := writeFile(filepath.Join(outDir, GeometryFile), g.WriteJSON); err != nil {
			return nil, err
		}
	}
	if len(p.truth.Signal) > 0 {
		if err := writeFile(filepath.Join(outDir, SignalFile), func(w io.Writer) error { return WriteSignal(w, p.truth.Signal) }); err != nil {
			return nil, err
		}
	}
	return p.truth, nil
}

func writeFile(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("scenegen: %w", err)
	}
	if err := write(fh); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("scenegen: %w", err)
	}
	return nil
}

func writeJPEG(path string, f *Frame) error {
	img := FrameImage(f)
	return writeFile(path, func(w io.Writer) error {
		if err := jpeg.Encode(w, img, &jpeg.Options{Quality: 92}); err != nil {
			return fmt.Errorf("scenegen: encode %s: %w", path, err)
		}
		return nil
	})
}

// FrameImage converts a frame to an RGBA image (for PNG/JPEG files).
func FrameImage(f *Frame) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	for y := range f.Height {
		src := f.BGR[y*f.Stride : y*f.Stride+3*f.Width]
		dst := img.Pix[y*img.Stride : y*img.Stride+4*f.Width]
		for x := range f.Width {
			dst[4*x], dst[4*x+1], dst[4*x+2], dst[4*x+3] = src[3*x+2], src[3*x+1], src[3*x], 255
		}
	}
	return img
}

// frameRenderer composites cars over the static background.
type frameRenderer struct {
	p     *prepared
	bg    []byte
	buf   []byte
	pose  *poser
	i2g   calibration.Homography
	grain *grainTable
	poses []carPose
	order []int
}

// Shadow shape: the car's footprint (length shadowLenM behind its visible
// face, shadowWideM wider than it), darkened by up to shadowDark with soft
// edges of shadowSoftM.
const (
	shadowLenM  = 3.0
	shadowWideM = 0.2
	shadowSoftM = 0.35
	shadowDark  = 0.45
)

func newFrameRenderer(p *prepared) *frameRenderer {
	cam := p.s.Camera
	fr := &frameRenderer{
		p: p, bg: renderBackground(newScenery(cam, p.s.Road, p.s.Seed)),
		buf: make([]byte, 3*cam.Width*cam.Height), pose: newPoser(&p.s),
		poses: make([]carPose, len(p.cars)),
	}
	fr.i2g, _ = cam.ImageToGround() // validated in buildTruth
	if p.s.NoiseSigma > 0 {
		fr.grain = newGrainTable(p.s.NoiseSigma, p.s.Seed^0x5e5e)
	}
	return fr
}

// render draws frame n at time t and returns the frame buffer.
func (fr *frameRenderer) render(n int, t float64) []byte {
	copy(fr.buf, fr.bg)
	fr.order = fr.order[:0]
	for i := range fr.p.cars {
		fr.poses[i] = fr.pose.pose(&fr.p.cars[i], t)
		if fr.poses[i].ok {
			fr.order = append(fr.order, i)
		}
	}
	// Farthest first.
	slices.SortStableFunc(fr.order, func(a, b int) int { return cmpFloat(fr.poses[b].depth, fr.poses[a].depth) })
	if !fr.p.s.noShadows {
		for _, i := range fr.order {
			fr.shadow(&fr.p.cars[i], &fr.poses[i])
		}
	}
	for _, i := range fr.order {
		fr.sprite(&fr.p.cars[i], &fr.poses[i])
	}
	if fr.grain != nil {
		fr.grain.apply(fr.buf, n, fr.p.s.Seed)
	}
	return fr.buf
}

// pixelRect returns the image pixels whose centres may lie in box b.
func (fr *frameRenderer) pixelRect(b [4]float64) image.Rectangle {
	w, h := fr.p.s.Camera.Width, fr.p.s.Camera.Height
	r := image.Rect(int(math.Floor(math.Max(-1, b[0]))), int(math.Floor(math.Max(-1, b[1]))),
		int(math.Ceil(math.Min(float64(w+1), b[2]))), int(math.Ceil(math.Min(float64(h+1), b[3]))))
	return r.Intersect(image.Rect(0, 0, w, h))
}

// shadow darkens the road under the car.
func (fr *frameRenderer) shadow(pc *placedCar, cp *carPose) {
	p := fr.pose
	fh, ok := p.f.horizontal()
	if !ok {
		return
	}
	G := Vec3{cp.x, cp.y, 0}
	hw := pc.w/2 + shadowWideM/2 + shadowSoftM
	var b = [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, c := range [4][2]float64{{-hw, -shadowSoftM}, {hw, -shadowSoftM}, {hw, shadowLenM + shadowSoftM}, {-hw, shadowLenM + shadowSoftM}} {
		q := G.add(p.e.scale(c[0])).add(fh.scale(c[1]))
		if q.sub(p.c).dot(p.f) < nearDepth {
			return
		}
		u, v, _ := p.cam.Project(q)
		b[0], b[1], b[2], b[3] = math.Min(b[0], u), math.Min(b[1], v), math.Max(b[2], u), math.Max(b[3], v)
	}
	rect := fr.pixelRect(b)
	w := fr.p.s.Camera.Width
	half := pc.w/2 + shadowWideM/2
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			gx, gy, wgt := applyH(&fr.i2g, float64(x)+0.5, float64(y)+0.5)
			if wgt <= 0 {
				continue
			}
			d := Vec3{gx - G.X, gy - G.Y, 0}
			a, l := d.dot(p.e), d.dot(fh)
			m := (1 - smoothstep(half-shadowSoftM, half+shadowSoftM, math.Abs(a))) *
				smoothstep(-shadowSoftM, shadowSoftM, l) * (1 - smoothstep(shadowLenM-shadowSoftM, shadowLenM+shadowSoftM, l))
			if m <= 0 {
				continue
			}
			k := 1 - shadowDark*m
			i := 3 * (y*w + x)
			fr.buf[i] = uint8(float64(fr.buf[i]) * k)
			fr.buf[i+1] = uint8(float64(fr.buf[i+1]) * k)
			fr.buf[i+2] = uint8(float64(fr.buf[i+2]) * k)
		}
	}
}

// sprite draws the car billboard, sampling the mip level whose texels are
// closest to (not smaller than) one pixel.
func (fr *frameRenderer) sprite(pc *placedCar, cp *carPose) {
	inv, err := cp.spriteToImg.Inverse()
	if err != nil {
		return
	}
	spr := pc.spr
	bw := cp.box[2] - cp.box[0]
	if bw <= 0.5 {
		return
	}
	texPerPx := float64(spr.w()) / bw
	lvl := 0
	for lvl+1 < len(spr.levels) && texPerPx >= 2 {
		texPerPx /= 2
		lvl++
	}
	L := &spr.levels[lvl]
	ks := float64(L.w) / float64(spr.w())
	kt := float64(L.h) / float64(spr.h())
	rect := fr.pixelRect(cp.box)
	w := fr.p.s.Camera.Width
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			s, t, wgt := applyH(&inv, float64(x)+0.5, float64(y)+0.5)
			if wgt == 0 {
				continue
			}
			s, t = s*ks, t*kt
			if s < -1 || t < -1 || s > float64(L.w)+1 || t > float64(L.h)+1 {
				continue
			}
			b, g, r, a := L.sample(s, t)
			if a <= 0 {
				continue
			}
			k := 1 - a/255
			i := 3 * (y*w + x)
			fr.buf[i] = clamp8(b + float64(fr.buf[i])*k)
			fr.buf[i+1] = clamp8(g + float64(fr.buf[i+1])*k)
			fr.buf[i+2] = clamp8(r + float64(fr.buf[i+2])*k)
		}
	}
}
