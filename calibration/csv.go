package calibration

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ReadPointsCSV reads survey points from CSV with the header "u,v,x,y"
// (pixels, metres). Blank lines and lines starting with '#' are skipped. It
// returns the pairs and, for each, its line number in the input; errors name
// the line and column.
func ReadPointsCSV(r io.Reader) ([]PointPair, []int, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var (
		pairs  []PointPair
		lines  []int
		header = true
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, fmt.Errorf("points csv: line %d: %v", pe.Line, pe.Err)
			}
			return nil, nil, fmt.Errorf("points csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if header {
			got := make([]string, len(rec))
			for i, f := range rec {
				got[i] = strings.ToLower(strings.TrimSpace(f))
			}
			if strings.Join(got, ",") != "u,v,x,y" {
				return nil, nil, fmt.Errorf("points csv: line %d: header must be \"u,v,x,y\" (pixels, metres), got %q", line, strings.Join(rec, ","))
			}
			header = false
			continue
		}
		if len(rec) != 4 {
			return nil, nil, fmt.Errorf("points csv: line %d: want 4 fields u,v,x,y, got %d", line, len(rec))
		}
		var v [4]float64
		for i, f := range rec {
			x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
			if err != nil || !isFinite(x) {
				return nil, nil, fmt.Errorf("points csv: line %d: column %s: %q is not a finite number", line, "uvxy"[i:i+1], f)
			}
			v[i] = x
		}
		if len(pairs) == MaxPoints {
			return nil, nil, fmt.Errorf("points csv: line %d: more than %d points", line, MaxPoints)
		}
		pairs = append(pairs, PointPair{Image: Point{v[0], v[1]}, Ground: Point{v[2], v[3]}})
		lines = append(lines, line)
	}
	if header {
		return nil, nil, errors.New("points csv: empty: want the header \"u,v,x,y\" and one row per point")
	}
	return pairs, lines, nil
}
