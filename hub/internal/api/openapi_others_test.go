package api

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/camctl"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/report"
)

// TestOpenAPIConformanceMountedIntegration does for the operations of the
// other fragments (reports, camera control) what the main conformance test
// does for main.json: the real handlers, mounted by this package behind
// their permissions, are called against the real database (and the real
// Mosquitto for camera commands; no agent answers, so commands time out)
// and each response is validated against its documented schema.
func TestOpenAPIConformanceMountedIntegration(t *testing.T) {
	pub := mqttPublisher{dialMQTT(t, nil)}
	f := newFixture(t, func(s *Server) {
		store := s.Store.(*db.Store)
		rep, err := report.New(store.Pool, s.Loc, s.Log)
		if err != nil {
			t.Fatal(err)
		}
		cam := camctl.New(camctl.Config{AckTimeout: 300 * time.Millisecond}, store, pub, nil, s.Log)
		t.Cleanup(cam.Close)
		s.Reports, s.Cameras = rep, cam
	})
	raw, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f.seedInfraction("CAM001", "ABC-123", 80, time.Now().Add(-time.Hour))
	covered := map[string]bool{}
	call := func(method, tmpl, path string, body any, want ...int) {
		t.Helper()
		res := f.do(method, path, f.access[auth.RoleSupervisor], body)
		ok := false
		for _, w := range want {
			ok = ok || res.status == w
		}
		if !ok {
			t.Errorf("%s %s: %d %.300s, want %v", method, path, res.status, res.body, want)
			return
		}
		if err := checkResponse(doc, method, tmpl, res.status, res.body); err != nil {
			t.Errorf("%v\nbody: %.500s", err, res.body)
		}
		covered[method+" "+tmpl] = true
	}
	today := time.Now().In(f.srv.Loc).Format("2006-01-02")
	call("GET", "/api/reports/daily", "/api/reports/daily?date="+today+"&zone_id=ZN001", nil, http.StatusOK)
	call("GET", "/api/reports/daily", "/api/reports/daily?date=01-11-2026", nil, http.StatusBadRequest)
	call("GET", "/api/reports/daily.pdf", "/api/reports/daily.pdf?date="+today, nil, http.StatusOK)
	call("GET", "/api/reports/daily.xlsx", "/api/reports/daily.xlsx?date="+today, nil, http.StatusOK)
	call("POST", "/api/inference/stream/start", "/api/inference/stream/start", map[string]string{"device_id": "CAM001"}, http.StatusGatewayTimeout)
	call("POST", "/api/inference/stream/stop", "/api/inference/stream/stop", map[string]string{"device_id": "CAM001"}, http.StatusGatewayTimeout)
	call("POST", "/api/inference/stream/stop", "/api/inference/stream/stop", map[string]string{"device_id": "NOPE"}, http.StatusNotFound)
	call("GET", "/api/inference/cameras/{id}/status", "/api/inference/cameras/CAM001/status", nil, http.StatusOK)
	call("GET", "/api/inference/events", "/api/inference/events?camera_id=CAM001&limit=10", nil, http.StatusOK)
	// No live subscriber is configured here: the relay answers 503 (documented).
	call("GET", "/api/inference/cameras/{id}/live", "/api/inference/cameras/CAM001/live", nil, http.StatusServiceUnavailable, http.StatusBadRequest)

	var missing []string
	for p, ops := range doc["paths"].(map[string]any) {
		for m := range ops.(map[string]any) {
			op := strings.ToUpper(m) + " " + p
			if strings.HasPrefix(p, "/api/reports/") || strings.HasPrefix(p, "/api/inference/") {
				if !covered[op] {
					missing = append(missing, op)
				}
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("mounted operations never called: %v", missing)
	}
}
