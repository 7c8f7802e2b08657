package api

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// DefaultMaxBodyBytes bounds request bodies when Server.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

func (s *Server) limitBody() gin.HandlerFunc {
	n := s.MaxBodyBytes
	if n <= 0 {
		n = DefaultMaxBodyBytes
	}
	return func(c *gin.Context) {
		if c.Request.Body != nil {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		}
		c.Next()
	}
}

// checkInput refuses, before any handler, paths and query strings that are
// not valid UTF-8 or hold control characters (PostgreSQL refuses NUL bytes in
// text, and no identifier of this API contains them).
func checkInput() gin.HandlerFunc {
	return func(c *gin.Context) {
		if badText(c.Request.URL.Path) {
			badParam(c, "La ruta contiene caracteres no válidos.", "The path contains invalid characters.")
			return
		}
		q, err := url.ParseQuery(c.Request.URL.RawQuery)
		if err != nil {
			badParam(c, "La cadena de consulta no es válida.", "The query string is not valid.")
			return
		}
		for name, vals := range q {
			if badText(name) || len(vals) > 10 {
				badParam(c, "Parámetro de consulta no válido.", "Invalid query parameter.")
				return
			}
			for _, v := range vals {
				if badText(v) || len(v) > 1000 {
					badParam(c, name+" contiene caracteres no válidos o es demasiado largo.", name+" holds invalid characters or is too long.")
					return
				}
			}
		}
		c.Next()
	}
}

func badText(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

var requestIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{8,64}$`)

// requestID keeps a well-formed X-Request-ID from the client or makes one.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !requestIDRe.MatchString(id) {
			var b [12]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set("vigia.request_id", id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

func securityHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Strict-Transport-Security", "max-age=31536000")
		h.Set("Cache-Control", "no-store")
		c.Next()
	}
}

// cors answers CORS for the configured origins only. Requests from other
// origins get no CORS headers (the browser blocks them); their preflights are refused.
func (s *Server) cors() gin.HandlerFunc {
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		if origin == "" {
			c.Next()
			return
		}
		allowed := slices.Contains(s.CORSOrigins, origin)
		preflight := c.Request.Method == http.MethodOptions && c.GetHeader("Access-Control-Request-Method") != ""
		if !allowed {
			if preflight {
				fail(c, http.StatusForbidden, "cors_forbidden")
				return
			}
			c.Next()
			return
		}
		h := c.Writer.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
		if preflight {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept-Language, X-Request-ID")
			h.Set("Access-Control-Max-Age", "600")
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		c.Next()
	}
}

// bindJSON decodes the body into dst strictly: JSON content type, no unknown
// fields, right types, one value, within the size limit. On failure it has
// written the refusal and returns false.
func bindJSON(c *gin.Context, dst any) bool {
	if mt, _, err := mime.ParseMediaType(c.GetHeader("Content-Type")); err != nil || mt != "application/json" {
		fail(c, http.StatusUnsupportedMediaType, "unsupported_media_type")
		return false
	}
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			fail(c, http.StatusRequestEntityTooLarge, "body_too_large")
			return false
		}
		fail(c, http.StatusBadRequest, "invalid_body")
		return false
	}
	return decodeStrict(c, body, dst)
}

func decodeStrict(c *gin.Context, body []byte, dst any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("trailing data")
	}
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		return true
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		failf(c, http.StatusBadRequest, "invalid_body",
			fmt.Sprintf("El campo %q tiene un tipo incorrecto (se esperaba %s).", field, typeName(typeErr.Type.Kind().String())),
			fmt.Sprintf("Field %q has the wrong type (expected %s).", field, typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		failf(c, http.StatusBadRequest, "unknown_field",
			"Campo desconocido: "+name+".", "Unknown field: "+name+".")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		fail(c, http.StatusBadRequest, "invalid_json")
	default:
		fail(c, http.StatusBadRequest, "invalid_json")
	}
	return false
}

func typeName(kind string) string {
	switch kind {
	case "string":
		return "texto"
	case "bool":
		return "booleano"
	case "slice", "array":
		return "lista"
	case "map", "struct", "ptr":
		return "objeto"
	}
	return "número"
}

// page reads limit/offset (limit 1..max, default def).
func page(c *gin.Context, def, max int) (limit, offset int, ok bool) {
	limit = def
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			badParam(c, fmt.Sprintf("limit debe ser un entero entre 1 y %d.", max), fmt.Sprintf("limit must be an integer within 1..%d.", max))
			return 0, 0, false
		}
		limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1_000_000_000 {
			badParam(c, "offset debe ser un entero no negativo.", "offset must be a non-negative integer.")
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// paged is the list shape of the specification: count, next, previous, results.
type paged struct {
	Count    int64   `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  any     `json:"results"`
}

// pageLinks builds next/previous links keeping the other query parameters.
func pageLinks(c *gin.Context, count int64, limit, offset int) (next, prev *string) {
	link := func(off int) *string {
		v := c.Request.URL.Query()
		v.Set("limit", strconv.Itoa(limit))
		v.Set("offset", strconv.Itoa(off))
		u := c.Request.URL.Path + "?" + v.Encode()
		return &u
	}
	if int64(offset+limit) < count {
		next = link(offset + limit)
	}
	if offset > 0 {
		prev = link(max(0, offset-limit))
	}
	return next, prev
}
