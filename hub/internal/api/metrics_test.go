package api

import (
	"strings"
	"testing"

	"github.com/vigia-pe/vigia/hub/internal/auth"
)

func TestMetricsIntegration(t *testing.T) {
	f := newFixture(t, func(s *Server) {
		s.IngestStats = func() map[string]int64 { return map[string]int64{"stored": 42, "dead_letters": 3} }
	})
	for i := 0; i < 3; i++ {
		f.do("GET", "/api/zones/", f.access[auth.RoleOperator], nil)
	}
	f.do("GET", "/api/zones/", "", nil)
	f.do("GET", "/api/zones/NOPE", f.access[auth.RoleOperator], nil)
	res := f.do("GET", "/metrics", "", nil)
	body := string(res.body)
	for _, want := range []string{
		`vigia_hub_http_requests_total{method="GET",route="/api/zones/",status="200"} 3`,
		`vigia_hub_http_requests_total{method="GET",route="/api/zones/",status="401"} 1`,
		`vigia_hub_http_requests_total{method="GET",route="/api/zones/:id",status="404"} 1`,
		`vigia_hub_http_request_duration_seconds_count{method="GET",route="/api/zones/"} 4`,
		`vigia_hub_http_request_duration_seconds_bucket{method="GET",route="/api/zones/",le="+Inf"} 4`,
		`vigia_hub_ingest_messages_total{outcome="stored"} 42`,
		`vigia_hub_ingest_messages_total{outcome="dead_letters"} 3`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q\n%s", want, body)
		}
	}
	if res.status != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", res.status, res.header.Get("Content-Type"))
	}
}
