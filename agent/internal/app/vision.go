// Package app wires the agent's subsystems together (sources, detector,
// pipeline, outputs). It is the only package that knows them all.
package app

import (
	"fmt"
	"image"
	"log/slog"
	"strconv"
	"strings"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	"github.com/vigia-pe/vigia/agent/internal/plate"
	"github.com/vigia-pe/vigia/calibration"
	"github.com/vigia-pe/vigia/models"
	"github.com/vigia-pe/vigia/shared/modelmanifest"
)

// DetectorOptions choose and tune the vehicle detector.
type DetectorOptions struct {
	Model      string // manifest name (e.g. yolox-nano) or manifest.json path
	ModelsDir  string
	ORTLibrary string
	Provider   string // cpu, cuda, tensorrt
	Threads    int
	Tiles      string // "CxR" (e.g. 3x2) or "" for none
	// WholeView adds the whole frame (or ROI) as an extra view when tiling.
	WholeView bool
	// Runtime, when set, is a started ONNX Runtime environment shared with
	// other detectors of the process (one per process); the Detector then
	// leaves it open on Close.
	Runtime *infer.Runtime
	// PlateFormat, when not empty, also loads the plate detector and reader
	// (peru, brazil or any) into the same ONNX Runtime environment.
	PlateFormat string
}

// ParseTiles reads "CxR".
func ParseTiles(s string) (cols, rows int, err error) {
	if s == "" {
		return 1, 1, nil
	}
	a, b, ok := strings.Cut(strings.ToLower(s), "x")
	if ok {
		cols, err = strconv.Atoi(a)
		if err == nil {
			rows, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || cols < 1 || rows < 1 || cols > 16 || rows > 16 {
		return 0, 0, fmt.Errorf("tiles %q must look like 3x2 (columns x rows, 1..16)", s)
	}
	return cols, rows, nil
}

// Detector owns the process's ONNX Runtime environment, the vehicle
// detector and, when asked for, the plate recognizer.
type Detector struct {
	*infer.ORTDetector
	// Plates is nil unless DetectorOptions.PlateFormat was set.
	Plates *plate.Recognizer
	// Manifest describes the vehicle detector's model.
	Manifest *modelmanifest.Manifest
	rt       *infer.Runtime
	ownRT    bool // the Detector started rt and closes it
}

// Close releases the models, then the runtime (plate models first: the
// runtime does not count them).
func (d *Detector) Close() error {
	var err error
	if d.Plates != nil {
		err = d.Plates.Close()
	}
	if cerr := d.ORTDetector.Close(); err == nil {
		err = cerr
	}
	if d.ownRT {
		if cerr := d.rt.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// NewDetector loads the model named by opt, restricted to roi (empty: whole frame).
func NewDetector(opt DetectorOptions, roi image.Rectangle, log *slog.Logger) (*Detector, error) {
	m, err := models.Manifest(opt.Model, opt.ModelsDir)
	if err != nil {
		return nil, err
	}
	cols, rows, err := ParseTiles(opt.Tiles)
	if err != nil {
		return nil, err
	}
	rt, own := opt.Runtime, false
	if rt == nil {
		rt, own = infer.NewRuntime(opt.ORTLibrary, log), true
		if err := rt.Start(); err != nil {
			return nil, err
		}
	}
	cfg := infer.Config{Provider: opt.Provider, IntraOpThreads: opt.Threads, ROI: roi}
	if cols*rows > 1 {
		cfg.Tiling = infer.Tiling{Cols: cols, Rows: rows, Overlap: 0.15, Whole: opt.WholeView}
	}
	det, err := infer.New(rt, cfg, m, opt.ModelsDir, log)
	if err != nil {
		if own {
			rt.Close()
		}
		return nil, err
	}
	d := &Detector{ORTDetector: det, rt: rt, ownRT: own, Manifest: m}
	if opt.PlateFormat != "" {
		f, err := plate.ParseFormat(opt.PlateFormat)
		if err == nil {
			d.Plates, err = plate.New(rt, plate.Config{ModelsDir: opt.ModelsDir, Threads: opt.Threads, Format: f}, log)
		}
		if err != nil {
			d.Close()
			return nil, err
		}
	}
	return d, nil
}

// RoadROI returns the bounding box, in pixels, of the calibration's road or
// ROI zones (the region worth detecting on), or an empty rectangle.
func RoadROI(cal *calibration.Calibration, width, height int) image.Rectangle {
	if cal == nil {
		return image.Rectangle{}
	}
	var r image.Rectangle
	for _, z := range cal.Zones {
		if z.Kind != calibration.ZoneRoad && z.Kind != calibration.ZoneROI {
			continue
		}
		for _, p := range z.Image {
			pt := image.Rect(int(p.X), int(p.Y), int(p.X)+1, int(p.Y)+1)
			if r.Empty() {
				r = pt
			} else {
				r = r.Union(pt)
			}
		}
	}
	return r.Intersect(image.Rect(0, 0, width, height))
}
