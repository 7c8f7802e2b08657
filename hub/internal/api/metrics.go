package api

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
)

// latencyBuckets are the upper bounds (seconds) of the request duration histogram.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

type routeKey struct {
	method, route string
}

type routeStats struct {
	byStatus map[int]uint64
	buckets  []uint64 // cumulative at render time, per bucket here
	count    uint64
	sum      float64
}

// httpMetrics counts requests by route and status, and their durations, for
// the Prometheus text format at /metrics.
type httpMetrics struct {
	mu     sync.Mutex
	routes map[routeKey]*routeStats
}

func newHTTPMetrics() *httpMetrics { return &httpMetrics{routes: map[routeKey]*routeStats{}} }

func (m *httpMetrics) observe(method, route string, status int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := routeKey{method, route}
	st := m.routes[k]
	if st == nil {
		st = &routeStats{byStatus: map[int]uint64{}, buckets: make([]uint64, len(latencyBuckets))}
		m.routes[k] = st
	}
	st.byStatus[status]++
	sec := d.Seconds()
	for i, b := range latencyBuckets {
		if sec <= b {
			st.buckets[i]++
			break
		}
	}
	st.count++
	st.sum += sec
}

func (s *Server) serveMetrics(c *gin.Context) {
	var b strings.Builder
	m := s.metrics
	m.mu.Lock()
	keys := make([]routeKey, 0, len(m.routes))
	for k := range m.routes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].method < keys[j].method
	})
	b.WriteString("# HELP vigia_hub_http_requests_total HTTP requests by method, route and status.\n# TYPE vigia_hub_http_requests_total counter\n")
	for _, k := range keys {
		st := m.routes[k]
		codes := make([]int, 0, len(st.byStatus))
		for code := range st.byStatus {
			codes = append(codes, code)
		}
		sort.Ints(codes)
		for _, code := range codes {
			fmt.Fprintf(&b, "vigia_hub_http_requests_total{method=%q,route=%q,status=\"%d\"} %d\n", k.method, k.route, code, st.byStatus[code])
		}
	}
	b.WriteString("# HELP vigia_hub_http_request_duration_seconds HTTP request duration by method and route.\n# TYPE vigia_hub_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		st := m.routes[k]
		var cum uint64
		for i, ub := range latencyBuckets {
			cum += st.buckets[i]
			fmt.Fprintf(&b, "vigia_hub_http_request_duration_seconds_bucket{method=%q,route=%q,le=%q} %d\n", k.method, k.route, strconv.FormatFloat(ub, 'g', -1, 64), cum)
		}
		fmt.Fprintf(&b, "vigia_hub_http_request_duration_seconds_bucket{method=%q,route=%q,le=\"+Inf\"} %d\n", k.method, k.route, st.count)
		fmt.Fprintf(&b, "vigia_hub_http_request_duration_seconds_sum{method=%q,route=%q} %g\n", k.method, k.route, st.sum)
		fmt.Fprintf(&b, "vigia_hub_http_request_duration_seconds_count{method=%q,route=%q} %d\n", k.method, k.route, st.count)
	}
	m.mu.Unlock()
	if s.IngestStats != nil {
		stats := s.IngestStats()
		names := make([]string, 0, len(stats))
		for n := range stats {
			names = append(names, n)
		}
		sort.Strings(names)
		b.WriteString("# HELP vigia_hub_ingest_messages_total MQTT ingestion counters by outcome.\n# TYPE vigia_hub_ingest_messages_total counter\n")
		for _, n := range names {
			fmt.Fprintf(&b, "vigia_hub_ingest_messages_total{outcome=%q} %d\n", n, stats[n])
		}
	}
	c.Data(http.StatusOK, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
