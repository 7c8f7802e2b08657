-- 001: the specification's core tables (section 2.1) plus what ingestion needs:
-- idempotency on the edge event id, per-day gap-free infraction codes, and a
-- dead-letter table for refused messages.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    username VARCHAR(150) UNIQUE NOT NULL,
    email VARCHAR(255) UNIQUE NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255),
    role VARCHAR(50) NOT NULL CHECK (role IN ('admin', 'supervisor', 'operator', 'auditor')),
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    last_login TIMESTAMPTZ
);
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_email ON users(email);

CREATE TABLE zones (
    id VARCHAR(50) PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    speed_limit INTEGER NOT NULL CHECK (speed_limit > 0 AND speed_limit <= 200),
    geometry GEOGRAPHY(POLYGON, 4326),
    is_active BOOLEAN DEFAULT TRUE,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_zones_geometry ON zones USING GIST(geometry);

CREATE TABLE devices (
    id VARCHAR(50) PRIMARY KEY,
    zone_id VARCHAR(50) REFERENCES zones(id) ON DELETE SET NULL,
    name VARCHAR(255) NOT NULL,
    model VARCHAR(100) DEFAULT 'EZVIZ H6C Pro 2K',
    rtsp_url TEXT NOT NULL,
    onvif_url TEXT,
    location GEOGRAPHY(POINT, 4326),
    orientation FLOAT CHECK (orientation IS NULL OR (orientation >= 0 AND orientation < 360)),
    calibration_matrix JSONB,
    status VARCHAR(50) DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'maintenance', 'error')),
    last_heartbeat TIMESTAMPTZ,
    metadata JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_devices_zone ON devices(zone_id);
CREATE INDEX idx_devices_status ON devices(status);

CREATE TABLE vehicles (
    plate VARCHAR(20) PRIMARY KEY,
    brand VARCHAR(100),
    model VARCHAR(100),
    year INTEGER,
    color VARCHAR(50),
    vehicle_type VARCHAR(50),
    owner_name VARCHAR(255),
    owner_dni VARCHAR(20),
    owner_address TEXT,
    registration_date DATE,
    sunarp_last_check TIMESTAMPTZ,
    sunarp_data JSONB,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_vehicles_owner_dni ON vehicles(owner_dni);

CREATE TABLE drivers (
    dni VARCHAR(20) PRIMARY KEY,
    full_name VARCHAR(255) NOT NULL,
    license_number VARCHAR(50),
    license_category VARCHAR(20),
    license_expiry DATE,
    birth_date DATE,
    address TEXT,
    phone VARCHAR(20),
    email VARCHAR(255),
    risk_score FLOAT DEFAULT 0.0 CHECK (risk_score >= 0 AND risk_score <= 1),
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_drivers_risk_score ON drivers(risk_score DESC);

CREATE TABLE infractions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- event_id is the edge-made envelope id: the idempotency key.
    event_id VARCHAR(40) NOT NULL UNIQUE,
    infraction_code VARCHAR(50) NOT NULL UNIQUE,
    type VARCHAR(50) NOT NULL CHECK (type IN ('SPEED_VIOLATION', 'LANE_INVASION', 'RED_LIGHT', 'OTHER')),
    device_id VARCHAR(50) REFERENCES devices(id) ON DELETE SET NULL,
    zone_id VARCHAR(50) REFERENCES zones(id) ON DELETE SET NULL,
    plate VARCHAR(20) REFERENCES vehicles(plate) ON DELETE SET NULL,
    driver_dni VARCHAR(20) REFERENCES drivers(dni) ON DELETE SET NULL,
    detected_speed FLOAT,
    speed_limit FLOAT,
    speed_uncertainty FLOAT,
    violation_details JSONB,
    video_url TEXT NOT NULL,
    snapshot_url TEXT NOT NULL,
    evidence JSONB,
    evidence_manifest_sha256 VARCHAR(64),
    confidence_score FLOAT CHECK (confidence_score IS NULL OR (confidence_score >= 0 AND confidence_score <= 1)),
    ocr_confidence FLOAT CHECK (ocr_confidence IS NULL OR (ocr_confidence >= 0 AND ocr_confidence <= 1)),
    status VARCHAR(50) DEFAULT 'pending' CHECK (status IN ('pending', 'validated', 'rejected', 'appealed', 'paid')),
    validated_by UUID REFERENCES users(id) ON DELETE SET NULL,
    validated_at TIMESTAMPTZ,
    rejection_reason TEXT,
    recidivism_risk FLOAT,
    accident_risk FLOAT,
    source_device_id VARCHAR(50),
    detected_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_infractions_type ON infractions(type);
CREATE INDEX idx_infractions_status ON infractions(status);
CREATE INDEX idx_infractions_device ON infractions(device_id);
CREATE INDEX idx_infractions_plate ON infractions(plate);
CREATE INDEX idx_infractions_detected_at ON infractions(detected_at DESC);
CREATE INDEX idx_infractions_zone_date ON infractions(zone_id, detected_at);

-- Gap-free per-day sequence for infraction codes INF-YYYYMMDD-NNN: the row
-- lock taken by the upsert serialises writers of the same day, and a rolled
-- back transaction releases its number.
CREATE TABLE infraction_code_counters (
    day DATE PRIMARY KEY,
    last_value INTEGER NOT NULL
);

-- Messages the hub refused, with the reason, kept for inspection and replay.
CREATE TABLE dead_letters (
    id BIGSERIAL PRIMARY KEY,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    topic TEXT NOT NULL,
    reason VARCHAR(64) NOT NULL,
    detail TEXT NOT NULL,
    event_id VARCHAR(40),
    device_id VARCHAR(50),
    payload BYTEA,
    payload_size INTEGER NOT NULL
);
CREATE INDEX idx_dead_letters_received ON dead_letters(received_at DESC);
CREATE INDEX idx_dead_letters_reason ON dead_letters(reason);
