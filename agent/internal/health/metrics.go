package health

import (
	"bufio"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// metricsContentType is the Prometheus text exposition format 0.0.4.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// expo writes the Prometheus text exposition format.
type expo struct {
	w   *bufio.Writer
	buf []byte
}

// family writes the HELP and TYPE lines of a metric family.
func (e *expo) family(name, typ, help string) {
	e.w.WriteString("# HELP ")
	e.w.WriteString(name)
	e.w.WriteByte(' ')
	e.w.WriteString(escapeHelp(help))
	e.w.WriteString("\n# TYPE ")
	e.w.WriteString(name)
	e.w.WriteByte(' ')
	e.w.WriteString(typ)
	e.w.WriteByte('\n')
}

// sample writes one sample line; labels alternate name, value.
func (e *expo) sample(name string, v float64, labels ...string) {
	e.w.WriteString(name)
	if len(labels) > 0 {
		e.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				e.w.WriteByte(',')
			}
			e.w.WriteString(labels[i])
			e.w.WriteString(`="`)
			e.w.WriteString(escapeLabel(labels[i+1]))
			e.w.WriteByte('"')
		}
		e.w.WriteByte('}')
	}
	e.w.WriteByte(' ')
	e.buf = appendValue(e.buf[:0], v)
	e.w.Write(e.buf)
	e.w.WriteByte('\n')
}

// appendValue formats a sample value as Prometheus expects (+Inf, -Inf, NaN).
func appendValue(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

var (
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
)

// escapeLabel escapes a label value: backslash, double quote and newline.
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// escapeHelp escapes HELP text: backslash and newline.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// WriteMetrics writes every metric in the Prometheus text format.
func (r *Registry) WriteMetrics(w io.Writer) error {
	e := &expo{w: bufio.NewWriter(w)}
	cams := r.cameraList()
	type camSnap struct {
		id      string
		st      CameraState
		frames  int64
		dropped int64
	}
	snaps := make([]camSnap, len(cams))
	active := 0
	for i, c := range cams {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		snaps[i] = camSnap{id: c.id, st: st, frames: c.frames.Load(), dropped: c.dropped.Load()}
		if st.State == StateStreaming {
			active++
		}
	}

	r.cmu.Lock()
	infKeys := make([]infractionKey, 0, len(r.infractions))
	for k := range r.infractions {
		infKeys = append(infKeys, k)
	}
	infVals := make(map[infractionKey]int64, len(infKeys))
	for _, k := range infKeys {
		infVals[k] = r.infractions[k]
	}
	kinds := make([]string, 0, len(r.uploadFails))
	failVals := make(map[string]int64, len(r.uploadFails))
	for k, v := range r.uploadFails {
		kinds = append(kinds, k)
		failVals[k] = v
	}
	r.cmu.Unlock()
	sort.Slice(infKeys, func(i, j int) bool {
		if infKeys[i].typ != infKeys[j].typ {
			return infKeys[i].typ < infKeys[j].typ
		}
		return infKeys[i].device < infKeys[j].device
	})
	sort.Strings(kinds)

	e.family("infractions_detected_total", "counter", "Total number of infractions detected")
	for _, k := range infKeys {
		e.sample("infractions_detected_total", float64(infVals[k]), "type", k.typ, "device_id", k.device)
	}

	e.family("frames_processed_total", "counter", "Total number of frames processed")
	for _, s := range snaps {
		e.sample("frames_processed_total", float64(s.frames), "device_id", s.id)
	}

	r.mu.RLock()
	stages := make([]string, 0, len(r.stages))
	hists := make(map[string]*histogram, len(r.stages))
	for k, h := range r.stages {
		stages = append(stages, k)
		hists[k] = h
	}
	r.mu.RUnlock()
	sort.Strings(stages)
	e.family("inference_latency_seconds", "histogram", "Latency of inference pipeline")
	for _, st := range stages {
		h := hists[st]
		cum, sum, count := h.snapshot()
		for i, ub := range h.bounds {
			e.sample("inference_latency_seconds_bucket", float64(cum[i]), "stage", st, "le", string(appendValue(nil, ub)))
		}
		e.sample("inference_latency_seconds_bucket", float64(count), "stage", st, "le", "+Inf")
		e.sample("inference_latency_seconds_sum", sum, "stage", st)
		e.sample("inference_latency_seconds_count", float64(count), "stage", st)
	}

	e.family("active_streams", "gauge", "Number of active camera streams")
	e.sample("active_streams", float64(active))

	e.family("camera_fps", "gauge", "Recent delivered frame rate per camera")
	for _, s := range snaps {
		e.sample("camera_fps", s.st.FPS, "device_id", s.id)
	}

	e.family("camera_decode_errors_total", "counter", "Packets the decoder rejected and damaged pictures per camera")
	for _, s := range snaps {
		e.sample("camera_decode_errors_total", float64(s.st.DecodeErrors), "device_id", s.id)
	}

	e.family("outbox_depth", "gauge", "Events waiting in the outbox")
	e.sample("outbox_depth", float64(r.outboxDepth.Load()))

	e.family("outbox_bytes", "gauge", "Bytes held by events waiting in the outbox")
	e.sample("outbox_bytes", float64(r.outboxBytes.Load()))

	e.family("upload_failures_total", "counter", "Failed uploads by kind")
	for _, k := range kinds {
		e.sample("upload_failures_total", float64(failVals[k]), "kind", k)
	}

	e.family("ws_messages_dropped_total", "counter", "Live-stream messages dropped for slow WebSocket clients")
	for _, s := range snaps {
		e.sample("ws_messages_dropped_total", float64(s.dropped), "device_id", s.id)
	}
	r.writeFleetMetrics(e, cams)
	return e.w.Flush()
}
