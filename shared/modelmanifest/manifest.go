// Package modelmanifest describes a detection model: which weights file to
// load (and its sha256), how to feed it, how to decode its outputs, the class
// names and which classes to keep. A manifest is plain JSON so that the agent,
// the hub and the over-the-air update flow read it with the standard library
// alone; it is the contract that makes "another model a manifest away".
//
// Compatibility rules: within schema version 1 changes are additive only;
// the decoder ignores unknown fields; enum values (decoder kinds, resize modes,
// output roles) are never reused or renamed.
//
// SchemaVersion history:
//   - 1 (2026-11-28): name, version, license, weights {file, sha256, bytes,
//     source}, input {name, shape, layout, dtype, colour_order, normalize,
//     resize}, outputs [{name, role, stride}], decoder {kind, strides,
//     reg_max}, classes, keep [{class, score}], nms {iou, class_agnostic,
//     groups}, max_detections. Decoder kinds "yolox", "nanodet".
package modelmanifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// SchemaVersion is the manifest format version this package reads and writes.
const SchemaVersion = 1

// MaxManifestBytes bounds an accepted manifest; larger inputs are refused.
const MaxManifestBytes = 1 << 20

// Decoder kinds. Never reuse or rename a value.
const (
	// DecoderYOLOX: one output [N, anchors, 5+classes] of undecoded grid
	// offsets (cx, cy, log w, log h), sigmoid objectness and class scores.
	DecoderYOLOX = "yolox"
	// DecoderNanoDet: per stride a score output [N, anchors, classes]
	// (sigmoid) and a box output [N, anchors, 4*(reg_max+1)] holding
	// distribution-focal-loss bins for the left, top, right, bottom distances.
	DecoderNanoDet = "nanodet"
)

// Output roles. Never reuse or rename a value.
const (
	RolePredictions = "predictions" // yolox: the single raw output
	RoleScores      = "scores"      // nanodet: class scores of one stride
	RoleBoxes       = "boxes"       // nanodet: box distributions of one stride
)

// Resize modes and alignments. Never reuse or rename a value.
const (
	ResizeLetterbox = "letterbox" // keep aspect ratio, pad the rest
	ResizeStretch   = "stretch"   // scale each axis to the input size
	AlignTopLeft    = "top_left"  // letterbox content at (0,0), pad right/bottom
	AlignCentre     = "centre"    // letterbox content centred, pad both sides
)

// Manifest describes one model. Field order follows the JSON files under models/.
type Manifest struct {
	// SchemaVersion is the manifest format version (SchemaVersion).
	SchemaVersion int `json:"schema_version" yaml:"schema_version"`
	// Name identifies the model family, e.g. "yolox-nano"; lowercase, [a-z0-9._-].
	Name string `json:"name" yaml:"name"`
	// Version is the model's own version (upstream release or our retrain tag).
	Version string `json:"version" yaml:"version"`
	// Description is free text for operators.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// License is the licence of the weights.
	License License `json:"license" yaml:"license"`
	// Weights locates and pins the weights file.
	Weights Weights `json:"weights" yaml:"weights"`
	// Input describes the single input tensor and how to fill it.
	Input Input `json:"input" yaml:"input"`
	// Outputs lists the output tensors the decoder reads, with their roles.
	Outputs []Output `json:"outputs" yaml:"outputs"`
	// Decoder says how to turn the outputs into boxes.
	Decoder Decoder `json:"decoder" yaml:"decoder"`
	// Classes are the class names in model output order.
	Classes []string `json:"classes" yaml:"classes"`
	// Keep lists the classes reported, each with its own score threshold;
	// every other class is dropped.
	Keep []Keep `json:"keep" yaml:"keep"`
	// NMS configures non-maximum suppression.
	NMS NMS `json:"nms" yaml:"nms"`
	// MaxDetections caps the detections per frame after NMS (0 = no cap).
	MaxDetections int `json:"max_detections,omitempty" yaml:"max_detections,omitempty"`
}

// License names the licence of the weights.
type License struct {
	// SPDX is the SPDX identifier, e.g. "Apache-2.0".
	SPDX string `json:"spdx" yaml:"spdx"`
	// Holder is the copyright holder.
	Holder string `json:"holder,omitempty" yaml:"holder,omitempty"`
	// File is the licence text's file name beside the weights, if any.
	File string `json:"file,omitempty" yaml:"file,omitempty"`
}

// Weights locates and pins the weights file.
type Weights struct {
	// File is a slash-separated path relative to the models directory,
	// e.g. "yolox-nano/yolox_nano.onnx".
	File string `json:"file" yaml:"file"`
	// SHA256 is the lowercase hex sha256 of the file.
	SHA256 string `json:"sha256" yaml:"sha256"`
	// Bytes is the file size (0 = not checked).
	Bytes int64 `json:"bytes,omitempty" yaml:"bytes,omitempty"`
	// Source says where the file comes from (upstream URL or release).
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
}

// Input describes the input tensor.
type Input struct {
	// Name is the tensor name in the graph.
	Name string `json:"name" yaml:"name"`
	// Shape is [batch, 3, height, width]; batch -1 means dynamic.
	Shape []int64 `json:"shape" yaml:"shape"`
	// Layout is "NCHW" (the only layout supported by schema 1).
	Layout string `json:"layout" yaml:"layout"`
	// DType is "float32" (the only element type supported by schema 1).
	DType string `json:"dtype" yaml:"dtype"`
	// ColourOrder is "BGR" or "RGB": the channel order of the input planes.
	ColourOrder string `json:"colour_order" yaml:"colour_order"`
	// Normalize is applied per channel (in ColourOrder): (v - mean) / std on
	// 0..255 values. Omitted means raw 0..255.
	Normalize *Normalize `json:"normalize,omitempty" yaml:"normalize,omitempty"`
	// Resize says how a picture is fitted to the input size.
	Resize Resize `json:"resize" yaml:"resize"`
}

// Normalize holds per-channel mean and standard deviation on the 0..255 scale.
type Normalize struct {
	Mean []float32 `json:"mean" yaml:"mean"`
	Std  []float32 `json:"std" yaml:"std"`
}

// Resize says how a picture is fitted to the input size.
type Resize struct {
	// Mode is ResizeLetterbox or ResizeStretch.
	Mode string `json:"mode" yaml:"mode"`
	// Align is AlignTopLeft or AlignCentre (letterbox only).
	Align string `json:"align,omitempty" yaml:"align,omitempty"`
	// Pad is the padding colour, one value per channel in ColourOrder (0..255).
	Pad []float32 `json:"pad,omitempty" yaml:"pad,omitempty"`
}

// Output names an output tensor and what it holds.
type Output struct {
	// Name is the tensor name in the graph.
	Name string `json:"name" yaml:"name"`
	// Role is RolePredictions, RoleScores or RoleBoxes.
	Role string `json:"role" yaml:"role"`
	// Stride is the feature-map stride this output belongs to (nanodet).
	Stride int `json:"stride,omitempty" yaml:"stride,omitempty"`
}

// Decoder says how to turn outputs into boxes.
type Decoder struct {
	// Kind is DecoderYOLOX or DecoderNanoDet.
	Kind string `json:"kind" yaml:"kind"`
	// Strides are the feature-map strides in output order, e.g. [8,16,32].
	Strides []int `json:"strides" yaml:"strides"`
	// RegMax is the largest distribution bin index (nanodet: 7 → 8 bins).
	RegMax int `json:"reg_max,omitempty" yaml:"reg_max,omitempty"`
}

// Keep is a reported class and its score threshold.
type Keep struct {
	Class string  `json:"class" yaml:"class"`
	Score float32 `json:"score" yaml:"score"`
}

// NMS configures non-maximum suppression.
type NMS struct {
	// IoU is the overlap above which the weaker box is suppressed.
	IoU float32 `json:"iou" yaml:"iou"`
	// ClassAgnostic suppresses across all classes (default: per class).
	ClassAgnostic bool `json:"class_agnostic,omitempty" yaml:"class_agnostic,omitempty"`
	// Groups lists sets of classes that suppress each other as if they were
	// one class, for classes a model confuses on the same object (a pickup
	// scored both "car" and "truck"); other classes stay per class.
	Groups [][]string `json:"groups,omitempty" yaml:"groups,omitempty"`
}

// Parse decodes a JSON manifest and validates it. Unknown fields are ignored.
func Parse(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestBytes {
		return nil, fmt.Errorf("modelmanifest: %d bytes exceeds the %d-byte limit", len(data), MaxManifestBytes)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("modelmanifest: decode: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("modelmanifest: decode: trailing data after the manifest object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Load reads and validates the manifest at path.
func Load(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("modelmanifest: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxManifestBytes+1))
	if err != nil {
		return nil, fmt.Errorf("modelmanifest: read %s: %w", path, err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return m, nil
}

// Encode returns the manifest as indented JSON.
func (m *Manifest) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("modelmanifest: encode: %w", err)
	}
	return append(b, '\n'), nil
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate reports every problem of the manifest at once (nil if none).
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if m.SchemaVersion != SchemaVersion {
		bad("schema_version %d is not supported (want %d)", m.SchemaVersion, SchemaVersion)
	}
	if !nameRE.MatchString(m.Name) {
		bad("name %q must match %s", m.Name, nameRE)
	}
	if strings.TrimSpace(m.Version) == "" {
		bad("version is empty")
	}
	if strings.TrimSpace(m.License.SPDX) == "" {
		bad("license.spdx is empty")
	}

	// Weights.
	switch f := m.Weights.File; {
	case f == "":
		bad("weights.file is empty")
	case strings.Contains(f, `\`) || path.IsAbs(f) || filepath.IsAbs(f) || path.Clean(f) != f ||
		f == ".." || strings.HasPrefix(f, "../"):
		bad("weights.file %q must be a clean slash-separated path inside the models directory", f)
	}
	if !sha256RE.MatchString(m.Weights.SHA256) {
		bad("weights.sha256 %q must be 64 lowercase hex digits", m.Weights.SHA256)
	}
	if m.Weights.Bytes < 0 {
		bad("weights.bytes %d is negative", m.Weights.Bytes)
	}

	// Input.
	in := m.Input
	if in.Name == "" {
		bad("input.name is empty")
	}
	if in.Layout != "NCHW" {
		bad("input.layout %q is not supported (want NCHW)", in.Layout)
	}
	if in.DType != "float32" {
		bad("input.dtype %q is not supported (want float32)", in.DType)
	}
	if len(in.Shape) != 4 {
		bad("input.shape %v must have 4 dimensions [batch,3,height,width]", in.Shape)
	} else {
		if b := in.Shape[0]; b != -1 && b < 1 {
			bad("input.shape batch %d must be -1 (dynamic) or >= 1", b)
		}
		if in.Shape[1] != 3 {
			bad("input.shape channels %d must be 3", in.Shape[1])
		}
		for i, name := range []string{"height", "width"} {
			if d := in.Shape[2+i]; d < 1 || d > 8192 {
				bad("input.shape %s %d must be in 1..8192", name, d)
			}
		}
	}
	if in.ColourOrder != "BGR" && in.ColourOrder != "RGB" {
		bad("input.colour_order %q must be BGR or RGB", in.ColourOrder)
	}
	if n := in.Normalize; n != nil {
		if len(n.Mean) != 3 || len(n.Std) != 3 {
			bad("input.normalize needs 3 mean and 3 std values (got %d, %d)", len(n.Mean), len(n.Std))
		} else {
			for i, s := range n.Std {
				if !(s > 0) || isInf(s) {
					bad("input.normalize.std[%d] = %v must be positive and finite", i, s)
				}
				if isNaNOrInf(n.Mean[i]) {
					bad("input.normalize.mean[%d] = %v must be finite", i, n.Mean[i])
				}
			}
		}
	}
	switch in.Resize.Mode {
	case ResizeLetterbox:
		if in.Resize.Align != AlignTopLeft && in.Resize.Align != AlignCentre {
			bad("input.resize.align %q must be %s or %s", in.Resize.Align, AlignTopLeft, AlignCentre)
		}
		if len(in.Resize.Pad) != 3 {
			bad("input.resize.pad needs 3 values (got %d)", len(in.Resize.Pad))
		}
		for i, p := range in.Resize.Pad {
			if !(p >= 0 && p <= 255) {
				bad("input.resize.pad[%d] = %v must be in 0..255", i, p)
			}
		}
	case ResizeStretch:
	default:
		bad("input.resize.mode %q must be %s or %s", in.Resize.Mode, ResizeLetterbox, ResizeStretch)
	}

	// Classes and keep.
	if len(m.Classes) == 0 {
		bad("classes is empty")
	}
	seen := make(map[string]bool, len(m.Classes))
	for i, c := range m.Classes {
		if strings.TrimSpace(c) == "" {
			bad("classes[%d] is empty", i)
		} else if seen[c] {
			bad("classes[%d] %q is a duplicate", i, c)
		}
		seen[c] = true
	}
	if len(m.Keep) == 0 {
		bad("keep is empty: no class would be reported")
	}
	kept := make(map[string]bool, len(m.Keep))
	for i, k := range m.Keep {
		if !seen[k.Class] {
			bad("keep[%d] class %q is not in classes", i, k.Class)
		}
		if kept[k.Class] {
			bad("keep[%d] class %q is listed twice", i, k.Class)
		}
		kept[k.Class] = true
		if !(k.Score > 0 && k.Score <= 1) {
			bad("keep[%d] score %v must be in (0,1]", i, k.Score)
		}
	}
	if !(m.NMS.IoU > 0 && m.NMS.IoU <= 1) {
		bad("nms.iou %v must be in (0,1]", m.NMS.IoU)
	}
	grouped := make(map[string]bool)
	for i, g := range m.NMS.Groups {
		if len(g) < 2 {
			bad("nms.groups[%d] needs at least 2 classes", i)
		}
		for _, c := range g {
			if !seen[c] {
				bad("nms.groups[%d] class %q is not in classes", i, c)
			}
			if grouped[c] {
				bad("nms.groups[%d] class %q is already in a group", i, c)
			}
			grouped[c] = true
		}
	}
	if m.MaxDetections < 0 {
		bad("max_detections %d is negative", m.MaxDetections)
	}

	// Decoder and outputs.
	if len(m.Decoder.Strides) == 0 {
		bad("decoder.strides is empty")
	}
	strides := make(map[int]bool, len(m.Decoder.Strides))
	for i, s := range m.Decoder.Strides {
		if s < 1 || s > 1024 {
			bad("decoder.strides[%d] = %d must be in 1..1024", i, s)
		}
		if strides[s] {
			bad("decoder.strides[%d] = %d is a duplicate", i, s)
		}
		strides[s] = true
		if len(in.Shape) == 4 && s > 0 && (in.Shape[2]%int64(s) != 0 || in.Shape[3]%int64(s) != 0) {
			bad("decoder.strides[%d] = %d does not divide the input size %dx%d", i, s, in.Shape[3], in.Shape[2])
		}
	}
	names := make(map[string]bool, len(m.Outputs))
	for i, o := range m.Outputs {
		if o.Name == "" {
			bad("outputs[%d].name is empty", i)
		} else if names[o.Name] {
			bad("outputs[%d].name %q is a duplicate", i, o.Name)
		}
		names[o.Name] = true
	}
	switch m.Decoder.Kind {
	case DecoderYOLOX:
		if len(m.Outputs) != 1 || m.Outputs[0].Role != RolePredictions {
			bad("decoder yolox needs exactly one output with role %q", RolePredictions)
		}
		if m.Decoder.RegMax != 0 {
			bad("decoder.reg_max is not used by yolox (got %d)", m.Decoder.RegMax)
		}
	case DecoderNanoDet:
		if m.Decoder.RegMax < 1 || m.Decoder.RegMax > 64 {
			bad("decoder.reg_max %d must be in 1..64 for nanodet", m.Decoder.RegMax)
		}
		for _, role := range []string{RoleScores, RoleBoxes} {
			for _, s := range m.Decoder.Strides {
				n := 0
				for _, o := range m.Outputs {
					if o.Role == role && o.Stride == s {
						n++
					}
				}
				if n != 1 {
					bad("decoder nanodet needs exactly one %q output for stride %d (got %d)", role, s, n)
				}
			}
		}
		for i, o := range m.Outputs {
			if (o.Role != RoleScores && o.Role != RoleBoxes) || !strides[o.Stride] {
				bad("outputs[%d] (%q): role %q stride %d is not a nanodet scores/boxes output of a listed stride",
					i, o.Name, o.Role, o.Stride)
			}
		}
	default:
		bad("decoder.kind %q must be %s or %s", m.Decoder.Kind, DecoderYOLOX, DecoderNanoDet)
	}

	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("modelmanifest: invalid manifest %q: %w", m.Name, errors.Join(errs...))
}

func isInf(f float32) bool      { return math.IsInf(float64(f), 0) }
func isNaNOrInf(f float32) bool { return math.IsNaN(float64(f)) || isInf(f) }

// ClassIndex returns the index of class name, or -1.
func (m *Manifest) ClassIndex(name string) int {
	for i, c := range m.Classes {
		if c == name {
			return i
		}
	}
	return -1
}

// InputSize returns the input width and height in pixels (0,0 if the shape is malformed).
func (m *Manifest) InputSize() (width, height int) {
	if len(m.Input.Shape) != 4 {
		return 0, 0
	}
	return int(m.Input.Shape[3]), int(m.Input.Shape[2])
}

// WeightsPath returns the weights file's path under modelsDir.
func (m *Manifest) WeightsPath(modelsDir string) string {
	return filepath.Join(modelsDir, filepath.FromSlash(m.Weights.File))
}

// MissingWeightsError reports a weights file absent from the models directory.
type MissingWeightsError struct {
	// ModelsDir is the directory searched; File the manifest's weights.file.
	ModelsDir, File string
	// Source is the manifest's weights.source (may be empty).
	Source string
	// Err is the underlying stat error.
	Err error
}

// Error says which file is missing from which directory.
func (e *MissingWeightsError) Error() string {
	s := fmt.Sprintf("models dir %s lacks %s", e.ModelsDir, e.File)
	if e.Source != "" {
		s += " (upstream: " + e.Source + ")"
	}
	return s
}

// Unwrap returns the stat error (errors.Is(err, fs.ErrNotExist) holds).
func (e *MissingWeightsError) Unwrap() error { return e.Err }

// CheckWeights verifies that the weights file exists under modelsDir and has
// the manifest's size and sha256. A missing file gives a *MissingWeightsError.
func (m *Manifest) CheckWeights(modelsDir string) error {
	p := m.WeightsPath(modelsDir)
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return &MissingWeightsError{ModelsDir: modelsDir, File: m.Weights.File, Source: m.Weights.Source, Err: err}
		}
		return fmt.Errorf("modelmanifest: open weights: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("modelmanifest: stat %s: %w", p, err)
	}
	if st.IsDir() {
		return fmt.Errorf("modelmanifest: weights %s is a directory", p)
	}
	if m.Weights.Bytes > 0 && st.Size() != m.Weights.Bytes {
		return fmt.Errorf("modelmanifest: weights %s has %d bytes, manifest %s@%s says %d",
			p, st.Size(), m.Name, m.Version, m.Weights.Bytes)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("modelmanifest: hash %s: %w", p, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Weights.SHA256 {
		return fmt.Errorf("modelmanifest: weights %s has sha256 %s, manifest %s@%s says %s",
			p, got, m.Name, m.Version, m.Weights.SHA256)
	}
	return nil
}
