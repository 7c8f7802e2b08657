package plate

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/internal/testenv"
	"github.com/vigia-pe/vigia/models"
)

// labelledPhoto is one photo of plates-br-openalpr/full with its label.
type labelledPhoto struct {
	path string
	box  infer.Box
	text string
}

func loadLabelled(t *testing.T, dir string) []labelledPhoto {
	t.Helper()
	labels, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out []labelledPhoto
	for _, l := range labels {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		// image x y w h TEXT, tab or space separated.
		f := strings.Fields(string(b))
		if len(f) != 6 {
			t.Fatalf("%s: want 6 fields, got %q", l, b)
		}
		var n [4]float64
		for i := range n {
			if n[i], err = strconv.ParseFloat(f[1+i], 64); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
		}
		out = append(out, labelledPhoto{
			path: filepath.Join(dir, f[0]),
			box:  infer.Box{X1: float32(n[0]), Y1: float32(n[1]), X2: float32(n[0] + n[2]), Y2: float32(n[1] + n[3])},
			text: f[5],
		})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].text < out[b].text })
	return out
}

// TestAccuracyIntegration runs the whole chain the `agent plates` command
// runs (YOLOX vehicles, LPD-YuNet on padded vehicle crops, the reader) on the
// labelled Brazilian photos, with the real models and ONNX Runtime, and
// checks the exact-match rate of the plate overlapping the labelled box.
// Both crop modes and the brazil and any formats are measured from the same
// detections; the assertion is on the default crop mode.
func TestAccuracyIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real models, 35 photos")
	}
	dir := filepath.Join(testenv.DataDir(), "plates-br-openalpr", "full")
	testenv.RequireFile(t, dir)
	photos := loadLabelled(t, dir)
	if len(photos) < 30 {
		t.Fatalf("found %d labelled photos in %s, want 35", len(photos), dir)
	}
	rec := newTestRecognizer(t, Config{Format: FormatBrazil})
	m, err := models.Manifest("yolox-nano", testenv.ModelsDir())
	if err != nil {
		t.Fatal(err)
	}
	testenv.RequireModel(t, m.Weights.File)
	veh, err := infer.New(testRT, infer.Config{IntraOpThreads: 2}, m, testenv.ModelsDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { veh.Close() })
	rectify, err := NewReader(testRT, ReaderConfig{ModelPath: filepath.Join(testenv.ModelsDir(), ReaderModel), Threads: 2, Crop: CropRectify})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rectify.Close() })

	type mode struct {
		name   string
		crop   CropMode
		format Format
	}
	modes := []mode{
		{"axis/brazil", CropAxisAligned, FormatBrazil},
		{"axis/any", CropAxisAligned, FormatAny},
		{"rectify/brazil", CropRectify, FormatBrazil},
		{"rectify/any", CropRectify, FormatAny},
	}
	correct := make(map[string]int)
	misses := make(map[string][]string)
	var found int
	var total, vehTime time.Duration
	for _, p := range photos {
		f := loadFrame(t, p.path)
		start := time.Now()
		dets, err := veh.Detect(f)
		if err != nil {
			t.Fatal(err)
		}
		vehTime += time.Since(start)
		boxes := make([]infer.Box, len(dets))
		for i, d := range dets {
			boxes[i] = d.Box
		}
		res, err := rec.RecognizeFrame(f, boxes)
		if err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
		best, bestIoU := -1, float32(0)
		for i, r := range res {
			if iou := r.Box.IoU(p.box); iou > bestIoU {
				best, bestIoU = i, iou
			}
		}
		if best < 0 || bestIoU < 0.3 {
			for _, md := range modes {
				misses[md.name] = append(misses[md.name], fmt.Sprintf("%s: plate not found (%d plates, %d vehicles)", p.text, len(res), len(boxes)))
			}
			continue
		}
		found++
		pl := res[best].Plate
		probs := map[CropMode][]float32{}
		if probs[CropAxisAligned], err = rec.rd.Probabilities(f, pl); err != nil {
			t.Fatal(err)
		}
		if probs[CropRectify], err = rectify.Probabilities(f, pl); err != nil {
			t.Fatal(err)
		}
		if got := Resolve(probs[CropAxisAligned], FormatBrazil, DefaultMinConfidence); got != res[best].Read {
			t.Errorf("%s: RecognizeFrame read %+v, Resolve of the same crop %+v", p.text, res[best].Read, got)
		}
		for _, md := range modes {
			rd := Resolve(probs[md.crop], md.format, DefaultMinConfidence)
			if rd.Readable && Compact(rd.Text) == p.text {
				correct[md.name]++
				continue
			}
			misses[md.name] = append(misses[md.name], fmt.Sprintf("%s: read %q (raw %q) conf %.2f readable=%v", p.text, rd.Text, rd.Raw, rd.Confidence, rd.Readable))
		}
	}
	n := float64(len(photos))
	t.Logf("%d photos, plate found (IoU>=0.3 with the label) in %d; per photo: %.0f ms end to end = vehicles %.0f ms + plates %.0f ms",
		len(photos), found, total.Seconds()*1000/n, vehTime.Seconds()*1000/n, (total-vehTime).Seconds()*1000/n)
	for _, md := range modes {
		acc := float64(correct[md.name]) / n
		t.Logf("%-15s exact %2d/%d = %.1f%%", md.name, correct[md.name], len(photos), 100*acc)
		if md.crop == CropAxisAligned {
			for _, m := range misses[md.name] {
				t.Logf("    miss %s", m)
			}
		}
		if md.crop == CropAxisAligned && acc < 0.85 {
			t.Errorf("%s: exact-match accuracy %.3f, want >= 0.85", md.name, acc)
		}
	}
}
