package infer

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Runtime owns the process-wide ONNX Runtime environment.
//
// Why a value with sync.Once: onnxruntime_go keeps the loaded shared library
// and its environment in package variables of its own, and a second
// InitializeEnvironment fails. The environment is global whatever we do;
// Runtime confines that global to one value that the application creates
// once and passes to every detector (no package-level state here). sync.Once
// makes the lazy start safe when detectors are built concurrently; Close
// refuses while detectors are still open. Create exactly one per process.
type Runtime struct {
	libPath string
	logger  *slog.Logger

	once     sync.Once
	startErr error

	mu     sync.Mutex
	open   int  // detectors holding sessions
	closed bool // Close succeeded
	owned  bool // this Runtime initialised the environment
}

// NewRuntime returns a Runtime that will load the ONNX Runtime shared library
// at libraryPath (libonnxruntime.so.1) on first use.
func NewRuntime(libraryPath string, logger *slog.Logger) *Runtime {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runtime{libPath: libraryPath, logger: logger.With("component", "infer")}
}

// Start loads the library and creates the environment (log severity error:
// NanoDet's loader prints harmless warnings). Later calls return the first
// result.
func (r *Runtime) Start() error {
	r.once.Do(func() { r.startErr = r.start() })
	return r.startErr
}

func (r *Runtime) start() error {
	if _, err := os.Stat(r.libPath); err != nil {
		return fmt.Errorf("infer: ONNX Runtime library: %w (run scripts/setup.sh, which installs libonnxruntime.so.1)", err)
	}
	if ort.IsInitialized() {
		return errors.New("infer: ONNX Runtime is already initialised in this process: create one Runtime per process and share it")
	}
	ort.SetSharedLibraryPath(r.libPath)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		return fmt.Errorf("infer: initialise ONNX Runtime from %s: %w", r.libPath, err)
	}
	r.owned = true
	r.logger.Info("ONNX Runtime loaded", "library", r.libPath, "version", ort.GetVersion())
	return nil
}

// Version returns the loaded ONNX Runtime version ("" before Start).
func (r *Runtime) Version() string {
	if r.Start() != nil {
		return ""
	}
	return ort.GetVersion()
}

// acquire starts the runtime if needed and counts one more open user.
func (r *Runtime) acquire() error {
	if err := r.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("infer: runtime is closed")
	}
	r.open++
	return nil
}

func (r *Runtime) release() {
	r.mu.Lock()
	r.open--
	r.mu.Unlock()
}

// Close destroys the environment. It fails while detectors are open; a
// Runtime cannot be restarted (onnxruntime_go cannot reload the library).
func (r *Runtime) Close() error {
	// A Runtime closed before it ever started must not start afterwards.
	r.once.Do(func() { r.startErr = errors.New("infer: runtime is closed") })
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open > 0 {
		return fmt.Errorf("infer: close runtime: %d detector(s) still open", r.open)
	}
	if r.closed {
		return nil
	}
	r.closed = true
	if !r.owned {
		return nil
	}
	if err := ort.DestroyEnvironment(); err != nil {
		return fmt.Errorf("infer: destroy ONNX Runtime environment: %w", err)
	}
	return nil
}
