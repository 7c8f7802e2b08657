package overlay

import (
	"image"
	"image/color"
	"math"
	"strings"
)

// canvas draws anti-aliased shapes onto an RGBA image by alpha blending.
// Coordinates are continuous pixels: pixel (i, j) covers [i, i+1)×[j, j+1).
type canvas struct {
	img *image.RGBA
}

// blend mixes col into pixel (x, y) with coverage a in [0, 1].
func (c *canvas) blend(x, y int, col color.RGBA, a float64) {
	if a <= 0 || !(image.Point{x, y}.In(c.img.Rect)) {
		return
	}
	a *= float64(col.A) / 255
	i := c.img.PixOffset(x, y)
	p := c.img.Pix[i : i+4 : i+4]
	p[0] = uint8(float64(p[0])*(1-a) + float64(col.R)*a + 0.5)
	p[1] = uint8(float64(p[1])*(1-a) + float64(col.G)*a + 0.5)
	p[2] = uint8(float64(p[2])*(1-a) + float64(col.B)*a + 0.5)
	p[3] = 255
}

// clipBox returns the integer pixel box covering [x0, x1]×[y0, y1] inside
// the image.
func (c *canvas) clipBox(x0, y0, x1, y1 float64) image.Rectangle {
	r := image.Rect(int(math.Floor(max(x0, -1))), int(math.Floor(max(y0, -1))),
		int(math.Ceil(min(x1, 1e6)))+1, int(math.Ceil(min(y1, 1e6)))+1)
	return r.Intersect(c.img.Rect)
}

// line draws the segment a–b with the given width. Long segments are drawn
// in pieces so only pixels near the segment are visited; each pixel belongs
// to exactly one piece (by its projection on the segment), so none is
// blended twice.
func (c *canvas) line(ax, ay, bx, by, width float64, col color.RGBA) {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	half := width/2 + 1
	pieces := max(1, int(math.Sqrt(l2)/16))
	for k := range pieces {
		t0, t1 := float64(k)/float64(pieces), float64(k+1)/float64(pieces)
		px0, py0 := ax+dx*t0, ay+dy*t0
		px1, py1 := ax+dx*t1, ay+dy*t1
		r := c.clipBox(min(px0, px1)-half, min(py0, py1)-half, max(px0, px1)+half, max(py0, py1)+half)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				cx, cy := float64(x)+0.5, float64(y)+0.5
				t := 0.0
				if l2 > 0 {
					t = min(1, max(0, ((cx-ax)*dx+(cy-ay)*dy)/l2))
				}
				if t < t0 || (t >= t1 && k != pieces-1) {
					continue
				}
				d := math.Hypot(cx-(ax+t*dx), cy-(ay+t*dy))
				c.blend(x, y, col, min(1, width/2+0.5-d))
			}
		}
	}
}

// ring draws a circle outline of radius r.
func (c *canvas) ring(cx, cy, r, width float64, col color.RGBA) {
	b := c.clipBox(cx-r-width, cy-r-width, cx+r+width, cy+r+width)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			c.blend(x, y, col, min(1, width/2+0.5-math.Abs(d-r)))
		}
	}
}

// cross draws an × of half-size r.
func (c *canvas) cross(cx, cy, r, width float64, col color.RGBA) {
	c.line(cx-r, cy-r, cx+r, cy+r, width, col)
	c.line(cx-r, cy+r, cx+r, cy-r, width, col)
}

// fill blends a rectangle.
func (c *canvas) fill(r image.Rectangle, col color.RGBA) {
	r = r.Intersect(c.img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c.blend(x, y, col, 1)
		}
	}
}

// textSize returns the size of s drawn at the given scale.
func textSize(s string, scale int) image.Point {
	return image.Pt(len([]rune(s))*6*scale-scale, 7*scale)
}

// label draws s in the 5x7 font with its top-left corner at (x, y), on a
// dark box so it stays readable over any frame.
func (c *canvas) label(x, y int, s string, scale int, col color.RGBA) {
	s = strings.ToUpper(s)
	sz := textSize(s, scale)
	c.fill(image.Rect(x-2*scale, y-2*scale, x+sz.X+2*scale, y+sz.Y+2*scale), color.RGBA{0, 0, 0, 170})
	for i, r := range []rune(s) {
		g := glyph(r)
		ox := x + i*6*scale
		for row := range 7 {
			for colIdx := range 5 {
				if g[row]&(1<<(4-colIdx)) == 0 {
					continue
				}
				for dy := range scale {
					for dx := range scale {
						c.blend(ox+colIdx*scale+dx, y+row*scale+dy, col, 1)
					}
				}
			}
		}
	}
}

// glyph returns the 5x7 bitmap of r (rows top to bottom, bit 4 = left
// column); unknown characters draw as '?'.
func glyph(r rune) [7]uint8 {
	switch {
	case r >= '0' && r <= '9':
		return digits[r-'0']
	case r >= 'A' && r <= 'Z':
		return letters[r-'A']
	}
	switch r {
	case ' ':
		return [7]uint8{}
	case '.':
		return [7]uint8{0, 0, 0, 0, 0, 0x0C, 0x0C}
	case ',':
		return [7]uint8{0, 0, 0, 0, 0x0C, 0x04, 0x08}
	case '-':
		return [7]uint8{0, 0, 0, 0x1F, 0, 0, 0}
	case '+':
		return [7]uint8{0, 0x04, 0x04, 0x1F, 0x04, 0x04, 0}
	case '=':
		return [7]uint8{0, 0, 0x1F, 0, 0x1F, 0, 0}
	case '/':
		return [7]uint8{0, 0x01, 0x02, 0x04, 0x08, 0x10, 0}
	case ':':
		return [7]uint8{0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0}
	case '(':
		return [7]uint8{0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}
	case ')':
		return [7]uint8{0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}
	case '%':
		return [7]uint8{0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}
	case '_':
		return [7]uint8{0, 0, 0, 0, 0, 0, 0x1F}
	case '#':
		return [7]uint8{0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}
	}
	return [7]uint8{0x0E, 0x11, 0x01, 0x02, 0x04, 0, 0x04}
}

var digits = [10][7]uint8{
	{0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E},
	{0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E},
	{0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F},
	{0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E},
	{0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02},
	{0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E},
	{0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E},
	{0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08},
	{0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E},
	{0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C},
}

var letters = [26][7]uint8{
	{0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, // A
	{0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, // B
	{0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, // C
	{0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, // D
	{0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, // E
	{0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, // F
	{0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, // G
	{0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, // H
	{0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, // I
	{0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, // J
	{0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, // K
	{0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, // L
	{0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, // M
	{0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, // N
	{0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, // O
	{0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, // P
	{0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, // Q
	{0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, // R
	{0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, // S
	{0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, // T
	{0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, // U
	{0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, // V
	{0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, // W
	{0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, // X
	{0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04}, // Y
	{0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, // Z
}
