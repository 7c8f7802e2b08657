package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// text is a user-facing message in Spanish (the default) and English.
type text struct{ es, en string }

// messages is the catalogue of refusal codes. Codes are stable: clients
// branch on them, never on the message.
var messages = map[string]text{
	"not_found":              {"El recurso no existe.", "No such resource."},
	"method_not_allowed":     {"Método no permitido.", "Method not allowed."},
	"invalid_parameter":      {"Parámetro inválido.", "Invalid parameter."},
	"invalid_json":           {"El cuerpo no es JSON válido.", "The body is not valid JSON."},
	"invalid_body":           {"El cuerpo de la solicitud no es válido.", "The request body is not valid."},
	"unknown_field":          {"El cuerpo contiene un campo desconocido.", "The body contains an unknown field."},
	"body_too_large":         {"El cuerpo de la solicitud es demasiado grande.", "The request body is too large."},
	"unsupported_media_type": {"El cuerpo debe ser application/json.", "The body must be application/json."},
	"token_missing":          {"Falta el token de acceso (Authorization: Bearer).", "The access token is missing (Authorization: Bearer)."},
	"token_invalid":          {"El token de acceso no es válido.", "The access token is not valid."},
	"token_expired":          {"El token de acceso expiró; renuévelo.", "The access token has expired; refresh it."},
	"user_inactive":          {"El usuario está desactivado.", "The user is deactivated."},
	"session_revoked":        {"La sesión fue cerrada; inicie sesión de nuevo.", "The session was closed; log in again."},
	"forbidden":              {"Su rol no permite esta operación.", "Your role does not allow this operation."},
	"invalid_credentials":    {"Usuario o contraseña incorrectos.", "Wrong username or password."},
	"account_locked":         {"Cuenta bloqueada temporalmente por intentos fallidos.", "Account temporarily locked after failed attempts."},
	"rate_limited":           {"Demasiados intentos; espere e intente de nuevo.", "Too many attempts; wait and try again."},
	"invalid_refresh_token":  {"El token de renovación no es válido o expiró.", "The refresh token is invalid or expired."},
	"conflict":               {"Ya existe un recurso con ese identificador.", "A resource with that identifier already exists."},
	"invalid_value":          {"La base de datos rechazó un valor.", "The database refused a value."},
	"illegal_transition":     {"Transición de estado no permitida.", "State transition not allowed."},
	"same_reviewer":          {"Regla de dos personas: la confirmación debe hacerla otro revisor.", "Two-person rule: another reviewer must confirm."},
	"confirm_forbidden":      {"Solo un supervisor o administrador puede confirmar la propuesta.", "Only a supervisor or admin can confirm the proposal."},
	"reason_required":        {"Debe indicar un motivo.", "A reason is required."},
	"self_lockout":           {"No puede desactivarse ni quitarse el rol de administrador a sí mismo.", "You cannot deactivate yourself or drop your own admin role."},
	"invalid_key":            {"La clave de evidencia debe ser una ruta relativa sin '..'.", "The evidence key must be a relative path without '..'."},
	"cors_forbidden":         {"Origen no permitido.", "Origin not allowed."},
	"internal":               {"Error interno; el equipo técnico fue notificado en los registros.", "Internal error; it was logged for the technical team."},
	"unavailable":            {"Servicio no disponible.", "Service unavailable."},
}

// apiError is the body of every refusal: {"error": {"code", "message"}}.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// english reports whether the client prefers English (Accept-Language: en...).
// Spanish is the default.
func english(c *gin.Context) bool {
	for _, part := range strings.Split(c.GetHeader("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		switch {
		case strings.HasPrefix(tag, "es"):
			return false
		case strings.HasPrefix(tag, "en"):
			return true
		}
	}
	return false
}

// fail writes the catalogue message of code and aborts.
func fail(c *gin.Context, status int, code string) {
	m, ok := messages[code]
	if !ok {
		m = messages["internal"]
	}
	failText(c, status, code, m)
}

// failf writes a specific message (Spanish, English) under code and aborts.
func failf(c *gin.Context, status int, code, es, en string) {
	failText(c, status, code, text{es, en})
}

func failText(c *gin.Context, status int, code string, m text) {
	msg := m.es
	if english(c) {
		msg = m.en
	}
	c.AbortWithStatusJSON(status, gin.H{"error": apiError{Code: code, Message: msg}})
}

// badParam refuses a query or path parameter.
func badParam(c *gin.Context, es, en string) {
	failf(c, http.StatusBadRequest, "invalid_parameter", es, en)
}
