// Package overlay draws a calibration onto a camera frame so a technician
// sees at a glance whether it is right: a metric grid on the road plane
// (thin lines every metre, thick labelled lines every five), the surveyed
// points and where the calibration puts them back, and the zones and lines.
// It uses only the standard library's image packages.
package overlay

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"slices"
	"strconv"

	"github.com/vigia-pe/vigia/calibration"
)

// Colours of the drawing (read-only).
var (
	colMinor    = color.RGBA{255, 220, 0, 110}
	colMajor    = color.RGBA{255, 220, 0, 235}
	colPoint    = color.RGBA{40, 230, 60, 255}
	colReproj   = color.RGBA{255, 40, 40, 255}
	colOutlier  = color.RGBA{255, 0, 255, 255}
	colZone     = color.RGBA{0, 220, 255, 230}
	colStop     = color.RGBA{255, 60, 60, 230}
	colSolid    = color.RGBA{255, 255, 255, 230}
	colCount    = color.RGBA{80, 140, 255, 230}
	colText     = color.RGBA{255, 255, 255, 255}
	colGridText = color.RGBA{255, 230, 80, 255}
)

// Options tune the drawing. Zero fields take the defaults.
type Options struct {
	// MinorM and MajorM are the grid spacings in metres: 1 and 5.
	MinorM, MajorM float64
	// MaxLines caps the grid lines per axis; the spacing grows to fit: 120.
	MaxLines int
}

// DrawCalibration returns a copy of frame with the calibration drawn on it.
// The frame must have the calibration's image size.
func DrawCalibration(frame image.Image, cal *calibration.Calibration, opt Options) (*image.RGBA, error) {
	if frame == nil || cal == nil {
		return nil, errors.New("overlay: nil frame or calibration")
	}
	b := frame.Bounds()
	if b.Dx() != cal.Image.Width || b.Dy() != cal.Image.Height {
		return nil, fmt.Errorf("overlay: frame is %dx%d but the calibration is for %dx%d", b.Dx(), b.Dy(), cal.Image.Width, cal.Image.Height)
	}
	if !(opt.MinorM > 0) {
		opt.MinorM = 1
	}
	if !(opt.MajorM > 0) {
		opt.MajorM = 5
	}
	if opt.MaxLines <= 0 {
		opt.MaxLines = 120
	}
	img := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(img, img.Rect, frame, b.Min, draw.Src)
	c := &canvas{img: img}
	scale := max(1, int(math.Round(float64(b.Dy())/720)))
	s := float64(scale)

	d := drawer{c: c, cal: cal, scale: scale}
	minor, major := d.grid(opt)
	for _, z := range cal.Zones {
		d.polyline(z.Image, true, 2*s, colZone)
		d.name(z.Image, zoneLabel(z), colZone)
	}
	for _, l := range cal.Lines {
		col := colCount
		switch l.Kind {
		case calibration.LineStop:
			col = colStop
		case calibration.LineSolidLane:
			col = colSolid
		}
		d.polyline(l.Image, false, 3*s, col)
		d.name(l.Image, l.Name, col)
	}
	d.points()
	d.legend(minor, major)
	return img, nil
}

type drawer struct {
	c     *canvas
	cal   *calibration.Calibration
	scale int
}

func zoneLabel(z calibration.Zone) string {
	if z.Kind == calibration.ZoneSpeed {
		return z.Name + " " + strconv.FormatFloat(z.SpeedLimitKmh, 'f', -1, 64) + " KM/H"
	}
	return z.Name
}

// onScreen reports whether a projected pixel is near enough the frame to
// draw a segment to it (far-off points are numerically meaningless).
func (d *drawer) onScreen(p calibration.Point) bool {
	w, h := float64(d.cal.Image.Width), float64(d.cal.Image.Height)
	return p.X > -w && p.X < 2*w && p.Y > -h && p.Y < 2*h
}

func (d *drawer) inFrame(p calibration.Point) bool {
	return p.X >= 0 && p.Y >= 0 && p.X < float64(d.cal.Image.Width) && p.Y < float64(d.cal.Image.Height)
}

// groundLine draws the ground segment a–b, sampled so lens distortion bends
// it correctly, and returns its two in-frame ends (for the label), the one
// lower in the frame first.
func (d *drawer) groundLine(a, b calibration.Point, width float64, col color.RGBA) ([2]calibration.Point, bool) {
	const steps = 64
	var prev, first, last calibration.Point
	prevOK, found := false, false
	for i := 0; i <= steps; i++ {
		t := float64(i) / steps
		p, err := d.cal.GroundToPixel(calibration.Point{X: a.X + (b.X-a.X)*t, Y: a.Y + (b.Y-a.Y)*t})
		ok := err == nil && d.onScreen(p)
		if ok && prevOK {
			d.c.line(prev.X, prev.Y, p.X, p.Y, width, col)
		}
		if ok && d.inFrame(p) {
			if !found {
				first = p
			}
			last, found = p, true
		}
		prev, prevOK = p, ok
	}
	if last.Y > first.Y {
		first, last = last, first
	}
	return [2]calibration.Point{first, last}, found
}

// grid draws the metric grid over the surveyed area and a margin around it
// and returns the spacings used.
func (d *drawer) grid(opt Options) (float64, float64) {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for _, p := range d.cal.Points {
		if p.Outlier {
			continue
		}
		minX, maxX = min(minX, p.X), max(maxX, p.X)
		minY, maxY = min(minY, p.Y), max(maxY, p.Y)
	}
	margin := max(opt.MajorM, 0.25*max(maxX-minX, maxY-minY))
	minor, major := opt.MinorM, opt.MajorM
	for (maxX-minX+2*margin)/minor > float64(opt.MaxLines) || (maxY-minY+2*margin)/minor > float64(opt.MaxLines) {
		minor, major = major, major*5
	}
	x0 := math.Floor((minX-margin)/major) * major
	x1 := math.Ceil((maxX+margin)/major) * major
	y0 := math.Floor((minY-margin)/major) * major
	y1 := math.Ceil((maxY+margin)/major) * major
	s := float64(d.scale)
	isMajor := func(v float64) bool {
		r := math.Mod(math.Abs(v), major)
		return r < minor/2 || major-r < minor/2
	}
	type lbl struct {
		ends [2]calibration.Point
		text string
	}
	var labels []lbl
	for _, axis := range []bool{false, true} {
		lo, hi := x0, x1
		if axis {
			lo, hi = y0, y1
		}
		for i := 0; ; i++ {
			v := lo + float64(i)*minor
			if v > hi+minor/2 {
				break
			}
			a, b := calibration.Point{X: v, Y: y0}, calibration.Point{X: v, Y: y1}
			name := "X="
			if axis {
				a, b = calibration.Point{X: x0, Y: v}, calibration.Point{X: x1, Y: v}
				name = "Y="
			}
			if !isMajor(v) {
				d.groundLine(a, b, s, colMinor)
				continue
			}
			if ends, ok := d.groundLine(a, b, 2*s, colMajor); ok {
				labels = append(labels, lbl{ends, name + strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)})
			}
		}
	}
	// Labels last, so no line crosses them, each at the first of its line's
	// ends where it overlaps no other label.
	var placed []image.Rectangle
	for _, l := range labels {
		sz := textSize(l.text, d.scale)
		for _, at := range l.ends {
			x := int(at.X) - sz.X/2
			y := int(at.Y) - sz.Y - 4*d.scale
			x = min(max(x, 2*d.scale), d.cal.Image.Width-sz.X-2*d.scale)
			y = min(max(y, 2*d.scale), d.cal.Image.Height-sz.Y-2*d.scale)
			r := image.Rect(x, y, x+sz.X, y+sz.Y).Inset(-3 * d.scale)
			if slices.ContainsFunc(placed, r.Overlaps) {
				continue
			}
			placed = append(placed, r)
			d.c.label(x, y, l.text, d.scale, colGridText)
			break
		}
	}
	return minor, major
}

// polyline draws pixel vertices.
func (d *drawer) polyline(pts []calibration.Point, closed bool, width float64, col color.RGBA) {
	n := len(pts)
	if n < 2 {
		return
	}
	segs := n - 1
	if closed {
		segs = n
	}
	for i := range segs {
		a, b := pts[i], pts[(i+1)%n]
		if d.onScreen(a) && d.onScreen(b) {
			d.c.line(a.X, a.Y, b.X, b.Y, width, col)
		}
	}
}

// name labels a shape at its first in-frame vertex.
func (d *drawer) name(pts []calibration.Point, text string, col color.RGBA) {
	for _, p := range pts {
		if d.inFrame(p) {
			x := min(int(p.X)+4*d.scale, d.cal.Image.Width-textSize(text, d.scale).X-2*d.scale)
			d.c.label(max(x, 2*d.scale), max(int(p.Y)+4*d.scale, 2*d.scale), text, d.scale, col)
			return
		}
	}
}

// points draws each surveyed pixel (circle), where the calibration maps its
// surveyed ground position back (cross), and the gap between them; outliers
// are magenta and numbered as in the file (from 1).
func (d *drawer) points() {
	s := float64(d.scale)
	for i, p := range d.cal.Points {
		at := calibration.Point{X: p.U, Y: p.V}
		if p.Outlier {
			d.c.ring(at.X, at.Y, 7*s, 2*s, colOutlier)
			d.c.cross(at.X, at.Y, 5*s, 2*s, colOutlier)
			d.c.label(int(at.X+10*s), int(at.Y-4*s), "#"+strconv.Itoa(i+1)+" OUTLIER", d.scale, colOutlier)
			continue
		}
		if back, err := d.cal.GroundToPixel(calibration.Point{X: p.X, Y: p.Y}); err == nil && d.onScreen(back) {
			d.c.line(at.X, at.Y, back.X, back.Y, s, colReproj)
			d.c.cross(back.X, back.Y, 4*s, 1.5*s, colReproj)
		}
		d.c.ring(at.X, at.Y, 6*s, 2*s, colPoint)
	}
}

// legend prints the fit summary in the top-left corner.
func (d *drawer) legend(minor, major float64) {
	r := d.cal.Reprojection
	lines := []string{
		fmt.Sprintf("RMS %.3f M  MAX %.3f M  INLIERS %d/%d", r.RMSM, r.MaxM, r.Inliers, len(d.cal.Points)),
		fmt.Sprintf("GRID %g M / %g M   O SURVEYED  X MAPPED BACK", minor, major),
	}
	if d.cal.DeviceID != "" {
		lines = append([]string{d.cal.DeviceID}, lines...)
	}
	y := 4 * d.scale
	for _, l := range lines {
		d.c.label(4*d.scale, y, l, d.scale, colText)
		y += 11 * d.scale
	}
}
