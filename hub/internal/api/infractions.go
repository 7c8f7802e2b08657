package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/hub/internal/objstore"
	"github.com/vigia-pe/vigia/shared/event"
)

var statuses = map[string]bool{"pending": true, "validated": true, "rejected": true, "appealed": true, "paid": true}

// evidenceLinkTTL is how long an evidence link in a response keeps working.
const evidenceLinkTTL = 15 * time.Minute

func (s *Server) listInfractions(c *gin.Context) {
	q := c.Request.URL.Query()
	limit, offset, ok := page(c, 50, 500)
	if !ok {
		return
	}
	f := db.InfractionFilter{Limit: limit, Offset: offset}
	if v := q.Get("status"); v != "" {
		if !statuses[v] {
			badParam(c, "status debe ser pending, validated, rejected, appealed o paid.", "status must be pending, validated, rejected, appealed or paid.")
			return
		}
		f.Status = v
	}
	if v := q.Get("type"); v != "" {
		if !event.InfractionType(v).Valid() {
			badParam(c, "type debe ser SPEED_VIOLATION, LANE_INVASION, RED_LIGHT u OTHER.", "type must be SPEED_VIOLATION, LANE_INVASION, RED_LIGHT or OTHER.")
			return
		}
		f.Type = v
	}
	for _, p := range []struct {
		name string
		dst  *string
	}{{"device_id", &f.DeviceID}, {"camera_id", &f.DeviceID}, {"zone_id", &f.ZoneID}, {"zone", &f.ZoneID}} {
		if v := q.Get(p.name); v != "" {
			if !event.ValidDeviceID(v) {
				badParam(c, p.name+" no es un identificador válido.", p.name+" is not a valid identifier.")
				return
			}
			*p.dst = v
		}
	}
	if v := q.Get("plate"); v != "" {
		if len(v) > 20 {
			badParam(c, "plate tiene más de 20 caracteres.", "plate is longer than 20 characters.")
			return
		}
		f.Plate = strings.ToUpper(v)
	}
	if v := q.Get("date"); v != "" {
		d, err := time.ParseInLocation("2006-01-02", v, s.Loc)
		if err != nil {
			badParam(c, "date debe tener el formato AAAA-MM-DD.", "date must be YYYY-MM-DD.")
			return
		}
		f.Date = &d
	}
	ordering := q.Get("ordering")
	if _, known := db.Orderings[ordering]; ordering != "" && !known {
		badParam(c, "ordering no es un criterio de orden admitido.", "ordering is not a supported sort key.")
		return
	}
	var (
		count int64
		rows  []db.InfractionRow
		err   error
	)
	if ordering == "" || ordering == "-detected_at" {
		count, rows, err = s.Store.ListInfractions(c.Request.Context(), f)
	} else {
		count, rows, err = s.Store.ListInfractionsOrdered(c.Request.Context(), f, ordering)
	}
	if err != nil {
		s.internal(c, "list infractions", err)
		return
	}
	for i := range rows {
		rows[i].SnapshotURL = s.evidenceLink(c, rows[i].SnapshotURL)
		rows[i].VideoURL = s.evidenceLink(c, rows[i].VideoURL)
	}
	if rows == nil {
		rows = []db.InfractionRow{}
	}
	next, prev := pageLinks(c, count, limit, offset)
	c.JSON(http.StatusOK, paged{Count: count, Next: next, Previous: prev, Results: rows})
}

func (s *Server) getInfraction(c *gin.Context) {
	x, err := s.Store.InfractionByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeErr(c, "get infraction", err)
		return
	}
	x.SnapshotURL = s.evidenceLink(c, x.SnapshotURL)
	x.VideoURL = s.evidenceLink(c, x.VideoURL)
	c.JSON(http.StatusOK, x)
}

type reviewRequest struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	// Notes is the specification's name for the reviewer's comment; it is
	// kept as the reason when no reason is given.
	Notes string `json:"notes"`
}

func (r reviewRequest) reason() string {
	if strings.TrimSpace(r.Reason) != "" {
		return strings.TrimSpace(r.Reason)
	}
	return strings.TrimSpace(r.Notes)
}

func (s *Server) validateInfraction(c *gin.Context) {
	var req reviewRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Status != "validated" && req.Status != "rejected" {
		failf(c, http.StatusBadRequest, "invalid_body", "status debe ser validated o rejected.", "status must be validated or rejected.")
		return
	}
	if len(req.reason()) > 2000 {
		failf(c, http.StatusBadRequest, "invalid_body", "El motivo supera 2000 caracteres.", "The reason is longer than 2000 characters.")
		return
	}
	role := auth.Role(c.GetString(auth.KeyRole))
	res, err := s.Store.Decide(c.Request.Context(), db.Review{ID: c.Param("id"), Status: req.Status, Reason: req.reason(),
		TwoPersonRule: s.Auth.TwoPersonRule, CanConfirm: auth.Allowed(role, auth.PermInfractionsDecide)}, actor(c))
	if err != nil {
		s.writeErr(c, "validate infraction", err)
		return
	}
	status := http.StatusOK
	if res.Proposed {
		status = http.StatusAccepted
	}
	c.JSON(status, res)
}

func (s *Server) advanceInfraction(c *gin.Context) {
	var req reviewRequest
	if !bindJSON(c, &req) {
		return
	}
	if req.Status != "appealed" && req.Status != "paid" {
		failf(c, http.StatusBadRequest, "invalid_body", "status debe ser appealed o paid.", "status must be appealed or paid.")
		return
	}
	if len(req.reason()) > 2000 {
		failf(c, http.StatusBadRequest, "invalid_body", "El motivo supera 2000 caracteres.", "The reason is longer than 2000 characters.")
		return
	}
	res, err := s.Store.Advance(c.Request.Context(), db.Review{ID: c.Param("id"), Status: req.Status, Reason: req.reason()}, actor(c))
	if err != nil {
		s.writeErr(c, "advance infraction", err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// transitionErr answers a refused review step: 409 for an illegal
// transition or the two-person rule, 400 for a missing reason, 403 when the
// role may not confirm. The message says why.
func (s *Server) transitionErr(c *gin.Context, te *db.TransitionError) {
	from := te.From
	if from == "" {
		from = "-"
	}
	switch te.Code {
	case "reason_required":
		failf(c, http.StatusBadRequest, te.Code,
			fmt.Sprintf("Para pasar a %s debe indicar un motivo (reason).", te.To),
			fmt.Sprintf("Moving to %s requires a reason.", te.To))
	case "confirm_forbidden":
		fail(c, http.StatusForbidden, te.Code)
	case "same_reviewer":
		fail(c, http.StatusConflict, te.Code)
	default:
		failf(c, http.StatusConflict, "illegal_transition",
			fmt.Sprintf("No se puede pasar de %s a %s. Desde pending: validated o rejected; desde validated: appealed o paid; desde appealed: validated o rejected.", from, te.To),
			fmt.Sprintf("Cannot move from %s to %s. From pending: validated or rejected; from validated: appealed or paid; from appealed: validated or rejected.", from, te.To))
	}
}

// evidenceLink turns a stored evidence reference into a link a client can
// fetch: a presigned object-store URL, or a signed /api/evidence link that
// works without an Authorization header until it expires.
func (s *Server) evidenceLink(c *gin.Context, ref string) string {
	if ref == "" {
		return ""
	}
	key := objstore.KeyFromURL(ref)
	if !event.ValidKey(key) {
		return ""
	}
	if s.Evidence != nil {
		if u, err := s.Evidence.PresignGet(c.Request.Context(), key, evidenceLinkTTL); err == nil && u != "" {
			return u
		}
	}
	path := "/api/evidence/" + key
	exp := time.Now().Add(evidenceLinkTTL).Unix()
	v := url.Values{"expires": {strconv.FormatInt(exp, 10)}, "sig": {s.Auth.Tokens.SignLink(path, exp)}}
	return (&url.URL{Path: path}).EscapedPath() + "?" + v.Encode()
}

func (s *Server) getEvidence(c *gin.Context) {
	key := strings.TrimPrefix(c.Param("key"), "/")
	if !event.ValidKey(key) {
		fail(c, http.StatusBadRequest, "invalid_key")
		return
	}
	if sig := c.Query("sig"); sig != "" {
		exp, err := strconv.ParseInt(c.Query("expires"), 10, 64)
		if err != nil || !s.Auth.Tokens.CheckLink("/api/evidence/"+key, exp, sig) {
			fail(c, http.StatusForbidden, "forbidden")
			return
		}
	} else {
		p, ok := s.mw.Authenticate(c)
		if !ok {
			return
		}
		if !auth.Allowed(p.Role, auth.PermEvidenceRead) {
			fail(c, http.StatusForbidden, "forbidden")
			return
		}
	}
	if s.Evidence == nil {
		fail(c, http.StatusNotFound, "not_found")
		return
	}
	rc, info, err := s.Evidence.Get(c.Request.Context(), key)
	if errors.Is(err, objstore.ErrNotFound) {
		fail(c, http.StatusNotFound, "not_found")
		return
	}
	if err != nil {
		s.internal(c, "evidence get", err)
		return
	}
	defer rc.Close()
	ct := info.ContentType
	if ct == "" {
		ct = contentTypeOf(key)
	}
	c.Header("Content-Type", ct)
	c.Header("Content-Length", strconv.FormatInt(info.Size, 10))
	c.Header("Cache-Control", "private, max-age=300")
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
	limit, _, ok := page(c, 100, 1000)
	if !ok {
		return
	}
	rows, err := s.Store.ListDeadLetters(c.Request.Context(), limit)
	if err != nil {
		s.internal(c, "list dead letters", err)
		return
	}
	if rows == nil {
		rows = []db.DeadLetter{}
	}
	c.JSON(http.StatusOK, gin.H{"count": len(rows), "results": rows})
}

func (s *Server) listAudit(c *gin.Context) {
	limit, offset, ok := page(c, 100, 1000)
	if !ok {
		return
	}
	f := db.AuditFilter{Limit: limit, Offset: offset}
	short := func(name string, dst *string) bool {
		v := c.Query(name)
		if len(v) > 100 {
			badParam(c, name+" es demasiado largo.", name+" is too long.")
			return false
		}
		*dst = v
		return true
	}
	if !short("entity_type", &f.EntityType) || !short("entity_id", &f.EntityID) || !short("action", &f.Action) {
		return
	}
	if v := c.Query("actor_id"); v != "" {
		if !db.IsUUID(v) {
			badParam(c, "actor_id debe ser un UUID.", "actor_id must be a UUID.")
			return
		}
		f.ActorID = v
	}
	for _, p := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.Query(p.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				badParam(c, p.name+" debe ser una fecha RFC 3339.", p.name+" must be an RFC 3339 timestamp.")
				return
			}
			*p.dst = &t
		}
	}
	count, rows, err := s.Store.ListAudit(c.Request.Context(), f)
	if err != nil {
		s.internal(c, "list audit", err)
		return
	}
	if rows == nil {
		rows = []db.AuditEntry{}
	}
	next, prev := pageLinks(c, count, limit, offset)
	c.JSON(http.StatusOK, paged{Count: count, Next: next, Previous: prev, Results: rows})
}
