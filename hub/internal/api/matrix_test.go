package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
)

// stubReports and stubCameras stand in for the report and camera-control
// handlers (their own packages test them): the matrix test only needs to
// know whether a request reached them.
type stubReports struct{}

func (stubReports) Daily(c *gin.Context)     { c.JSON(http.StatusOK, gin.H{"stub": "daily"}) }
func (stubReports) DailyPDF(c *gin.Context)  { c.JSON(http.StatusOK, gin.H{"stub": "pdf"}) }
func (stubReports) DailyXLSX(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"stub": "xlsx"}) }

type stubCameras struct{}

func (stubCameras) Start(c *gin.Context)  { c.JSON(http.StatusOK, gin.H{"stub": "start"}) }
func (stubCameras) Stop(c *gin.Context)   { c.JSON(http.StatusOK, gin.H{"stub": "stop"}) }
func (stubCameras) Status(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"stub": "status"}) }
func (stubCameras) Events(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"stub": "events"}) }
func (stubCameras) Live(c *gin.Context)   { c.JSON(http.StatusOK, gin.H{"stub": "live"}) }

func withStubs(s *Server) { s.Reports, s.Cameras = stubReports{}, stubCameras{} }

// probe is the request sent to an endpoint and the exact status expected
// once authorisation has let it through. Probes never change state: they
// target missing rows or send a body the handler refuses after the
// permission check, so one role's probe cannot affect the next.
type probe struct {
	path string
	body any
	want int
}

const missingUUID = "00000000-0000-4000-8000-000000000000"

var probes = map[string]probe{
	"GET /health":                           {"/health", nil, 200},
	"GET /ready":                            {"/ready", nil, 200},
	"GET /metrics":                          {"/metrics", nil, 200},
	"GET /api/version":                      {"/api/version", nil, 200},
	"GET /api/openapi.json":                 {"/api/openapi.json", nil, 200},
	"POST /api/auth/login":                  {"/api/auth/login", map[string]string{"username": "nobody", "password": "x"}, 401},
	"POST /api/auth/refresh":                {"/api/auth/refresh", map[string]string{"refresh_token": "nope"}, 401},
	"POST /api/auth/logout":                 {"/api/auth/logout", "{\"unknown\":1}", 400},
	"GET /api/auth/me":                      {"/api/auth/me", nil, 200},
	"GET /api/infractions":                  {"/api/infractions", nil, 200},
	"GET /api/infractions/":                 {"/api/infractions/", nil, 200},
	"GET /api/infractions/:id":              {"/api/infractions/" + missingUUID, nil, 404},
	"PUT /api/infractions/:id/validate":     {"/api/infractions/" + missingUUID + "/validate", map[string]string{"status": "validated"}, 404},
	"PUT /api/infractions/:id/status":       {"/api/infractions/" + missingUUID + "/status", map[string]string{"status": "paid"}, 404},
	"GET /api/evidence/*key":                {"/api/evidence/2025/01/01/none.jpg", nil, 404},
	"GET /api/deadletters":                  {"/api/deadletters", nil, 200},
	"GET /api/audit":                        {"/api/audit", nil, 200},
	"GET /api/users/":                       {"/api/users/", nil, 200},
	"POST /api/users/":                      {"/api/users/", map[string]string{}, 400},
	"GET /api/users/:id":                    {"/api/users/" + missingUUID, nil, 404},
	"PATCH /api/users/:id":                  {"/api/users/" + missingUUID, map[string]string{}, 404},
	"GET /api/zones/":                       {"/api/zones/", nil, 200},
	"POST /api/zones/":                      {"/api/zones/", map[string]string{}, 400},
	"GET /api/zones/:id":                    {"/api/zones/NOPE", nil, 404},
	"PATCH /api/zones/:id":                  {"/api/zones/NOPE", map[string]string{}, 404},
	"DELETE /api/zones/:id":                 {"/api/zones/NOPE", nil, 404},
	"GET /api/devices/":                     {"/api/devices/", nil, 200},
	"POST /api/devices/":                    {"/api/devices/", map[string]string{}, 400},
	"GET /api/devices/:id":                  {"/api/devices/NOPE", nil, 404},
	"PATCH /api/devices/:id":                {"/api/devices/NOPE", map[string]string{}, 404},
	"DELETE /api/devices/:id":               {"/api/devices/NOPE", nil, 404},
	"GET /api/vehicles/":                    {"/api/vehicles/", nil, 200},
	"GET /api/vehicles/:plate":              {"/api/vehicles/ZZZ-999", nil, 404},
	"PUT /api/vehicles/:plate":              {"/api/vehicles/ZZZ-999", map[string]any{"year": "x"}, 400},
	"GET /api/drivers/":                     {"/api/drivers/", nil, 200},
	"GET /api/drivers/:dni":                 {"/api/drivers/00000000", nil, 404},
	"PUT /api/drivers/:dni":                 {"/api/drivers/00000000", map[string]string{}, 400},
	"GET /api/reports/daily":                {"/api/reports/daily", nil, 200},
	"GET /api/reports/daily.pdf":            {"/api/reports/daily.pdf", nil, 200},
	"GET /api/reports/daily.xlsx":           {"/api/reports/daily.xlsx", nil, 200},
	"POST /api/inference/stream/start":      {"/api/inference/stream/start", map[string]string{}, 200},
	"POST /api/inference/stream/stop":       {"/api/inference/stream/stop", map[string]string{}, 200},
	"GET /api/inference/cameras/:id/status": {"/api/inference/cameras/CAM001/status", nil, 200},
	"GET /api/inference/events":             {"/api/inference/events", nil, 200},
	"GET /api/inference/cameras/:id/live":   {"/api/inference/cameras/CAM001/live", nil, 200},
}

// expectedMatrix is the authorisation matrix written out by hand, endpoint
// by endpoint, so that a change to auth.Matrix that silently widens or
// narrows access fails this test. Letters: a admin, s supervisor,
// o operator, u auditor; "*" = public, "any" = every authenticated role.
var expectedMatrix = map[string]string{
	"GET /health": "*", "GET /ready": "*", "GET /metrics": "*", "GET /api/version": "*", "GET /api/openapi.json": "*",
	"POST /api/auth/login": "*", "POST /api/auth/refresh": "*", "GET /api/evidence/*key": "asou",
	"POST /api/auth/logout": "any", "GET /api/auth/me": "any",
	"GET /api/infractions": "asou", "GET /api/infractions/": "asou", "GET /api/infractions/:id": "asou",
	"PUT /api/infractions/:id/validate": "aso", "PUT /api/infractions/:id/status": "as",
	"GET /api/deadletters": "au", "GET /api/audit": "au",
	"GET /api/users/": "au", "POST /api/users/": "a", "GET /api/users/:id": "au", "PATCH /api/users/:id": "a",
	"GET /api/zones/": "asou", "POST /api/zones/": "as", "GET /api/zones/:id": "asou", "PATCH /api/zones/:id": "as", "DELETE /api/zones/:id": "as",
	"GET /api/devices/": "asou", "POST /api/devices/": "a", "GET /api/devices/:id": "asou", "PATCH /api/devices/:id": "a", "DELETE /api/devices/:id": "a",
	"GET /api/vehicles/": "asou", "GET /api/vehicles/:plate": "asou", "PUT /api/vehicles/:plate": "as",
	"GET /api/drivers/": "asou", "GET /api/drivers/:dni": "asou", "PUT /api/drivers/:dni": "as",
	"GET /api/reports/daily": "asou", "GET /api/reports/daily.pdf": "asou", "GET /api/reports/daily.xlsx": "asou",
	"POST /api/inference/stream/start": "as", "POST /api/inference/stream/stop": "as",
	"GET /api/inference/cameras/:id/status": "asou", "GET /api/inference/events": "asou", "GET /api/inference/cameras/:id/live": "asou",
}

var roleLetter = map[auth.Role]string{auth.RoleAdmin: "a", auth.RoleSupervisor: "s", auth.RoleOperator: "o", auth.RoleAuditor: "u"}

func TestPermissionMatrixIntegration(t *testing.T) {
	f := newFixture(t, withStubs)
	routes := f.srv.Routes()
	if len(routes) != len(expectedMatrix) {
		t.Errorf("%d routes registered, %d in the expected matrix", len(routes), len(expectedMatrix))
	}
	// Tokens that must be refused on every protected endpoint.
	u := f.users[auth.RoleAdmin]
	sess := f.login(u.Username, testPassword)
	claims, err := f.tokens.Parse(sess.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	past := *f.tokens
	past.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
	expired, _, _ := past.Issue(u.ID, u.Username, auth.RoleAdmin, claims.SessionID)
	parts := strings.Split(sess.AccessToken, ".")
	// Tampered: the payload claims the auditor's role but the signature is the admin's.
	forged, _, _ := f.tokens.Issue(u.ID, u.Username, auth.RoleAuditor, claims.SessionID)
	tampered := parts[0] + "." + strings.Split(forged, ".")[1] + "." + parts[2]
	otherKey, _ := auth.NewTokens([]byte("another-key-0123456789abcdef0123456789"), time.Hour)
	wrongKey, _, _ := otherKey.Issue(u.ID, u.Username, auth.RoleAdmin, claims.SessionID)
	gone := f.createUser("leaver", auth.RoleAdmin)
	goneToken := f.login("leaver", testPassword).AccessToken
	if _, err := f.store.UpdateUser(t.Context(), gone.ID, db.UserPatch{IsActive: ptr(false)}, db.Actor{Username: "system:test"}); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ name, token, code string }{
		{"no token", "", auth.CodeTokenMissing},
		{"expired", expired, auth.CodeTokenExpired},
		{"tampered", tampered, auth.CodeTokenInvalid},
		{"wrong key", wrongKey, auth.CodeTokenInvalid},
		{"garbage", "not.a.jwt", auth.CodeTokenInvalid},
		{"deactivated user", goneToken, auth.CodeUserInactive},
	}

	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		p, ok := probes[key]
		want, ok2 := expectedMatrix[key]
		if !ok || !ok2 {
			t.Errorf("%s: no probe or no expected matrix row", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			for _, role := range auth.Roles {
				res := f.do(rt.Method, p.path, f.access[role], p.body)
				allowed := want == "*" || want == "any" || strings.Contains(want, roleLetter[role])
				switch {
				case allowed && res.status != p.want:
					t.Errorf("%s: status %d (%s), want %d", role, res.status, res.body, p.want)
				case !allowed && (res.status != http.StatusForbidden || res.code() != auth.CodeForbidden):
					t.Errorf("%s: status %d (%s), want 403 forbidden", role, res.status, res.body)
				}
			}
			if want == "*" {
				res := f.do(rt.Method, p.path, "", p.body)
				if res.status != p.want {
					t.Errorf("public without token: status %d, want %d", res.status, p.want)
				}
				return
			}
			for _, b := range bad {
				res := f.do(rt.Method, p.path, b.token, p.body)
				if res.status != http.StatusUnauthorized || res.code() != b.code {
					t.Errorf("%s: status %d code %q, want 401 %s", b.name, res.status, res.code(), b.code)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// Auditors read everything and change nothing: no write permission may list them.
func TestAuditorsReadOnly(t *testing.T) {
	for perm, roles := range auth.Matrix {
		write := !strings.HasSuffix(string(perm), ":read")
		for _, r := range roles {
			if r == auth.RoleAuditor && write {
				t.Errorf("auditor holds write permission %s", perm)
			}
		}
		if !write && !auth.Allowed(auth.RoleAuditor, perm) {
			t.Errorf("auditor lacks read permission %s", perm)
		}
	}
}

func TestWebSocketTokenInQueryIntegration(t *testing.T) {
	f := newFixture(t, withStubs)
	path := "/api/inference/cameras/CAM001/live?access_token=" + f.access[auth.RoleAuditor]
	if res := f.do("GET", path, "", nil, "Upgrade", "websocket", "Connection", "Upgrade"); res.status != 200 {
		t.Fatalf("handshake with query token: %d %s", res.status, res.body)
	}
	// Only for WebSocket handshakes: a plain request must use the header.
	if res := f.do("GET", path, "", nil); res.status != 401 || res.code() != auth.CodeTokenMissing {
		t.Fatalf("plain request with query token: %d %s", res.status, res.body)
	}
}
