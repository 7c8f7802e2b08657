package health

import (
	"context"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Camera states reported by ingest (ingest.State.String()).
const (
	StateConnecting   = "connecting"
	StateStreaming    = "streaming"
	StateUndecodable  = "undecodable"
	StateReconnecting = "reconnecting"
	StateStopped      = "stopped"
)

// CameraState is one camera's latest status, as its pipeline reports it.
type CameraState struct {
	// State is the ingest state name (connecting, streaming, undecodable, reconnecting, stopped).
	State string
	// FPS is the recent delivered frame rate.
	FPS float64
	// LatencyMs is the recent capture-to-result latency.
	LatencyMs float64
	// DetectionsCount and InfractionsCount count since the camera started.
	DetectionsCount, InfractionsCount int64
	// LastFrameAt is the wall-clock time the last frame was delivered.
	LastFrameAt time.Time
	// StartedAt is when the camera's pipeline started (for uptime).
	StartedAt time.Time
	// DecodeErrors and Reconnects are the ingest counters.
	DecodeErrors, Reconnects int64
	// EncryptionSuspected is true when packets arrive but none decodes.
	EncryptionSuspected bool
	// ClockSynced is true when the camera sends its NTP time; ClockOffsetMs
	// is then the median (capture − receive time) over recent frames.
	ClockSynced   bool
	ClockOffsetMs *float64
}

// Check is a readiness probe registered by the caller; a nil error means ready.
type Check func(ctx context.Context) error

type namedCheck struct {
	name string
	fn   Check
}

type infractionKey struct{ typ, device string }

// camera is one registered camera: its state, counters and stream subscribers.
type camera struct {
	id string

	mu     sync.Mutex
	state  CameraState
	signal *SignalState // nil without a signal source
	limits *Limits      // nil until the service reports them
	models map[string]string
	// infLatency is infraction_latency_seconds; nil until the first infraction.
	infLatency *histogram

	frames  atomic.Int64
	dropped atomic.Int64 // WebSocket messages dropped for slow clients

	nsubs atomic.Int32
	subMu sync.Mutex
	subs  map[*client]struct{}
}

// Registry collects what the camera pipelines and the outbox report, for
// the HTTP endpoints. It is safe for concurrent use; the per-frame methods
// (AddFrames, ObserveLatency, Publish) take no exclusive lock once the
// camera and stage are known.
type Registry struct {
	now func() time.Time

	mu      sync.RWMutex
	cameras map[string]*camera
	stages  map[string]*histogram
	checks  []namedCheck
	// evidence is read on every scrape (nil: zero gauges).
	evidence func() Evidence

	buckets []float64

	cmu         sync.Mutex
	infractions map[infractionKey]int64
	uploadFails map[string]int64

	outboxDepth atomic.Int64
	outboxBytes atomic.Int64
}

// defaultLatencyBuckets are the inference_latency_seconds bucket bounds: the
// specification's (0.05 … 1 s) preceded by finer ones for fast stages.
var defaultLatencyBuckets = [...]float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0}

// DefaultLatencyBuckets returns the default histogram bucket upper bounds in seconds.
func DefaultLatencyBuckets() []float64 { return append([]float64(nil), defaultLatencyBuckets[:]...) }

// NewRegistry returns a registry expecting the given configured cameras;
// /ready stays 503 until each of them streams.
func NewRegistry(cameraIDs ...string) *Registry {
	r := &Registry{
		now:         time.Now,
		cameras:     make(map[string]*camera),
		stages:      make(map[string]*histogram),
		buckets:     DefaultLatencyBuckets(),
		infractions: make(map[infractionKey]int64),
		uploadFails: make(map[string]int64),
	}
	for _, id := range cameraIDs {
		r.AddCamera(id)
	}
	return r
}

// AddCamera declares a configured camera (idempotent).
func (r *Registry) AddCamera(id string) {
	r.camera(id, true)
}

// AddCheck registers a readiness check (e.g. "outbox writable").
func (r *Registry) AddCheck(name string, fn Check) {
	r.mu.Lock()
	r.checks = append(r.checks, namedCheck{name: name, fn: fn})
	r.mu.Unlock()
}

// camera returns the camera, creating it when create is set.
func (r *Registry) camera(id string, create bool) *camera {
	r.mu.RLock()
	c := r.cameras[id]
	r.mu.RUnlock()
	if c != nil || !create {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.cameras[id]; c == nil {
		c = &camera{id: id, subs: make(map[*client]struct{})}
		r.cameras[id] = c
	}
	return c
}

// UpdateCamera replaces a camera's reported state, declaring the camera if needed.
func (r *Registry) UpdateCamera(id string, st CameraState) {
	c := r.camera(id, true)
	c.mu.Lock()
	c.state = st
	c.mu.Unlock()
}

// CameraState returns a camera's last reported state and whether the camera is known.
func (r *Registry) CameraState(id string) (CameraState, bool) {
	c := r.camera(id, false)
	if c == nil {
		return CameraState{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state, true
}

// AddFrames adds n processed frames to a camera's frames_processed_total.
func (r *Registry) AddFrames(id string, n int64) {
	r.camera(id, true).frames.Add(n)
}

// AddInfraction counts one infraction of the given type (infractions_detected_total).
func (r *Registry) AddInfraction(id, infractionType string) {
	r.camera(id, true)
	r.cmu.Lock()
	r.infractions[infractionKey{infractionType, id}]++
	r.cmu.Unlock()
}

// AddUploadFailure counts one failed upload of the given kind (mqtt, s3, ...).
func (r *Registry) AddUploadFailure(kind string) {
	r.cmu.Lock()
	r.uploadFails[kind]++
	r.cmu.Unlock()
}

// SetOutbox sets the outbox gauges: pending entries and their bytes.
func (r *Registry) SetOutbox(depth, bytes int64) {
	r.outboxDepth.Store(depth)
	r.outboxBytes.Store(bytes)
}

// ObserveLatency records one duration of a pipeline stage (detection, tracking, ocr, ...).
func (r *Registry) ObserveLatency(stage string, d time.Duration) {
	r.mu.RLock()
	h := r.stages[stage]
	r.mu.RUnlock()
	if h == nil {
		r.mu.Lock()
		if h = r.stages[stage]; h == nil {
			h = newHistogram(r.buckets)
			r.stages[stage] = h
		}
		r.mu.Unlock()
	}
	h.observe(d.Seconds())
}

// cameraList returns the known cameras sorted by id.
func (r *Registry) cameraList() []*camera {
	r.mu.RLock()
	out := make([]*camera, 0, len(r.cameras))
	for _, c := range r.cameras {
		out = append(out, c)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// histogram is a fixed-bucket histogram updated with atomics.
type histogram struct {
	bounds  []float64
	counts  []atomic.Uint64 // per bucket (non-cumulative); last is +Inf
	count   atomic.Uint64
	sumBits atomic.Uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v
	h.counts[i].Add(1)
	for {
		old := h.sumBits.Load()
		if h.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
	h.count.Add(1)
}

// snapshot returns cumulative bucket counts, the sum and the count.
func (h *histogram) snapshot() (cum []uint64, sum float64, count uint64) {
	cum = make([]uint64, len(h.counts))
	var acc uint64
	for i := range h.counts {
		acc += h.counts[i].Load()
		cum[i] = acc
	}
	// The +Inf bucket must equal _count: report the bucket total as the count.
	return cum, math.Float64frombits(h.sumBits.Load()), acc
}
