package infer

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/vigia-pe/vigia/shared/modelmanifest"
	ort "github.com/yalue/onnxruntime_go"
)

// engine runs one inference over preallocated buffers: input holds batch
// items of the model input, outputs the output tensors in manifest order.
// The ONNX Runtime implementation binds these buffers to the session once;
// tests substitute a fake run.
type engine struct {
	batch   int
	input   []float32
	outputs [][]float32
	run     func() error
	close   func() error
}

// checkWeights verifies the weights file, telling the operator where to get
// a missing one.
func checkWeights(m *modelmanifest.Manifest, modelsDir string) error {
	err := m.CheckWeights(modelsDir)
	var mw *modelmanifest.MissingWeightsError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &mw):
		return fmt.Errorf("infer: %w: copy it from ../shared/models or set AGENT_MODELS_DIR", err)
	default:
		return fmt.Errorf("infer: %w", err)
	}
}

// newORTEngine checks the model's declared inputs and outputs against the
// manifest, then builds a session with tensors bound for
// a batch size: the number of views per frame when the model's batch
// dimension is dynamic, else the model's fixed batch (views are then run in
// several passes).
func newORTEngine(cfg Config, m *modelmanifest.Manifest, modelsDir string, dec decoder, views int) (*engine, error) {
	path := m.WeightsPath(modelsDir)
	ins, outs, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("infer: read inputs/outputs of %s: %w", path, err)
	}
	inInfo, ok := findInfo(ins, m.Input.Name)
	if !ok {
		return nil, fmt.Errorf("infer: %s has no input %q (model inputs: %v)", path, m.Input.Name, infoNames(ins))
	}
	if len(ins) != 1 {
		return nil, fmt.Errorf("infer: %s has %d inputs, only single-input models are supported", path, len(ins))
	}
	if inInfo.DataType != ort.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("infer: %s input %q is %v, want float32", path, m.Input.Name, inInfo.DataType)
	}
	if !dimsMatch(inInfo.Dimensions, m.Input.Shape) {
		return nil, fmt.Errorf("infer: %s input %q has shape %v, manifest %s@%s says %v",
			path, m.Input.Name, inInfo.Dimensions, m.Name, m.Version, m.Input.Shape)
	}
	batch := int(inInfo.Dimensions[0])
	if batch < 1 {
		batch = views
	}
	want := dec.outputShapes(batch)
	outNames := make([]string, len(m.Outputs))
	for i, o := range m.Outputs {
		info, ok := findInfo(outs, o.Name)
		if !ok {
			return nil, fmt.Errorf("infer: %s has no output %q (model outputs: %v)", path, o.Name, infoNames(outs))
		}
		if !dimsMatch(info.Dimensions, want[i]) {
			return nil, fmt.Errorf("infer: %s output %q has shape %v, the %s decoder expects %v",
				path, o.Name, info.Dimensions, m.Decoder.Kind, want[i])
		}
		outNames[i] = o.Name
	}

	e := &engine{batch: batch}
	var values []ort.Value
	cleanup := func() {
		for _, v := range values {
			v.Destroy()
		}
	}
	inShape := ort.NewShape(int64(batch), 3, m.Input.Shape[2], m.Input.Shape[3])
	in, err := ort.NewEmptyTensor[float32](inShape)
	if err != nil {
		return nil, fmt.Errorf("infer: input tensor %v: %w", inShape, err)
	}
	values = append(values, in)
	e.input = in.GetData()
	outValues := make([]ort.Value, len(want))
	for i, s := range want {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(s...))
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("infer: output tensor %v: %w", s, err)
		}
		values = append(values, t)
		outValues[i] = t
		e.outputs = append(e.outputs, t.GetData())
	}

	opts, err := sessionOptions(cfg)
	if err != nil {
		cleanup()
		return nil, err
	}
	defer opts.Destroy()
	sess, err := ort.NewAdvancedSession(path, []string{m.Input.Name}, outNames, []ort.Value{in}, outValues, opts)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("infer: load %s: %w", path, err)
	}
	e.run = sess.Run
	e.close = func() error {
		err := sess.Destroy()
		cleanup()
		return err
	}
	return e, nil
}

// sessionOptions applies threads and the execution provider.
func sessionOptions(cfg Config) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("infer: session options: %w", err)
	}
	fail := func(err error) (*ort.SessionOptions, error) {
		opts.Destroy()
		return nil, err
	}
	if cfg.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
			return fail(fmt.Errorf("infer: set intra-op threads %d: %w", cfg.IntraOpThreads, err))
		}
	}
	// One graph runs at a time per camera: inter-op parallelism only adds threads.
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return fail(fmt.Errorf("infer: set inter-op threads: %w", err))
	}
	if err := opts.SetLogSeverityLevel(ort.LoggingLevelError); err != nil {
		return fail(fmt.Errorf("infer: set log severity: %w", err))
	}
	device := strconv.Itoa(cfg.DeviceID)
	switch cfg.provider() {
	case ProviderCPU:
	case ProviderCUDA:
		if err := appendCUDA(opts, device); err != nil {
			return fail(err)
		}
	case ProviderTensorRT:
		trt, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return fail(providerError(ProviderTensorRT, err))
		}
		defer trt.Destroy()
		o := map[string]string{"device_id": device}
		if cfg.TensorRTCacheDir != "" {
			o["trt_engine_cache_enable"] = "1"
			o["trt_engine_cache_path"] = cfg.TensorRTCacheDir
		}
		if cfg.TensorRTFP16 {
			o["trt_fp16_enable"] = "1"
		}
		if err := trt.Update(o); err != nil {
			return fail(providerError(ProviderTensorRT, err))
		}
		if err := opts.AppendExecutionProviderTensorRT(trt); err != nil {
			return fail(providerError(ProviderTensorRT, err))
		}
		// Nodes TensorRT cannot take fall back to CUDA, then CPU.
		if err := appendCUDA(opts, device); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("infer: unknown execution provider %q", cfg.Provider))
	}
	return opts, nil
}

func appendCUDA(opts *ort.SessionOptions, device string) error {
	cuda, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return providerError(ProviderCUDA, err)
	}
	defer cuda.Destroy()
	if err := cuda.Update(map[string]string{"device_id": device}); err != nil {
		return providerError(ProviderCUDA, err)
	}
	if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
		return providerError(ProviderCUDA, err)
	}
	return nil
}

// ErrProviderUnavailable is wrapped by errors about an execution provider
// that this ONNX Runtime build or machine cannot use.
var ErrProviderUnavailable = errors.New("execution provider unavailable")

func providerError(p string, err error) error {
	return fmt.Errorf("infer: %w: %q needs an ONNX Runtime build with libonnxruntime_providers_shared.so and "+
		"libonnxruntime_providers_%s.so beside libonnxruntime.so.1 and an NVIDIA GPU with its drivers "+
		"(use provider %q on machines without one): %w", ErrProviderUnavailable, p, p, ProviderCPU, err)
}

func findInfo(infos []ort.InputOutputInfo, name string) (ort.InputOutputInfo, bool) {
	for _, i := range infos {
		if i.Name == name {
			return i, true
		}
	}
	return ort.InputOutputInfo{}, false
}

func infoNames(infos []ort.InputOutputInfo) []string {
	n := make([]string, len(infos))
	for i, info := range infos {
		n[i] = info.Name
	}
	return n
}

// dimsMatch compares a model shape with an expected one; -1 on either side
// (a dynamic or unspecified dimension) matches anything.
func dimsMatch(model ort.Shape, want []int64) bool {
	if len(model) != len(want) {
		return false
	}
	for i := range model {
		if model[i] >= 0 && want[i] >= 0 && model[i] != want[i] {
			return false
		}
	}
	return true
}
