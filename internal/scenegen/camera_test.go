package scenegen

import (
	"math"
	"strings"
	"testing"
)

func testCameras() []struct {
	name string
	cam  Camera
} {
	return []struct {
		name string
		cam  Camera
	}{
		{"along", Camera{Width: 1280, Height: 720, HFOVDeg: 50, X: 7.5, HeightM: 7, PitchDeg: 15, YawDeg: -9}},
		{"side", Camera{Width: 1280, Height: 720, HFOVDeg: 70, X: -12, HeightM: 6, PitchDeg: 24, YawDeg: 90}},
		{"rolled-2k", Camera{Width: 2560, Height: 1440, HFOVDeg: 40, X: 2, Y: -5, HeightM: 9, PitchDeg: 20, YawDeg: 12, RollDeg: 3}},
		{"steep", Camera{Width: 640, Height: 480, HFOVDeg: 90, X: 0, HeightM: 5, PitchDeg: 60, YawDeg: -170}},
	}
}

// TestHomographyMatchesProjection checks the derived homographies against
// the full 3-D projection and each other, on ground points in view.
func TestHomographyMatchesProjection(t *testing.T) {
	for _, tc := range testCameras() {
		t.Run(tc.name, func(t *testing.T) {
			cam := tc.cam
			if err := cam.Validate(); err != nil {
				t.Fatal(err)
			}
			g2i := cam.GroundToImage()
			i2g, err := cam.ImageToGround()
			if err != nil {
				t.Fatal(err)
			}
			checked := 0
			for v := 0.0; v <= float64(cam.Height); v += float64(cam.Height) / 9 {
				for u := 0.0; u <= float64(cam.Width); u += float64(cam.Width) / 9 {
					x, y, ok := cam.PixelToGround(u, v)
					if !ok {
						continue
					}
					checked++
					pu, pv, ok := cam.Project(Vec3{x, y, 0})
					if !ok || math.Hypot(pu-u, pv-v) > 1e-6 {
						t.Fatalf("pixel (%v,%v) → ground (%v,%v) → pixel (%v,%v) ok=%v", u, v, x, y, pu, pv, ok)
					}
					hu, hv, w := applyH(&g2i, x, y)
					if w <= 0 || math.Hypot(hu-u, hv-v) > 1e-6 {
						t.Errorf("GroundToImage(%v,%v) = (%v,%v) w=%v, want (%v,%v) w>0", x, y, hu, hv, w, u, v)
					}
					gx, gy, w := applyH(&i2g, u, v)
					if w <= 0 || math.Hypot(gx-x, gy-y) > 1e-6*math.Max(1, math.Hypot(x, y)) {
						t.Errorf("ImageToGround(%v,%v) = (%v,%v) w=%v, want (%v,%v) w>0", u, v, gx, gy, w, x, y)
					}
				}
			}
			if checked < 20 {
				t.Fatalf("only %d pixels see the road", checked)
			}
		})
	}
}

// TestPrincipalRay checks the pose convention: with no yaw or roll, the
// road point H/tan(pitch) ahead of the camera is at the image centre, and
// a point to the right (+x) appears right of it.
func TestPrincipalRay(t *testing.T) {
	for _, pitch := range []float64{10, 15, 30, 60} {
		cam := Camera{Width: 1000, Height: 600, HFOVDeg: 60, X: 1, Y: 2, HeightM: 8, PitchDeg: pitch}
		d := cam.HeightM / math.Tan(pitch*math.Pi/180)
		u, v, ok := cam.GroundToPixel(1, 2+d)
		if !ok || math.Abs(u-500) > 1e-9 || math.Abs(v-300) > 1e-9 {
			t.Errorf("pitch %v: principal point at (%v,%v) ok=%v, want (500,300)", pitch, u, v, ok)
		}
		if u2, _, _ := cam.GroundToPixel(2, 2+d); !(u2 > u) {
			t.Errorf("pitch %v: +x maps to u=%v, not right of %v", pitch, u2, u)
		}
		if _, v2, _ := cam.GroundToPixel(1, 2+2*d); !(v2 < v) {
			t.Errorf("pitch %v: farther point at v=%v, not above %v", pitch, v2, v)
		}
		if _, _, ok := cam.GroundToPixel(1, 2-10*d-50); ok {
			t.Errorf("pitch %v: a point behind the camera projects", pitch)
		}
	}
}

func TestCameraValidate(t *testing.T) {
	good := testCameras()[0].cam
	cases := []struct {
		name string
		edit func(*Camera)
		want string
	}{
		{"good", func(*Camera) {}, ""},
		{"odd width", func(c *Camera) { c.Width = 1281 }, "even"},
		{"tiny", func(c *Camera) { c.Width, c.Height = 8, 8 }, "within 16..8192"},
		{"fov", func(c *Camera) { c.HFOVDeg = 170 }, "hfov"},
		{"looks up", func(c *Camera) { c.PitchDeg = -5 }, "look down"},
		{"underground", func(c *Camera) { c.HeightM = 0 }, "height"},
		{"nan", func(c *Camera) { c.X = math.NaN() }, "finite"},
		{"roll", func(c *Camera) { c.RollDeg = 90 }, "roll"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
