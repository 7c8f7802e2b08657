package report

import (
	"net/http"
	"strings"
)

// Lang is the language of a report's labels.
type Lang string

// Languages: Spanish first, English on request.
const (
	ES Lang = "es"
	EN Lang = "en"
)

// langOf picks English when the lang parameter says so, or when there is no
// parameter and Accept-Language starts with en; Spanish otherwise.
func langOf(r *http.Request) Lang {
	if l := strings.ToLower(r.URL.Query().Get("lang")); l != "" {
		if strings.HasPrefix(l, "en") {
			return EN
		}
		return ES
	}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.Header.Get("Accept-Language"))), "en") {
		return EN
	}
	return ES
}

// label keys.
const (
	lTitle         = "title"
	lDate          = "date"
	lZone          = "zone"
	lAllZones      = "all_zones"
	lTimeZone      = "time_zone"
	lGenerated     = "generated"
	lTotals        = "totals"
	lType          = "type"
	lCount         = "count"
	lTotal         = "total"
	lTotalLine     = "total_line"
	lAvgSpeed      = "avg_speed"
	lNone          = "none"
	lRejected      = "rejected"
	lByHour        = "by_hour"
	lHour          = "hour"
	lByType        = "by_type"
	lTop           = "top"
	lRank          = "rank"
	lPlate         = "plate"
	lNoViolators   = "no_violators"
	lCode          = "code"
	lDetectedAt    = "detected_at"
	lSpeed         = "speed"
	lLimit         = "limit"
	lDevice        = "device"
	lStatus        = "status"
	lTruncated     = "truncated"
	lPage          = "page"
	lInfractions   = "infractions"
	lSummaryHeader = "summary_header"
	lValue         = "value"
)

var labels = map[Lang]map[string]string{
	ES: {
		lTitle: "Reporte diario de infracciones", lDate: "Fecha", lZone: "Zona", lAllZones: "Todas las zonas",
		lTimeZone: "Zona horaria", lGenerated: "Generado", lTotals: "Totales por tipo", lType: "Tipo",
		lCount: "Cantidad", lTotal: "Total", lTotalLine: "Total de infracciones", lAvgSpeed: "Velocidad promedio de los excesos (km/h)",
		lNone: "sin datos", lRejected: "Rechazadas (no incluidas)", lByHour: "Infracciones por hora", lHour: "Hora",
		lByType: "Infracciones por tipo", lTop: "Principales reincidentes", lRank: "N.º", lPlate: "Placa",
		lNoViolators: "Ninguna placa registrada en el día.", lCode: "Código", lDetectedAt: "Detectada",
		lSpeed: "Velocidad (km/h)", lLimit: "Límite (km/h)", lDevice: "Cámara", lStatus: "Estado",
		lTruncated: "Lista truncada a %d filas.", lPage: "Página", lInfractions: "Infracciones",
		lSummaryHeader: "Concepto", lValue: "Valor",
	},
	EN: {
		lTitle: "Daily infractions report", lDate: "Date", lZone: "Zone", lAllZones: "All zones",
		lTimeZone: "Time zone", lGenerated: "Generated", lTotals: "Totals by type", lType: "Type",
		lCount: "Count", lTotal: "Total", lTotalLine: "Total infractions", lAvgSpeed: "Average speed of speed violations (km/h)",
		lNone: "no data", lRejected: "Rejected (not included)", lByHour: "Infractions by hour", lHour: "Hour",
		lByType: "Infractions by type", lTop: "Top repeat offenders", lRank: "#", lPlate: "Plate",
		lNoViolators: "No plate recorded that day.", lCode: "Code", lDetectedAt: "Detected",
		lSpeed: "Speed (km/h)", lLimit: "Limit (km/h)", lDevice: "Camera", lStatus: "Status",
		lTruncated: "List truncated to %d rows.", lPage: "Page", lInfractions: "Infractions",
		lSummaryHeader: "Item", lValue: "Value",
	},
}

var typeLabels = map[Lang]map[string]string{
	ES: {"SPEED_VIOLATION": "Exceso de velocidad", "LANE_INVASION": "Invasión de carril", "RED_LIGHT": "Luz roja", "OTHER": "Otra"},
	EN: {"SPEED_VIOLATION": "Speeding", "LANE_INVASION": "Lane invasion", "RED_LIGHT": "Red light", "OTHER": "Other"},
}

var statusLabels = map[Lang]map[string]string{
	ES: {"pending": "pendiente", "validated": "validada", "rejected": "rechazada", "appealed": "apelada", "paid": "pagada"},
	EN: {"pending": "pending", "validated": "validated", "rejected": "rejected", "appealed": "appealed", "paid": "paid"},
}

func (l Lang) t(key string) string { return labels[l][key] }

func (l Lang) typeName(t string) string {
	if s, ok := typeLabels[l][t]; ok {
		return s
	}
	return t
}

func (l Lang) statusName(s string) string {
	if v, ok := statusLabels[l][s]; ok {
		return v
	}
	return s
}

// zoneLabel is "Name (ID)" or the all-zones label.
func (r *Daily) zoneLabel(l Lang) string {
	if r.ZoneID == nil {
		return l.t(lAllZones)
	}
	if r.ZoneName != nil && *r.ZoneName != "" {
		return *r.ZoneName + " (" + *r.ZoneID + ")"
	}
	return *r.ZoneID
}
