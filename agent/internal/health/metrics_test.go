package health

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sample is one parsed exposition sample.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// key identifies a sample by name and sorted labels.
func (s sample) key() string { return seriesKey(s.name, s.labels) }

func seriesKey(name string, labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sortStrings(keys)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range keys {
		fmt.Fprintf(&b, "|%s=%s", k, labels[k])
	}
	return b.String()
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

type family struct{ typ, help string }

// parseExposition parses the text format strictly: HELP then TYPE once per
// family, before its samples; each sample belongs to a declared family.
func parseExposition(text string) (map[string]family, []sample, error) {
	fams := map[string]family{}
	var samples []sample
	if !strings.HasSuffix(text, "\n") {
		return nil, nil, errors.New("output does not end with a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n++
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if !ok {
				return nil, nil, fmt.Errorf("line %d: bad HELP", n)
			}
			if _, dup := fams[name]; dup {
				return nil, nil, fmt.Errorf("line %d: family %s declared twice", n, name)
			}
			fams[name] = family{help: help}
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, ok := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			f, seen := fams[name]
			if !ok || !seen || f.typ != "" {
				return nil, nil, fmt.Errorf("line %d: TYPE without HELP or repeated", n)
			}
			switch typ {
			case "counter", "gauge", "histogram", "summary", "untyped":
			default:
				return nil, nil, fmt.Errorf("line %d: bad type %q", n, typ)
			}
			f.typ = typ
			fams[name] = f
		case line == "" || strings.HasPrefix(line, "#"):
			return nil, nil, fmt.Errorf("line %d: unexpected %q", n, line)
		default:
			s, err := parseSample(line)
			if err != nil {
				return nil, nil, fmt.Errorf("line %d: %w", n, err)
			}
			base := s.name
			if f, ok := fams[base]; !ok || f.typ == "" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if f, ok := fams[strings.TrimSuffix(base, suf)]; ok && strings.HasSuffix(base, suf) && f.typ == "histogram" {
						base = strings.TrimSuffix(base, suf)
					}
				}
			}
			f, ok := fams[base]
			if !ok || f.typ == "" {
				return nil, nil, fmt.Errorf("line %d: sample %s of undeclared family", n, s.name)
			}
			if f.typ == "counter" && s.value < 0 {
				return nil, nil, fmt.Errorf("line %d: negative counter", n)
			}
			samples = append(samples, s)
		}
	}
	return fams, samples, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// parseSample parses `name{l="v",...} value`, unescaping label values.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name = line[:i]
	if !validName(s.name) {
		return s, fmt.Errorf("bad metric name %q", s.name)
	}
	rest := line[i:]
	if rest[0] == '{' {
		rest = rest[1:]
		for {
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq <= 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			lname := rest[:eq]
			if !validName(lname) {
				return s, fmt.Errorf("bad label name %q", lname)
			}
			rest = rest[eq+2:]
			var v strings.Builder
			closed := false
			for j := 0; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					switch rest[j] {
					case 'n':
						v.WriteByte('\n')
					case '\\', '"':
						v.WriteByte(rest[j])
					default:
						return s, fmt.Errorf("bad escape in %q", line)
					}
					continue
				}
				if c == '"' {
					rest = rest[j+1:]
					closed = true
					break
				}
				if c == '\n' {
					return s, errors.New("raw newline in label")
				}
				v.WriteByte(c)
			}
			if !closed {
				return s, fmt.Errorf("unterminated label value in %q", line)
			}
			if _, dup := s.labels[lname]; dup {
				return s, fmt.Errorf("duplicate label %s", lname)
			}
			s.labels[lname] = v.String()
			rest = strings.TrimPrefix(rest, ",")
		}
	}
	if !strings.HasPrefix(rest, " ") {
		return s, fmt.Errorf("no space before value in %q", line)
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(rest, " "), 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.value = v
	return s, nil
}

func scrape(t *testing.T, r *Registry) (map[string]family, map[string]float64, string) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteMetrics(&b); err != nil {
		t.Fatalf("WriteMetrics: %v", err)
	}
	fams, samples, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, b.String())
	}
	vals := map[string]float64{}
	for _, s := range samples {
		if _, dup := vals[s.key()]; dup {
			t.Fatalf("duplicate series %s", s.key())
		}
		vals[s.key()] = s.value
	}
	return fams, vals, b.String()
}

func TestMetricsFamilies(t *testing.T) {
	r := NewRegistry("CAM001")
	fams, _, _ := scrape(t, r)
	want := map[string]string{
		"infractions_detected_total": "counter",
		"frames_processed_total":     "counter",
		"inference_latency_seconds":  "histogram",
		"active_streams":             "gauge",
		"outbox_depth":               "gauge",
		"outbox_bytes":               "gauge",
		"upload_failures_total":      "counter",
		"ws_messages_dropped_total":  "counter",
		"evidence_bytes":             "gauge",
		"evidence_pinned_bytes":      "gauge",
		"evidence_alarm":             "gauge",
		"signal_feed_stale":          "gauge",
		"infraction_latency_seconds": "histogram",
	}
	for name, typ := range want {
		t.Run(name, func(t *testing.T) {
			f, ok := fams[name]
			if !ok {
				t.Fatalf("family %s missing", name)
			}
			if f.typ != typ {
				t.Errorf("type = %q, want %q", f.typ, typ)
			}
			if f.help == "" {
				t.Errorf("empty HELP")
			}
		})
	}
}

func TestMetricsCountersGrow(t *testing.T) {
	r := NewRegistry("CAM001", "CAM002")
	r.UpdateCamera("CAM001", CameraState{State: StateStreaming, FPS: 25})
	r.UpdateCamera("CAM002", CameraState{State: StateReconnecting})

	_, before, _ := scrape(t, r)
	r.AddFrames("CAM001", 7)
	r.AddFrames("CAM002", 1)
	r.AddInfraction("CAM001", "SPEED_VIOLATION")
	r.AddInfraction("CAM001", "SPEED_VIOLATION")
	r.AddInfraction("CAM002", "RED_LIGHT")
	r.AddUploadFailure("s3")
	r.SetOutbox(12, 3456)
	r.ObserveLatency("detection", 30*time.Millisecond)
	r.ObserveLatency("detection", 120*time.Millisecond)
	r.ObserveLatency("detection", 3*time.Second)
	r.ObserveLatency("ocr", 6*time.Millisecond)
	_, after, _ := scrape(t, r)

	tests := []struct {
		name   string
		series string
		labels map[string]string
		delta  float64 // after - before (before is 0 for new series)
	}{
		{"frames CAM001", "frames_processed_total", map[string]string{"device_id": "CAM001"}, 7},
		{"frames CAM002", "frames_processed_total", map[string]string{"device_id": "CAM002"}, 1},
		{"speed infractions", "infractions_detected_total", map[string]string{"type": "SPEED_VIOLATION", "device_id": "CAM001"}, 2},
		{"red light", "infractions_detected_total", map[string]string{"type": "RED_LIGHT", "device_id": "CAM002"}, 1},
		{"upload failures", "upload_failures_total", map[string]string{"kind": "s3"}, 1},
		{"outbox depth", "outbox_depth", nil, 12},
		{"outbox bytes", "outbox_bytes", nil, 3456},
		{"detection count", "inference_latency_seconds_count", map[string]string{"stage": "detection"}, 3},
		{"detection le 0.05", "inference_latency_seconds_bucket", map[string]string{"stage": "detection", "le": "0.05"}, 1},
		{"detection le 0.15", "inference_latency_seconds_bucket", map[string]string{"stage": "detection", "le": "0.15"}, 2},
		{"detection le 1", "inference_latency_seconds_bucket", map[string]string{"stage": "detection", "le": "1"}, 2},
		{"detection +Inf", "inference_latency_seconds_bucket", map[string]string{"stage": "detection", "le": "+Inf"}, 3},
		{"ocr le 0.01", "inference_latency_seconds_bucket", map[string]string{"stage": "ocr", "le": "0.01"}, 1},
		{"ocr le 0.005", "inference_latency_seconds_bucket", map[string]string{"stage": "ocr", "le": "0.005"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := seriesKey(tc.series, tc.labels)
			a, ok := after[k]
			if !ok {
				t.Fatalf("series %s missing after", k)
			}
			if got := a - before[k]; got != tc.delta {
				t.Errorf("%s grew by %v, want %v", k, got, tc.delta)
			}
		})
	}
	if got := after[seriesKey("active_streams", nil)]; got != 1 {
		t.Errorf("active_streams = %v, want 1", got)
	}
	sum := after[seriesKey("inference_latency_seconds_sum", map[string]string{"stage": "detection"})]
	if math.Abs(sum-3.15) > 1e-9 {
		t.Errorf("detection sum = %v, want 3.15", sum)
	}
}

func TestHistogramCumulative(t *testing.T) {
	r := NewRegistry()
	for i := range 200 {
		r.ObserveLatency("tracking", time.Duration(i)*7*time.Millisecond)
	}
	_, vals, _ := scrape(t, r)
	prev := -1.0
	for _, ub := range append(DefaultLatencyBuckets(), math.Inf(1)) {
		le := strconv.FormatFloat(ub, 'g', -1, 64)
		if math.IsInf(ub, 1) {
			le = "+Inf"
		}
		v, ok := vals[seriesKey("inference_latency_seconds_bucket", map[string]string{"stage": "tracking", "le": le})]
		if !ok {
			t.Fatalf("bucket le=%s missing", le)
		}
		if v < prev {
			t.Errorf("bucket le=%s = %v < previous %v", le, v, prev)
		}
		prev = v
	}
	if c := vals[seriesKey("inference_latency_seconds_count", map[string]string{"stage": "tracking"})]; c != prev || c != 200 {
		t.Errorf("count = %v, +Inf bucket = %v, want 200", c, prev)
	}
}

func TestMetricsLabelEscaping(t *testing.T) {
	tests := []struct{ name, id string }{
		{"quote", `CAM"1`},
		{"backslash", `CAM\1`},
		{"newline", "CAM\n1"},
		{"all", "a\\\"\n{}=,b"},
		{"unicode", "cámara-ñ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry()
			r.AddFrames(tc.id, 3)
			r.AddInfraction(tc.id, tc.id)
			_, vals, text := scrape(t, r)
			if got := vals[seriesKey("frames_processed_total", map[string]string{"device_id": tc.id})]; got != 3 {
				t.Errorf("frames for %q = %v, want 3\n%s", tc.id, got, text)
			}
			if got := vals[seriesKey("infractions_detected_total", map[string]string{"device_id": tc.id, "type": tc.id})]; got != 1 {
				t.Errorf("infractions for %q = %v, want 1", tc.id, got)
			}
		})
	}
}

func TestMetricsGolden(t *testing.T) {
	r := NewRegistry("CAM001", "CAM002")
	r.UpdateCamera("CAM001", CameraState{State: StateStreaming, FPS: 29.8, DecodeErrors: 2})
	r.UpdateCamera("CAM002", CameraState{State: StateUndecodable, EncryptionSuspected: true})
	r.AddFrames("CAM001", 1000)
	r.AddInfraction("CAM001", "SPEED_VIOLATION")
	r.AddInfraction("CAM001", "RED_LIGHT")
	r.AddUploadFailure("mqtt")
	r.AddUploadFailure("s3")
	r.AddUploadFailure("s3")
	r.SetOutbox(3, 2048)
	r.ObserveLatency("detection", 33*time.Millisecond)
	r.ObserveLatency("detection", 250*time.Millisecond)
	r.ObserveLatency("ocr", 7*time.Millisecond)
	r.SetEvidenceSource(func() Evidence { return Evidence{Bytes: 5 << 20, PinnedBytes: 3 << 20, Alarm: true} })
	r.now = func() time.Time { return time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC) }
	r.SetSignal("CAM001", SignalState{Source: "mqtt", Phase: "red", LastMessageAt: r.now().Add(-time.Second), StaleAfter: 10 * time.Second})
	r.SetSignal("CAM002", SignalState{Source: "http", StaleAfter: 10 * time.Second}) // never spoke
	r.ObserveInfractionLatency("CAM001", 5300*time.Millisecond)
	r.ObserveInfractionLatency("CAM001", 6100*time.Millisecond)
	off := -3.5
	r.UpdateCamera("CAM001", CameraState{State: StateStreaming, FPS: 29.8, DecodeErrors: 2, ClockSynced: true, ClockOffsetMs: &off})
	var b bytes.Buffer
	if err := r.WriteMetrics(&b); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("metrics differ from %s (run with -update after checking):\n%s", path, b.String())
	}
}

func FuzzEscapeLabel(f *testing.F) {
	for _, s := range []string{"", "CAM001", `a"b`, `a\b`, "a\nb", `\n`, `\"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		line := `m{l="` + escapeLabel(v) + `"} 1`
		s, err := parseSample(line)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		if s.labels["l"] != v {
			t.Fatalf("round trip %q -> %q", v, s.labels["l"])
		}
	})
}

func BenchmarkAddFrames(b *testing.B) {
	r := NewRegistry("CAM001")
	b.ReportAllocs()
	for b.Loop() {
		r.AddFrames("CAM001", 1)
	}
}

func BenchmarkObserveLatency(b *testing.B) {
	r := NewRegistry("CAM001")
	b.ReportAllocs()
	for b.Loop() {
		r.ObserveLatency("detection", 33*time.Millisecond)
	}
}

func BenchmarkWriteMetrics(b *testing.B) {
	r := NewRegistry()
	for i := range 8 {
		id := fmt.Sprintf("CAM%03d", i)
		r.UpdateCamera(id, CameraState{State: StateStreaming})
		r.AddFrames(id, 10)
		r.AddInfraction(id, "SPEED_VIOLATION")
	}
	for _, st := range []string{"detection", "tracking", "ocr"} {
		r.ObserveLatency(st, time.Millisecond)
	}
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := r.WriteMetrics(&buf); err != nil {
			b.Fatal(err)
		}
	}
}
