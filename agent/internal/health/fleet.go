package health

import (
	"maps"
	"sort"
	"time"
)

// Evidence is the evidence buffer's state for the metrics: the bytes it
// holds, the part of them not yet delivered to the hub (never deleted for
// space), and whether the quota alarm is raised.
type Evidence struct {
	Bytes, PinnedBytes int64
	Alarm              bool
}

// SetEvidenceSource sets the function read on every scrape for the
// evidence_* gauges (the service reads its quota janitor's last report).
func (r *Registry) SetEvidenceSource(fn func() Evidence) {
	r.mu.Lock()
	r.evidence = fn
	r.mu.Unlock()
}

// defaultInfractionBuckets bound infraction_latency_seconds: a live
// citation waits for the clip's 5 s post-window, so the interesting range
// is a few seconds either side of that.
var defaultInfractionBuckets = [...]float64{0.5, 1, 2.5, 5, 5.5, 6, 7, 8, 10, 15, 30, 60}

// ObserveInfractionLatency records, for a camera, the time from the
// capture of the frame that decided an infraction to the commit of its
// event (and evidence) to the outbox.
func (r *Registry) ObserveInfractionLatency(id string, d time.Duration) {
	c := r.camera(id, true)
	c.mu.Lock()
	if c.infLatency == nil {
		c.infLatency = newHistogram(defaultInfractionBuckets[:])
	}
	h := c.infLatency
	c.mu.Unlock()
	h.observe(d.Seconds())
}

// SetModels records the models a camera's pipeline loaded (name → version);
// nil clears them (the pipeline stopped).
func (r *Registry) SetModels(id string, models map[string]string) {
	c := r.camera(id, true)
	c.mu.Lock()
	c.models = maps.Clone(models)
	c.mu.Unlock()
}

// Models returns the union of the models the cameras' pipelines loaded.
func (r *Registry) Models() map[string]string {
	var out map[string]string
	for _, c := range r.cameraList() {
		c.mu.Lock()
		for k, v := range c.models {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
		c.mu.Unlock()
	}
	return out
}

// writeFleetMetrics writes the evidence, signal feed, infraction latency
// and camera clock families.
func (r *Registry) writeFleetMetrics(e *expo, cams []*camera) {
	r.mu.RLock()
	evFn := r.evidence
	r.mu.RUnlock()
	var ev Evidence
	if evFn != nil {
		ev = evFn()
	}
	e.family("evidence_bytes", "gauge", "Bytes of evidence packages and scratch files on disk")
	e.sample("evidence_bytes", float64(ev.Bytes))
	e.family("evidence_pinned_bytes", "gauge", "Bytes of evidence packages not yet delivered to the hub (never deleted for space)")
	e.sample("evidence_pinned_bytes", float64(ev.PinnedBytes))
	e.family("evidence_alarm", "gauge", "1 while undeliverable evidence exceeds the quota or the disk floor")
	e.sample("evidence_alarm", b2f(ev.Alarm))

	now := r.now()
	type camFleet struct {
		id     string
		signal *SignalState
		lat    *histogram
		st     CameraState
	}
	fl := make([]camFleet, len(cams))
	for i, c := range cams {
		c.mu.Lock()
		fl[i] = camFleet{id: c.id, signal: c.signal, lat: c.infLatency, st: c.state}
		c.mu.Unlock()
	}
	e.family("signal_feed_stale", "gauge", "1 while a camera's live signal feed (mqtt or http) is silent: red-light citing paused")
	for _, f := range fl {
		// Only feeds can be stale; a light region read from the picture cannot.
		if f.signal != nil && f.signal.StaleAfter > 0 {
			e.sample("signal_feed_stale", b2f(f.signal.Stale(now)), "camera_id", f.id)
		}
	}
	e.family("infraction_latency_seconds", "histogram",
		"Time from the capture of the frame that decided an infraction to the commit of its event and evidence")
	for _, f := range fl {
		if f.lat == nil {
			continue
		}
		cum, sum, count := f.lat.snapshot()
		for i, ub := range f.lat.bounds {
			e.sample("infraction_latency_seconds_bucket", float64(cum[i]), "device_id", f.id, "le", string(appendValue(nil, ub)))
		}
		e.sample("infraction_latency_seconds_bucket", float64(count), "device_id", f.id, "le", "+Inf")
		e.sample("infraction_latency_seconds_sum", sum, "device_id", f.id)
		e.sample("infraction_latency_seconds_count", float64(count), "device_id", f.id)
	}
	e.family("camera_clock_offset_seconds", "gauge",
		"Median of camera capture time (its NTP clock) minus local receive time, for cameras that send NTP")
	sort.Slice(fl, func(i, j int) bool { return fl[i].id < fl[j].id })
	for _, f := range fl {
		if f.st.ClockSynced && f.st.ClockOffsetMs != nil {
			e.sample("camera_clock_offset_seconds", *f.st.ClockOffsetMs/1000, "device_id", f.id)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (r *Registry) modelsOf(id string) map[string]string {
	c := r.camera(id, false)
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.models)
}
