package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// refusedByDB maps a PostgreSQL data or PostGIS error to ErrInvalidValue.
func refusedByDB(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	// 22xxx: data exceptions; 23514: check violation; XX000: PostGIS parse errors.
	return pe.Code[:2] == "22" || pe.Code == "23514" || pe.Code == "XX000"
}

// wrapWrite turns a write error into ErrNotFound / ErrConflict / ErrInvalidValue where it is one.
func wrapWrite(what string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotFound), errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case isUnique(err):
		return fmt.Errorf("db: %s: %w", what, ErrConflict)
	case isForeignKey(err):
		return fmt.Errorf("db: %s: %w: a referenced row does not exist", what, ErrInvalidValue)
	case refusedByDB(err):
		return fmt.Errorf("db: %s: %w", what, ErrInvalidValue)
	}
	return fmt.Errorf("db: %s: %w", what, err)
}

// Zone is an enforcement zone; Geometry is a GeoJSON Polygon (or null).
type Zone struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	SpeedLimit  int             `json:"speed_limit"`
	Geometry    json.RawMessage `json:"geometry"`
	IsActive    bool            `json:"is_active"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

const zoneCols = `id, name, description, speed_limit, ST_AsGeoJSON(geometry)::text, COALESCE(is_active, false),
	COALESCE(created_at, now()), COALESCE(updated_at, now())`

func scanZone(r pgx.Row) (Zone, error) {
	var z Zone
	var geo *string
	err := r.Scan(&z.ID, &z.Name, &z.Description, &z.SpeedLimit, &geo, &z.IsActive, &z.CreatedAt, &z.UpdatedAt)
	if geo != nil {
		z.Geometry = json.RawMessage(*geo)
	} else {
		z.Geometry = json.RawMessage("null")
	}
	return z, err
}

func geoArg(g json.RawMessage) *string {
	if len(g) == 0 || string(g) == "null" {
		return nil
	}
	s := string(g)
	return &s
}

// ListZones returns the count and one page of zones by id.
func (s *Store) ListZones(ctx context.Context, limit, offset int) (int64, []Zone, error) {
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM zones`).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("db: count zones: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+zoneCols+` FROM zones ORDER BY id LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list zones: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Zone, error) { return scanZone(r) })
	if err != nil {
		return 0, nil, fmt.Errorf("db: list zones: %w", err)
	}
	return n, out, nil
}

// ZoneByID returns one zone or ErrNotFound.
func (s *Store) ZoneByID(ctx context.Context, id string) (Zone, error) {
	z, err := scanZone(s.Pool.QueryRow(ctx, `SELECT `+zoneCols+` FROM zones WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Zone{}, ErrNotFound
	}
	if err != nil {
		return Zone{}, fmt.Errorf("db: zone %s: %w", id, err)
	}
	return z, nil
}

// CreateZone inserts a zone (GeoJSON geometry through ST_GeomFromGeoJSON) and audits it.
func (s *Store) CreateZone(ctx context.Context, z Zone, a Actor) (Zone, error) {
	var out Zone
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanZone(tx.QueryRow(ctx, `INSERT INTO zones(id, name, description, speed_limit, geometry, is_active)
			VALUES ($1, $2, $3, $4, ST_SetSRID(ST_GeomFromGeoJSON($5), 4326)::geography, $6) RETURNING `+zoneCols,
			z.ID, z.Name, z.Description, z.SpeedLimit, geoArg(z.Geometry), z.IsActive))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "zone.create", "zone", out.ID, nil, out, "")
	})
	if err != nil {
		return Zone{}, wrapWrite("create zone "+z.ID, err)
	}
	return out, nil
}

// ZonePatch changes some of a zone's fields (nil = unchanged).
type ZonePatch struct {
	Name        *string
	Description *string
	SpeedLimit  *int
	Geometry    json.RawMessage // nil = unchanged
	IsActive    *bool
}

// UpdateZone applies p and audits before/after.
func (s *Store) UpdateZone(ctx context.Context, id string, p ZonePatch, a Actor) (Zone, error) {
	var out Zone
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanZone(tx.QueryRow(ctx, `SELECT `+zoneCols+` FROM zones WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		out, err = scanZone(tx.QueryRow(ctx, `UPDATE zones SET name = COALESCE($2, name), description = COALESCE($3, description),
			speed_limit = COALESCE($4, speed_limit),
			geometry = CASE WHEN $5::text IS NULL THEN geometry ELSE ST_SetSRID(ST_GeomFromGeoJSON($5::text), 4326)::geography END,
			is_active = COALESCE($6, is_active), updated_at = now()
			WHERE id = $1 RETURNING `+zoneCols, id, p.Name, p.Description, p.SpeedLimit, geoArg(p.Geometry), p.IsActive))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "zone.update", "zone", id, before, out, "")
	})
	if err != nil {
		return Zone{}, wrapWrite("update zone "+id, err)
	}
	return out, nil
}

// DeleteZone removes a zone (devices and infractions keep their rows, zone set to NULL) and audits it.
func (s *Store) DeleteZone(ctx context.Context, id string, a Actor) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanZone(tx.QueryRow(ctx, `DELETE FROM zones WHERE id = $1 RETURNING `+zoneCols, id))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "zone.delete", "zone", id, before, nil, "")
	})
	return wrapWrite("delete zone "+id, err)
}

// Point is a WGS84 position.
type Point struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// DeviceInfo is a camera as the API shows it. The RTSP URL (credentials) is never included.
type DeviceInfo struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	ZoneID        *string         `json:"zone_id"`
	Model         *string         `json:"model"`
	Status        string          `json:"status"`
	Location      *Point          `json:"location"`
	Orientation   *float64        `json:"orientation"`
	LastHeartbeat *time.Time      `json:"last_heartbeat"`
	Config        json.RawMessage `json:"config"`
	ConfigVersion int             `json:"config_version"`
	AgentStatus   json.RawMessage `json:"agent_status"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

const deviceCols = `id, name, zone_id, model, COALESCE(status, 'active'), ST_Y(location::geometry), ST_X(location::geometry),
	orientation, last_heartbeat, COALESCE(config, 'null'::jsonb), config_version, COALESCE(metadata->'agent_status', 'null'::jsonb),
	COALESCE(created_at, now()), COALESCE(updated_at, now())`

func scanDevice(r pgx.Row) (DeviceInfo, error) {
	var d DeviceInfo
	var lat, lon *float64
	err := r.Scan(&d.ID, &d.Name, &d.ZoneID, &d.Model, &d.Status, &lat, &lon, &d.Orientation, &d.LastHeartbeat,
		&d.Config, &d.ConfigVersion, &d.AgentStatus, &d.CreatedAt, &d.UpdatedAt)
	if lat != nil && lon != nil {
		d.Location = &Point{Lat: *lat, Lon: *lon}
	}
	return d, err
}

// ListDevices returns the count and one page of devices by id.
func (s *Store) ListDevices(ctx context.Context, zoneID string, limit, offset int) (int64, []DeviceInfo, error) {
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM devices WHERE ($1 = '' OR zone_id = $1)`, zoneID).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("db: count devices: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+deviceCols+` FROM devices WHERE ($1 = '' OR zone_id = $1) ORDER BY id LIMIT $2 OFFSET $3`, zoneID, limit, offset)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list devices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DeviceInfo, error) { return scanDevice(r) })
	if err != nil {
		return 0, nil, fmt.Errorf("db: list devices: %w", err)
	}
	return n, out, nil
}

// DeviceByID returns one device or ErrNotFound.
func (s *Store) DeviceByID(ctx context.Context, id string) (DeviceInfo, error) {
	d, err := scanDevice(s.Pool.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return DeviceInfo{}, ErrNotFound
	}
	if err != nil {
		return DeviceInfo{}, fmt.Errorf("db: device %s: %w", id, err)
	}
	return d, nil
}

func pointArg(p *Point) *string {
	if p == nil {
		return nil
	}
	v := fmt.Sprintf("SRID=4326;POINT(%f %f)", p.Lon, p.Lat)
	return &v
}

func jsonArg(j json.RawMessage) []byte {
	if len(j) == 0 || string(j) == "null" {
		return nil
	}
	return j
}

// CreateDevice inserts a device and audits it (without the RTSP URL).
func (s *Store) CreateDevice(ctx context.Context, d DeviceInfo, rtspURL string, a Actor) (DeviceInfo, error) {
	var out DeviceInfo
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		version := 0
		if jsonArg(d.Config) != nil {
			version = 1
		}
		out, err = scanDevice(tx.QueryRow(ctx, `INSERT INTO devices(id, name, zone_id, model, status, rtsp_url, location, orientation, config, config_version)
			VALUES ($1, $2, $3, COALESCE($4, 'EZVIZ H6C Pro 2K'), $5, $6, $7::geography, $8, $9, $10) RETURNING `+deviceCols,
			d.ID, d.Name, d.ZoneID, d.Model, d.Status, rtspURL, pointArg(d.Location), d.Orientation, jsonArg(d.Config), version))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "device.create", "device", out.ID, nil, out, "")
	})
	if err != nil {
		return DeviceInfo{}, wrapWrite("create device "+d.ID, err)
	}
	return out, nil
}

// DevicePatch changes some of a device's fields (nil = unchanged).
type DevicePatch struct {
	Name        *string
	ZoneID      *string // "" clears the zone
	Model       *string
	Status      *string
	RTSPURL     *string
	Location    *Point
	Orientation *float64
	Config      json.RawMessage // nil = unchanged; a change bumps config_version
}

// UpdateDevice applies p and audits before/after; configChanged says whether
// the desired configuration changed (and must be pushed to the agent).
func (s *Store) UpdateDevice(ctx context.Context, id string, p DevicePatch, a Actor) (out DeviceInfo, configChanged bool, err error) {
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if p.Config != nil {
			var same bool
			if err := tx.QueryRow(ctx, `SELECT COALESCE(config, 'null'::jsonb) = $2::jsonb FROM devices WHERE id = $1`, id, string(p.Config)).Scan(&same); err != nil {
				return err
			}
			configChanged = !same
		}
		out, err = scanDevice(tx.QueryRow(ctx, `UPDATE devices SET name = COALESCE($2, name),
			zone_id = CASE WHEN $3::text IS NULL THEN zone_id ELSE NULLIF($3::text, '') END,
			model = COALESCE($4, model), status = COALESCE($5, status), rtsp_url = COALESCE($6, rtsp_url),
			location = COALESCE($7::geography, location), orientation = COALESCE($8, orientation),
			config = CASE WHEN $9 THEN $10::jsonb ELSE config END,
			config_version = config_version + CASE WHEN $9 THEN 1 ELSE 0 END,
			updated_at = now() WHERE id = $1 RETURNING `+deviceCols,
			id, p.Name, p.ZoneID, p.Model, p.Status, p.RTSPURL, pointArg(p.Location), p.Orientation, configChanged, jsonArg(p.Config)))
		if err != nil {
			return err
		}
		action := "device.update"
		if configChanged {
			action = "device.config_update"
		}
		after := any(out)
		if p.RTSPURL != nil {
			after = map[string]any{"device": out, "rtsp_url_changed": true}
		}
		return writeAudit(ctx, tx, a, action, "device", id, before, after, "")
	})
	if err != nil {
		return DeviceInfo{}, false, wrapWrite("update device "+id, err)
	}
	return out, configChanged, nil
}

// DeleteDevice removes a device and audits it.
func (s *Store) DeleteDevice(ctx context.Context, id string, a Actor) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanDevice(tx.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM devices WHERE id = $1`, id); err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "device.delete", "device", id, before, nil, "")
	})
	return wrapWrite("delete device "+id, err)
}

// Vehicle is a registered vehicle (SUNARP data when enriched).
type Vehicle struct {
	Plate            string          `json:"plate"`
	Brand            *string         `json:"brand"`
	Model            *string         `json:"model"`
	Year             *int            `json:"year"`
	Color            *string         `json:"color"`
	VehicleType      *string         `json:"vehicle_type"`
	OwnerName        *string         `json:"owner_name"`
	OwnerDNI         *string         `json:"owner_dni"`
	OwnerAddress     *string         `json:"owner_address"`
	RegistrationDate *string         `json:"registration_date"` // YYYY-MM-DD
	SUNARPLastCheck  *time.Time      `json:"sunarp_last_check"`
	SUNARPData       json.RawMessage `json:"sunarp_data"`
	CreatedAt        time.Time       `json:"created_at"`
	UpdatedAt        time.Time       `json:"updated_at"`
}

const vehicleCols = `plate, brand, model, year, color, vehicle_type, owner_name, owner_dni, owner_address,
	to_char(registration_date, 'YYYY-MM-DD'), sunarp_last_check, COALESCE(sunarp_data, 'null'::jsonb),
	COALESCE(created_at, now()), COALESCE(updated_at, now())`

func scanVehicle(r pgx.Row) (Vehicle, error) {
	var v Vehicle
	err := r.Scan(&v.Plate, &v.Brand, &v.Model, &v.Year, &v.Color, &v.VehicleType, &v.OwnerName, &v.OwnerDNI, &v.OwnerAddress,
		&v.RegistrationDate, &v.SUNARPLastCheck, &v.SUNARPData, &v.CreatedAt, &v.UpdatedAt)
	return v, err
}

// ListVehicles returns the count and one page of vehicles, optionally those whose plate starts with prefix.
func (s *Store) ListVehicles(ctx context.Context, prefix string, limit, offset int) (int64, []Vehicle, error) {
	// The prefix is matched with starts_with, not LIKE: no wildcard injection.
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM vehicles WHERE starts_with(plate, $1)`, prefix).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("db: count vehicles: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+vehicleCols+` FROM vehicles WHERE starts_with(plate, $1) ORDER BY plate LIMIT $2 OFFSET $3`, prefix, limit, offset)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list vehicles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Vehicle, error) { return scanVehicle(r) })
	if err != nil {
		return 0, nil, fmt.Errorf("db: list vehicles: %w", err)
	}
	return n, out, nil
}

// VehicleByPlate returns one vehicle or ErrNotFound.
func (s *Store) VehicleByPlate(ctx context.Context, plate string) (Vehicle, error) {
	v, err := scanVehicle(s.Pool.QueryRow(ctx, `SELECT `+vehicleCols+` FROM vehicles WHERE plate = $1`, plate))
	if errors.Is(err, pgx.ErrNoRows) {
		return Vehicle{}, ErrNotFound
	}
	if err != nil {
		return Vehicle{}, fmt.Errorf("db: vehicle %s: %w", plate, err)
	}
	return v, nil
}

// PutVehicle creates or replaces a vehicle's editable fields and audits it.
func (s *Store) PutVehicle(ctx context.Context, v Vehicle, a Actor) (Vehicle, bool, error) {
	var out Vehicle
	created := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanVehicle(tx.QueryRow(ctx, `SELECT `+vehicleCols+` FROM vehicles WHERE plate = $1 FOR UPDATE`, v.Plate))
		var prev any = before
		if errors.Is(err, pgx.ErrNoRows) {
			created, prev = true, nil
		} else if err != nil {
			return err
		}
		out, err = scanVehicle(tx.QueryRow(ctx, `INSERT INTO vehicles(plate, brand, model, year, color, vehicle_type, owner_name, owner_dni, owner_address, registration_date)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::date)
			ON CONFLICT (plate) DO UPDATE SET brand = EXCLUDED.brand, model = EXCLUDED.model, year = EXCLUDED.year, color = EXCLUDED.color,
				vehicle_type = EXCLUDED.vehicle_type, owner_name = EXCLUDED.owner_name, owner_dni = EXCLUDED.owner_dni,
				owner_address = EXCLUDED.owner_address, registration_date = EXCLUDED.registration_date, updated_at = now()
			RETURNING `+vehicleCols, v.Plate, v.Brand, v.Model, v.Year, v.Color, v.VehicleType, v.OwnerName, v.OwnerDNI, v.OwnerAddress, v.RegistrationDate))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "vehicle.put", "vehicle", v.Plate, prev, out, "")
	})
	if err != nil {
		return Vehicle{}, false, wrapWrite("put vehicle "+v.Plate, err)
	}
	return out, created, nil
}

// Driver is a licensed driver.
type Driver struct {
	DNI             string    `json:"dni"`
	FullName        string    `json:"full_name"`
	LicenseNumber   *string   `json:"license_number"`
	LicenseCategory *string   `json:"license_category"`
	LicenseExpiry   *string   `json:"license_expiry"` // YYYY-MM-DD
	BirthDate       *string   `json:"birth_date"`     // YYYY-MM-DD
	Address         *string   `json:"address"`
	Phone           *string   `json:"phone"`
	Email           *string   `json:"email"`
	RiskScore       float64   `json:"risk_score"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

const driverCols = `dni, full_name, license_number, license_category, to_char(license_expiry, 'YYYY-MM-DD'),
	to_char(birth_date, 'YYYY-MM-DD'), address, phone, email, COALESCE(risk_score, 0),
	COALESCE(created_at, now()), COALESCE(updated_at, now())`

func scanDriver(r pgx.Row) (Driver, error) {
	var d Driver
	err := r.Scan(&d.DNI, &d.FullName, &d.LicenseNumber, &d.LicenseCategory, &d.LicenseExpiry, &d.BirthDate,
		&d.Address, &d.Phone, &d.Email, &d.RiskScore, &d.CreatedAt, &d.UpdatedAt)
	return d, err
}

// ListDrivers returns the count and one page of drivers, riskiest first.
func (s *Store) ListDrivers(ctx context.Context, limit, offset int) (int64, []Driver, error) {
	var n int64
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM drivers`).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("db: count drivers: %w", err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT `+driverCols+` FROM drivers ORDER BY risk_score DESC, dni LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return 0, nil, fmt.Errorf("db: list drivers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Driver, error) { return scanDriver(r) })
	if err != nil {
		return 0, nil, fmt.Errorf("db: list drivers: %w", err)
	}
	return n, out, nil
}

// DriverByDNI returns one driver or ErrNotFound.
func (s *Store) DriverByDNI(ctx context.Context, dni string) (Driver, error) {
	d, err := scanDriver(s.Pool.QueryRow(ctx, `SELECT `+driverCols+` FROM drivers WHERE dni = $1`, dni))
	if errors.Is(err, pgx.ErrNoRows) {
		return Driver{}, ErrNotFound
	}
	if err != nil {
		return Driver{}, fmt.Errorf("db: driver: %w", err)
	}
	return d, nil
}

// PutDriver creates or replaces a driver's editable fields (not the risk
// score, which the risk model owns) and audits it.
func (s *Store) PutDriver(ctx context.Context, d Driver, a Actor) (Driver, bool, error) {
	var out Driver
	created := false
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		before, err := scanDriver(tx.QueryRow(ctx, `SELECT `+driverCols+` FROM drivers WHERE dni = $1 FOR UPDATE`, d.DNI))
		var prev any = before
		if errors.Is(err, pgx.ErrNoRows) {
			created, prev = true, nil
		} else if err != nil {
			return err
		}
		out, err = scanDriver(tx.QueryRow(ctx, `INSERT INTO drivers(dni, full_name, license_number, license_category, license_expiry, birth_date, address, phone, email)
			VALUES ($1, $2, $3, $4, $5::date, $6::date, $7, $8, $9)
			ON CONFLICT (dni) DO UPDATE SET full_name = EXCLUDED.full_name, license_number = EXCLUDED.license_number,
				license_category = EXCLUDED.license_category, license_expiry = EXCLUDED.license_expiry, birth_date = EXCLUDED.birth_date,
				address = EXCLUDED.address, phone = EXCLUDED.phone, email = EXCLUDED.email, updated_at = now()
			RETURNING `+driverCols, d.DNI, d.FullName, d.LicenseNumber, d.LicenseCategory, d.LicenseExpiry, d.BirthDate, d.Address, d.Phone, d.Email))
		if err != nil {
			return err
		}
		return writeAudit(ctx, tx, a, "driver.put", "driver", d.DNI, prev, out, "")
	})
	if err != nil {
		return Driver{}, false, wrapWrite("put driver", err)
	}
	return out, created, nil
}
