// Package api serves the hub's HTTP API (gin): health, the infractions list,
// evidence files and dead letters. Authentication arrives with the API issue;
// until then the hub binds to loopback.
package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/shared/buildinfo"
	"github.com/vigia-pe/vigia/shared/event"
)

// Store is what the API reads from the database.
type Store interface {
	ListInfractions(ctx context.Context, f db.InfractionFilter) (int64, []db.InfractionRow, error)
	ListDeadLetters(ctx context.Context, limit int) ([]db.DeadLetter, error)
}

// Pinger reports the health of a dependency.
type Pinger interface {
	Ping(ctx context.Context) error
}

// ReadyFunc reports whether a component is ready.
type ReadyFunc func() bool

// Server holds the API's dependencies.
type Server struct {
	Store    Store
	DB       Pinger
	Evidence objstore.Store
	// IngestReady reports whether the MQTT consumer is subscribed.
	IngestReady ReadyFunc
	// IngestStats returns counters for /health.
	IngestStats func() map[string]int64
	Loc         *time.Location
	Log         *slog.Logger
}

// Handler builds the gin engine.
func (s *Server) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), s.logRequests(), securityHeaders())
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { fail(c, http.StatusNotFound, "not_found", "no such endpoint") })
	r.NoMethod(func(c *gin.Context) { fail(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed") })
	r.GET("/health", s.health)
	r.GET("/ready", s.ready)
	r.GET("/api/version", func(c *gin.Context) { c.JSON(http.StatusOK, buildinfo.Get()) })
	r.GET("/api/infractions", s.listInfractions)
	r.GET("/api/infractions/", s.listInfractions)
	r.GET("/api/evidence/*key", s.getEvidence)
	r.GET("/api/deadletters", s.listDeadLetters)
	return r
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func fail(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"error": apiError{Code: code, Message: msg}})
}

func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		c.Next()
	}
}

func (s *Server) logRequests() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		// Only the path: query strings may carry tokens later.
		s.Log.Debug("http", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(), "dur", time.Since(start))
	}
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

var statuses = map[string]bool{"pending": true, "validated": true, "rejected": true, "appealed": true, "paid": true}

func (s *Server) listInfractions(c *gin.Context) {
	q := c.Request.URL.Query()
	f := db.InfractionFilter{Limit: 50}
	var err error
	if v := q.Get("limit"); v != "" {
		if f.Limit, err = strconv.Atoi(v); err != nil || f.Limit < 1 || f.Limit > 500 {
			fail(c, http.StatusBadRequest, "invalid_parameter", "limit must be an integer within 1..500")
			return
		}
	}
	if v := q.Get("offset"); v != "" {
		if f.Offset, err = strconv.Atoi(v); err != nil || f.Offset < 0 {
			fail(c, http.StatusBadRequest, "invalid_parameter", "offset must be a non-negative integer")
			return
		}
	}
	if v := q.Get("status"); v != "" {
		if !statuses[v] {
			fail(c, http.StatusBadRequest, "invalid_parameter", "status must be pending, validated, rejected, appealed or paid")
			return
		}
		f.Status = v
	}
	if v := q.Get("type"); v != "" {
		if !event.InfractionType(v).Valid() {
			fail(c, http.StatusBadRequest, "invalid_parameter", "type must be SPEED_VIOLATION, LANE_INVASION, RED_LIGHT or OTHER")
			return
		}
		f.Type = v
	}
	for name, dst := range map[string]*string{"device_id": &f.DeviceID, "camera_id": &f.DeviceID, "zone_id": &f.ZoneID, "zone": &f.ZoneID} {
		if v := q.Get(name); v != "" {
			if !event.ValidDeviceID(v) {
				fail(c, http.StatusBadRequest, "invalid_parameter", name+" is not a valid identifier")
				return
			}
			*dst = v
		}
	}
	if v := q.Get("plate"); v != "" {
		if len(v) > 20 {
			fail(c, http.StatusBadRequest, "invalid_parameter", "plate is longer than 20 characters")
			return
		}
		f.Plate = strings.ToUpper(v)
	}
	if v := q.Get("date"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, s.Loc)
		if err != nil {
			fail(c, http.StatusBadRequest, "invalid_parameter", "date must be YYYY-MM-DD")
			return
		}
		f.Date = &d
	}
	count, rows, err := s.Store.ListInfractions(c.Request.Context(), f)
	if err != nil {
		s.Log.Error("list infractions", "err", err)
		fail(c, http.StatusInternalServerError, "internal", "the infractions could not be read")
		return
	}
	for i := range rows {
		rows[i].SnapshotURL = s.evidenceLink(c, rows[i].SnapshotURL)
		rows[i].VideoURL = s.evidenceLink(c, rows[i].VideoURL)
	}
	page := func(off int) *string {
		v := url.Values{}
		for k, vals := range q {
			v[k] = vals
		}
		v.Set("limit", strconv.Itoa(f.Limit))
		v.Set("offset", strconv.Itoa(off))
		u := c.Request.URL.Path + "?" + v.Encode()
		return &u
	}
	var next, prev *string
	if int64(f.Offset+f.Limit) < count {
		next = page(f.Offset + f.Limit)
	}
	if f.Offset > 0 {
		prev = page(max(0, f.Offset-f.Limit))
	}
	if rows == nil {
		rows = []db.InfractionRow{}
	}
	c.JSON(http.StatusOK, gin.H{"count": count, "next": next, "previous": prev, "results": rows})
}

// evidenceLink turns a stored evidence reference into a link a client can fetch.
func (s *Server) evidenceLink(c *gin.Context, ref string) string {
	if ref == "" {
		return ""
	}
	key := objstore.KeyFromURL(ref)
	if !event.ValidKey(key) {
		return ""
	}
	if s.Evidence != nil {
		if u, err := s.Evidence.PresignGet(c.Request.Context(), key, 15*time.Minute); err == nil && u != "" {
			return u
		}
	}
	return "/api/evidence/" + key
}

func (s *Server) getEvidence(c *gin.Context) {
	key := strings.TrimPrefix(c.Param("key"), "/")
	if !event.ValidKey(key) {
		fail(c, http.StatusBadRequest, "invalid_key", "evidence key must be a relative path without '..'")
		return
	}
	rc, info, err := s.Evidence.Get(c.Request.Context(), key)
	if errors.Is(err, objstore.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found", "no such evidence file")
		return
	}
	if err != nil {
		s.Log.Error("evidence get", "key", key, "err", err)
		fail(c, http.StatusInternalServerError, "internal", "the evidence file could not be read")
		return
	}
	defer rc.Close()
	ct := info.ContentType
	if ct == "" {
		ct = contentTypeOf(key)
	}
	c.Header("Content-Type", ct)
	c.Header("Content-Length", strconv.FormatInt(info.Size, 10))
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, rc); err != nil {
		s.Log.Warn("evidence send interrupted", "key", key, "err", err)
	}
}

func contentTypeOf(key string) string {
	switch {
	case strings.HasSuffix(key, ".mp4"):
		return "video/mp4"
	case strings.HasSuffix(key, ".jpg"), strings.HasSuffix(key, ".jpeg"):
		return "image/jpeg"
	case strings.HasSuffix(key, ".png"):
		return "image/png"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

func (s *Server) listDeadLetters(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			fail(c, http.StatusBadRequest, "invalid_parameter", "limit must be an integer within 1..1000")
			return
		}
		limit = n
	}
	rows, err := s.Store.ListDeadLetters(c.Request.Context(), limit)
	if err != nil {
		s.Log.Error("list dead letters", "err", err)
		fail(c, http.StatusInternalServerError, "internal", "the dead letters could not be read")
		return
	}
	if rows == nil {
		rows = []db.DeadLetter{}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(rows), "results": rows})
}
