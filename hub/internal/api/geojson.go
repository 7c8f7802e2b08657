package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// maxPolygonPoints bounds a zone polygon (a street zone needs tens, not thousands).
const maxPolygonPoints = 10000

// checkPolygon validates a GeoJSON Polygon (RFC 7946) before PostGIS sees it:
// type, closed linear rings of at least four positions, WGS84 ranges. It
// returns the compacted document.
func checkPolygon(raw json.RawMessage) (json.RawMessage, error) {
	var g struct {
		Type        string          `json:"type"`
		Coordinates [][][]float64   `json:"coordinates"`
		CRS         json.RawMessage `json:"crs"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&g); err != nil {
		return nil, errors.New("geometry must be a GeoJSON Polygon object")
	}
	if g.Type != "Polygon" {
		return nil, fmt.Errorf("geometry type must be Polygon, not %q", trunc(g.Type))
	}
	if len(g.CRS) > 0 {
		return nil, errors.New("geometry must not carry a crs: coordinates are WGS84 (RFC 7946)")
	}
	if len(g.Coordinates) == 0 {
		return nil, errors.New("polygon has no rings")
	}
	n := 0
	for i, ring := range g.Coordinates {
		if len(ring) < 4 {
			return nil, fmt.Errorf("ring %d has %d positions; at least 4 are required", i, len(ring))
		}
		for _, p := range ring {
			n++
			if len(p) < 2 || len(p) > 3 {
				return nil, fmt.Errorf("ring %d: a position must be [lon, lat]", i)
			}
			if math.IsNaN(p[0]) || math.IsNaN(p[1]) || p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
				return nil, fmt.Errorf("ring %d: position out of range (lon -180..180, lat -90..90)", i)
			}
		}
		first, last := ring[0], ring[len(ring)-1]
		if first[0] != last[0] || first[1] != last[1] {
			return nil, fmt.Errorf("ring %d is not closed (first and last positions differ)", i)
		}
	}
	if n > maxPolygonPoints {
		return nil, fmt.Errorf("polygon has %d positions; at most %d are accepted", n, maxPolygonPoints)
	}
	out, err := json.Marshal(map[string]any{"type": "Polygon", "coordinates": g.Coordinates})
	if err != nil {
		return nil, fmt.Errorf("geometry: %w", err)
	}
	return out, nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
