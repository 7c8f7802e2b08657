-- 002: the specification's time-series tables (section 2.1: events,
-- inference_metrics) and ml_models, plus command acknowledgements.
--
-- TimescaleDB is not available, so events and inference_metrics use native
-- range partitioning on "timestamp" with one partition per UTC day, named
-- <table>_pYYYYMMDD. Daily, not monthly: with a 90-day retention a monthly
-- scheme keeps up to ~120 days and frees disk a month at a time, while daily
-- partitions (~100 per table) drop exactly the expired day, keep each
-- partition's indexes small, and are still few enough for partition pruning.
-- The hub's retention job (hub/internal/retention) creates the partitions a
-- few days ahead and drops expired ones.
--
-- A row whose day has no partition yet (the job has not run, a device clock is
-- wrong, a backlog is replayed) lands in the DEFAULT partition instead of
-- failing; the retention job moves such rows into their day's partition when
-- it creates it, and deletes default rows older than the retention.
--
-- Idempotency: the envelope id is stored as event_id. A UNIQUE index on a
-- partitioned table must contain the partition key, so the key is
-- (event_id, timestamp); "timestamp" is taken from the message itself, so a
-- redelivered message maps to the same key and is stored once.
--
-- Latest device status: kept in devices.metadata->'agent_status' (as since
-- 001, read by the API), with every status message appended to events as
-- event_type 'status' for history. No separate device_status table.

CREATE TABLE events (
    id BIGSERIAL,
    event_type VARCHAR(50) NOT NULL,  -- status, detection, tracking, ocr, inference_time
    device_id VARCHAR(50) REFERENCES devices(id) ON DELETE CASCADE,
    timestamp TIMESTAMPTZ NOT NULL,
    data JSONB,
    event_id VARCHAR(40),             -- envelope id, when the row comes from a message
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE TABLE events_default PARTITION OF events DEFAULT;
CREATE INDEX idx_events_device_time ON events(device_id, timestamp DESC);
CREATE INDEX idx_events_type ON events(event_type);
CREATE UNIQUE INDEX idx_events_event_id ON events(event_id, timestamp);

CREATE TABLE inference_metrics (
    id BIGSERIAL,
    event_id VARCHAR(40) NOT NULL,    -- envelope id: the idempotency key
    device_id VARCHAR(50) REFERENCES devices(id) ON DELETE CASCADE,  -- the camera measured
    source_device_id VARCHAR(50),     -- the agent that sent the sample
    timestamp TIMESTAMPTZ NOT NULL,   -- the envelope time
    window_start TIMESTAMPTZ NOT NULL,
    window_end TIMESTAMPTZ NOT NULL,
    fps FLOAT,
    latency_ms FLOAT,
    gpu_utilization FLOAT,
    cpu_utilization FLOAT,
    memory_mb FLOAT,
    detections_count INTEGER,
    infractions_count INTEGER,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (id, timestamp),
    UNIQUE (event_id, timestamp)
) PARTITION BY RANGE (timestamp);
CREATE TABLE inference_metrics_default PARTITION OF inference_metrics DEFAULT;
CREATE INDEX idx_inference_metrics_device ON inference_metrics(device_id, timestamp DESC);

CREATE TABLE ml_models (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    model_name VARCHAR(100) NOT NULL,
    version VARCHAR(50) NOT NULL,
    model_type VARCHAR(50),
    framework VARCHAR(50),
    model_path TEXT NOT NULL,
    mlflow_run_id VARCHAR(100),
    metrics JSONB,
    hyperparameters JSONB,
    is_active BOOLEAN DEFAULT FALSE,
    deployed_at TIMESTAMPTZ,
    deployed_by UUID REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMPTZ DEFAULT CURRENT_TIMESTAMP,
    UNIQUE (model_name, version)
);
CREATE INDEX idx_ml_models_active ON ml_models(model_name, is_active);

-- Command acknowledgements from agents. event_id (the ack's envelope id) is
-- the idempotency key; an agent may ack one command more than once (after a
-- restart), so command_id is indexed, not unique.
CREATE TABLE command_acks (
    event_id VARCHAR(40) PRIMARY KEY,
    command_id VARCHAR(40) NOT NULL,
    device_id VARCHAR(50) NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    camera_id VARCHAR(50),
    outcome VARCHAR(20) NOT NULL,     -- validated by shared/event (done, rejected, failed)
    message TEXT,
    result JSONB,
    acked_at TIMESTAMPTZ NOT NULL,    -- the envelope time at the agent
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_command_acks_command ON command_acks(command_id, received_at DESC);
CREATE INDEX idx_command_acks_device ON command_acks(device_id, received_at DESC);
