package rules

import (
	"image"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/agent/internal/frame"
)

// lampFrame draws a dark 64x48 frame with a signal head at (20,4)-(32,40) and
// one lit disc of the given BGR colour in the lamp slot (0 red, 1 amber, 2
// green), or none when slot < 0.
func lampFrame(seq int64, slot int, b, g, r uint8) *frame.Frame {
	const w, h = 64, 48
	f := &frame.Frame{Seq: seq, Width: w, Height: h, Stride: 3 * w, BGR: make([]byte, 3*w*h),
		Captured: t0.Add(time.Duration(seq) * 40 * time.Millisecond)}
	for i := range f.BGR {
		f.BGR[i] = 25 // night-ish background
	}
	for y := 4; y < 40; y++ {
		for x := 20; x < 32; x++ {
			i := y*f.Stride + 3*x
			f.BGR[i], f.BGR[i+1], f.BGR[i+2] = 10, 10, 10 // housing
			cy := 10 + 12*slot
			if slot >= 0 && (x-26)*(x-26)+(y-cy)*(y-cy) <= 16 {
				f.BGR[i], f.BGR[i+1], f.BGR[i+2] = b, g, r
			}
		}
	}
	return f
}

var lightRegion = image.Rect(18, 2, 34, 42)

func TestClassify(t *testing.T) {
	cases := []struct {
		name string
		f    *frame.Frame
		want Phase
	}{
		{"red lamp", lampFrame(0, 0, 40, 30, 235), PhaseRed},
		{"amber lamp", lampFrame(0, 1, 20, 170, 250), PhaseAmber},
		{"green (cyan-ish) lamp", lampFrame(0, 2, 170, 235, 40), PhaseGreen},
		{"pure green lamp", lampFrame(0, 2, 60, 220, 50), PhaseGreen},
		{"dark head", lampFrame(0, -1, 0, 0, 0), PhaseUnknown},
		{"white glare", lampFrame(0, 0, 250, 250, 250), PhaseUnknown},
		{"dim red", lampFrame(0, 0, 10, 10, 90), PhaseUnknown},
	}
	lc, err := NewLightClassifier(LightConfig{Region: lightRegion})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := lc.Classify(tc.f); got != tc.want {
				c := CountLit(tc.f, lightRegion, 150, 0.35)
				t.Fatalf("Classify = %v, want %v (counts %+v)", got, tc.want, c)
			}
		})
	}
}

func TestClassifyRegionOutsideFrame(t *testing.T) {
	lc, err := NewLightClassifier(LightConfig{Region: image.Rect(100, 100, 120, 140)})
	if err != nil {
		t.Fatal(err)
	}
	if got := lc.Classify(lampFrame(0, 0, 40, 30, 235)); got != PhaseUnknown {
		t.Fatalf("region outside the frame classified as %v", got)
	}
}

func TestLightTemporalFilter(t *testing.T) {
	red := func(seq int64) *frame.Frame { return lampFrame(seq, 0, 40, 30, 235) }
	green := func(seq int64) *frame.Frame { return lampFrame(seq, 2, 170, 235, 40) }
	dark := func(seq int64) *frame.Frame { return lampFrame(seq, -1, 0, 0, 0) }
	type step struct {
		mk   func(int64) *frame.Frame
		want Phase // filtered phase after the frame
	}
	cases := []struct {
		name   string
		frames int
		steps  []step
		// change: the frame seq whose capture time must start the final phase.
		changeSeq int64
	}{
		{"a one-frame glitch is ignored", 3, []step{
			{green, PhaseUnknown}, {green, PhaseUnknown}, {green, PhaseGreen},
			{red, PhaseGreen}, {green, PhaseGreen}, {green, PhaseGreen},
		}, 0},
		{"three agreeing frames confirm red, dated at the first", 3, []step{
			{green, PhaseUnknown}, {green, PhaseUnknown}, {green, PhaseGreen},
			{red, PhaseGreen}, {red, PhaseGreen}, {red, PhaseRed}, {red, PhaseRed},
		}, 3},
		{"LED flicker keeps the phase", 2, []step{
			{red, PhaseUnknown}, {red, PhaseRed}, {dark, PhaseRed}, {red, PhaseRed}, {dark, PhaseRed},
			{dark, PhaseRed}, {red, PhaseRed},
		}, 0},
		{"a long dark spell is unknown", 2, []step{
			{red, PhaseUnknown}, {red, PhaseRed}, {dark, PhaseRed}, {dark, PhaseRed}, {dark, PhaseRed},
			{dark, PhaseRed}, {dark, PhaseRed}, {dark, PhaseUnknown},
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lc, err := NewLightClassifier(LightConfig{Region: lightRegion, Frames: tc.frames})
			if err != nil {
				t.Fatal(err)
			}
			var last *frame.Frame
			for i, s := range tc.steps {
				last = s.mk(int64(i))
				if got := lc.Observe(last); got != s.want {
					t.Fatalf("frame %d: phase %v, want %v", i, got, s.want)
				}
			}
			final := tc.steps[len(tc.steps)-1].want
			p, since := lc.PhaseAt(last.Captured)
			if p != final {
				t.Fatalf("PhaseAt = %v, want %v", p, final)
			}
			if p != PhaseUnknown && !since.Equal(red(tc.changeSeq).Captured) {
				t.Fatalf("phase began %v, want frame %d's %v", since, tc.changeSeq, red(tc.changeSeq).Captured)
			}
		})
	}
}

func TestNewLightClassifierRejects(t *testing.T) {
	cases := []struct {
		name string
		cfg  LightConfig
	}{
		{"empty region", LightConfig{}},
		{"negative region", LightConfig{Region: image.Rect(-5, 0, 10, 10)}},
		{"bad saturation", LightConfig{Region: lightRegion, MinSaturation: 2}},
		{"bad fraction", LightConfig{Region: lightRegion, MinFraction: -1}},
		{"bad frames", LightConfig{Region: lightRegion, Frames: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewLightClassifier(tc.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func BenchmarkLightObserve(b *testing.B) {
	lc, err := NewLightClassifier(LightConfig{Region: lightRegion})
	if err != nil {
		b.Fatal(err)
	}
	f := lampFrame(0, 0, 40, 30, 235)
	b.ReportAllocs()
	for b.Loop() {
		lc.Observe(f)
	}
}
