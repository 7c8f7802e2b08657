-- 003: what a defensible system needs beyond the specification's tables:
-- device public keys and per-infraction evidence verification, an
-- append-only audit log, device liveness alerts, and the API's sessions,
-- login lockout and review-workflow columns.

-- Ed25519 public keys of the agents (agent evidence export-key). key_id is
-- shared/evidence.KeyID(pub): the manifest names the key that signed it.
CREATE TABLE device_public_keys (
    device_id VARCHAR(50) NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    key_id VARCHAR(64) NOT NULL,
    algorithm VARCHAR(20) NOT NULL DEFAULT 'ed25519' CHECK (algorithm = 'ed25519'),
    public_key BYTEA NOT NULL CHECK (octet_length(public_key) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ,
    PRIMARY KEY (device_id, key_id)
);

-- One row per infraction whose evidence manifest the hub checked (or tried
-- to). Unverified evidence is kept and flagged, never dropped.
CREATE TABLE evidence_manifests (
    infraction_id UUID PRIMARY KEY REFERENCES infractions(id) ON DELETE CASCADE,
    manifest_key TEXT,
    manifest_sha256 VARCHAR(64),
    manifest JSONB,
    key_id VARCHAR(64),
    sequence BIGINT,
    prev_hash VARCHAR(64),
    -- pending: not checked yet (manifest not in the store yet);
    -- verified: signature, file hashes and event/manifest agreement hold;
    -- unverified: no registered key for the device, or no manifest;
    -- failed: a check failed (see verification_detail).
    verification VARCHAR(20) NOT NULL DEFAULT 'pending'
        CHECK (verification IN ('pending', 'verified', 'unverified', 'failed')),
    verification_detail TEXT,
    verified_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_evidence_manifests_verification ON evidence_manifests(verification);
ALTER TABLE infractions ADD COLUMN evidence_verification VARCHAR(20) NOT NULL DEFAULT 'pending'
    CHECK (evidence_verification IN ('pending', 'verified', 'unverified', 'failed'));

-- Append-only audit log: who did what, when, before and after. UPDATE and
-- DELETE are refused by a trigger (the retention of the audit log is a legal
-- decision, not the application's).
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor_id UUID,                 -- users.id; NULL for the system (ingestion, jobs)
    actor VARCHAR(150) NOT NULL,   -- username, or 'system:<component>'
    actor_role VARCHAR(50),
    action VARCHAR(80) NOT NULL,   -- e.g. infraction.validate, user.create, auth.login_failed
    entity_type VARCHAR(50) NOT NULL,
    entity_id VARCHAR(100),
    before JSONB,
    after JSONB,
    reason TEXT,
    remote_addr VARCHAR(64),
    request_id VARCHAR(64)
);
CREATE INDEX idx_audit_log_entity ON audit_log(entity_type, entity_id, at DESC);
CREATE INDEX idx_audit_log_at ON audit_log(at DESC);
CREATE INDEX idx_audit_log_actor ON audit_log(actor_id, at DESC);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Device liveness alerts: raised when a device goes silent (no status within
-- the configured window) or announces itself offline; cleared when it is
-- heard again. At most one open alert per device and kind.
CREATE TABLE device_alerts (
    id BIGSERIAL PRIMARY KEY,
    device_id VARCHAR(50) NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    kind VARCHAR(30) NOT NULL CHECK (kind IN ('silent', 'offline', 'degraded', 'encryption_suspected', 'evidence_unverified')),
    detail TEXT,
    raised_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cleared_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX idx_device_alerts_open ON device_alerts(device_id, kind) WHERE cleared_at IS NULL;
CREATE INDEX idx_device_alerts_raised ON device_alerts(raised_at DESC);

-- API sessions: one row per refresh token (stored hashed). Logout revokes it.
CREATE TABLE auth_sessions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    refresh_hash VARCHAR(64) NOT NULL UNIQUE,  -- hex SHA-256 of the refresh token
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ,
    remote_addr VARCHAR(64),
    user_agent TEXT
);
CREATE INDEX idx_auth_sessions_user ON auth_sessions(user_id);

-- Login lockout after repeated failures.
ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until TIMESTAMPTZ;

-- Review workflow: who proposed the decision (two-person rule) and when an
-- infraction was appealed or paid. The full history is in audit_log.
ALTER TABLE infractions ADD COLUMN proposed_by UUID REFERENCES users(id) ON DELETE SET NULL;
ALTER TABLE infractions ADD COLUMN proposed_status VARCHAR(50)
    CHECK (proposed_status IS NULL OR proposed_status IN ('validated', 'rejected'));
ALTER TABLE infractions ADD COLUMN appealed_at TIMESTAMPTZ;
ALTER TABLE infractions ADD COLUMN paid_at TIMESTAMPTZ;
