package scenegen

import (
	"bytes"
	_ "embed" // photos.csv
	"encoding/csv"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // photo headers
	_ "image/png"  // photo headers
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// photoTable holds the car boxes that the agent's YOLOX-Nano detector finds
// in the shared car photos, with each photo's facing labelled by eye.
//
// Why a table: this package lives outside agent/, so Go's internal-package
// rule keeps it from importing agent/internal/infer; the boxes were made by
// that detector (a throwaway main under agent/ that runs infer.New with the
// yolox-nano manifest on every photo and prints the car/truck/bus box that
// contains the plate centre) and are stored here. A caller inside agent/ can
// pass the live detector instead (LibraryOptions.Finder).
//
//go:embed photos.csv
var photoTable []byte

// Facing is the side of a car a photo shows.
type Facing string

// Facings. A car driving towards the camera shows its front.
const (
	FacingFront   Facing = "front"
	FacingRear    Facing = "rear"
	FacingUnknown Facing = ""
)

// Box sources recorded in Photo.BoxSource.
const (
	BoxFromTable = "yolox-nano-table"
	BoxFromPlate = "plate-heuristic"
)

// Photo is one labelled car photo.
type Photo struct {
	// Name is the file name in the library directory.
	Name string `json:"name"`
	Path string `json:"-"`
	// Plate is the plate text of the label file, PlateBox its box.
	Plate    string          `json:"plate"`
	PlateBox image.Rectangle `json:"plate_box"`
	// Size is the photo size in pixels.
	Size image.Point `json:"size"`
	// CarBox is the car's box in the photo: its bottom edge is where the
	// tyres meet the floor.
	CarBox   image.Rectangle `json:"car_box"`
	CarScore float64         `json:"car_score,omitempty"`
	// BoxSource says where CarBox came from (BoxFromTable, BoxFromPlate or
	// the name of a CarFinder).
	BoxSource string `json:"box_source"`
	Facing    Facing `json:"facing,omitempty"`
	// Whole is true when the car box keeps clear of the photo's borders,
	// i.e. the photo shows the whole car (only such photos become sprites
	// unless a Car names its photo).
	Whole bool `json:"whole"`
}

// CarFinder finds the car carrying a plate in a photo, e.g. the agent's
// detector wrapped by a caller that may import it.
type CarFinder interface {
	// FindCar returns the car's box in photo pixels; ok is false when no car
	// contains the plate.
	FindCar(photo image.Image, plate image.Rectangle) (box image.Rectangle, score float64, ok bool, err error)
}

// LibraryOptions configures LoadLibrary.
type LibraryOptions struct {
	// Finder, when set, replaces the stored table of car boxes.
	Finder CarFinder
	// FinderName is recorded as Photo.BoxSource for Finder's boxes.
	FinderName string
	Logger     *slog.Logger
}

// Library is a directory of labelled car photos and the sprites cut from
// them (cut once, on first use). It is safe for concurrent use.
type Library struct {
	dir    string
	logger *slog.Logger
	photos []Photo

	mu      sync.Mutex
	sprites map[string]*sprite
}

// Label is one plate label file: `image x y w h TEXT`.
type Label struct {
	Image string
	Box   image.Rectangle
	Text  string
}

// maxLabelBytes bounds a label file; real ones are one short line.
const maxLabelBytes = 4096

// ParseLabel parses a plate label file (OpenALPR benchmark format: one line,
// whitespace separated `image x y w h TEXT`).
func ParseLabel(data []byte) (Label, error) {
	if len(data) > maxLabelBytes {
		return Label{}, fmt.Errorf("label: %d bytes, want at most %d", len(data), maxLabelBytes)
	}
	f := strings.Fields(string(data))
	if len(f) != 6 {
		return Label{}, fmt.Errorf("label: want 6 fields `image x y w h TEXT`, got %d", len(f))
	}
	name := f[0]
	if name != filepath.Base(name) || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return Label{}, fmt.Errorf("label: image %q must be a bare file name", name)
	}
	var v [4]int
	for i := range v {
		n, err := strconv.Atoi(f[1+i])
		if err != nil || n < 0 || n > 1<<16 {
			return Label{}, fmt.Errorf("label: field %d %q must be an integer within 0..65536", i+2, f[1+i])
		}
		v[i] = n
	}
	if v[2] == 0 || v[3] == 0 {
		return Label{}, fmt.Errorf("label: empty plate box %dx%d", v[2], v[3])
	}
	text := f[5]
	for _, r := range text {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return Label{}, fmt.Errorf("label: plate text %q must be ASCII letters and digits", text)
		}
	}
	if len(text) > 16 {
		return Label{}, fmt.Errorf("label: plate text %q longer than 16", text)
	}
	return Label{Image: name, Box: image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]), Text: text}, nil
}

// tableRow is one row of photoTable.
type tableRow struct {
	size   image.Point
	box    image.Rectangle
	score  float64
	facing Facing
}

// parsePhotoTable reads the embedded CSV.
func parsePhotoTable(data []byte) (map[string]tableRow, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = 10
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("photo table: %w", err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != "image,width,height,x1,y1,x2,y2,score,label,facing" {
		return nil, errors.New("photo table: bad header")
	}
	out := make(map[string]tableRow, len(recs)-1)
	for _, rec := range recs[1:] {
		var row tableRow
		w, err1 := strconv.Atoi(rec[1])
		h, err2 := strconv.Atoi(rec[2])
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("photo table: %s: size: %w", rec[0], err)
		}
		row.size = image.Pt(w, h)
		if rec[3] != "" {
			var v [4]int
			for i := range v {
				if v[i], err = strconv.Atoi(rec[3+i]); err != nil {
					return nil, fmt.Errorf("photo table: %s: box: %w", rec[0], err)
				}
			}
			row.box = image.Rect(v[0], v[1], v[2], v[3])
			if row.score, err = strconv.ParseFloat(rec[7], 64); err != nil {
				return nil, fmt.Errorf("photo table: %s: score: %w", rec[0], err)
			}
		}
		switch f := Facing(rec[9]); f {
		case FacingFront, FacingRear, FacingUnknown:
			row.facing = f
		default:
			return nil, fmt.Errorf("photo table: %s: facing %q", rec[0], rec[9])
		}
		out[rec[0]] = row
	}
	return out, nil
}

// plateHeuristicBox guesses the car box from the plate box when no detector
// box is available: a plate is about 0.40 m wide, a car about 1.8 m wide
// (4.5 plate widths) and 1.5 m tall, with the plate centre about 0.4 m
// above the road.
func plateHeuristicBox(plate image.Rectangle) image.Rectangle {
	pw := float64(plate.Dx())
	cx := float64(plate.Min.X+plate.Max.X) / 2
	cy := float64(plate.Min.Y+plate.Max.Y) / 2
	bottom := cy + 1.0*pw
	return image.Rect(int(cx-2.25*pw), int(bottom-3.75*pw), int(cx+2.25*pw), int(bottom))
}

// wholeMargin is how far inside the photo (as a fraction of its smaller
// side) a car box must stay to count as showing the whole car: a detector's
// box closer than that to a border is usually cut by it.
const wholeMargin = 0.01

func isWhole(box image.Rectangle, size image.Point) bool {
	m := int(wholeMargin*float64(min(size.X, size.Y)) + 0.5)
	inner := image.Rect(m, m, size.X-m, size.Y-m)
	return !box.Empty() && box.In(inner)
}

// LoadLibrary reads every label file (*.txt) in dir and the headers of the
// photos they name, and finds each car's box. Photos are decoded only when a
// Finder is given or a sprite is first needed.
func LoadLibrary(dir string, opt LibraryOptions) (*Library, error) {
	logger := opt.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	table, err := parsePhotoTable(photoTable)
	if err != nil {
		return nil, fmt.Errorf("scenegen: %w", err)
	}
	labels, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("scenegen: list %s: %w", dir, err)
	}
	slices.Sort(labels)
	l := &Library{dir: dir, logger: logger.With("component", "scenegen"), sprites: map[string]*sprite{}}
	for _, lf := range labels {
		data, err := os.ReadFile(lf)
		if err != nil {
			return nil, fmt.Errorf("scenegen: %w", err)
		}
		lab, err := ParseLabel(data)
		if err != nil {
			l.logger.Debug("skipping label file", "file", lf, "err", err)
			continue
		}
		p, err := l.describe(lab, table, opt)
		if err != nil {
			return nil, err
		}
		l.photos = append(l.photos, p)
	}
	if len(l.photos) == 0 {
		return nil, fmt.Errorf("scenegen: no labelled photos (`image x y w h TEXT` .txt files) in %s", dir)
	}
	return l, nil
}

func (l *Library) describe(lab Label, table map[string]tableRow, opt LibraryOptions) (Photo, error) {
	p := Photo{Name: lab.Image, Path: filepath.Join(l.dir, lab.Image), Plate: lab.Text, PlateBox: lab.Box}
	fh, err := os.Open(p.Path)
	if err != nil {
		return p, fmt.Errorf("scenegen: photo of label %s: %w", lab.Text, err)
	}
	defer fh.Close()
	if opt.Finder != nil {
		img, _, err := image.Decode(fh)
		if err != nil {
			return p, fmt.Errorf("scenegen: decode %s: %w", p.Path, err)
		}
		p.Size = img.Bounds().Size()
		box, score, ok, err := opt.Finder.FindCar(img, lab.Box)
		if err != nil {
			return p, fmt.Errorf("scenegen: find car in %s: %w", p.Name, err)
		}
		if ok {
			p.CarBox, p.CarScore, p.BoxSource = box.Intersect(img.Bounds()), score, opt.FinderName
		}
	} else {
		cfg, _, err := image.DecodeConfig(fh)
		if err != nil {
			return p, fmt.Errorf("scenegen: decode %s: %w", p.Path, err)
		}
		p.Size = image.Pt(cfg.Width, cfg.Height)
	}
	row, inTable := table[p.Name]
	if inTable && row.size == p.Size {
		p.Facing = row.facing
		if p.BoxSource == "" && !row.box.Empty() {
			p.CarBox, p.CarScore, p.BoxSource = row.box, row.score, BoxFromTable
		}
	} else if inTable {
		l.logger.Warn("photo differs from the stored table; using the plate heuristic", "photo", p.Name, "size", p.Size, "table_size", row.size)
	}
	if p.BoxSource == "" {
		p.CarBox = plateHeuristicBox(lab.Box).Intersect(image.Rectangle{Max: p.Size})
		p.BoxSource = BoxFromPlate
	}
	p.Whole = isWhole(p.CarBox, p.Size) && lab.Box.In(p.CarBox)
	return p, nil
}

// Dir returns the library directory.
func (l *Library) Dir() string { return l.dir }

// Photos returns every photo, sorted by name.
func (l *Library) Photos() []Photo { return slices.Clone(l.photos) }

// Photo returns the photo with the given file name.
func (l *Library) Photo(name string) (Photo, bool) {
	for _, p := range l.photos {
		if p.Name == name {
			return p, true
		}
	}
	return Photo{}, false
}

// Usable returns the photos of whole cars with the given facing (all
// whole cars for FacingUnknown), sorted by name.
func (l *Library) Usable(f Facing) []Photo {
	var out []Photo
	for _, p := range l.photos {
		if p.Whole && (f == FacingUnknown || p.Facing == f) {
			out = append(out, p)
		}
	}
	return out
}

// photoSubdir is where the car photos sit inside the shared directory.
const photoSubdir = "data/plates-br-openalpr/full"

// DefaultPhotoDir returns the shared car photos: under $VIGIA_SHARED when
// set, else under the "shared" directory beside the module root found by
// walking up from the working directory (the layout of the project's
// checkouts, ../shared next to the repository).
func DefaultPhotoDir() string {
	if d := os.Getenv("VIGIA_SHARED"); d != "" {
		return filepath.Join(d, photoSubdir)
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("..", "shared", photoSubdir)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared", photoSubdir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("..", "shared", photoSubdir)
		}
		dir = parent
	}
}
