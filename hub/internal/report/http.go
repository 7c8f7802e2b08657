package report

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
)

// queryTimeout bounds a report's database work.
const queryTimeout = 30 * time.Second

// zoneIDRe is the shape of a zone id (zones.id is VARCHAR(50)).
var zoneIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$`)

// errorMessages are the user-facing texts of the error codes, Spanish first.
var errorMessages = map[string][2]string{
	"invalid_parameter_date":    {"El parámetro date debe tener el formato AAAA-MM-DD.", "The date parameter must be YYYY-MM-DD."},
	"invalid_parameter_zone_id": {"El parámetro zone_id no es un identificador de zona válido.", "The zone_id parameter is not a valid zone id."},
	"invalid_parameter_lang":    {"El parámetro lang debe ser es o en.", "The lang parameter must be es or en."},
	"zone_not_found":            {"La zona indicada no existe.", "The zone does not exist."},
	"report_failed":             {"No se pudo generar el reporte; inténtelo de nuevo.", "The report could not be generated; try again."},
}

func fail(c *gin.Context, status int, code, key string) {
	msgs := errorMessages[key]
	msg := msgs[0]
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(c.GetHeader("Accept-Language"))), "en") {
		msg = msgs[1]
	}
	c.AbortWithStatusJSON(status, gin.H{"error": gin.H{"code": code, "message": msg}})
}

// ParseParams reads date (default: today in loc), zone_id and lang from a
// query string. It returns the error key of the first bad parameter.
func ParseParams(date, zoneID, lang string, loc *time.Location, now time.Time) (Query, string) {
	var q Query
	if date == "" {
		y, m, d := now.In(loc).Date()
		q.Day = time.Date(y, m, d, 0, 0, 0, 0, loc)
	} else {
		day, err := time.ParseInLocation(DateLayout, date, loc)
		if err != nil || day.Year() < 2000 || day.Year() > 9999 {
			return Query{}, "invalid_parameter_date"
		}
		q.Day = day
	}
	if zoneID != "" {
		if !zoneIDRe.MatchString(zoneID) {
			return Query{}, "invalid_parameter_zone_id"
		}
		q.ZoneID = zoneID
	}
	switch strings.ToLower(lang) {
	case "", "es", "en":
	default:
		return Query{}, "invalid_parameter_lang"
	}
	return q, ""
}

// load parses the request and computes its report; it writes the error
// response itself and returns nil on failure.
func (s *Service) load(c *gin.Context, withRows bool) *Daily {
	qs := c.Request.URL.Query()
	q, bad := ParseParams(qs.Get("date"), qs.Get("zone_id"), qs.Get("lang"), s.loc, s.now())
	if bad != "" {
		fail(c, http.StatusBadRequest, "invalid_parameter", bad)
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), queryTimeout)
	defer cancel()
	rep, err := s.Compute(ctx, q, withRows)
	if errors.Is(err, ErrZoneNotFound) {
		fail(c, http.StatusNotFound, "zone_not_found", "zone_not_found")
		return nil
	}
	if err != nil {
		s.log.Error("daily report failed", "date", q.Day.Format(DateLayout), "zone", q.ZoneID, "err", err)
		fail(c, http.StatusInternalServerError, "report_failed", "report_failed")
		return nil
	}
	return rep
}

// Daily serves GET /api/reports/daily?date=YYYY-MM-DD&zone_id=... as JSON.
func (s *Service) Daily(c *gin.Context) {
	if rep := s.load(c, false); rep != nil {
		c.JSON(http.StatusOK, rep)
	}
}

// DailyPDF serves GET /api/reports/daily.pdf (lang=en for English labels).
func (s *Service) DailyPDF(c *gin.Context) {
	rep := s.load(c, false)
	if rep == nil {
		return
	}
	var buf bytes.Buffer
	if err := WritePDF(&buf, rep, langOf(c.Request)); err != nil {
		s.log.Error("daily report PDF failed", "date", rep.Date, "err", err)
		fail(c, http.StatusInternalServerError, "report_failed", "report_failed")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+fileName(rep, "pdf")+`"`)
	c.Data(http.StatusOK, "application/pdf", buf.Bytes())
}

// XLSXContentType is the media type of an .xlsx workbook.
const XLSXContentType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// DailyXLSX serves GET /api/reports/daily.xlsx (lang=en for English labels).
func (s *Service) DailyXLSX(c *gin.Context) {
	rep := s.load(c, true)
	if rep == nil {
		return
	}
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, rep, langOf(c.Request)); err != nil {
		s.log.Error("daily report xlsx failed", "date", rep.Date, "err", err)
		fail(c, http.StatusInternalServerError, "report_failed", "report_failed")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="`+fileName(rep, "xlsx")+`"`)
	c.Data(http.StatusOK, XLSXContentType, buf.Bytes())
}

// fileName is reporte-diario-<date>[-<zone>].<ext>; zone ids are already
// restricted to [A-Za-z0-9_.-], so the name needs no quoting.
func fileName(rep *Daily, ext string) string {
	n := "reporte-diario-" + rep.Date
	if rep.ZoneID != nil {
		n += "-" + *rep.ZoneID
	}
	return n + "." + ext
}
