package infer

import (
	"fmt"
	"image"
	"math"
)

// Tiling splits the region of interest into overlapping tiles so that small,
// distant vehicles keep enough pixels after the resize to the model input.
type Tiling struct {
	// Cols and Rows of the tile grid; 0 or 1 in both means no tiling.
	Cols, Rows int
	// Overlap is the minimum fraction (0..0.5) of a tile shared with its
	// neighbour; it must exceed the largest vehicle that should be seen whole
	// in one tile, relative to the tile size.
	Overlap float64
	// Whole also runs the whole region of interest as one more view, so that
	// vehicles larger than the overlap are seen uncut.
	Whole bool
}

// Enabled reports whether more than one tile is configured.
func (t Tiling) Enabled() bool { return t.Cols*t.Rows > 1 }

// Validate reports the first problem of the tiling.
func (t Tiling) Validate() error {
	switch {
	case t.Cols < 0 || t.Rows < 0 || t.Cols > 16 || t.Rows > 16:
		return fmt.Errorf("tiling %dx%d must be within 0..16 per axis", t.Cols, t.Rows)
	case (t.Cols == 0) != (t.Rows == 0):
		return fmt.Errorf("tiling %dx%d: set both cols and rows, or neither", t.Cols, t.Rows)
	case !(t.Overlap >= 0 && t.Overlap <= 0.5):
		return fmt.Errorf("tiling overlap %v must be in 0..0.5", t.Overlap)
	}
	return nil
}

// NumViews returns how many views one frame costs.
func (t Tiling) NumViews() int {
	if !t.Enabled() {
		return 1
	}
	n := t.Cols * t.Rows
	if t.Whole {
		n++
	}
	return n
}

// View is one rectangle of the frame run through the model.
type View struct {
	// Rect is the view in source pixels.
	Rect image.Rectangle
	// Interior marks the edges (left, top, right, bottom) that lie inside the
	// region of interest, i.e. are shared with a neighbouring tile: a box
	// touching one of them may be a cut-off part of a vehicle.
	Interior [4]bool
}

// PlanViews returns the views for a frame size, a region of interest (zero
// means the whole frame; it is clipped to the frame) and a tiling. Tiles have
// equal sizes, cover the region exactly and overlap by at least t.Overlap.
func PlanViews(frameW, frameH int, roi image.Rectangle, t Tiling) ([]View, error) {
	frame := image.Rect(0, 0, frameW, frameH)
	if frame.Empty() {
		return nil, fmt.Errorf("infer: empty frame %dx%d", frameW, frameH)
	}
	if roi.Empty() {
		roi = frame
	}
	r := roi.Intersect(frame)
	if r.Empty() {
		return nil, fmt.Errorf("infer: region of interest %v lies outside the %dx%d frame", roi, frameW, frameH)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	if !t.Enabled() {
		return []View{{Rect: r}}, nil
	}
	xs, tw := tileStarts(r.Min.X, r.Dx(), t.Cols, t.Overlap)
	ys, th := tileStarts(r.Min.Y, r.Dy(), t.Rows, t.Overlap)
	views := make([]View, 0, t.NumViews())
	for j, y := range ys {
		for i, x := range xs {
			views = append(views, View{
				Rect:     image.Rect(x, y, x+tw, y+th),
				Interior: [4]bool{i > 0, j > 0, i < len(xs)-1, j < len(ys)-1},
			})
		}
	}
	if t.Whole {
		views = append(views, View{Rect: r})
	}
	return views, nil
}

// tileStarts splits [start, start+length) into n equal tiles overlapping by
// at least overlap (a fraction of the tile), spread evenly so the last tile
// ends exactly at the end.
func tileStarts(start, length, n int, overlap float64) (starts []int, size int) {
	if n <= 1 {
		return []int{start}, length
	}
	size = int(math.Ceil(float64(length) / (float64(n) - float64(n-1)*overlap)))
	size = min(size, length)
	starts = make([]int, n)
	for i := range n {
		starts[i] = start + int(math.Round(float64(i)*float64(length-size)/float64(n-1)))
	}
	return starts, size
}
