package infer

// Box is an axis-aligned box in source-frame pixels: X1,Y1 top-left, X2,Y2 bottom-right.
type Box struct {
	X1, Y1, X2, Y2 float32
}

// W returns the box width.
func (b Box) W() float32 { return b.X2 - b.X1 }

// H returns the box height.
func (b Box) H() float32 { return b.Y2 - b.Y1 }

// Area returns the box area (0 for an empty box).
func (b Box) Area() float32 {
	if b.X2 <= b.X1 || b.Y2 <= b.Y1 {
		return 0
	}
	return (b.X2 - b.X1) * (b.Y2 - b.Y1)
}

// IoU returns the intersection over union of two boxes.
func (b Box) IoU(o Box) float32 {
	ix1, iy1 := max(b.X1, o.X1), max(b.Y1, o.Y1)
	ix2, iy2 := min(b.X2, o.X2), min(b.Y2, o.Y2)
	inter := Box{ix1, iy1, ix2, iy2}.Area()
	u := b.Area() + o.Area() - inter
	if u <= 0 {
		return 0
	}
	return inter / u
}

// Detection is one object found in a frame.
type Detection struct {
	Box   Box
	Score float32
	// Class is the model's class index; Label its name from the manifest (e.g. "car").
	Class int
	Label string
}
