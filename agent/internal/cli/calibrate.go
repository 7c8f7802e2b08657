package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // frames from cameras and ffmpeg
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/vigia-pe/vigia/agent/internal/overlay"
	"github.com/vigia-pe/vigia/calibration"
)

// newCalibrateCmd groups the technicians' calibration tools.
func newCalibrateCmd(_ *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "calibrate",
		Short: "Solve and check a camera's ground-plane calibration",
		Long: `Field technicians calibrate each camera once it is mounted: they mark points on
the road, measure their positions in metres, click the same points on a frame,
and solve the image→ground homography the agent uses to measure speed and
place zones and lines.`,
	}
	cmd.AddCommand(newCalibrateSolveCmd(), newCalibrateCheckCmd())
	return cmd
}

type solveFlags struct {
	points, out, image, overlay string
	device                      string
	lat, lon, heading           float64
	width, height               int
	threshold                   float64
	seed                        uint64
	lens, geometry              string
	force                       bool
}

func newCalibrateSolveCmd() *cobra.Command {
	var f solveFlags
	cmd := &cobra.Command{
		Use:   "solve --points points.csv --out cal.json [--image frame.jpg --overlay overlay.png]",
		Short: "Solve a calibration from surveyed points and write the calibration file",
		Long: `Solve reads surveyed points from a CSV file with the header "u,v,x,y": the pixel
(u, v) of each mark on a frame and its ground position (x, y) in metres. Four
points give an exact fit; with more, RANSAC rejects mistyped points and the
rest are fitted by least squares. It prints the reprojection error of every
point and writes the calibration file.

With --image and --overlay it also draws the result on the frame: a metric grid
on the road (1 m thin, 5 m thick and labelled), each surveyed point (circle)
and where the calibration maps its measured position (cross). If the grid does
not lie flat on the road or crosses and circles disagree, re-survey.

Zones and lines can be added with --geometry, a JSON file
{"zones": [{"name", "kind", "speed_limit_kmh", "image" or "ground"}],
 "lines": [{"name", "kind", "image" or "ground"}]}
giving vertices in pixels or metres; the other side is computed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSolve(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.points, "points", "", "CSV of surveyed points, header u,v,x,y (pixels, metres)")
	fl.StringVar(&f.out, "out", "", "calibration file to write")
	fl.StringVar(&f.image, "image", "", "frame the points were clicked on (JPEG or PNG); gives the image size")
	fl.StringVar(&f.overlay, "overlay", "", "PNG to write with the calibration drawn on --image")
	fl.StringVar(&f.device, "device", "", "camera device id, e.g. CAM001")
	fl.Float64Var(&f.lat, "lat", 0, "camera latitude, degrees")
	fl.Float64Var(&f.lon, "lon", 0, "camera longitude, degrees")
	fl.Float64Var(&f.heading, "heading", 0, "camera heading, degrees clockwise from north")
	fl.IntVar(&f.width, "width", 0, "image width in pixels (without --image)")
	fl.IntVar(&f.height, "height", 0, "image height in pixels (without --image)")
	fl.Float64Var(&f.threshold, "threshold", calibration.DefaultInlierThresholdM, "RANSAC inlier distance on the ground, metres")
	fl.Uint64Var(&f.seed, "seed", 1, "RANSAC random seed")
	fl.StringVar(&f.lens, "lens", "", "JSON lens model {fx, fy, cx, cy, k1, k2, p1, p2, k3} to undistort pixels")
	fl.StringVar(&f.geometry, "geometry", "", "JSON file of zones and lines to add")
	fl.BoolVar(&f.force, "force", false, "overwrite --out if it exists")
	return cmd
}

func runSolve(cmd *cobra.Command, f *solveFlags) error {
	fl := cmd.Flags()
	switch {
	case f.points == "" || f.out == "":
		return errors.New("calibrate solve: --points and --out are required")
	case f.overlay != "" && f.image == "":
		return errors.New("calibrate solve: --overlay needs --image (the frame to draw on)")
	case fl.Changed("lat") != fl.Changed("lon"):
		return errors.New("calibrate solve: give both --lat and --lon")
	case fl.Changed("heading") && !fl.Changed("lat"):
		return errors.New("calibrate solve: --heading needs --lat and --lon")
	}
	if _, err := os.Stat(f.out); err == nil && !f.force {
		return fmt.Errorf("calibrate solve: %s exists (use --force to overwrite)", f.out)
	}
	opt := calibration.Options{
		DeviceID: f.device,
		Image:    calibration.ImageSize{Width: f.width, Height: f.height},
		Solve:    calibration.SolveOptions{InlierThresholdM: f.threshold, Seed: f.seed},
	}
	if !(f.threshold > 0) {
		return fmt.Errorf("calibrate solve: --threshold must be positive, got %g", f.threshold)
	}
	if fl.Changed("lat") {
		opt.Location = &calibration.Location{Lat: f.lat, Lon: f.lon, HeadingDeg: f.heading}
	}
	var frame image.Image
	if f.image != "" {
		img, err := readImage(f.image)
		if err != nil {
			return err
		}
		frame = img
		b := img.Bounds()
		if (f.width != 0 && f.width != b.Dx()) || (f.height != 0 && f.height != b.Dy()) {
			return fmt.Errorf("calibrate solve: --width/--height %dx%d disagree with %s (%dx%d)", f.width, f.height, f.image, b.Dx(), b.Dy())
		}
		opt.Image = calibration.ImageSize{Width: b.Dx(), Height: b.Dy()}
	} else if f.width <= 0 || f.height <= 0 {
		return errors.New("calibrate solve: the image size is unknown: give --image or --width and --height")
	}
	if f.lens != "" {
		var d calibration.Distortion
		if err := readStrictJSON(f.lens, &d); err != nil {
			return fmt.Errorf("calibrate solve: --lens: %w", err)
		}
		opt.Distortion = &d
	}
	pairs, lines, err := readPoints(f.points)
	if err != nil {
		return err
	}
	cal, err := calibration.New(pairs, opt)
	if err != nil {
		return describePointError(err, f.points, lines)
	}
	if f.geometry != "" {
		if err := addGeometry(cal, f.geometry); err != nil {
			return err
		}
	}
	printSolution(cmd.OutOrStdout(), cal, lines)
	if err := cal.Save(f.out); err != nil {
		return fmt.Errorf("calibrate solve: %w", err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "\nWrote %s (%s)\n", f.out, cal.Hash)
	if f.overlay != "" {
		if err := writeOverlay(f.overlay, frame, cal); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s\n", f.overlay)
	}
	return nil
}

func readPoints(path string) ([]calibration.PointPair, []int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("calibrate solve: %w", err)
	}
	defer fh.Close()
	pairs, lines, err := calibration.ReadPointsCSV(fh)
	if err != nil {
		return nil, nil, fmt.Errorf("calibrate solve: %s: %w", path, err)
	}
	return pairs, lines, nil
}

// describePointError names the CSV lines of the points an error is about.
func describePointError(err error, path string, lines []int) error {
	var pe *calibration.PointError
	if !errors.As(err, &pe) {
		return fmt.Errorf("calibrate solve: %s: %w", path, err)
	}
	names := make([]string, 0, len(pe.Points))
	for _, i := range pe.Points {
		if i >= 0 && i < len(lines) {
			names = append(names, fmt.Sprint(lines[i]))
		}
	}
	word := "line"
	if len(names) > 1 {
		word = "lines"
	}
	return fmt.Errorf("calibrate solve: %s: %s %s: %s: %w", path, word, strings.Join(names, ", "), pe.Reason, pe.Err)
}

// geometryFile is the --geometry input.
type geometryFile struct {
	Zones []calibration.Zone `json:"zones"`
	Lines []calibration.Line `json:"lines"`
}

func addGeometry(cal *calibration.Calibration, path string) error {
	var g geometryFile
	if err := readStrictJSON(path, &g); err != nil {
		return fmt.Errorf("calibrate solve: --geometry: %w", err)
	}
	for _, z := range g.Zones {
		if err := cal.AddZone(z); err != nil {
			return fmt.Errorf("calibrate solve: %s: %w", path, err)
		}
	}
	for _, l := range g.Lines {
		if err := cal.AddLine(l); err != nil {
			return fmt.Errorf("calibrate solve: %s: %w", path, err)
		}
	}
	return nil
}

func readStrictJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readImage(path string) (image.Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %w", err)
	}
	defer fh.Close()
	img, _, err := image.Decode(fh)
	if err != nil {
		return nil, fmt.Errorf("calibrate: %s: decode: %w", path, err)
	}
	return img, nil
}

func writeOverlay(path string, frame image.Image, cal *calibration.Calibration) error {
	img, err := overlay.DrawCalibration(frame, cal, overlay.Options{})
	if err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("calibrate: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("calibrate: %w", err)
	}
	return nil
}

// printSolution prints the fit and every point's residual.
func printSolution(w io.Writer, cal *calibration.Calibration, lines []int) {
	r := cal.Reprojection
	n := len(cal.Points)
	switch cal.Solver.Method {
	case "dlt":
		fmt.Fprintf(w, "Solved from %d points (exact four-point fit: add more points to measure the error)\n", n)
	default:
		fmt.Fprintf(w, "Solved from %d points (RANSAC, inlier threshold %g m): %d inliers, %s\n",
			n, cal.Solver.InlierThresholdM, r.Inliers, plural(n-r.Inliers, "outlier"))
	}
	fmt.Fprintf(w, "Reprojection error on the ground: RMS %.3f m, max %.3f m\n\n", r.RMSM, r.MaxM)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "#\tline\tu\tv\tx\ty\tresidual_m\t\t")
	for i, p := range cal.Points {
		res, note := fmt.Sprintf("%.3f", p.ResidualM), ""
		if p.ResidualM < 0 {
			res = "-"
		}
		if p.Outlier {
			note = "OUTLIER"
		}
		line := ""
		if i < len(lines) {
			line = fmt.Sprint(lines[i])
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%.1f\t%.3f\t%.3f\t%s\t%s\t\n", i+1, line, p.U, p.V, p.X, p.Y, res, note)
	}
	tw.Flush()
}

func newCalibrateCheckCmd() *cobra.Command {
	var path, img, out string
	cmd := &cobra.Command{
		Use:   "check --calibration cal.json [--image frame.jpg --overlay overlay.png]",
		Short: "Load and validate a calibration file and print its summary",
		Long: `Check loads a calibration file, validates every field and the consistency between
them (homography and inverse, residuals, zones in pixels and metres, content
hash) and prints a summary. With --image and --overlay it draws the calibration
on a current frame, to confirm the camera has not moved.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if path == "" {
				return errors.New("calibrate check: --calibration is required")
			}
			if out != "" && img == "" {
				return errors.New("calibrate check: --overlay needs --image (the frame to draw on)")
			}
			cal, err := calibration.Load(path)
			if err != nil {
				return fmt.Errorf("calibrate check: %w", err)
			}
			printSummary(cmd.OutOrStdout(), path, cal)
			if out != "" {
				frame, err := readImage(img)
				if err != nil {
					return err
				}
				if err := writeOverlay(out, frame, cal); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Wrote %s\n", out)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "calibration", "", "calibration file to check")
	cmd.Flags().StringVar(&img, "image", "", "current frame to draw the calibration on")
	cmd.Flags().StringVar(&out, "overlay", "", "PNG to write with the calibration drawn on --image")
	return cmd
}

// printSummary describes a valid calibration.
func printSummary(w io.Writer, path string, c *calibration.Calibration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s:\tvalid calibration, format version %d\n", filepath.Base(path), c.Version)
	dev := c.DeviceID
	if dev == "" {
		dev = "(none: the agent cannot check it belongs to this camera)"
	}
	fmt.Fprintf(tw, "device:\t%s\n", dev)
	fmt.Fprintf(tw, "image:\t%dx%d\n", c.Image.Width, c.Image.Height)
	fmt.Fprintf(tw, "created:\t%s\n", c.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	if l := c.Location; l != nil {
		fmt.Fprintf(tw, "location:\t%.6f, %.6f, heading %g°\n", l.Lat, l.Lon, l.HeadingDeg)
	}
	if d := c.Distortion; d != nil {
		fmt.Fprintf(tw, "lens model:\tfx %g fy %g cx %g cy %g k1 %g k2 %g p1 %g p2 %g k3 %g\n", d.FX, d.FY, d.CX, d.CY, d.K1, d.K2, d.P1, d.P2, d.K3)
	}
	r := c.Reprojection
	fmt.Fprintf(tw, "points:\t%d (%d inliers, %s)\n", len(c.Points), r.Inliers, c.Solver.Method)
	fmt.Fprintf(tw, "reprojection:\tRMS %.3f m, max %.3f m\n", r.RMSM, r.MaxM)
	centre := calibration.Point{X: float64(c.Image.Width) / 2, Y: float64(c.Image.Height) / 2}
	if j, err := c.Jacobian(centre); err == nil {
		fmt.Fprintf(tw, "scale at centre:\t%.3f m per pixel across, %.3f m per pixel down\n",
			math.Hypot(j[0][0], j[1][0]), math.Hypot(j[0][1], j[1][1]))
	}
	for _, z := range c.Zones {
		extra := ""
		if z.Kind == calibration.ZoneSpeed {
			extra = fmt.Sprintf(", limit %g km/h", z.SpeedLimitKmh)
		}
		fmt.Fprintf(tw, "zone:\t%s (%s%s, %d vertices)\n", z.Name, z.Kind, extra, len(z.Ground))
	}
	for _, l := range c.Lines {
		fmt.Fprintf(tw, "line:\t%s (%s, %d vertices)\n", l.Name, l.Kind, len(l.Ground))
	}
	fmt.Fprintf(tw, "hash:\t%s\n", c.Hash)
	tw.Flush()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
