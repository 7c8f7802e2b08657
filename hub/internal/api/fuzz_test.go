package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// FuzzCheckPolygon: zone geometries are outside bytes sent to PostGIS.
func FuzzCheckPolygon(f *testing.F) {
	f.Add(`{"type":"Polygon","coordinates":[[[-77.03,-12.09],[-77.02,-12.09],[-77.02,-12.08],[-77.03,-12.09]]]}`)
	f.Add(`{"type":"Polygon","coordinates":[]}`)
	f.Add(`{"type":"Point","coordinates":[1,2]}`)
	f.Add(`{"type":"Polygon","coordinates":[[[1e999,0],[0,0],[0,1],[1e999,0]]]}`)
	f.Fuzz(func(t *testing.T, s string) {
		out, err := checkPolygon(json.RawMessage(s))
		if err != nil {
			return
		}
		// Whatever passes is a closed, in-range polygon that round-trips.
		out2, err := checkPolygon(out)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("accepted %q but its output %q does not re-validate: %v", s, out, err)
		}
		if !strings.HasPrefix(string(out), `{"coordinates":[[[`) {
			t.Fatalf("unexpected output %q", out)
		}
	})
}

// FuzzDecodeStrict: request bodies are outside bytes.
func FuzzDecodeStrict(f *testing.F) {
	f.Add(`{"status":"validated","reason":"ok"}`)
	f.Add(`{"status":1}`)
	f.Add(`{"status":"x"}{}`)
	f.Add(`{"unknown":true}`)
	f.Add(``)
	gin.SetMode(gin.ReleaseMode)
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest("PUT", "/", nil)
		var r reviewRequest
		ok := decodeStrict(c, []byte(body), &r)
		if ok {
			if w.Code != http.StatusOK || c.IsAborted() {
				t.Fatalf("ok but aborted with %d", w.Code)
			}
			return
		}
		if w.Code != http.StatusBadRequest {
			t.Fatalf("refusal with status %d", w.Code)
		}
		var e struct{ Error apiError }
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
			t.Fatalf("refusal body %q", w.Body.String())
		}
	})
}
