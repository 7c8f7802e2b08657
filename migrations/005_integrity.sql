-- 005: bookkeeping for the integrity workers (evidence verification retries,
-- SUNARP enrichment retries) on top of the tables of 003.

-- Evidence verification: how many times the worker tried, and when it may try
-- again (a lease while it works, then the retry backoff while objects are
-- not in the store yet).
ALTER TABLE evidence_manifests ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE evidence_manifests ADD COLUMN next_attempt_at TIMESTAMPTZ;
-- The worker's queue: infractions still pending, oldest first.
CREATE INDEX idx_infractions_evidence_pending ON infractions(created_at)
    WHERE evidence_verification = 'pending';
-- The chain check looks up a device's verified manifests by sequence.
ALTER TABLE evidence_manifests ADD COLUMN device_id VARCHAR(50);
CREATE INDEX idx_evidence_manifests_chain ON evidence_manifests(device_id, key_id, sequence)
    WHERE verification = 'verified';

-- SUNARP enrichment: when a failed lookup may be retried (NULL: now).
ALTER TABLE vehicles ADD COLUMN sunarp_retry_at TIMESTAMPTZ;
CREATE INDEX idx_vehicles_sunarp_due ON vehicles(sunarp_last_check NULLS FIRST);
