package scenegen

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/vigia-pe/vigia/calibration"
)

// TruthVersion is the truth.json format written by this package.
//
// History (append only):
//   - 1 (2025-11): first format.
//   - 1 (2026-11): additive: signal, geometry and, per car,
//     expected_violations, stop_line_cross_s, solid_line_cross_s and
//     stopped_at_s (rule scenes only); scene cars gain stops and
//     lane_change, the road stop_line_dir, solid_dividers and bus_lanes.
const TruthVersion = 1

// PixelConvention describes the image coordinates used in the truth.
const PixelConvention = "pixel (i,j) covers [i,i+1)x[j,j+1); its centre is (i+0.5,j+0.5)"

// Truth is the ground truth of a rendered clip (truth.json).
type Truth struct {
	Version   int    `json:"version"`
	Generator string `json:"generator"`
	// Scene is the input scene, as given.
	Scene Scene `json:"scene"`
	// Clip is the video file name beside truth.json ("" when not encoded).
	Clip string `json:"clip,omitempty"`
	// Encoder is the ffmpeg encoder used.
	Encoder         string `json:"encoder,omitempty"`
	PixelConvention string `json:"pixel_convention"`
	// FocalPx, PrincipalPoint and Rotation (world→camera, rows = camera
	// right, down, forward in ground coordinates) are the camera intrinsics
	// and pose; the position is Scene.Camera.X, Y, HeightM.
	FocalPx        float64       `json:"focal_px"`
	PrincipalPoint [2]float64    `json:"principal_point"`
	Rotation       [3][3]float64 `json:"rotation"`
	// ImageToGround maps pixels (u, v, 1) to metres (x·w, y·w, w);
	// GroundToImage is its inverse.
	ImageToGround calibration.Homography `json:"image_to_ground"`
	GroundToImage calibration.Homography `json:"ground_to_image"`
	// Frames lists every frame's presentation time.
	Frames  []FrameTime   `json:"frames"`
	Markers []MarkerTruth `json:"markers"`
	Cars    []CarTruth    `json:"cars"`
	// Signal is the traffic light schedule (Scene.Signal) and Geometry the
	// zones and lines of geometry.json; both only in scenes with rules.
	Signal   []SignalPhase `json:"signal,omitempty"`
	Geometry *Geometry     `json:"geometry,omitempty"`
}

// FrameTime is the presentation time of one frame.
type FrameTime struct {
	Index int `json:"index"`
	// T is seconds from the first frame (the MP4's PTS).
	T float64 `json:"t"`
}

// MarkerTruth is one calibration marker.
type MarkerTruth struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	// U, V is the exact projection of the marker centre.
	U float64 `json:"u"`
	V float64 `json:"v"`
	// ClickU, ClickV is the position written to points.csv (U, V plus the
	// scene's click noise).
	ClickU float64 `json:"click_u"`
	ClickV float64 `json:"click_v"`
	// Clickable is true when the marker is inside the image and large enough
	// to click (at least 8x5 px); only those go to points.csv.
	Clickable bool `json:"clickable"`
}

// CarTruth is the truth about one car.
type CarTruth struct {
	ID int `json:"id"`
	// Photo is the source photo, Plate its plate text, Facing the side shown.
	Photo     string `json:"photo"`
	Plate     string `json:"plate"`
	Facing    Facing `json:"facing"`
	BoxSource string `json:"box_source"`
	// SpriteBox is the part of the photo drawn (x1, y1, x2, y2): the car's
	// silhouette bounds; its bottom edge is the tyres' contact line.
	SpriteBox [4]float64 `json:"sprite_box"`
	Lane      int        `json:"lane"`
	Direction Direction  `json:"direction"`
	// SpeedKmh is the speed at PassTime; AccelMS2 the constant acceleration.
	SpeedKmh float64 `json:"speed_kmh"`
	AccelMS2 float64 `json:"accel_ms2"`
	PassTime float64 `json:"pass_time_s"`
	// WidthM and HeightM are the billboard's size.
	WidthM  float64 `json:"width_m"`
	HeightM float64 `json:"height_m"`
	// FullFrom and FullTo bound the frames in which the car is entirely
	// inside the image and overlapped by no nearer car's box (-1 if none;
	// there may be gaps, see Track[].Full).
	FullFrom int `json:"full_from"`
	FullTo   int `json:"full_to"`
	// FullFromT and FullToT are the times of those frames (seconds).
	FullFromT float64 `json:"full_from_t"`
	FullToT   float64 `json:"full_to_t"`
	// ExpectedViolations lists the infractions the car commits (see
	// Scene.ruleTruth): set, possibly empty, only in scenes with rules.
	ExpectedViolations []string `json:"expected_violations,omitzero"`
	// StopLineCrossT is when the ground point crosses the stop line
	// (GeometryStopLine) within the clip; nil if it does not.
	StopLineCrossT *float64 `json:"stop_line_cross_s,omitempty"`
	// SolidLineCrossT is when the ground point crosses a solid divider
	// inside the geometry zone; nil if it does not.
	SolidLineCrossT *float64 `json:"solid_line_cross_s,omitempty"`
	// StoppedAtS is when a stopping car (Car.Stops) comes to rest, which
	// may lie outside the clip.
	StoppedAtS *float64 `json:"stopped_at_s,omitempty"`
	// Track has one entry per frame in which any part of the car is in the
	// image.
	Track []CarFrame `json:"track"`
}

// CarFrame is a car's state in one frame.
type CarFrame struct {
	Frame int     `json:"frame"`
	T     float64 `json:"t"`
	// X, Y is the ground point (see the package comment), metres.
	X        float64 `json:"x"`
	Y        float64 `json:"y"`
	SpeedKmh float64 `json:"speed_kmh"`
	// Box is the image box (x1, y1, x2, y2), clipped to the image.
	Box [4]float64 `json:"box"`
	// InFrame is the fraction of the unclipped box inside the image.
	InFrame float64 `json:"in_frame"`
	// Occluded is the fraction of the box covered by nearer cars' boxes.
	Occluded float64 `json:"occluded"`
	// Full is InFrame == 1 and Occluded == 0.
	Full bool `json:"full"`
	// PlateBox is the plate's image box (unclipped).
	PlateBox [4]float64 `json:"plate_box"`
	// Depth is the distance along the optical axis, metres.
	Depth float64 `json:"depth_m"`
}

// WriteJSON writes the truth as indented JSON.
func (t *Truth) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(t); err != nil {
		return fmt.Errorf("scenegen: encode truth: %w", err)
	}
	return nil
}

// ReadTruth reads a truth.json file.
func ReadTruth(path string) (*Truth, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenegen: %w", err)
	}
	var t Truth
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, fmt.Errorf("scenegen: parse %s: %w", path, err)
	}
	if t.Version != TruthVersion {
		return nil, fmt.Errorf("scenegen: %s: truth version %d, this build reads %d", path, t.Version, TruthVersion)
	}
	return &t, nil
}

// WritePointsCSV writes the clickable markers as `u,v,x,y` (the input of
// `agent calibrate solve`), using the noisy click positions.
func (t *Truth) WritePointsCSV(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("u,v,x,y\n")
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	for _, m := range t.Markers {
		if m.Clickable {
			fmt.Fprintf(bw, "%s,%s,%s,%s\n", f(m.ClickU), f(m.ClickV), f(m.X), f(m.Y))
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("scenegen: write points: %w", err)
	}
	return nil
}

// Car returns the truth of the car with the given id.
func (t *Truth) Car(id int) (*CarTruth, bool) {
	for i := range t.Cars {
		if t.Cars[i].ID == id {
			return &t.Cars[i], true
		}
	}
	return nil, false
}
