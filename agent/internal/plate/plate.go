// Package plate finds and reads licence plates: LPD-YuNet locates the plate
// (four corners) inside a padded vehicle crop, fast-plate-ocr reads it, and
// the plate format's positional character classes settle look-alike
// characters and give the official written form. Fusion combines the reads
// of one tracked vehicle over several frames.
//
// The models run in the process's single ONNX Runtime environment, owned by
// an infer.Runtime that the caller shares with the vehicle detector; close
// every plate model before closing that Runtime (its open-detector count
// does not see them).
package plate

import (
	"errors"
	"image"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/vigia-pe/vigia/agent/internal/frame"
	"github.com/vigia-pe/vigia/agent/internal/infer"
)

// Model files, relative to the models directory.
const (
	DetectorModel = "lpd-yunet/license_plate_detection_lpd_yunet_2023mar.onnx"
	ReaderModel   = "plate-ocr-cct-xs-v2-global/cct_xs_v2_global.onnx"
)

// Config configures a Recognizer.
type Config struct {
	// ModelsDir holds DetectorModel and ReaderModel.
	ModelsDir string
	// Threads is the ONNX Runtime intra-op thread count of each model.
	Threads int
	// Format selects the accepted plate layouts.
	Format Format
	// MinConfidence marks weaker reads unreadable (default 0.7).
	MinConfidence float32
	// Crop chooses how plates are cut out before reading.
	Crop CropMode
	// MinPlateScore drops weaker plate detections (default 0.5).
	MinPlateScore float32
	// VehiclePad enlarges a vehicle box on each side by this fraction of its
	// size before plate detection (default 0.1): YOLOX boxes can clip the
	// bumper where the plate sits.
	VehiclePad float32
}

// Result is one plate found and read.
type Result struct {
	Plate
	Read
}

// Recognizer detects and reads plates. Its methods are safe for concurrent
// use (each model serialises its own calls).
type Recognizer struct {
	cfg    Config
	det    *Detector
	rd     *Reader
	logger *slog.Logger
}

// New loads both models into the ONNX Runtime environment of rt. Close the
// Recognizer before closing rt.
func New(rt *infer.Runtime, cfg Config, logger *slog.Logger) (*Recognizer, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.VehiclePad <= 0 {
		cfg.VehiclePad = 0.1
	}
	det, err := NewDetector(rt, DetectorConfig{
		ModelPath: filepath.Join(cfg.ModelsDir, DetectorModel),
		Threads:   cfg.Threads,
		MinScore:  cfg.MinPlateScore,
	})
	if err != nil {
		return nil, err
	}
	rd, err := NewReader(rt, ReaderConfig{
		ModelPath:     filepath.Join(cfg.ModelsDir, ReaderModel),
		Threads:       cfg.Threads,
		Format:        cfg.Format,
		MinConfidence: cfg.MinConfidence,
		Crop:          cfg.Crop,
	})
	if err != nil {
		det.Close()
		return nil, err
	}
	logger = logger.With("component", "plate")
	logger.Info("plate recognizer loaded", "format", cfg.Format.String(), "threads", cfg.Threads)
	return &Recognizer{cfg: cfg, det: det, rd: rd, logger: logger}, nil
}

// VehicleRegion returns the part of vehicle box b where the plate detector
// should look, clipped to a w x h frame: the box enlarged by pad (a fraction
// of its width and height on each side), then brought towards the detector's
// 4:3 input shape so that the plate is not distorted by the stretch: a wide
// box grows in height around its centre, a tall box keeps its lower part
// (plates sit low on vehicles), down to half its height at most.
func VehicleRegion(b infer.Box, pad float32, w, h int) image.Rectangle {
	px, py := pad*b.W(), pad*b.H()
	x1, y1, x2, y2 := b.X1-px, b.Y1-py, b.X2+px, b.Y2+py
	want := (x2 - x1) * lpdH / lpdW
	switch hh := y2 - y1; {
	case hh < want:
		cy := (y1 + y2) / 2
		y1, y2 = cy-want/2, cy+want/2
	case hh > want:
		y1 = y2 - max(want, hh/2)
	}
	r := image.Rect(int(x1), int(y1), int(x2+0.999), int(y2+0.999))
	return r.Intersect(image.Rect(0, 0, w, h))
}

// Recognize detects plates in region of f (empty: the whole frame) and reads
// each one.
func (r *Recognizer) Recognize(f *frame.Frame, region image.Rectangle) ([]Result, error) {
	plates, err := r.det.Detect(f, region)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(plates))
	for _, p := range plates {
		rd, err := r.rd.Read(f, p)
		if err != nil {
			return nil, err
		}
		out = append(out, Result{Plate: p, Read: rd})
	}
	return out, nil
}

// RecognizeVehicle detects and reads plates in the padded crop of vehicle
// box v.
func (r *Recognizer) RecognizeVehicle(f *frame.Frame, v infer.Box) ([]Result, error) {
	reg := VehicleRegion(v, r.cfg.VehiclePad, f.Width, f.Height)
	if reg.Empty() {
		return nil, nil
	}
	return r.Recognize(f, reg)
}

// Close releases both models.
func (r *Recognizer) Close() error {
	return errors.Join(r.rd.Close(), r.det.Close())
}

// VehicleResult is a plate found in a frame, with the vehicle it was found on.
type VehicleResult struct {
	Result
	// Vehicle is the vehicle box the plate was found in; nil when the plate
	// was found by searching the whole frame.
	Vehicle *infer.Box
}

// RecognizeFrame reads the plates of every vehicle in f: plates are searched
// in each vehicle's padded crop (where the detector finds far more plates
// than on the whole picture), a plate seen in two overlapping vehicle crops
// is kept once (the higher-scoring detection), and when no vehicle is given
// or no plate is found on any vehicle the whole frame is searched.
func (r *Recognizer) RecognizeFrame(f *frame.Frame, vehicles []infer.Box) ([]VehicleResult, error) {
	var all []VehicleResult
	for i := range vehicles {
		res, err := r.RecognizeVehicle(f, vehicles[i])
		if err != nil {
			return nil, err
		}
		for _, p := range res {
			all = append(all, VehicleResult{Result: p, Vehicle: &vehicles[i]})
		}
	}
	if len(all) == 0 {
		res, err := r.Recognize(f, image.Rectangle{})
		if err != nil {
			return nil, err
		}
		for _, p := range res {
			all = append(all, VehicleResult{Result: p})
		}
	}
	return dedupe(all, r.det.cfg.NMSIoU), nil
}

// dedupe keeps the highest-scoring of plates whose boxes overlap by more
// than iou, preserving the order of the kept ones by score.
func dedupe(c []VehicleResult, iou float32) []VehicleResult {
	sort.SliceStable(c, func(a, b int) bool { return c[a].Score > c[b].Score })
	var keep []VehicleResult
	for _, p := range c {
		dup := false
		for _, k := range keep {
			if p.Box.IoU(k.Box) > iou {
				dup = true
				break
			}
		}
		if !dup {
			keep = append(keep, p)
		}
	}
	return keep
}
