package report

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/api"
)

// The API mounts the service through this interface.
var _ api.Reports = (*Service)(nil)

func TestHandlersIntegrationPostgres(t *testing.T) {
	store := openStore(t)
	seedDB(t, store.Pool, fixture)
	svc := newService(t, store.Pool)
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/api/reports/daily", svc.Daily)
	r.GET("/api/reports/daily.pdf", svc.DailyPDF)
	r.GET("/api/reports/daily.xlsx", svc.DailyXLSX)

	tests := []struct {
		name, path, lang string
		status           int
		ctype            string
		prefix           string // body prefix
		code             string // error code
		msg              string // error message
	}{
		{name: "json", path: "/api/reports/daily?date=2026-11-01&zone_id=ZN001", status: 200, ctype: "application/json; charset=utf-8", prefix: `{"date":"2026-11-01","zone_id":"ZN001"`},
		{name: "json default date", path: "/api/reports/daily", status: 200, ctype: "application/json; charset=utf-8", prefix: `{"date":"2026-11-02","zone_id":null`},
		{name: "pdf", path: "/api/reports/daily.pdf?date=2026-11-01&zone_id=ZN001", status: 200, ctype: "application/pdf", prefix: "%PDF-"},
		{name: "pdf english", path: "/api/reports/daily.pdf?date=2026-11-01&lang=en", status: 200, ctype: "application/pdf", prefix: "%PDF-"},
		{name: "xlsx", path: "/api/reports/daily.xlsx?date=2026-11-01&zone_id=ZN001", status: 200, ctype: XLSXContentType, prefix: "PK\x03\x04"},
		{name: "bad date", path: "/api/reports/daily?date=01-11-2026", status: 400, code: "invalid_parameter", msg: "El parámetro date debe tener el formato AAAA-MM-DD."},
		{name: "bad date english", path: "/api/reports/daily?date=2026-13-01", lang: "en-US", status: 400, code: "invalid_parameter", msg: "The date parameter must be YYYY-MM-DD."},
		{name: "sql injection in zone", path: "/api/reports/daily.xlsx?zone_id=" + url.QueryEscape("ZN001' OR '1'='1"), status: 400, code: "invalid_parameter", msg: "El parámetro zone_id no es un identificador de zona válido."},
		{name: "unknown zone", path: "/api/reports/daily.pdf?zone_id=ZN404", status: 404, code: "zone_not_found", msg: "La zona indicada no existe."},
		{name: "bad lang", path: "/api/reports/daily.pdf?lang=fr", status: 400, code: "invalid_parameter", msg: "El parámetro lang debe ser es o en."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.lang != "" {
				req.Header.Set("Accept-Language", tc.lang)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body.String())
			}
			// The response matches the OpenAPI fragment (merged into the hub's document).
			if err := api.CheckResponse(http.MethodGet, req.URL.Path, w.Code, w.Body.Bytes()); err != nil {
				t.Errorf("OpenAPI conformance: %v", err)
			}
			if tc.code != "" {
				var e struct {
					Error struct{ Code, Message string } `json:"error"`
				}
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Code != tc.code || e.Error.Message != tc.msg {
					t.Errorf("error body %s (%v)", w.Body.String(), err)
				}
				return
			}
			if ct := w.Header().Get("Content-Type"); ct != tc.ctype {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if !bytes.HasPrefix(w.Body.Bytes(), []byte(tc.prefix)) {
				t.Errorf("body starts %q, want %q", w.Body.String()[:min(60, w.Body.Len())], tc.prefix)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	now := time.Date(2026, 11, 2, 3, 0, 0, 0, time.UTC) // still 2026-11-01 in Lima
	tests := []struct {
		name, date, zone, lang string
		wantDay, wantZone      string
		bad                    string
	}{
		{name: "defaults to the local day", wantDay: "2026-11-01"},
		{name: "explicit", date: "2025-02-28", zone: "ZN_01.a-b", lang: "EN", wantDay: "2025-02-28", wantZone: "ZN_01.a-b"},
		{name: "not a date", date: "2025-02-30", bad: "invalid_parameter_date"},
		{name: "year 0001", date: "0001-01-01", bad: "invalid_parameter_date"},
		{name: "injection", zone: "x';--", bad: "invalid_parameter_zone_id"},
		{name: "too long zone", zone: string(bytes.Repeat([]byte("a"), 51)), bad: "invalid_parameter_zone_id"},
		{name: "lang", lang: "de", bad: "invalid_parameter_lang"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q, bad := ParseParams(tc.date, tc.zone, tc.lang, lima, now)
			if bad != tc.bad {
				t.Fatalf("bad %q, want %q", bad, tc.bad)
			}
			if bad != "" {
				return
			}
			if got := q.Day.Format(DateLayout); got != tc.wantDay || q.ZoneID != tc.wantZone || q.Day.Location() != lima {
				t.Errorf("day %s zone %q loc %v", got, q.ZoneID, q.Day.Location())
			}
		})
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("2026-11-01", "ZN001", "es")
	f.Add("", "", "")
	f.Add("2026-02-29", "a'--", "en")
	f.Fuzz(func(t *testing.T, date, zone, lang string) {
		q, bad := ParseParams(date, zone, lang, lima, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if bad != "" {
			return
		}
		if date != "" && q.Day.Format(DateLayout) != date {
			t.Errorf("date %q parsed as %s", date, q.Day.Format(DateLayout))
		}
		if zone != "" && !zoneIDRe.MatchString(q.ZoneID) {
			t.Errorf("zone %q accepted", zone)
		}
	})
}
