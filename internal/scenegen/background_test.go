package scenegen

import (
	"image"
	"math"
	"testing"

	"gocv.io/x/gocv"
)

// TestMarkersRenderedWhereProjected renders the road and finds each
// clickable marker's X-corner with OpenCV's cornerSubPix, started off the
// centre: the corner must be where the homography puts the marker (within
// 0.5 px, 1 px for the smallest markers).
func TestMarkersRenderedWhereProjected(t *testing.T) {
	scenes := map[string]Scene{"speed": DefaultSpeedScene(1), "side": SideScene(1)}
	for name, s := range scenes {
		t.Run(name, func(t *testing.T) {
			bg := renderBackground(newScenery(s.Camera, s.Road, s.Seed))
			gray := grayMat(t, bg, s.Camera.Width, s.Camera.Height)
			defer gray.Close()
			var n int
			var sum, worst float64
			h := s.Road.Markers.SizeM / 2
			for _, m := range markerTruth(&s) {
				if !m.Clickable {
					continue
				}
				// Search window: a third of the marker's smaller side, so it
				// sees the centre cross and not the marker's outline.
				x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
				for _, c := range [4][2]float64{{-h, -h}, {h, -h}, {h, h}, {-h, h}} {
					u, v, _ := s.Camera.GroundToPixel(m.X+c[0], m.Y+c[1])
					x0, y0, x1, y1 = math.Min(x0, u), math.Min(y0, v), math.Max(x1, u), math.Max(y1, v)
				}
				win := max(2, min(8, int(math.Min(x1-x0, y1-y0)/3)))
				off := 0.4 * float64(win) // a click this far off must converge
				start := gocv.Point2f{X: float32(m.U - 0.5 + off), Y: float32(m.V - 0.5 - off)}
				corners := gocv.NewMatWithSize(1, 1, gocv.MatTypeCV32FC2)
				corners.SetFloatAt(0, 0, start.X)
				corners.SetFloatAt(0, 1, start.Y)
				gocv.CornerSubPix(gray, &corners, image.Pt(win, win), image.Pt(-1, -1),
					gocv.NewTermCriteria(gocv.Count|gocv.EPS, 100, 0.001))
				// OpenCV puts pixel centres at integers; ours are at +0.5.
				du := float64(corners.GetFloatAt(0, 0)) + 0.5 - m.U
				dv := float64(corners.GetFloatAt(0, 1)) + 0.5 - m.V
				corners.Close()
				e := math.Hypot(du, dv)
				n, sum, worst = n+1, sum+e, math.Max(worst, e)
				limit := 0.5
				if win < 3 {
					limit = 1 // markers only ~5 px tall
				}
				if e > limit {
					t.Errorf("marker (%v, %v): corner found %.2f px from its projection (%.1f, %.1f), window %d", m.X, m.Y, e, m.U, m.V, win)
				}
			}
			t.Logf("%d markers: mean error %.3f px, worst %.3f px", n, sum/float64(n), worst)
			if n < 8 {
				t.Errorf("only %d clickable markers", n)
			}
		})
	}
}

func grayMat(t testing.TB, bgr []byte, w, h int) gocv.Mat {
	t.Helper()
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, bgr)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	g := gocv.NewMat()
	gocv.CvtColor(m, &g, gocv.ColorBGRToGray)
	return g
}

func TestBackgroundDeterministic(t *testing.T) {
	s := DefaultSpeedScene(1)
	s.Camera.Width, s.Camera.Height = 160, 90
	a := renderBackground(newScenery(s.Camera, s.Road, 1))
	b := renderBackground(newScenery(s.Camera, s.Road, 1))
	c := renderBackground(newScenery(s.Camera, s.Road, 2))
	if string(a) != string(b) {
		t.Error("the same seed rendered differently")
	}
	if string(a) == string(c) {
		t.Error("another seed rendered the same road")
	}
}
