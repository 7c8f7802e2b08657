package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/vigia-pe/vigia/hub/internal/auth"
	"github.com/vigia-pe/vigia/hub/internal/db"
	"github.com/vigia-pe/vigia/shared/event"
)

var (
	usernameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{2,149}$`)
	plateRe    = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,19}$`)
	dniRe      = regexp.MustCompile(`^[0-9A-Z]{8,20}$`)
)

func invalid(c *gin.Context, es, en string) {
	failf(c, http.StatusBadRequest, "invalid_body", es, en)
}

func validDate(s *string) bool {
	if s == nil {
		return true
	}
	_, err := time.Parse("2006-01-02", *s)
	return err == nil
}

// ---- users ----

type userCreate struct {
	Username string  `json:"username"`
	Email    string  `json:"email"`
	Password string  `json:"password"`
	Role     string  `json:"role"`
	FullName *string `json:"full_name"`
	IsActive *bool   `json:"is_active"`
}

type userUpdate struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Role     *string `json:"role"`
	FullName *string `json:"full_name"`
	IsActive *bool   `json:"is_active"`
}

func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && len(e) <= 255
}

func (s *Server) listUsers(c *gin.Context) {
	limit, offset, ok := page(c, 50, 500)
	if !ok {
		return
	}
	role := c.Query("role")
	if role != "" && !auth.ValidRole(role) {
		badParam(c, "role debe ser admin, supervisor, operator o auditor.", "role must be admin, supervisor, operator or auditor.")
		return
	}
	n, rows, err := s.Store.ListUsers(c.Request.Context(), role, limit, offset)
	if err != nil {
		s.internal(c, "list users", err)
		return
	}
	if rows == nil {
		rows = []db.User{}
	}
	next, prev := pageLinks(c, n, limit, offset)
	c.JSON(http.StatusOK, paged{Count: n, Next: next, Previous: prev, Results: rows})
}

func (s *Server) getUser(c *gin.Context) {
	u, err := s.Store.UserByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeErr(c, "get user", err)
		return
	}
	c.JSON(http.StatusOK, u)
}

func (s *Server) createUser(c *gin.Context) {
	var req userCreate
	if !bindJSON(c, &req) {
		return
	}
	req.Email = strings.ToLower(strings.TrimSpace(req.Email))
	switch {
	case !usernameRe.MatchString(req.Username):
		invalid(c, "username: 3 a 150 caracteres [A-Za-z0-9_.@-].", "username: 3 to 150 characters [A-Za-z0-9_.@-].")
		return
	case !validEmail(req.Email):
		invalid(c, "email no es una dirección válida.", "email is not a valid address.")
		return
	case !auth.ValidRole(req.Role):
		invalid(c, "role debe ser admin, supervisor, operator o auditor.", "role must be admin, supervisor, operator or auditor.")
		return
	}
	hash, err := s.Auth.Passwords.Hash(req.Password)
	if err != nil {
		invalid(c, "La contraseña debe tener entre 10 y 72 bytes.", "The password must be 10 to 72 bytes.")
		return
	}
	active := req.IsActive == nil || *req.IsActive
	u, err := s.Store.CreateUser(c.Request.Context(), db.User{Username: req.Username, Email: req.Email, PasswordHash: hash,
		Role: req.Role, FullName: req.FullName, IsActive: active}, actor(c))
	if err != nil {
		s.writeErr(c, "create user", err)
		return
	}
	c.JSON(http.StatusCreated, u)
}

func (s *Server) updateUser(c *gin.Context) {
	var req userUpdate
	if !bindJSON(c, &req) {
		return
	}
	p := db.UserPatch{FullName: req.FullName, Role: req.Role, IsActive: req.IsActive}
	if req.Email != nil {
		e := strings.ToLower(strings.TrimSpace(*req.Email))
		if !validEmail(e) {
			invalid(c, "email no es una dirección válida.", "email is not a valid address.")
			return
		}
		p.Email = &e
	}
	if req.Role != nil && !auth.ValidRole(*req.Role) {
		invalid(c, "role debe ser admin, supervisor, operator o auditor.", "role must be admin, supervisor, operator or auditor.")
		return
	}
	if req.Password != nil {
		h, err := s.Auth.Passwords.Hash(*req.Password)
		if err != nil {
			invalid(c, "La contraseña debe tener entre 10 y 72 bytes.", "The password must be 10 to 72 bytes.")
			return
		}
		p.PasswordHash = &h
	}
	id := c.Param("id")
	if id == c.GetString(auth.KeyUserID) && ((p.IsActive != nil && !*p.IsActive) || (p.Role != nil && *p.Role != string(auth.RoleAdmin))) {
		fail(c, http.StatusConflict, "self_lockout")
		return
	}
	u, err := s.Store.UpdateUser(c.Request.Context(), id, p, actor(c))
	if err != nil {
		s.writeErr(c, "update user", err)
		return
	}
	c.JSON(http.StatusOK, u)
}

// ---- zones ----

type zoneCreate struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	SpeedLimit  int             `json:"speed_limit"`
	Geometry    json.RawMessage `json:"geometry"`
	IsActive    *bool           `json:"is_active"`
}

type zoneUpdate struct {
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	SpeedLimit  *int            `json:"speed_limit"`
	Geometry    json.RawMessage `json:"geometry"`
	IsActive    *bool           `json:"is_active"`
}

func (s *Server) geometry(c *gin.Context, raw json.RawMessage) (json.RawMessage, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, true
	}
	g, err := checkPolygon(raw)
	if err != nil {
		invalid(c, "geometry debe ser un Polygon GeoJSON válido (WGS84, anillos cerrados): "+err.Error(), "geometry must be a valid GeoJSON Polygon (WGS84, closed rings): "+err.Error())
		return nil, false
	}
	return g, true
}

func (s *Server) listZones(c *gin.Context) {
	limit, offset, ok := page(c, 100, 500)
	if !ok {
		return
	}
	n, rows, err := s.Store.ListZones(c.Request.Context(), limit, offset)
	if err != nil {
		s.internal(c, "list zones", err)
		return
	}
	if rows == nil {
		rows = []db.Zone{}
	}
	next, prev := pageLinks(c, n, limit, offset)
	c.JSON(http.StatusOK, paged{Count: n, Next: next, Previous: prev, Results: rows})
}

func (s *Server) getZone(c *gin.Context) {
	z, err := s.Store.ZoneByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeErr(c, "get zone", err)
		return
	}
	c.JSON(http.StatusOK, z)
}

func (s *Server) createZone(c *gin.Context) {
	var req zoneCreate
	if !bindJSON(c, &req) {
		return
	}
	if !event.ValidDeviceID(req.ID) {
		invalid(c, "id: 1 a 50 caracteres [A-Za-z0-9_.-].", "id: 1 to 50 characters [A-Za-z0-9_.-].")
		return
	}
	if strings.TrimSpace(req.Name) == "" || len(req.Name) > 255 {
		invalid(c, "name es obligatorio (hasta 255 caracteres).", "name is required (up to 255 characters).")
		return
	}
	if req.SpeedLimit < 1 || req.SpeedLimit > 200 {
		invalid(c, "speed_limit debe estar entre 1 y 200 km/h.", "speed_limit must be within 1..200 km/h.")
		return
	}
	g, ok := s.geometry(c, req.Geometry)
	if !ok {
		return
	}
	z, err := s.Store.CreateZone(c.Request.Context(), db.Zone{ID: req.ID, Name: req.Name, Description: req.Description,
		SpeedLimit: req.SpeedLimit, Geometry: g, IsActive: req.IsActive == nil || *req.IsActive}, actor(c))
	if err != nil {
		s.writeErr(c, "create zone", err)
		return
	}
	c.JSON(http.StatusCreated, z)
}

func (s *Server) updateZone(c *gin.Context) {
	var req zoneUpdate
	if !bindJSON(c, &req) {
		return
	}
	if req.Name != nil && (strings.TrimSpace(*req.Name) == "" || len(*req.Name) > 255) {
		invalid(c, "name es obligatorio (hasta 255 caracteres).", "name is required (up to 255 characters).")
		return
	}
	if req.SpeedLimit != nil && (*req.SpeedLimit < 1 || *req.SpeedLimit > 200) {
		invalid(c, "speed_limit debe estar entre 1 y 200 km/h.", "speed_limit must be within 1..200 km/h.")
		return
	}
	g, ok := s.geometry(c, req.Geometry)
	if !ok {
		return
	}
	z, err := s.Store.UpdateZone(c.Request.Context(), c.Param("id"), db.ZonePatch{Name: req.Name, Description: req.Description,
		SpeedLimit: req.SpeedLimit, Geometry: g, IsActive: req.IsActive}, actor(c))
	if err != nil {
		s.writeErr(c, "update zone", err)
		return
	}
	c.JSON(http.StatusOK, z)
}

func (s *Server) deleteZone(c *gin.Context) {
	if err := s.Store.DeleteZone(c.Request.Context(), c.Param("id"), actor(c)); err != nil {
		s.writeErr(c, "delete zone", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ---- devices ----

var deviceStatuses = map[string]bool{"active": true, "inactive": true, "maintenance": true, "error": true}

type deviceCreate struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	ZoneID      *string         `json:"zone_id"`
	Model       *string         `json:"model"`
	Status      *string         `json:"status"`
	RTSPURL     string          `json:"rtsp_url"`
	Location    *db.Point       `json:"location"`
	Orientation *float64        `json:"orientation"`
	Config      json.RawMessage `json:"config"`
}

type deviceUpdate struct {
	Name        *string         `json:"name"`
	ZoneID      *string         `json:"zone_id"`
	Model       *string         `json:"model"`
	Status      *string         `json:"status"`
	RTSPURL     *string         `json:"rtsp_url"`
	Location    *db.Point       `json:"location"`
	Orientation *float64        `json:"orientation"`
	Config      json.RawMessage `json:"config"`
}

// configCommand reports the config.update command sent for a device change.
type configCommand struct {
	CommandID string `json:"command_id"`
	Topic     string `json:"topic"`
	Pushed    bool   `json:"pushed"`
}

type deviceResponse struct {
	db.DeviceInfo
	ConfigCommand *configCommand `json:"config_command,omitempty"`
}

func (s *Server) checkDevice(c *gin.Context, name, model, status, rtsp *string, zone *string, loc *db.Point, orient *float64, cfg json.RawMessage) bool {
	switch {
	case name != nil && (strings.TrimSpace(*name) == "" || len(*name) > 255):
		invalid(c, "name es obligatorio (hasta 255 caracteres).", "name is required (up to 255 characters).")
	case model != nil && len(*model) > 100:
		invalid(c, "model tiene más de 100 caracteres.", "model is longer than 100 characters.")
	case status != nil && !deviceStatuses[*status]:
		invalid(c, "status debe ser active, inactive, maintenance o error.", "status must be active, inactive, maintenance or error.")
	case rtsp != nil && *rtsp != "" && !strings.HasPrefix(*rtsp, "rtsp://") && !strings.HasPrefix(*rtsp, "rtsps://"):
		invalid(c, "rtsp_url debe empezar con rtsp:// o rtsps://.", "rtsp_url must start with rtsp:// or rtsps://.")
	case zone != nil && *zone != "" && !event.ValidDeviceID(*zone):
		invalid(c, "zone_id no es un identificador válido.", "zone_id is not a valid identifier.")
	case loc != nil && (loc.Lat < -90 || loc.Lat > 90 || loc.Lon < -180 || loc.Lon > 180):
		invalid(c, "location fuera de rango.", "location out of range.")
	case orient != nil && (*orient < 0 || *orient >= 360):
		invalid(c, "orientation debe estar en [0, 360).", "orientation must be within [0, 360).")
	case len(cfg) > 0 && string(cfg) != "null" && (cfg[0] != '{' || len(cfg) > 64<<10):
		invalid(c, "config debe ser un objeto JSON (hasta 64 KiB).", "config must be a JSON object (up to 64 KiB).")
	default:
		return true
	}
	return false
}

func (s *Server) listDevices(c *gin.Context) {
	limit, offset, ok := page(c, 100, 500)
	if !ok {
		return
	}
	zone := c.Query("zone_id")
	if zone != "" && !event.ValidDeviceID(zone) {
		badParam(c, "zone_id no es un identificador válido.", "zone_id is not a valid identifier.")
		return
	}
	n, rows, err := s.Store.ListDevices(c.Request.Context(), zone, limit, offset)
	if err != nil {
		s.internal(c, "list devices", err)
		return
	}
	if rows == nil {
		rows = []db.DeviceInfo{}
	}
	next, prev := pageLinks(c, n, limit, offset)
	c.JSON(http.StatusOK, paged{Count: n, Next: next, Previous: prev, Results: rows})
}

func (s *Server) getDevice(c *gin.Context) {
	d, err := s.Store.DeviceByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeErr(c, "get device", err)
		return
	}
	c.JSON(http.StatusOK, deviceResponse{DeviceInfo: d})
}

func (s *Server) createDevice(c *gin.Context) {
	var req deviceCreate
	if !bindJSON(c, &req) {
		return
	}
	if !event.ValidDeviceID(req.ID) {
		invalid(c, "id: 1 a 50 caracteres [A-Za-z0-9_.-].", "id: 1 to 50 characters [A-Za-z0-9_.-].")
		return
	}
	if req.Name == "" {
		req.Name = req.ID
	}
	if !s.checkDevice(c, &req.Name, req.Model, req.Status, &req.RTSPURL, req.ZoneID, req.Location, req.Orientation, req.Config) {
		return
	}
	status := "active"
	if req.Status != nil {
		status = *req.Status
	}
	if req.ZoneID != nil && *req.ZoneID == "" {
		req.ZoneID = nil
	}
	d, err := s.Store.CreateDevice(c.Request.Context(), db.DeviceInfo{ID: req.ID, Name: req.Name, ZoneID: req.ZoneID, Model: req.Model,
		Status: status, Location: req.Location, Orientation: req.Orientation, Config: req.Config}, req.RTSPURL, actor(c))
	if err != nil {
		s.writeErr(c, "create device", err)
		return
	}
	resp := deviceResponse{DeviceInfo: d}
	if len(d.Config) > 0 && string(d.Config) != "null" {
		resp.ConfigCommand = s.pushConfig(c.Request.Context(), d)
	}
	c.JSON(http.StatusCreated, resp)
}

func (s *Server) updateDevice(c *gin.Context) {
	var req deviceUpdate
	if !bindJSON(c, &req) {
		return
	}
	if !s.checkDevice(c, req.Name, req.Model, req.Status, req.RTSPURL, req.ZoneID, req.Location, req.Orientation, req.Config) {
		return
	}
	d, changed, err := s.Store.UpdateDevice(c.Request.Context(), c.Param("id"), db.DevicePatch{Name: req.Name, ZoneID: req.ZoneID,
		Model: req.Model, Status: req.Status, RTSPURL: req.RTSPURL, Location: req.Location, Orientation: req.Orientation, Config: req.Config}, actor(c))
	if err != nil {
		s.writeErr(c, "update device", err)
		return
	}
	resp := deviceResponse{DeviceInfo: d}
	if changed {
		resp.ConfigCommand = s.pushConfig(c.Request.Context(), d)
	}
	c.JSON(http.StatusOK, resp)
}

// pushConfig sends the device's desired configuration to its agent as a
// config.update command on traffic/v1/<device>/command. The configuration is
// already stored: a failed push is reported, not fatal.
func (s *Server) pushConfig(ctx context.Context, d db.DeviceInfo) *configCommand {
	cfg := d.Config
	if string(cfg) == "null" {
		cfg = json.RawMessage("{}")
	}
	env, err := event.New(d.ID, time.Now().UTC(), &event.Command{Action: event.ActionConfigUpdate, CameraID: d.ID, Config: cfg})
	if err != nil {
		s.Log.Warn("config command", "device", d.ID, "err", err)
		return &configCommand{Topic: event.Topic(d.ID, event.KindCommand)}
	}
	cc := &configCommand{CommandID: env.ID, Topic: event.Topic(d.ID, event.KindCommand)}
	if s.Publisher == nil {
		return cc
	}
	b, err := env.Encode()
	if err != nil {
		s.Log.Warn("config command encode", "device", d.ID, "err", err)
		return cc
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Publisher.Publish(pctx, cc.Topic, b); err != nil {
		s.Log.Warn("config command publish", "device", d.ID, "err", err)
		return cc
	}
	cc.Pushed = true
	return cc
}

func (s *Server) deleteDevice(c *gin.Context) {
	if err := s.Store.DeleteDevice(c.Request.Context(), c.Param("id"), actor(c)); err != nil {
		s.writeErr(c, "delete device", err)
		return
	}
	c.Status(http.StatusNoContent)
}

// ---- vehicles ----

type vehiclePut struct {
	Brand            *string `json:"brand"`
	Model            *string `json:"model"`
	Year             *int    `json:"year"`
	Color            *string `json:"color"`
	VehicleType      *string `json:"vehicle_type"`
	OwnerName        *string `json:"owner_name"`
	OwnerDNI         *string `json:"owner_dni"`
	OwnerAddress     *string `json:"owner_address"`
	RegistrationDate *string `json:"registration_date"`
}

func (s *Server) listVehicles(c *gin.Context) {
	limit, offset, ok := page(c, 50, 500)
	if !ok {
		return
	}
	prefix := strings.ToUpper(c.Query("plate"))
	if len(prefix) > 20 {
		badParam(c, "plate tiene más de 20 caracteres.", "plate is longer than 20 characters.")
		return
	}
	n, rows, err := s.Store.ListVehicles(c.Request.Context(), prefix, limit, offset)
	if err != nil {
		s.internal(c, "list vehicles", err)
		return
	}
	if rows == nil {
		rows = []db.Vehicle{}
	}
	next, prev := pageLinks(c, n, limit, offset)
	c.JSON(http.StatusOK, paged{Count: n, Next: next, Previous: prev, Results: rows})
}

func (s *Server) plate(c *gin.Context) (string, bool) {
	p := strings.ToUpper(c.Param("plate"))
	if !plateRe.MatchString(p) {
		badParam(c, "La placa no es válida.", "The plate is not valid.")
		return "", false
	}
	return p, true
}

func (s *Server) getVehicle(c *gin.Context) {
	p, ok := s.plate(c)
	if !ok {
		return
	}
	v, err := s.Store.VehicleByPlate(c.Request.Context(), p)
	if err != nil {
		s.writeErr(c, "get vehicle", err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) putVehicle(c *gin.Context) {
	p, ok := s.plate(c)
	if !ok {
		return
	}
	var req vehiclePut
	if !bindJSON(c, &req) {
		return
	}
	if !validDate(req.RegistrationDate) {
		invalid(c, "registration_date debe tener el formato AAAA-MM-DD.", "registration_date must be YYYY-MM-DD.")
		return
	}
	if req.Year != nil && (*req.Year < 1900 || *req.Year > 2100) {
		invalid(c, "year fuera de rango.", "year out of range.")
		return
	}
	v, created, err := s.Store.PutVehicle(c.Request.Context(), db.Vehicle{Plate: p, Brand: req.Brand, Model: req.Model, Year: req.Year,
		Color: req.Color, VehicleType: req.VehicleType, OwnerName: req.OwnerName, OwnerDNI: req.OwnerDNI, OwnerAddress: req.OwnerAddress,
		RegistrationDate: req.RegistrationDate}, actor(c))
	if err != nil {
		s.writeErr(c, "put vehicle", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, v)
}

// ---- drivers ----

type driverPut struct {
	FullName        string  `json:"full_name"`
	LicenseNumber   *string `json:"license_number"`
	LicenseCategory *string `json:"license_category"`
	LicenseExpiry   *string `json:"license_expiry"`
	BirthDate       *string `json:"birth_date"`
	Address         *string `json:"address"`
	Phone           *string `json:"phone"`
	Email           *string `json:"email"`
}

func (s *Server) listDrivers(c *gin.Context) {
	limit, offset, ok := page(c, 50, 500)
	if !ok {
		return
	}
	n, rows, err := s.Store.ListDrivers(c.Request.Context(), limit, offset)
	if err != nil {
		s.internal(c, "list drivers", err)
		return
	}
	if rows == nil {
		rows = []db.Driver{}
	}
	next, prev := pageLinks(c, n, limit, offset)
	c.JSON(http.StatusOK, paged{Count: n, Next: next, Previous: prev, Results: rows})
}

func (s *Server) dni(c *gin.Context) (string, bool) {
	d := strings.ToUpper(c.Param("dni"))
	if !dniRe.MatchString(d) {
		badParam(c, "El DNI no es válido.", "The DNI is not valid.")
		return "", false
	}
	return d, true
}

func (s *Server) getDriver(c *gin.Context) {
	d, ok := s.dni(c)
	if !ok {
		return
	}
	x, err := s.Store.DriverByDNI(c.Request.Context(), d)
	if err != nil {
		s.writeErr(c, "get driver", err)
		return
	}
	c.JSON(http.StatusOK, x)
}

func (s *Server) putDriver(c *gin.Context) {
	d, ok := s.dni(c)
	if !ok {
		return
	}
	var req driverPut
	if !bindJSON(c, &req) {
		return
	}
	switch {
	case strings.TrimSpace(req.FullName) == "" || len(req.FullName) > 255:
		invalid(c, "full_name es obligatorio (hasta 255 caracteres).", "full_name is required (up to 255 characters).")
		return
	case !validDate(req.LicenseExpiry) || !validDate(req.BirthDate):
		invalid(c, "Las fechas deben tener el formato AAAA-MM-DD.", "Dates must be YYYY-MM-DD.")
		return
	case req.Email != nil && !validEmail(*req.Email):
		invalid(c, "email no es una dirección válida.", "email is not a valid address.")
		return
	}
	x, created, err := s.Store.PutDriver(c.Request.Context(), db.Driver{DNI: d, FullName: req.FullName, LicenseNumber: req.LicenseNumber,
		LicenseCategory: req.LicenseCategory, LicenseExpiry: req.LicenseExpiry, BirthDate: req.BirthDate, Address: req.Address,
		Phone: req.Phone, Email: req.Email}, actor(c))
	if err != nil {
		s.writeErr(c, "put driver", err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, x)
}
