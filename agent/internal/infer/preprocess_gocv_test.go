//go:build gocv

// The gocv comparison for the preprocessing choice. It needs OpenCV (cgo),
// so it only builds with: go test -tags gocv -run XXX -bench PreprocessGoCV ./agent/internal/infer/

package infer

import (
	"image"
	"testing"
	"unsafe"

	"gocv.io/x/gocv"
)

// BenchmarkPreprocessGoCV does the same work as BenchmarkPreprocess with
// OpenCV: cv::resize INTER_LINEAR of the view into a reused Mat, then the
// HWC uint8 -> CHW float32 conversion with padding in Go.
func BenchmarkPreprocessGoCV(b *testing.B) {
	f := benchFrame(b, false)
	m := loadManifest(b, "yolox-nano")
	inW, inH := m.InputSize()
	src, err := gocv.NewMatFromBytes(f.Height, f.Width, gocv.MatTypeCV8UC3, f.BGR)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	for _, bv := range benchViews {
		b.Run(bv.name, func(b *testing.B) {
			views, err := PlanViews(f.Width, f.Height, bv.cfg.ROI, bv.cfg.Tiling)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]float32, 3*inW*inH)
			resized := gocv.NewMat()
			defer resized.Close()
			pad := m.Input.Resize.Pad
			b.ReportAllocs()
			for b.Loop() {
				for _, v := range views {
					lb := NewLetterbox(v.Rect, inW, inH, m.Input.Resize.Mode, m.Input.Resize.Align)
					region := src.Region(v.Rect)
					gocv.Resize(region, &resized, image.Pt(lb.W, lb.H), 0, 0, gocv.InterpolationLinear)
					region.Close()
					ptr, err := resized.DataPtrUint8()
					if err != nil {
						b.Fatal(err)
					}
					px := unsafe.Slice(&ptr[0], 3*lb.W*lb.H)
					plane := inW * inH
					for c := range 3 {
						fill(dst[c*plane:(c+1)*plane], pad[c])
					}
					for y := range lb.H {
						row := px[3*y*lb.W : 3*(y+1)*lb.W]
						base := (lb.OffY+y)*inW + lb.OffX
						d0, d1, d2 := dst[base:base+lb.W], dst[plane+base:plane+base+lb.W], dst[2*plane+base:2*plane+base+lb.W]
						for x := range lb.W {
							d0[x], d1[x], d2[x] = float32(row[3*x]), float32(row[3*x+1]), float32(row[3*x+2])
						}
					}
				}
			}
		})
	}
}
