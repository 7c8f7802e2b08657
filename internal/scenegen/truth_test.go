package scenegen

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigia-pe/vigia/calibration"
)

func truthOf(t *testing.T, s Scene) *Truth {
	t.Helper()
	tr, err := NewRenderer(testLibrary(t), nil).Truth(s)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestTruthMotion checks every car's track against the motion law, and its
// image box against the homography: the bottom centre of the box is the
// ground point and the bottom edge is the car's width.
func TestTruthMotion(t *testing.T) {
	s := smallScene(1)
	tr := truthOf(t, s)
	i2g := tr.ImageToGround
	for _, c := range tr.Cars {
		t.Run(c.Photo, func(t *testing.T) {
			car := s.Cars[c.ID-1]
			if len(c.Track) < 5 {
				t.Fatalf("only %d frames in view", len(c.Track))
			}
			sign := 1.0
			if c.Direction == Toward {
				sign = -1
			}
			full := 0
			for i, f := range c.Track {
				dt := f.T - car.PassTime
				wantY := s.RefY + sign*(car.SpeedKmh/3.6*dt+0.5*car.AccelMS2*dt*dt)
				if math.Abs(f.Y-wantY) > 1e-9 || f.X != s.Road.LaneCentreX(car.Lane) {
					t.Fatalf("frame %d: ground (%v, %v), want (%v, %v)", f.Frame, f.X, f.Y, s.Road.LaneCentreX(car.Lane), wantY)
				}
				if i > 0 {
					p := c.Track[i-1]
					// Constant acceleration: the mean speed over an interval is
					// the mean of the end speeds.
					v := math.Abs(f.Y-p.Y) / (f.T - p.T) * 3.6
					if math.Abs(v-(f.SpeedKmh+p.SpeedKmh)/2) > 1e-6 {
						t.Errorf("frames %d-%d: moved at %v km/h, truth says %v..%v", p.Frame, f.Frame, v, p.SpeedKmh, f.SpeedKmh)
					}
					// Away: the box rises and shrinks; toward: it falls and grows.
					rising := f.Box[3] < p.Box[3]
					if p.InFrame == 1 && f.InFrame == 1 && rising != (c.Direction == Away) {
						t.Errorf("frames %d-%d: box bottom %v → %v for a car driving %s", p.Frame, f.Frame, p.Box[3], f.Box[3], c.Direction)
					}
				}
				if f.InFrame < 1 {
					continue
				}
				full++
				gx, gy, _ := applyH(&i2g, (f.Box[0]+f.Box[2])/2, f.Box[3])
				if math.Hypot(gx-f.X, gy-f.Y) > 1e-6 {
					t.Errorf("frame %d: box bottom centre maps to (%v, %v), ground point (%v, %v)", f.Frame, gx, gy, f.X, f.Y)
				}
				lx, ly, _ := applyH(&i2g, f.Box[0], f.Box[3])
				rx, ry, _ := applyH(&i2g, f.Box[2], f.Box[3])
				if w := math.Hypot(rx-lx, ry-ly); math.Abs(w-c.WidthM) > 1e-6 {
					t.Errorf("frame %d: bottom edge is %v m wide, want %v", f.Frame, w, c.WidthM)
				}
				if pb := f.PlateBox; !(pb[0] >= f.Box[0] && pb[2] <= f.Box[2] && pb[1] >= f.Box[1] && pb[3] <= f.Box[3]) {
					t.Errorf("frame %d: plate %v outside the car %v", f.Frame, pb, f.Box)
				}
			}
			if full == 0 || c.FullFrom < 0 || c.FullTo < c.FullFrom {
				t.Errorf("never fully visible: %d frames, window %d..%d", full, c.FullFrom, c.FullTo)
			}
		})
	}
}

func TestTruthTiming(t *testing.T) {
	s := smallScene(3)
	s.Cars = nil
	tr := truthOf(t, s)
	if len(tr.Frames) != 20 {
		t.Fatalf("%d frames, want 20", len(tr.Frames))
	}
	for _, f := range tr.Frames {
		if f.T != float64(f.Index)/10 {
			t.Fatalf("frame %d at %v s without jitter", f.Index, f.T)
		}
	}
	s.JitterMs = 20
	tr = truthOf(t, s)
	moved := 0
	for i, f := range tr.Frames {
		nominal := float64(i) / 10
		if d := math.Abs(f.T - nominal); d > 0.020+1.0/ptsRate {
			t.Errorf("frame %d at %v s: %v ms from nominal, jitter is 20 ms", i, f.T, d*1000)
		} else if d > 0.002 {
			moved++
		}
		if ticks := f.T * ptsRate; math.Abs(ticks-math.Round(ticks)) > 1e-6 {
			t.Errorf("frame %d at %v s is not on the 1/%d s grid", i, f.T, ptsRate)
		}
		if i > 0 && f.T <= tr.Frames[i-1].T {
			t.Errorf("frame %d at %v s is not after frame %d", i, f.T, i-1)
		}
	}
	if tr.Frames[0].T != 0 || moved < len(tr.Frames)/2 {
		t.Errorf("first frame at %v s, %d of %d frames jittered by more than 2 ms", tr.Frames[0].T, moved, len(tr.Frames))
	}
}

// TestTruthMarkers checks the markers and points.csv, and that a
// calibration solved from points.csv reproduces the true homography.
func TestTruthMarkers(t *testing.T) {
	for _, noise := range []float64{0, 0.5} {
		s := smallScene(1)
		s.Camera.Width, s.Camera.Height = 1280, 720
		s.ClickNoisePx = noise
		tr := truthOf(t, s)
		var buf bytes.Buffer
		if err := tr.WritePointsCSV(&buf); err != nil {
			t.Fatal(err)
		}
		pairs, _, err := calibration.ReadPointsCSV(&buf)
		if err != nil {
			t.Fatal(err)
		}
		var clickable int
		var dev float64
		for _, m := range tr.Markers {
			u, v, ok := s.Camera.GroundToPixel(m.X, m.Y)
			if ok && math.Hypot(u-m.U, v-m.V) > 1e-9 {
				t.Errorf("marker (%v,%v) at (%v,%v), projects to (%v,%v)", m.X, m.Y, m.U, m.V, u, v)
			}
			if m.Clickable {
				clickable++
				dev = math.Max(dev, math.Hypot(m.ClickU-m.U, m.ClickV-m.V))
			}
		}
		if clickable < 8 || len(pairs) != clickable {
			t.Fatalf("%d clickable markers, %d points in the csv", clickable, len(pairs))
		}
		if (noise == 0) != (dev == 0) || dev > 6*noise {
			t.Errorf("click noise %v px: largest deviation %v px", noise, dev)
		}
		cal, err := calibration.New(pairs, calibration.Options{Image: calibration.ImageSize{Width: s.Camera.Width, Height: s.Camera.Height}})
		if err != nil {
			t.Fatal(err)
		}
		// Compare on the road around the markers.
		var worst float64
		for v := s.Camera.Height / 3; v < s.Camera.Height; v += 40 {
			for u := 0; u < s.Camera.Width; u += 80 {
				gx, gy, ok := s.Camera.PixelToGround(float64(u), float64(v))
				if !ok || gy > 45 {
					continue
				}
				g, err := cal.PixelToGround(calibration.Point{X: float64(u), Y: float64(v)})
				if err != nil {
					t.Fatal(err)
				}
				worst = math.Max(worst, math.Hypot(g.X-gx, g.Y-gy))
			}
		}
		limit := 0.005 + 0.4*noise
		t.Logf("click noise %.1f px: calibration from %d points is within %.4f m of the truth", noise, len(pairs), worst)
		if worst > limit {
			t.Errorf("click noise %v: calibration off by %v m, want under %v", noise, worst, limit)
		}
	}
}

func TestTruthPhotoPicking(t *testing.T) {
	s := DefaultSpeedScene(5)
	s.PhotoDir = testLibrary(t).Dir()
	tr := truthOf(t, s)
	seen := map[string]bool{}
	for _, c := range tr.Cars {
		want := FacingRear
		if c.Direction == Toward {
			want = FacingFront
		}
		if c.Facing != want {
			t.Errorf("car %d drives %s but shows its %s (%s)", c.ID, c.Direction, c.Facing, c.Photo)
		}
		seen[c.Photo] = true
		p, _ := testLibrary(t).Photo(c.Photo)
		if !p.Whole || c.Plate != p.Plate {
			t.Errorf("car %d: photo %+v", c.ID, p)
		}
	}
	if len(seen) < len(tr.Cars) {
		t.Errorf("%d cars share %d photos while more were available", len(tr.Cars), len(seen))
	}
	again := truthOf(t, s)
	for i := range tr.Cars {
		if tr.Cars[i].Photo != again.Cars[i].Photo {
			t.Errorf("car %d: photo %s then %s for the same seed", tr.Cars[i].ID, tr.Cars[i].Photo, again.Cars[i].Photo)
		}
	}
}

func TestTruthOcclusion(t *testing.T) {
	s := smallScene(1)
	// A low camera, so that the car ahead shows above the nearer one.
	s.Camera.HeightM, s.Camera.PitchDeg = 3, 6
	s.Cars = []Car{
		{ID: 1, Photo: "PAG5219.png", Lane: 2, SpeedKmh: 40, PassTime: 1},
		{ID: 2, Photo: "PWC0633.jpg", Lane: 2, SpeedKmh: 40, PassTime: 1.8}, // 8.9 m behind
	}
	tr := truthOf(t, s)
	near, far := tr.Cars[1], tr.Cars[0]
	var occ float64
	for _, f := range far.Track {
		occ = math.Max(occ, f.Occluded)
		if f.Occluded > 0 && f.Full {
			t.Errorf("frame %d: occluded yet full", f.Frame)
		}
	}
	for _, f := range near.Track {
		if f.Occluded != 0 {
			t.Errorf("frame %d: the nearer car is occluded (%v)", f.Frame, f.Occluded)
		}
	}
	if occ < 0.05 || occ > 0.9 {
		t.Errorf("the car ahead is occluded at most %.2f: want a partial overlap", occ)
	}
}

func TestTruthJSONRoundTrip(t *testing.T) {
	tr := truthOf(t, smallScene(1))
	path := filepath.Join(t.TempDir(), "truth.json")
	var buf bytes.Buffer
	if err := tr.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := ReadTruth(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tr, back) {
		t.Error("truth changed through JSON")
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"image_to_ground", "ground_to_image", "frames", "markers", "cars", "focal_px", "rotation", "scene"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("truth.json lacks %q", k)
		}
	}
	if c, ok := tr.Car(2); !ok || c.ID != 2 {
		t.Error("Car(2) not found")
	}
	if _, ok := tr.Car(99); ok {
		t.Error("Car(99) found")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version": 99}`), 0o644)
	if _, err := ReadTruth(bad); err == nil {
		t.Error("a future version was read")
	}
}
