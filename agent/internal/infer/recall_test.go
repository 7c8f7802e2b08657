package infer

import (
	"fmt"
	"image"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// crop is a picture of one real vehicle, cut at a detector box.
type crop struct {
	name string
	f    *frame.Frame
}

// vehicleCrops cuts real vehicles out of dog.jpg (the pickup, 225 px wide)
// and frames of the intersection clip (small: 320x240 footage), at the boxes
// the plain YOLOX run finds there, plus mirrored copies.
func vehicleCrops(t *testing.T, d *ORTDetector) []crop {
	t.Helper()
	var crops []crop
	add := func(name string, f *frame.Frame, minW float32) {
		dets, err := d.Detect(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, det := range dets {
			if !slices.Contains(vehicleLabels, det.Label) || det.Box.W() < minW || det.Score < 0.5 {
				continue
			}
			r := image.Rect(int(det.Box.X1+0.5), int(det.Box.Y1+0.5), int(det.Box.X2+0.5), int(det.Box.Y2+0.5))
			c := cropFrame(f, r)
			crops = append(crops, crop{fmt.Sprintf("%s#%d", name, i), c}, crop{fmt.Sprintf("%s#%d-mirror", name, i), mirror(c)})
		}
	}
	add("dog", dogFrame(t), 100)
	for _, f := range intersectionFrames(t, 2, 4) {
		add(fmt.Sprintf("intersection%d", f.Seq), f, 36)
	}
	if len(crops) < 4 {
		t.Fatalf("only %d vehicle crops", len(crops))
	}
	return crops
}

func mirror(f *frame.Frame) *frame.Frame {
	m := &frame.Frame{Width: f.Width, Height: f.Height, Stride: f.Stride, BGR: make([]byte, len(f.BGR))}
	for y := range f.Height {
		for x := range f.Width {
			s, d := y*f.Stride+3*x, y*f.Stride+3*(f.Width-1-x)
			copy(m.BGR[d:d+3], f.BGR[s:s+3])
		}
	}
	return m
}

// areaResize shrinks (or enlarges) a frame by averaging the source pixels
// under each destination pixel: an anti-aliased resize, so a pasted car looks
// like a camera would see it at that size.
func areaResize(f *frame.Frame, w, h int) *frame.Frame {
	out := &frame.Frame{Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h)}
	for y := range h {
		y0 := y * f.Height / h
		y1 := max((y+1)*f.Height/h, y0+1)
		for x := range w {
			x0 := x * f.Width / w
			x1 := max((x+1)*f.Width/w, x0+1)
			var sum [3]int
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					i := sy*f.Stride + 3*sx
					sum[0] += int(f.BGR[i])
					sum[1] += int(f.BGR[i+1])
					sum[2] += int(f.BGR[i+2])
				}
			}
			n := (y1 - y0) * (x1 - x0)
			for c := range 3 {
				out.BGR[y*out.Stride+3*x+c] = byte((sum[c] + n/2) / n)
			}
		}
	}
	return out
}

func paste(dst, src *frame.Frame, at image.Point) {
	for y := range src.Height {
		copy(dst.BGR[(at.Y+y)*dst.Stride+3*at.X:], src.BGR[y*src.Stride:y*src.Stride+3*src.Width])
	}
}

// syntheticScene pastes vehicles of one width at random spots of a grid over
// a noisy asphalt-grey 2560x1440 canvas and returns the pasted boxes.
func syntheticScene(crops []crop, width int, rng *rand.Rand) (*frame.Frame, []Box) {
	const W, H, cols, rows = 2560, 1440, 8, 5
	f := &frame.Frame{Width: W, Height: H, Stride: 3 * W, BGR: make([]byte, 3*W*H)}
	for i := 0; i < len(f.BGR); i += 8 {
		r := rng.Uint64()
		for k := 0; k < 8 && i+k < len(f.BGR); k++ {
			f.BGR[i+k] = byte(100 + (r>>(8*k))&15)
		}
	}
	var boxes []Box
	cw, ch := W/cols, H/rows
	for j := range rows {
		for i := range cols {
			c := crops[(j*cols+i)%len(crops)]
			h := max(c.f.Height*width/c.f.Width, 1)
			if width > cw-8 || h > ch-8 {
				continue
			}
			s := areaResize(c.f, width, h)
			at := image.Pt(i*cw+4+rng.IntN(cw-8-width+1), j*ch+4+rng.IntN(ch-8-h+1))
			paste(f, s, at)
			boxes = append(boxes, Box{float32(at.X), float32(at.Y), float32(at.X + width), float32(at.Y + h)})
		}
	}
	return f, boxes
}

// recall is the fraction of boxes matched (IoU >= 0.5) by a vehicle detection.
func recall(dets []Detection, boxes []Box) (found int) {
	for _, b := range boxes {
		if iou, _ := bestMatch(dets, b, vehicleLabels...); iou >= 0.5 {
			found++
		}
	}
	return found
}

// TestIntegrationRecallBySize measures how many real vehicles pasted at
// various widths into a 2560x1440 frame YOLOX-Nano finds: on the whole frame,
// with 4x2 tiles and with 6x3 tiles (each plus the whole view). It checks
// that tiling finds more of the small ones (the point of tiling), finer
// tiles more than coarser ones, and that no tiling loses large vehicles.
func TestIntegrationRecallBySize(t *testing.T) {
	if testing.Short() {
		t.Skip("about 250 inferences")
	}
	modes := []struct {
		name string
		d    *ORTDetector
	}{
		{"whole frame", newRealDetector(t, "yolox-nano", Config{})},
		{"tiles 4x2+whole", newRealDetector(t, "yolox-nano", Config{Tiling: Tiling{Cols: 4, Rows: 2, Overlap: 0.2, Whole: true}})},
		{"tiles 6x3+whole", newRealDetector(t, "yolox-nano", Config{Tiling: Tiling{Cols: 6, Rows: 3, Overlap: 0.2, Whole: true}})},
	}
	crops := vehicleCrops(t, modes[0].d)
	var names []string
	for _, c := range crops {
		names = append(names, fmt.Sprintf("%s %dx%d", c.name, c.f.Width, c.f.Height))
	}
	t.Logf("%d crops: %s", len(crops), strings.Join(names, ", "))

	// "Small" are the widths the whole-frame run misses (under ~16 input
	// pixels); "large" those it sees at about 30+ input pixels.
	widths := []int{24, 32, 48, 64, 96, 128, 192, 256}
	const smallMax, largeMin = 96, 192
	rng := rand.New(rand.NewPCG(7, 11))
	var b strings.Builder
	fmt.Fprintf(&b, "recall by vehicle width in a 2560x1440 frame (YOLOX-Nano 416, match = vehicle label and IoU >= 0.5)\n")
	fmt.Fprintf(&b, "%8s %5s", "width px", "cars")
	for _, m := range modes {
		fmt.Fprintf(&b, " %18s", m.name)
	}
	b.WriteString("\n")
	small := make([]int, len(modes))
	large := make([]int, len(modes))
	largeN := 0
	for _, w := range widths {
		f, boxes := syntheticScene(crops, w, rng)
		fmt.Fprintf(&b, "%8d %5d", w, len(boxes))
		if w >= largeMin {
			largeN += len(boxes)
		}
		for i, m := range modes {
			dets, err := m.d.Detect(f)
			if err != nil {
				t.Fatal(err)
			}
			n := recall(dets, boxes)
			fmt.Fprintf(&b, " %11d (%3.0f%%)", n, 100*float64(n)/float64(len(boxes)))
			if w <= smallMax {
				small[i] += n
			}
			if w >= largeMin {
				large[i] += n
			}
		}
		b.WriteString("\n")
	}
	for _, m := range modes {
		tm := m.d.LastTimings()
		fmt.Fprintf(&b, "%s: %d views, pre %v, inference %v, post %v per frame\n",
			m.name, tm.Views, tm.Preprocess.Round(time.Millisecond/10), tm.Inference.Round(time.Millisecond), tm.Postprocess.Round(time.Millisecond/10))
	}
	t.Log(b.String())
	for i := 1; i < len(modes); i++ {
		if small[i] <= small[i-1] {
			t.Errorf("%s found %d small (<= %d px) vehicles, %s %d: want more", modes[i].name, small[i], smallMax, modes[i-1].name, small[i-1])
		}
		// Large vehicles are seen whole by the whole view: tiles must not
		// lose them (fragments merged, not reported instead).
		if large[i] < large[0] {
			t.Errorf("%s found %d large (>= %d px) vehicles, the whole-frame run %d: want no loss", modes[i].name, large[i], largeMin, large[0])
		}
	}
	if best := slices.Max(large); 2*best < largeN {
		t.Errorf("no mode found half of the %d large vehicles (best %d): the synthetic scene is broken", largeN, best)
	}
}
