// Package api serves the hub's HTTP API (gin): authentication and roles, the
// infractions list and review workflow, users, zones, devices, vehicles,
// drivers, the audit log, evidence files, dead letters, reports and camera
// control (mounted from other packages), /health, /ready, /metrics and the
// merged OpenAPI document.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/shared/buildinfo"
)

// Store is what the API reads and writes in the database (*db.Store).
type Store interface {
	ListInfractions(ctx context.Context, f db.InfractionFilter) (int64, []db.InfractionRow, error)
	ListInfractionsOrdered(ctx context.Context, f db.InfractionFilter, ordering string) (int64, []db.InfractionRow, error)
	InfractionByID(ctx context.Context, id string) (db.InfractionDetail, error)
	Decide(ctx context.Context, r db.Review, a db.Actor) (db.ReviewResult, error)
	Advance(ctx context.Context, r db.Review, a db.Actor) (db.ReviewResult, error)
	ListDeadLetters(ctx context.Context, limit int) ([]db.DeadLetter, error)

	UserByUsername(ctx context.Context, username string) (db.User, error)
	UserByID(ctx context.Context, id string) (db.User, error)
	ListUsers(ctx context.Context, role string, limit, offset int) (int64, []db.User, error)
	CreateUser(ctx context.Context, u db.User, a db.Actor) (db.User, error)
	UpdateUser(ctx context.Context, id string, p db.UserPatch, a db.Actor) (db.User, error)
	RecordLoginFailure(ctx context.Context, userID string, maxFailures int, lockFor time.Duration, a db.Actor) (*time.Time, error)
	StartSession(ctx context.Context, userID, refreshHash string, expires time.Time, userAgent string, a db.Actor) (db.Session, error)
	RotateSession(ctx context.Context, oldHash, newHash string, expires time.Time) (db.Session, error)
	RevokeSession(ctx context.Context, userID, sessionID, refreshHash string, a db.Actor) error
	PrincipalOf(ctx context.Context, userID, sessionID string) (db.Principal, error)
	AppendAudit(ctx context.Context, a db.Actor, action, entityType, entityID string, before, after any, reason string) error
	ListAudit(ctx context.Context, f db.AuditFilter) (int64, []db.AuditEntry, error)

	ListZones(ctx context.Context, limit, offset int) (int64, []db.Zone, error)
	ZoneByID(ctx context.Context, id string) (db.Zone, error)
	CreateZone(ctx context.Context, z db.Zone, a db.Actor) (db.Zone, error)
	UpdateZone(ctx context.Context, id string, p db.ZonePatch, a db.Actor) (db.Zone, error)
	DeleteZone(ctx context.Context, id string, a db.Actor) error
	ListDevices(ctx context.Context, zoneID string, limit, offset int) (int64, []db.DeviceInfo, error)
	DeviceByID(ctx context.Context, id string) (db.DeviceInfo, error)
	CreateDevice(ctx context.Context, d db.DeviceInfo, rtspURL string, a db.Actor) (db.DeviceInfo, error)
	UpdateDevice(ctx context.Context, id string, p db.DevicePatch, a db.Actor) (db.DeviceInfo, bool, error)
	DeleteDevice(ctx context.Context, id string, a db.Actor) error
	ListVehicles(ctx context.Context, prefix string, limit, offset int) (int64, []db.Vehicle, error)
	VehicleByPlate(ctx context.Context, plate string) (db.Vehicle, error)
	PutVehicle(ctx context.Context, v db.Vehicle, a db.Actor) (db.Vehicle, bool, error)
	ListDrivers(ctx context.Context, limit, offset int) (int64, []db.Driver, error)
	DriverByDNI(ctx context.Context, dni string) (db.Driver, error)
	PutDriver(ctx context.Context, d db.Driver, a db.Actor) (db.Driver, bool, error)
}

var _ Store = (*db.Store)(nil)

// Pinger reports the health of a dependency.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadyFunc reports whether a component is ready.
type ReadyFunc func() bool

// Publisher publishes an MQTT message (device commands).
type Publisher interface {
	Publish(ctx context.Context, topic string, payload []byte) error
}

// Reports serves the daily report (hub/internal/report).
type Reports interface {
	Daily(*gin.Context)
	DailyPDF(*gin.Context)
	DailyXLSX(*gin.Context)
}

// Cameras serves camera control (hub/internal/camctl).
type Cameras interface {
	Start(*gin.Context)
	Stop(*gin.Context)
	Status(*gin.Context)
	Events(*gin.Context)
	Live(*gin.Context)
}

// AuthConfig configures authentication.
type AuthConfig struct {
	// Tokens signs access tokens and evidence links (required).
	Tokens *auth.Tokens
	// RefreshTTL is a session's lifetime without refresh (default 7 days).
	RefreshTTL time.Duration
	// MaxFailedLogins consecutive failures lock the account for LockoutDuration (defaults 5, 15 min).
	MaxFailedLogins int
	LockoutDuration time.Duration
	// LoginLimiter bounds login attempts per client IP + username (default 10 per minute).
	LoginLimiter *auth.Limiter
	// TwoPersonRule makes a review decision a proposal that a second reviewer confirms.
	TwoPersonRule bool
	// Passwords hashes new passwords and checks logins (default: auth.PasswordCost).
	Passwords *auth.Passwords
}

// Server holds the API's dependencies.
type Server struct {
	Store    Store
	DB       Pinger
	Evidence objstore.Store
	Auth     AuthConfig
	// Publisher sends device commands (config.update); nil: changes are stored, not pushed.
	Publisher Publisher
	// Reports and Cameras are mounted when not nil.
	Reports Reports
	Cameras Cameras
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// TrustedProxies may set X-Forwarded-For (none by default: the client IP is the peer).
	TrustedProxies []string
	// MaxBodyBytes bounds request bodies (DefaultMaxBodyBytes when 0).
	MaxBodyBytes int64
	// IngestReady reports whether the MQTT consumer is subscribed.
	IngestReady ReadyFunc
	// IngestStats returns counters for /health and /metrics.
	IngestStats func() map[string]int64
	Loc         *time.Location
	Log         *slog.Logger

	mw      *auth.Middleware
	metrics *httpMetrics
}

func (s *Server) defaults() {
	if s.Auth.RefreshTTL <= 0 {
		s.Auth.RefreshTTL = 7 * 24 * time.Hour
	}
	if s.Auth.MaxFailedLogins <= 0 {
		s.Auth.MaxFailedLogins = 5
	}
	if s.Auth.LockoutDuration <= 0 {
		s.Auth.LockoutDuration = 15 * time.Minute
	}
	if s.Auth.Passwords == nil {
		s.Auth.Passwords = auth.NewPasswords(auth.PasswordCost)
	}
	if s.Auth.LoginLimiter == nil {
		s.Auth.LoginLimiter = auth.NewLimiter(10, time.Minute)
	}
	if s.Loc == nil {
		s.Loc = time.UTC
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Auth.Tokens == nil {
		// A wiring mistake, not a configuration: app.Serve always sets a key.
		s.Log.Error("api: no token signer configured; using an ephemeral key (tokens die at restart)")
		s.Auth.Tokens, _ = auth.NewTokens(auth.NewKey(), time.Hour)
	}
	s.mw = &auth.Middleware{
		Tokens: s.Auth.Tokens,
		Lookup: func(ctx context.Context, userID, sessionID string) (auth.Principal, error) {
			p, err := s.Store.PrincipalOf(ctx, userID, sessionID)
			if err == db.ErrNotFound {
				return auth.Principal{}, auth.ErrUnknownPrincipal
			}
			if err != nil {
				return auth.Principal{}, err
			}
			return auth.Principal{UserID: p.UserID, Username: p.Username, Role: auth.Role(p.Role), Active: p.Active, SessionValid: p.SessionValid}, nil
		},
		Fail: func(c *gin.Context, status int, code string) {
			switch status {
			case http.StatusInternalServerError:
				s.Log.Error("authenticate", "err", c.Errors.Last())
			case http.StatusUnauthorized:
				c.Header("WWW-Authenticate", `Bearer realm="vigia"`)
			}
			fail(c, status, code)
		},
	}
	s.metrics = newHTTPMetrics()
}

// Handler builds the gin engine. Auth.Tokens must be set.
func (s *Server) Handler() http.Handler {
	s.defaults()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	_ = r.SetTrustedProxies(s.TrustedProxies)
	r.HandleMethodNotAllowed = true
	r.Use(s.recover(), requestID(), s.logRequests(), securityHeaders(), s.cors(), checkInput(), s.limitBody())
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method_not_allowed") })
	for _, rt := range s.routes() {
		r.Handle(rt.method, rt.path, rt.handlers...)
	}
	return r
}

// route is one registered endpoint; perm is "" for public endpoints and
// "authenticated" for any logged-in user.
type route struct {
	method, path string
	perm         auth.Permission
	handlers     []gin.HandlerFunc
}

const (
	public        auth.Permission = ""
	authenticated auth.Permission = "authenticated"
)

// Routes lists every endpoint with the permission it requires ("" = public,
// "authenticated" = any logged-in user). The permission matrix test reads it.
func (s *Server) Routes() []RouteInfo {
	if s.mw == nil {
		s.defaults()
	}
	var out []RouteInfo
	for _, rt := range s.routes() {
		out = append(out, RouteInfo{Method: rt.method, Path: rt.path, Permission: rt.perm})
	}
	return out
}

// RouteInfo describes an endpoint.
type RouteInfo struct {
	Method, Path string
	Permission   auth.Permission
}

func (s *Server) routes() []route {
	var rs []route
	add := func(method, path string, perm auth.Permission, h gin.HandlerFunc) {
		var chain []gin.HandlerFunc
		switch perm {
		case public:
		case authenticated:
			chain = append(chain, func(c *gin.Context) {
				if _, ok := s.mw.Authenticate(c); ok {
					c.Next()
				}
			})
		default:
			chain = append(chain, s.mw.Require(perm))
		}
		rs = append(rs, route{method: method, path: path, perm: perm, handlers: append(chain, h)})
	}
	const (
		get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
	)
	add(get, "/health", public, s.health)
	add(get, "/ready", public, s.ready)
	add(get, "/metrics", public, s.serveMetrics)
	add(get, "/api/version", public, func(c *gin.Context) { c.JSON(http.StatusOK, buildinfo.Get()) })
	add(get, "/api/openapi.json", public, serveOpenAPI)

	add(post, "/api/auth/login", public, s.login)
	add(post, "/api/auth/refresh", public, s.refresh)
	add(post, "/api/auth/logout", authenticated, s.logout)
	add(get, "/api/auth/me", authenticated, s.me)

	add(get, "/api/infractions", auth.PermInfractionsRead, s.listInfractions)
	add(get, "/api/infractions/", auth.PermInfractionsRead, s.listInfractions)
	add(get, "/api/infractions/:id", auth.PermInfractionsRead, s.getInfraction)
	add(put, "/api/infractions/:id/validate", auth.PermInfractionsReview, s.validateInfraction)
	add(put, "/api/infractions/:id/status", auth.PermInfractionsStatus, s.advanceInfraction)
	// Evidence links carry their own signature (for <img>/<video>); without
	// one the route needs a bearer token with evidence:read (checked inside).
	add(get, "/api/evidence/*key", public, s.getEvidence)
	add(get, "/api/deadletters", auth.PermDeadLettersRead, s.listDeadLetters)
	add(get, "/api/audit", auth.PermAuditRead, s.listAudit)

	add(get, "/api/users/", auth.PermUsersRead, s.listUsers)
	add(post, "/api/users/", auth.PermUsersWrite, s.createUser)
	add(get, "/api/users/:id", auth.PermUsersRead, s.getUser)
	add(patch, "/api/users/:id", auth.PermUsersWrite, s.updateUser)

	add(get, "/api/zones/", auth.PermZonesRead, s.listZones)
	add(post, "/api/zones/", auth.PermZonesWrite, s.createZone)
	add(get, "/api/zones/:id", auth.PermZonesRead, s.getZone)
	add(patch, "/api/zones/:id", auth.PermZonesWrite, s.updateZone)
	add(del, "/api/zones/:id", auth.PermZonesWrite, s.deleteZone)

	add(get, "/api/devices/", auth.PermDevicesRead, s.listDevices)
	add(post, "/api/devices/", auth.PermDevicesWrite, s.createDevice)
	add(get, "/api/devices/:id", auth.PermDevicesRead, s.getDevice)
	add(patch, "/api/devices/:id", auth.PermDevicesWrite, s.updateDevice)
	add(del, "/api/devices/:id", auth.PermDevicesWrite, s.deleteDevice)

	add(get, "/api/vehicles/", auth.PermVehiclesRead, s.listVehicles)
	add(get, "/api/vehicles/:plate", auth.PermVehiclesRead, s.getVehicle)
	add(put, "/api/vehicles/:plate", auth.PermVehiclesWrite, s.putVehicle)

	add(get, "/api/drivers/", auth.PermDriversRead, s.listDrivers)
	add(get, "/api/drivers/:dni", auth.PermDriversRead, s.getDriver)
	add(put, "/api/drivers/:dni", auth.PermDriversWrite, s.putDriver)

	if s.Reports != nil {
		add(get, "/api/reports/daily", auth.PermReportsRead, s.Reports.Daily)
		add(get, "/api/reports/daily.pdf", auth.PermReportsRead, s.Reports.DailyPDF)
		add(get, "/api/reports/daily.xlsx", auth.PermReportsRead, s.Reports.DailyXLSX)
	}
	if s.Cameras != nil {
		add(post, "/api/inference/stream/start", auth.PermCamerasControl, s.Cameras.Start)
		add(post, "/api/inference/stream/stop", auth.PermCamerasControl, s.Cameras.Stop)
		add(get, "/api/inference/cameras/:id/status", auth.PermCamerasRead, s.Cameras.Status)
		add(get, "/api/inference/events", auth.PermCamerasRead, s.Cameras.Events)
		add(get, "/api/inference/cameras/:id/live", auth.PermCamerasRead, s.Cameras.Live)
	}
	return rs
}

// recover turns a panic into a JSON 500 without a stack trace in the response.
func (s *Server) recover() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				s.Log.Error("panic in handler", "path", c.FullPath(), "panic", v)
				fail(c, http.StatusInternalServerError, "internal")
			}
		}()
		c.Next()
	}
}

func (s *Server) logRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observe(c.Request.Method, route, c.Writer.Status(), time.Since(start))
		// Only the path: query strings may carry link signatures.
		s.Log.Debug("http", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(), "dur", time.Since(start))
	}
}

// actor is the audit identity of the request's principal.
func actor(c *gin.Context) db.Actor {
	rid, _ := c.Get("vigia.request_id")
	ridS, _ := rid.(string)
	return db.Actor{UserID: c.GetString(auth.KeyUserID), Username: c.GetString(auth.KeyUsername), Role: c.GetString(auth.KeyRole),
		RemoteAddr: c.ClientIP(), RequestID: ridS}
}

func (s *Server) health(c *gin.Context) {
	out := gin.H{"status": "ok", "version": buildinfo.Get().Version}
	if s.IngestStats != nil {
		out["ingest"] = s.IngestStats()
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{}
	ok := true
	if err := s.DB.Ping(ctx); err != nil {
		checks["database"] = "unreachable"
		ok = false
	} else {
		checks["database"] = "ok"
	}
	if s.IngestReady != nil && !s.IngestReady() {
		checks["mqtt"] = "not subscribed"
		ok = false
	} else {
		checks["mqtt"] = "ok"
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	c.JSON(status, gin.H{"ready": ok, "checks": checks})
}
