-- 006: what the hub API needs beyond 003: the desired configuration of a
-- device (pushed to its agent as a config.update command; every change is
-- also in audit_log), and an index to purge expired sessions.
ALTER TABLE devices ADD COLUMN config JSONB;
ALTER TABLE devices ADD COLUMN config_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX idx_auth_sessions_expires ON auth_sessions(expires_at);
-- The infractions list's ordering=-detected_speed (the API's other common
-- sort) without a full sort of the table.
CREATE INDEX idx_infractions_speed ON infractions(detected_speed DESC NULLS LAST, detected_at DESC, id);
