package scenegen

import (
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"

	"gocv.io/x/gocv"
)

// Sprite cutting parameters.
const (
	// cutSide is the longer side, in pixels, at which GrabCut runs (it is
	// slow; the mask is upsampled to the sprite afterwards).
	cutSide = 200
	// cutIterations of GrabCut.
	cutIterations = 4
	// maxSpriteW caps the sprite width: a car is never drawn wider than this
	// at 2560x1440 in the presets.
	maxSpriteW = 512
	// grabCutSeed makes OpenCV's k-means initialisation reproducible.
	grabCutSeed = 12345
)

// spriteLevel is one mip level: premultiplied BGRA.
type spriteLevel struct {
	w, h int
	pix  []uint8
}

// sprite is a car cut out of a photo: level 0 covers the car box exactly,
// its bottom row touching the road.
type sprite struct {
	levels []spriteLevel
	// plate is the plate box in level-0 pixels.
	plate [4]float64
	// coverage is the fraction of the detector's box the silhouette fills.
	coverage float64
	// photoBox is the sprite's extent in photo pixels (x1, y1, x2, y2).
	photoBox [4]float64
}

func (s *sprite) w() int { return s.levels[0].w }
func (s *sprite) h() int { return s.levels[0].h }

// sprite returns the cut-out of the named photo, cutting it on first use.
func (l *Library) sprite(name string) (*sprite, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s, ok := l.sprites[name]; ok {
		return s, nil
	}
	p, ok := l.Photo(name)
	if !ok {
		return nil, fmt.Errorf("scenegen: no photo %q in %s", name, l.dir)
	}
	s, err := cutSprite(p)
	if err != nil {
		return nil, err
	}
	l.logger.Debug("sprite cut", "photo", name, "size", fmt.Sprintf("%dx%d", s.w(), s.h()), "coverage", s.coverage)
	l.sprites[name] = s
	return s, nil
}

// cutPrior is GrabCut's initial label for normalised box position (u, v)
// (v = 0 at the top): a car seen from the front or rear is a full-width body
// under a narrower glasshouse, so the centre is surely car, the top corners
// probably background and the rest probably car.
func cutPrior(u, v float64) uint8 {
	du := math.Abs(u - 0.5)
	switch {
	case v > 0.5 && v < 0.85 && du < 0.4, v > 0.12 && v <= 0.5 && du < 0.25:
		return gcFGD
	}
	half := 0.5
	if v < 0.42 {
		half = 0.35 + 0.13*v/0.42
	}
	if du < half {
		return gcPRFGD
	}
	return gcPRBGD
}

// GrabCut mask labels (cv::GrabCutClasses).
const (
	gcBGD   = 0
	gcFGD   = 1
	gcPRBGD = 2
	gcPRFGD = 3
)

// cutSprite segments the car in the photo's car box with GrabCut (seeded
// by cutPrior and the plate box), keeps the largest connected region with
// its holes filled, and returns the sprite with a soft alpha edge.
func cutSprite(p Photo) (*sprite, error) {
	img := gocv.IMRead(p.Path, gocv.IMReadColor)
	if img.Empty() {
		return nil, fmt.Errorf("scenegen: cannot read %s", p.Path)
	}
	defer img.Close()
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	box := p.CarBox.Intersect(bounds)
	if box.Dx() < 16 || box.Dy() < 16 {
		return nil, fmt.Errorf("scenegen: car box %v of %s is too small", p.CarBox, p.Name)
	}
	mx, my := box.Dx()/12, box.Dy()/12
	crop := image.Rect(box.Min.X-mx, box.Min.Y-my, box.Max.X+mx, box.Max.Y+my).Intersect(bounds)
	k := math.Min(1, cutSide/float64(max(crop.Dx(), crop.Dy())))
	sw, sh := max(8, int(float64(crop.Dx())*k+0.5)), max(8, int(float64(crop.Dy())*k+0.5))
	region := img.Region(crop)
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(region, &small, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	region.Close()

	// The box and plate in small-image coordinates.
	kx, ky := float64(sw)/float64(crop.Dx()), float64(sh)/float64(crop.Dy())
	bx0, by0 := float64(box.Min.X-crop.Min.X)*kx, float64(box.Min.Y-crop.Min.Y)*ky
	bx1, by1 := float64(box.Max.X-crop.Min.X)*kx, float64(box.Max.Y-crop.Min.Y)*ky
	pl := p.PlateBox.Intersect(box)
	px0, py0 := float64(pl.Min.X-crop.Min.X)*kx, float64(pl.Min.Y-crop.Min.Y)*ky
	px1, py1 := float64(pl.Max.X-crop.Min.X)*kx, float64(pl.Max.Y-crop.Min.Y)*ky

	labels := make([]uint8, sw*sh)
	for y := range sh {
		for x := range sw {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			l := uint8(gcBGD)
			if fx >= bx0 && fx < bx1 && fy >= by0 && fy < by1 {
				l = cutPrior((fx-bx0)/(bx1-bx0), (fy-by0)/(by1-by0))
			}
			if fx >= px0 && fx < px1 && fy >= py0 && fy < py1 {
				l = gcFGD
			}
			labels[y*sw+x] = l
		}
	}
	mask, err := gocv.NewMatFromBytes(sh, sw, gocv.MatTypeCV8U, labels)
	if err != nil {
		return nil, fmt.Errorf("scenegen: grabcut mask: %w", err)
	}
	defer mask.Close()
	bgd, fgd := gocv.NewMat(), gocv.NewMat()
	defer bgd.Close()
	defer fgd.Close()
	grabCut(small, &mask, &bgd, &fgd)
	res, err := mask.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("scenegen: grabcut result: %w", err)
	}

	// Foreground restricted to the box, in box-local small coordinates.
	ix0, iy0 := int(math.Round(bx0)), int(math.Round(by0))
	bw, bh := max(1, int(math.Round(bx1))-ix0), max(1, int(math.Round(by1))-iy0)
	fg := make([]bool, bw*bh)
	for y := range bh {
		for x := range bw {
			sx, sy := min(sw-1, ix0+x), min(sh-1, iy0+y)
			v := res[sy*sw+sx]
			fg[y*bw+x] = v == gcFGD || v == gcPRFGD
		}
	}
	fg = fillHoles(largestComponent(fg, bw, bh), bw, bh)

	// Level 0: the box at up to maxSpriteW wide, with the mask upsampled.
	w0 := min(box.Dx(), maxSpriteW)
	h0 := max(1, int(math.Round(float64(box.Dy())*float64(w0)/float64(box.Dx()))))
	colour := gocv.NewMat()
	defer colour.Close()
	bregion := img.Region(box)
	gocv.Resize(bregion, &colour, image.Pt(w0, h0), 0, 0, gocv.InterpolationArea)
	bregion.Close()
	mbytes := make([]uint8, bw*bh)
	var n int
	for i, v := range fg {
		if v {
			mbytes[i] = 255
			n++
		}
	}
	msmall, err := gocv.NewMatFromBytes(bh, bw, gocv.MatTypeCV8U, mbytes)
	if err != nil {
		return nil, fmt.Errorf("scenegen: alpha: %w", err)
	}
	defer msmall.Close()
	mbig := gocv.NewMat()
	defer mbig.Close()
	gocv.Resize(msmall, &mbig, image.Pt(w0, h0), 0, 0, gocv.InterpolationLinear)
	cpix, err1 := colour.DataPtrUint8()
	apix, err2 := mbig.DataPtrUint8()
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("scenegen: sprite pixels: %w", err)
	}
	full := spriteLevel{w: w0, h: h0, pix: make([]uint8, 4*w0*h0)}
	for i := range w0 * h0 {
		// Tighten the upsampled edge a little so no background halo remains.
		a := smoothstep(0.35, 0.85, float64(apix[i])/255)
		for c := range 3 {
			full.pix[4*i+c] = uint8(math.Round(float64(cpix[3*i+c]) * a))
		}
		full.pix[4*i+3] = uint8(math.Round(255 * a))
	}
	// Crop to the silhouette (alpha >= 1/2): its bottom row is where the
	// tyres meet the road, whatever margin the detector's box had.
	tight := alphaBounds(full, 128)
	if tight.Dx() < 8 || tight.Dy() < 8 {
		return nil, fmt.Errorf("scenegen: no car found in the box %v of %s", box, p.Name)
	}
	lv := spriteLevel{w: tight.Dx(), h: tight.Dy(), pix: make([]uint8, 4*tight.Dx()*tight.Dy())}
	for y := range lv.h {
		copy(lv.pix[4*y*lv.w:4*(y+1)*lv.w], full.pix[4*((tight.Min.Y+y)*w0+tight.Min.X):])
	}
	s := &sprite{levels: []spriteLevel{lv}, coverage: float64(n) / float64(len(fg))}
	ks := float64(w0) / float64(box.Dx())
	s.plate = [4]float64{float64(pl.Min.X-box.Min.X)*ks - float64(tight.Min.X), float64(pl.Min.Y-box.Min.Y)*ks - float64(tight.Min.Y),
		float64(pl.Max.X-box.Min.X)*ks - float64(tight.Min.X), float64(pl.Max.Y-box.Min.Y)*ks - float64(tight.Min.Y)}
	s.photoBox = [4]float64{float64(box.Min.X) + float64(tight.Min.X)/ks, float64(box.Min.Y) + float64(tight.Min.Y)/ks,
		float64(box.Min.X) + float64(tight.Max.X)/ks, float64(box.Min.Y) + float64(tight.Max.Y)/ks}
	for {
		last := s.levels[len(s.levels)-1]
		if last.w < 8 || last.h < 8 {
			break
		}
		s.levels = append(s.levels, halve(last))
	}
	return s, nil
}

// grabCut runs GrabCut with OpenCV's thread-local random generator seeded on
// the calling OS thread, so that a photo always gives the same cut.
func grabCut(img gocv.Mat, mask, bgd, fgd *gocv.Mat) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	gocv.SetRNGSeed(grabCutSeed)
	gocv.GrabCut(img, mask, image.Rectangle{}, bgd, fgd, cutIterations, gocv.GCInitWithMask)
}

func smoothstep(a, b, x float64) float64 {
	t := math.Max(0, math.Min(1, (x-a)/(b-a)))
	return t * t * (3 - 2*t)
}

// alphaBounds returns the bounding box of the texels with alpha >= min.
func alphaBounds(l spriteLevel, minAlpha uint8) image.Rectangle {
	r := image.Rectangle{Min: image.Pt(l.w, l.h)}
	for y := range l.h {
		for x := range l.w {
			if l.pix[4*(y*l.w+x)+3] >= minAlpha {
				r.Min.X, r.Min.Y = min(r.Min.X, x), min(r.Min.Y, y)
				r.Max.X, r.Max.Y = max(r.Max.X, x+1), max(r.Max.Y, y+1)
			}
		}
	}
	if r.Empty() {
		return image.Rectangle{}
	}
	return r
}

// largestComponent keeps the largest 8-connected true region.
func largestComponent(m []bool, w, h int) []bool {
	lab := make([]int32, len(m))
	var best, bestN int32
	var next int32
	stack := make([]int, 0, 64)
	for i, v := range m {
		if !v || lab[i] != 0 {
			continue
		}
		next++
		var n int32
		stack = append(stack[:0], i)
		lab[i] = next
		for len(stack) > 0 {
			j := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n++
			x, y := j%w, j/w
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= w || ny >= h {
						continue
					}
					k := ny*w + nx
					if m[k] && lab[k] == 0 {
						lab[k] = next
						stack = append(stack, k)
					}
				}
			}
		}
		if n > bestN {
			best, bestN = next, n
		}
	}
	out := make([]bool, len(m))
	for i := range m {
		out[i] = best != 0 && lab[i] == best
	}
	return out
}

// fillHoles sets every false pixel not 4-connected to the border.
func fillHoles(m []bool, w, h int) []bool {
	outside := make([]bool, len(m))
	stack := make([]int, 0, 64)
	push := func(i int) {
		if !m[i] && !outside[i] {
			outside[i] = true
			stack = append(stack, i)
		}
	}
	for x := range w {
		push(x)
		push((h-1)*w + x)
	}
	for y := range h {
		push(y * w)
		push(y*w + w - 1)
	}
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		x, y := j%w, j/w
		if x > 0 {
			push(j - 1)
		}
		if x < w-1 {
			push(j + 1)
		}
		if y > 0 {
			push(j - w)
		}
		if y < h-1 {
			push(j + w)
		}
	}
	out := make([]bool, len(m))
	for i := range m {
		out[i] = !outside[i]
	}
	return out
}

// halve averages 2×2 blocks (premultiplied, so edges stay correct).
func halve(l spriteLevel) spriteLevel {
	w, h := (l.w+1)/2, (l.h+1)/2
	out := spriteLevel{w: w, h: h, pix: make([]uint8, 4*w*h)}
	for y := range h {
		for x := range w {
			for c := range 4 {
				// Texels beyond an odd edge count as transparent.
				var s int
				for dy := range 2 {
					for dx := range 2 {
						sx, sy := 2*x+dx, 2*y+dy
						if sx < l.w && sy < l.h {
							s += int(l.pix[4*(sy*l.w+sx)+c])
						}
					}
				}
				out.pix[4*(y*w+x)+c] = uint8((s + 2) / 4)
			}
		}
	}
	return out
}

// sample returns the bilinearly filtered premultiplied BGRA at continuous
// position (s, t) of level l (texel centres at +0.5; outside is transparent).
func (l *spriteLevel) sample(s, t float64) (b, g, r, a float64) {
	x, y := s-0.5, t-0.5
	fx, fy := math.Floor(x), math.Floor(y)
	x0, y0 := int(fx), int(fy)
	wx, wy := x-fx, y-fy
	var acc [4]float64
	for j := range 2 {
		yy := y0 + j
		if yy < 0 || yy >= l.h {
			continue
		}
		wyj := wy
		if j == 0 {
			wyj = 1 - wy
		}
		for i := range 2 {
			xx := x0 + i
			if xx < 0 || xx >= l.w {
				continue
			}
			w := wx
			if i == 0 {
				w = 1 - wx
			}
			w *= wyj
			p := l.pix[4*(yy*l.w+xx):]
			acc[0] += w * float64(p[0])
			acc[1] += w * float64(p[1])
			acc[2] += w * float64(p[2])
			acc[3] += w * float64(p[3])
		}
	}
	return acc[0], acc[1], acc[2], acc[3]
}
