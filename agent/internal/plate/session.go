package plate

import (
	"errors"
	"fmt"

	"github.com/vigia-pe/vigia/agent/internal/infer"
	ort "github.com/yalue/onnxruntime_go"
)

// session is one ONNX Runtime session bound to preallocated tensors.
type session struct {
	sess   *ort.AdvancedSession
	values []ort.Value
}

// tensorSpec names a tensor and its shape (batch dimension included).
type tensorSpec struct {
	name  string
	shape []int64
}

// newSession checks the model's declared tensors against the specs, then
// binds them. The infer package's session helper is tied to detector
// manifests, so plate models are loaded here, in the environment that rt
// started (infer.Runtime owns the process-wide ONNX Runtime environment).
func newSession(rt *infer.Runtime, path string, threads int, in tensorSpec, inUint8 bool, outs []tensorSpec) (*session, error) {
	if rt == nil {
		return nil, errors.New("plate: nil runtime")
	}
	if err := rt.Start(); err != nil {
		return nil, err
	}
	ins, outInfos, err := ort.GetInputOutputInfo(path)
	if err != nil {
		return nil, fmt.Errorf("plate: read inputs/outputs of %s: %w", path, err)
	}
	if err := checkSpec(path, ins, in); err != nil {
		return nil, err
	}
	for _, o := range outs {
		if err := checkSpec(path, outInfos, o); err != nil {
			return nil, err
		}
	}
	s := &session{}
	var inVal ort.Value
	if inUint8 {
		inVal, err = ort.NewEmptyTensor[uint8](ort.NewShape(in.shape...))
	} else {
		inVal, err = ort.NewEmptyTensor[float32](ort.NewShape(in.shape...))
	}
	if err != nil {
		return nil, fmt.Errorf("plate: input tensor %v: %w", in.shape, err)
	}
	s.values = append(s.values, inVal)
	outVals := make([]ort.Value, len(outs))
	outNames := make([]string, len(outs))
	for i, o := range outs {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(o.shape...))
		if err != nil {
			s.destroyValues()
			return nil, fmt.Errorf("plate: output tensor %v: %w", o.shape, err)
		}
		s.values = append(s.values, t)
		outVals[i] = t
		outNames[i] = o.name
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		s.destroyValues()
		return nil, fmt.Errorf("plate: session options: %w", err)
	}
	defer opts.Destroy()
	if threads > 0 {
		if err := opts.SetIntraOpNumThreads(threads); err != nil {
			s.destroyValues()
			return nil, fmt.Errorf("plate: set intra-op threads %d: %w", threads, err)
		}
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		s.destroyValues()
		return nil, fmt.Errorf("plate: set inter-op threads: %w", err)
	}
	s.sess, err = ort.NewAdvancedSession(path, []string{in.name}, outNames, []ort.Value{inVal}, outVals, opts)
	if err != nil {
		s.destroyValues()
		return nil, fmt.Errorf("plate: load %s: %w", path, err)
	}
	return s, nil
}

func checkSpec(path string, infos []ort.InputOutputInfo, want tensorSpec) error {
	for _, i := range infos {
		if i.Name != want.name {
			continue
		}
		ok := len(i.Dimensions) == len(want.shape)
		for k := 0; ok && k < len(want.shape); k++ {
			ok = i.Dimensions[k] < 0 || i.Dimensions[k] == want.shape[k]
		}
		if !ok {
			return fmt.Errorf("plate: %s tensor %q has shape %v, want %v", path, want.name, i.Dimensions, want.shape)
		}
		return nil
	}
	return fmt.Errorf("plate: %s has no tensor %q", path, want.name)
}

func (s *session) float32Input() []float32 { return s.values[0].(*ort.Tensor[float32]).GetData() }
func (s *session) uint8Input() []uint8     { return s.values[0].(*ort.Tensor[uint8]).GetData() }
func (s *session) output(i int) []float32  { return s.values[1+i].(*ort.Tensor[float32]).GetData() }

func (s *session) destroyValues() {
	for _, v := range s.values {
		v.Destroy()
	}
	s.values = nil
}

func (s *session) close() error {
	if s == nil || s.sess == nil {
		return nil
	}
	err := s.sess.Destroy()
	s.sess = nil
	s.destroyValues()
	return err
}
