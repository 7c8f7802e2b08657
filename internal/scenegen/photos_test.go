package scenegen

import (
	"image"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/internal/testenv"
)

func TestParseLabel(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Label
		err  string
	}{
		{"tabs", "AYO9034.jpg\t528\t412\t162\t52\tAYO9034\n", Label{"AYO9034.jpg", image.Rect(528, 412, 690, 464), "AYO9034"}, ""},
		{"spaces", "a.png 1 2 3 4 ABC1234", Label{"a.png", image.Rect(1, 2, 4, 6), "ABC1234"}, ""},
		{"too few fields", "a.png 1 2 3 ABC", Label{}, "6 fields"},
		{"path", "../a.png 1 2 3 4 ABC", Label{}, "bare file name"},
		{"backslash", `..\a.png 1 2 3 4 ABC`, Label{}, "bare file name"},
		{"negative", "a.png -1 2 3 4 ABC", Label{}, "integer"},
		{"huge", "a.png 1 2 99999999 4 ABC", Label{}, "integer"},
		{"empty box", "a.png 1 2 0 4 ABC", Label{}, "empty"},
		{"bad text", "a.png 1 2 3 4 AB-12", Label{}, "letters and digits"},
		{"non-ascii", "a.png 1 2 3 4 ÁB12", Label{}, "letters and digits"},
		{"too long", "a.png 1 2 3 4 " + strings.Repeat("A", 17), Label{}, "longer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLabel([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func FuzzParseLabel(f *testing.F) {
	f.Add([]byte("AYO9034.jpg\t528\t412\t162\t52\tAYO9034\n"))
	f.Add([]byte("a 0 0 1 1 Z"))
	f.Add([]byte("../x 1 1 1 1 A"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLabel(data)
		if err != nil {
			return
		}
		if l.Box.Empty() || l.Box.Min.X < 0 || l.Box.Min.Y < 0 {
			t.Errorf("accepted box %v", l.Box)
		}
		if filepath.Base(l.Image) != l.Image || strings.ContainsAny(l.Image, `/\`) || l.Text == "" {
			t.Errorf("accepted label %+v", l)
		}
	})
}

func TestPhotoTable(t *testing.T) {
	rows, err := parsePhotoTable(photoTable)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 30 {
		t.Fatalf("%d rows", len(rows))
	}
	for name, r := range rows {
		if !r.box.Empty() && !r.box.In(image.Rectangle{Max: r.size}) {
			t.Errorf("%s: box %v outside the %v photo", name, r.box, r.size)
		}
	}
	if _, err := parsePhotoTable([]byte("image,x\nfoo,1\n")); err == nil {
		t.Error("a bad table parsed")
	}
}

func TestPlateHeuristicBox(t *testing.T) {
	b := plateHeuristicBox(image.Rect(100, 200, 140, 213))
	if b.Dx() != 180 || (b.Min.X+b.Max.X)/2 != 120 {
		t.Errorf("box %v: want 4.5 plate widths (180 px) centred on x=120", b)
	}
	if b.Max.Y != 246 || b.Dy() != 150 {
		t.Errorf("box %v: want bottom one plate width below the plate centre (246) and 150 px tall", b)
	}
}

func TestIsWhole(t *testing.T) {
	size := image.Pt(1000, 800)
	cases := []struct {
		name string
		box  image.Rectangle
		want bool
	}{
		{"inside", image.Rect(100, 100, 900, 700), true},
		{"touches the top", image.Rect(100, 3, 900, 700), false},
		{"touches the right", image.Rect(100, 100, 995, 700), false},
		{"at the margin", image.Rect(8, 8, 992, 792), true},
		{"empty", image.Rectangle{}, false},
	}
	for _, tc := range cases {
		if got := isWhole(tc.box, size); got != tc.want {
			t.Errorf("%s: isWhole(%v) = %v, want %v", tc.name, tc.box, got, tc.want)
		}
	}
}

func TestLoadLibrary(t *testing.T) {
	lib := testLibrary(t)
	photos := lib.Photos()
	if len(photos) < 30 {
		t.Fatalf("%d photos", len(photos))
	}
	sources := map[string]int{}
	for _, p := range photos {
		sources[p.BoxSource]++
		if p.Size.X == 0 || p.Plate == "" {
			t.Errorf("%s: incomplete %+v", p.Name, p)
		}
		if p.Whole && !p.PlateBox.In(p.CarBox) {
			t.Errorf("%s: whole car box %v does not contain the plate %v", p.Name, p.CarBox, p.PlateBox)
		}
	}
	if sources[BoxFromTable] < 20 {
		t.Errorf("box sources %v: want most from the detector table", sources)
	}
	for _, f := range []Facing{FacingFront, FacingRear} {
		if n := len(lib.Usable(f)); n < 4 {
			t.Errorf("%d usable %s photos, want at least 4", n, f)
		}
	}
}

// fixedFinder returns the same box for every photo.
type fixedFinder struct{ box image.Rectangle }

func (f fixedFinder) FindCar(img image.Image, plate image.Rectangle) (image.Rectangle, float64, bool, error) {
	return f.box, 0.9, true, nil
}

func TestLoadLibraryWithFinder(t *testing.T) {
	testLibrary(t)
	dir := t.TempDir()
	src := filepath.Join(testenv.DataDir(), photosRel)
	copyFile(t, filepath.Join(src, "PAG5219.png"), filepath.Join(dir, "PAG5219.png"))
	copyFile(t, filepath.Join(src, "PAG5219.txt"), filepath.Join(dir, "PAG5219.txt"))
	box := image.Rect(200, 30, 1100, 700)
	lib, err := LoadLibrary(dir, LibraryOptions{Finder: fixedFinder{box}, FinderName: "fake"})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := lib.Photo("PAG5219.png")
	if !ok || p.CarBox != box || p.BoxSource != "fake" || p.CarScore != 0.9 || p.Facing != FacingRear || !p.Whole {
		t.Fatalf("photo %+v: want the finder's box, its name, the table's facing", p)
	}
}

func TestSpriteCut(t *testing.T) {
	lib := testLibrary(t)
	for _, name := range []string{"AYO9034.jpg", "PAG5219.png"} {
		t.Run(name, func(t *testing.T) {
			s, err := lib.sprite(name)
			if err != nil {
				t.Fatal(err)
			}
			if s.coverage < 0.4 || s.coverage > 0.98 {
				t.Errorf("silhouette covers %.2f of the box: want a car, not the whole box or a scrap", s.coverage)
			}
			l := s.levels[0]
			opaque := func(x0, y0, x1, y1 int) float64 {
				var n, tot int
				for y := max(0, y0); y < min(l.h, y1); y++ {
					for x := max(0, x0); x < min(l.w, x1); x++ {
						tot++
						if l.pix[4*(y*l.w+x)+3] >= 128 {
							n++
						}
					}
				}
				return float64(n) / float64(max(1, tot))
			}
			p := s.plate
			if f := opaque(int(p[0]), int(p[1]), int(p[2]), int(p[3])); f < 0.9 {
				t.Errorf("plate only %.2f opaque", f)
			}
			// Tight: the silhouette reaches every edge of the sprite.
			for _, e := range []struct {
				name           string
				x0, y0, x1, y1 int
			}{{"top", 0, 0, l.w, 1}, {"bottom", 0, l.h - 1, l.w, l.h}, {"left", 0, 0, 1, l.h}, {"right", l.w - 1, 0, l.w, l.h}} {
				if opaque(e.x0, e.y0, e.x1, e.y1) == 0 {
					t.Errorf("no car on the %s edge: the sprite is not tight", e.name)
				}
			}
			if len(s.levels) < 5 || s.levels[1].w != (l.w+1)/2 {
				t.Errorf("%d mip levels", len(s.levels))
			}
			again, _ := lib.sprite(name)
			if again != s {
				t.Error("the sprite was cut twice")
			}
		})
	}
}

// TestSpriteCutDeterministic cuts the same photo in two libraries (GrabCut
// seeds OpenCV's random generator on its own thread).
func TestSpriteCutDeterministic(t *testing.T) {
	shared := testLibrary(t)
	a, err := shared.sprite("NYZ0897.jpg")
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadLibrary(shared.Dir(), LibraryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := other.sprite("NYZ0897.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if a.w() != b.w() || a.h() != b.h() || string(a.levels[0].pix) != string(b.levels[0].pix) {
		t.Fatalf("two cuts differ: %dx%d vs %dx%d", a.w(), a.h(), b.w(), b.h())
	}
}
