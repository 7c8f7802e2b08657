package scenegen

import (
	"context"
	"crypto/sha256"
	"errors"
	"image"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/internal/testenv"
)

// TestRenderedCarsMatchTruth compares rendered frames with the empty road:
// the pixels each car changed must fill exactly its truth box.
func TestRenderedCarsMatchTruth(t *testing.T) {
	s := smallScene(1)
	s.noShadows = true
	r := NewRenderer(testLibrary(t), nil)
	p, err := r.prepare(s)
	if err != nil {
		t.Fatal(err)
	}
	fr := newFrameRenderer(p)
	w, h := s.Camera.Width, s.Camera.Height
	checked := 0
	for n, tt := range p.tm.t {
		buf := fr.render(n, tt)
		for _, c := range p.truth.Cars {
			for _, f := range c.Track {
				if f.Frame != n || !f.Full || f.Box[2]-f.Box[0] < 30 {
					continue
				}
				// Changed pixels within 4 px of the box (no other car there:
				// the car is unoccluded and boxes rarely touch).
				b := f.Box
				search := image.Rect(int(b[0])-4, int(b[1])-4, int(b[2])+5, int(b[3])+5).Intersect(image.Rect(0, 0, w, h))
				got := image.Rectangle{Min: image.Pt(w, h)}
				for y := search.Min.Y; y < search.Max.Y; y++ {
					for x := search.Min.X; x < search.Max.X; x++ {
						i := 3 * (y*w + x)
						d := max(absDiff(buf[i], fr.bg[i]), absDiff(buf[i+1], fr.bg[i+1]), absDiff(buf[i+2], fr.bg[i+2]))
						if d > 12 {
							got.Min.X, got.Min.Y = min(got.Min.X, x), min(got.Min.Y, y)
							got.Max.X, got.Max.Y = max(got.Max.X, x+1), max(got.Max.Y, y+1)
						}
					}
				}
				checked++
				for i, e := range [4]float64{float64(got.Min.X) - b[0], float64(got.Min.Y) - b[1], float64(got.Max.X) - b[2], float64(got.Max.Y) - b[3]} {
					if math.Abs(e) > 1.5 {
						t.Errorf("frame %d car %d: drawn over %v, truth box %.1f: edge %d off by %.1f px", n, c.ID, got, b, i, e)
					}
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d car boxes checked", checked)
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func frameHashes(t *testing.T, r *Renderer, s Scene) ([][32]byte, *Truth) {
	t.Helper()
	var hs [][32]byte
	tr, err := r.Frames(context.Background(), s, func(f *Frame) error {
		if f.Width*3 != f.Stride || len(f.BGR) != f.Stride*f.Height || f.Index != len(hs) {
			t.Fatalf("frame %d: %dx%d stride %d, %d bytes", f.Index, f.Width, f.Height, f.Stride, len(f.BGR))
		}
		hs = append(hs, sha256.Sum256(f.BGR))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hs, tr
}

func TestFramesDeterministic(t *testing.T) {
	lib := testLibrary(t)
	s := smallScene(7)
	s.NoiseSigma = 2
	s.JitterMs = 10
	a, ta := frameHashes(t, NewRenderer(lib, nil), s)
	b, tb := frameHashes(t, NewRenderer(lib, nil), s)
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(ta, tb) {
		t.Fatal("the same scene rendered differently")
	}
	if len(a) != s.Frames() {
		t.Fatalf("%d frames, want %d", len(a), s.Frames())
	}
	s.Seed = 8
	c, tc := frameHashes(t, NewRenderer(lib, nil), s)
	if reflect.DeepEqual(a, c) || reflect.DeepEqual(ta.Frames, tc.Frames) {
		t.Error("another seed rendered the same frames and times")
	}
}

func TestFramesStop(t *testing.T) {
	r := NewRenderer(testLibrary(t), nil)
	stop := errors.New("enough")
	n := 0
	_, err := r.Frames(context.Background(), smallScene(1), func(f *Frame) error {
		n++
		if f.Index == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Errorf("yield error: got %v after %d frames", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Frames(ctx, smallScene(1), func(*Frame) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	bad := smallScene(1)
	bad.FPS = 0
	if _, err := r.Frames(context.Background(), bad, func(*Frame) error { return nil }); err == nil {
		t.Error("an invalid scene rendered")
	}
}

// TestIntegrationRenderClip renders a short clip with the real ffmpeg and
// checks every output file.
func TestIntegrationRenderClip(t *testing.T) {
	ffprobe := testenv.RequireTool(t, "ffprobe")
	testenv.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	s := smallScene(1)
	ctx := testenv.Context(t, 2*time.Minute)
	tr, err := NewRenderer(testLibrary(t), nil).Render(ctx, s, dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(ctx, ffprobe, filepath.Join(dir, ClipFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Codec != "h264" || info.Width != 640 || info.Height != 360 || info.Frames != 20 || info.RFrameRate != "10/1" || info.AvgFrameRate != "10/1" {
		t.Errorf("clip %+v: want h264 640x360, 20 frames at 10/1", info)
	}
	for i, pts := range info.PTS {
		if math.Abs(pts-float64(i)/10) > 1e-9 {
			t.Errorf("frame %d pts %v", i, pts)
		}
	}
	back, err := ReadTruth(filepath.Join(dir, TruthFile))
	if err != nil {
		t.Fatal(err)
	}
	if back.Clip != ClipFile || back.Encoder == "" || !reflect.DeepEqual(back, tr) {
		t.Errorf("truth.json differs from the returned truth (clip %q, encoder %q)", back.Clip, back.Encoder)
	}
	fh, err := os.Open(filepath.Join(dir, PointsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	pairs, _, err := calibration.ReadPointsCSV(fh)
	if err != nil || len(pairs) < 4 {
		t.Fatalf("points.csv: %d points, %v", len(pairs), err)
	}
	jf, err := os.Open(filepath.Join(dir, FrameFile))
	if err != nil {
		t.Fatal(err)
	}
	defer jf.Close()
	img, err := jpeg.Decode(jf)
	if err != nil || img.Bounds().Dx() != 640 || img.Bounds().Dy() != 360 {
		t.Fatalf("frame.jpg: %v, %v", img.Bounds(), err)
	}
}

// TestIntegrationRenderJitter checks that a jittered clip carries the
// truth's frame times as its PTS.
func TestIntegrationRenderJitter(t *testing.T) {
	ffprobe := testenv.RequireTool(t, "ffprobe")
	testenv.RequireTool(t, "ffmpeg")
	dir := t.TempDir()
	s := smallScene(4)
	s.JitterMs = 25
	ctx := testenv.Context(t, 2*time.Minute)
	tr, err := NewRenderer(testLibrary(t), nil).Render(ctx, s, dir)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Probe(ctx, ffprobe, filepath.Join(dir, ClipFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != len(tr.Frames) || info.TimeBase != "1/90000" {
		t.Fatalf("%d frames, time base %s; want %d, 1/90000", info.Frames, info.TimeBase, len(tr.Frames))
	}
	jittered := 0
	for i, f := range tr.Frames {
		if d := math.Abs(info.PTS[i] - f.T); d > 1.0/90000+1e-9 {
			t.Errorf("frame %d: pts %.6f, truth %.6f", i, info.PTS[i], f.T)
		}
		if math.Abs(f.T-float64(i)/10) > 0.003 {
			jittered++
		}
	}
	if jittered < len(tr.Frames)/2 {
		t.Errorf("only %d frames jittered", jittered)
	}
}
