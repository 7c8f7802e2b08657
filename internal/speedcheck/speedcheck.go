// Package speedcheck compares the tracks an agent measured on a scene
// generator clip (the JSON lines of `agent replay`) with the clip's ground
// truth: which car each track followed, and the speed error.
package speedcheck

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/vigia-pe/vigia/internal/scenegen"
)

// Track is the part of a "track" line this package reads.
type Track struct {
	Type      string     `json:"type"`
	TrackID   int64      `json:"track_id"`
	Class     string     `json:"class"`
	SpeedKmh  *float64   `json:"speed_kmh"`
	Sigma     *float64   `json:"speed_uncertainty_kmh"`
	SpeedNote string     `json:"speed_note"`
	TStart    float64    `json:"t_start"`
	TEnd      float64    `json:"t_end"`
	Frames    int        `json:"frames"`
	LastBox   [4]float64 `json:"last_box"`
	Plate     string     `json:"plate"`
}

// ReadTracks reads the "track" lines of a JSON Lines file.
func ReadTracks(path string) ([]Track, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("speedcheck: %w", err)
	}
	defer f.Close()
	return DecodeTracks(f)
}

// DecodeTracks reads "track" lines from r, ignoring other types.
func DecodeTracks(r io.Reader) ([]Track, error) {
	var out []Track
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var t Track
		if err := json.Unmarshal(sc.Bytes(), &t); err != nil {
			return nil, fmt.Errorf("speedcheck: line %d: %w", line, err)
		}
		if t.Type == "track" {
			out = append(out, t)
		}
	}
	return out, sc.Err()
}

// Match pairs a measured track with the car it followed.
type Match struct {
	TrackID     int64
	CarID       int
	TrueKmh     float64
	MeasuredKmh float64
	SigmaKmh    float64
	ErrorKmh    float64 // measured - true
	IoU         float64
	// TruePlate and Plate are the car's plate and the plate read ("" when unread).
	TruePlate, Plate string
}

// Report summarises a comparison.
type Report struct {
	Matches []Match
	// Unmatched are tracks that followed no car (false positives).
	Unmatched []int64
	// NoSpeed are matched tracks without a speed.
	NoSpeed []int64
	// MissedCars were fully visible but no track with a speed followed them.
	MissedCars []int
	// Fragmented counts cars followed by more than one track.
	Fragmented      int
	MeanAbsKmh      float64
	MaxAbsKmh       float64
	WithinOneSigma  int
	WithinTwoSigmas int
	// PlatesRight and PlatesWrong count matched tracks whose plate was read
	// correctly or wrongly (separators ignored); unread plates count in neither.
	PlatesRight, PlatesWrong int
}

func iou(a, b [4]float64) float64 {
	ix := math.Max(0, math.Min(a[2], b[2])-math.Max(a[0], b[0]))
	iy := math.Max(0, math.Min(a[3], b[3])-math.Max(a[1], b[1]))
	inter := ix * iy
	ua := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if ua <= 0 {
		return 0
	}
	return inter / ua
}

// Compare matches tracks to cars by the overlap of the track's last box
// with each car's true box at the track's last time.
func Compare(truth *scenegen.Truth, tracks []Track) Report {
	var rep Report
	perCar := map[int]int{}
	for _, tr := range tracks {
		bestCar, bestIoU := MatchTrack(truth, tr)
		bestTrue, bestPlate := 0.0, ""
		if c, ok := truth.Car(bestCar); ok {
			bestTrue, bestPlate = meanSpeed(c, tr.TStart, tr.TEnd), c.Plate
		}
		if bestCar < 0 {
			rep.Unmatched = append(rep.Unmatched, tr.TrackID)
			continue
		}
		if tr.SpeedKmh == nil {
			rep.NoSpeed = append(rep.NoSpeed, tr.TrackID)
			continue
		}
		perCar[bestCar]++
		m := Match{TrackID: tr.TrackID, CarID: bestCar, TrueKmh: bestTrue, MeasuredKmh: *tr.SpeedKmh,
			ErrorKmh: *tr.SpeedKmh - bestTrue, IoU: bestIoU, TruePlate: bestPlate, Plate: tr.Plate}
		switch {
		case tr.Plate == "":
		case strings.ReplaceAll(tr.Plate, "-", "") == strings.ReplaceAll(bestPlate, "-", ""):
			rep.PlatesRight++
		default:
			rep.PlatesWrong++
		}
		if tr.Sigma != nil {
			m.SigmaKmh = *tr.Sigma
		}
		rep.Matches = append(rep.Matches, m)
	}
	for _, c := range truth.Cars {
		if c.FullFrom >= 0 && perCar[c.ID] == 0 {
			rep.MissedCars = append(rep.MissedCars, c.ID)
		}
		if perCar[c.ID] > 1 {
			rep.Fragmented++
		}
	}
	sort.Slice(rep.Matches, func(i, j int) bool { return rep.Matches[i].CarID < rep.Matches[j].CarID })
	for _, m := range rep.Matches {
		e := math.Abs(m.ErrorKmh)
		rep.MeanAbsKmh += e
		rep.MaxAbsKmh = math.Max(rep.MaxAbsKmh, e)
		if e <= m.SigmaKmh {
			rep.WithinOneSigma++
		}
		if e <= 2*m.SigmaKmh {
			rep.WithinTwoSigmas++
		}
	}
	if n := len(rep.Matches); n > 0 {
		rep.MeanAbsKmh /= float64(n)
	}
	return rep
}

// MatchTrack returns the car a track followed (-1 when none): the one whose
// true box overlaps the track's last box most (IoU > 0.3) at the track's end.
func MatchTrack(truth *scenegen.Truth, tr Track) (carID int, iouScore float64) {
	carID, iouScore = -1, 0.3
	for i := range truth.Cars {
		c := &truth.Cars[i]
		for _, cf := range c.Track {
			if math.Abs(cf.T-tr.TEnd) > 0.5/max(truth.Scene.FPS, 1) {
				continue
			}
			if v := iou(tr.LastBox, cf.Box); v > iouScore {
				carID, iouScore = c.ID, v
			}
		}
	}
	return carID, iouScore
}

// meanSpeed is the car's mean true speed over [t0, t1] (its constant speed
// when it does not accelerate).
func meanSpeed(c *scenegen.CarTruth, t0, t1 float64) float64 {
	var sum float64
	var n int
	for _, cf := range c.Track {
		if cf.T >= t0-1e-6 && cf.T <= t1+1e-6 {
			sum += cf.SpeedKmh
			n++
		}
	}
	if n == 0 {
		return c.SpeedKmh
	}
	return sum / float64(n)
}

// Print writes a human-readable table.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "%-6s %-6s %10s %12s %8s %8s  %-9s %s\n", "car", "track", "true km/h", "measured", "± (1σ)", "error", "plate", "read")
	for _, m := range r.Matches {
		fmt.Fprintf(w, "%-6d %-6d %10.1f %12.2f %8.2f %+8.2f  %-9s %s\n", m.CarID, m.TrackID, m.TrueKmh, m.MeasuredKmh, m.SigmaKmh, m.ErrorKmh, m.TruePlate, m.Plate)
	}
	fmt.Fprintf(w, "%d speeds: mean |error| %.2f km/h, max %.2f km/h; within 1σ %d, within 2σ %d\n",
		len(r.Matches), r.MeanAbsKmh, r.MaxAbsKmh, r.WithinOneSigma, r.WithinTwoSigmas)
	fmt.Fprintf(w, "missed cars %v, fragmented cars %d, tracks without speed %d, tracks on no car %d\n",
		r.MissedCars, r.Fragmented, len(r.NoSpeed), len(r.Unmatched))
	fmt.Fprintf(w, "plates: %d read right, %d read wrong, %d unread\n", r.PlatesRight, r.PlatesWrong, len(r.Matches)-r.PlatesRight-r.PlatesWrong)
}
