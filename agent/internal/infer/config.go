package infer

import (
	"errors"
	"fmt"
	"image"
)

// Execution providers. "cpu" is the default; "cuda" and "tensorrt" are for
// the Jetson and need an ONNX Runtime build with those providers beside the
// library (libonnxruntime_providers_{shared,cuda,tensorrt}.so).
const (
	ProviderCPU      = "cpu"
	ProviderCUDA     = "cuda"
	ProviderTensorRT = "tensorrt"
)

// Config is the detector's per-camera configuration.
type Config struct {
	// Provider is ProviderCPU (default when empty), ProviderCUDA or ProviderTensorRT.
	Provider string
	// DeviceID is the GPU index for cuda/tensorrt.
	DeviceID int
	// IntraOpThreads is the number of threads one inference uses (0 = ONNX
	// Runtime's default, one per core).
	IntraOpThreads int
	// TensorRTCacheDir caches built TensorRT engines (they are specific to
	// the device and TensorRT version); empty disables the cache.
	TensorRTCacheDir string
	// TensorRTFP16 lets TensorRT run in half precision.
	TensorRTFP16 bool
	// ROI is the region of the frame to detect in, in source pixels (the
	// bounding box of the calibrated road region); zero means the whole frame.
	ROI image.Rectangle
	// Tiling splits the ROI into overlapping tiles for small, distant vehicles.
	Tiling Tiling
}

// Validate reports every problem of the configuration at once.
func (c Config) Validate() error {
	var errs []error
	switch c.Provider {
	case "", ProviderCPU, ProviderCUDA, ProviderTensorRT:
	default:
		errs = append(errs, fmt.Errorf("provider %q must be %s, %s or %s", c.Provider, ProviderCPU, ProviderCUDA, ProviderTensorRT))
	}
	if c.DeviceID < 0 {
		errs = append(errs, fmt.Errorf("device id %d is negative", c.DeviceID))
	}
	if c.IntraOpThreads < 0 || c.IntraOpThreads > 256 {
		errs = append(errs, fmt.Errorf("intra-op threads %d must be in 0..256", c.IntraOpThreads))
	}
	if c.ROI != (image.Rectangle{}) && c.ROI.Empty() {
		errs = append(errs, fmt.Errorf("roi %v is empty (use the zero rectangle for the whole frame)", c.ROI))
	}
	if c.ROI.Min.X < 0 || c.ROI.Min.Y < 0 {
		errs = append(errs, fmt.Errorf("roi %v has negative coordinates", c.ROI))
	}
	if err := c.Tiling.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("infer: invalid config: %w", errors.Join(errs...))
}

func (c Config) provider() string {
	if c.Provider == "" {
		return ProviderCPU
	}
	return c.Provider
}
