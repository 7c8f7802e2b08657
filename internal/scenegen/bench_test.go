package scenegen

import (
	"fmt"
	"testing"
)

// BenchmarkRenderFrame measures compositing one frame (8 cars over the
// pre-rendered road, with shadows and sensor noise) at three sizes.
func BenchmarkRenderFrame(b *testing.B) {
	lib := testLibrary(b)
	for _, size := range [][2]int{{960, 540}, {1280, 720}, {2560, 1440}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			s := DefaultSpeedScene(1)
			s.PhotoDir = lib.Dir()
			s.Camera.Width, s.Camera.Height = size[0], size[1]
			p, err := NewRenderer(lib, nil).prepare(s)
			if err != nil {
				b.Fatal(err)
			}
			fr := newFrameRenderer(p)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				n := 100 + i%100 // frames 4–8 s in: most cars in view
				fr.render(n, p.tm.t[n])
			}
		})
	}
}

// BenchmarkBackground measures the one-off road rendering of a scene.
func BenchmarkBackground(b *testing.B) {
	s := DefaultSpeedScene(1)
	sc := newScenery(s.Camera, s.Road, s.Seed)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		renderBackground(sc)
	}
}
