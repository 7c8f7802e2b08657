-- inference_metrics.device_id → devices(id): the same guarantees as 002's
-- foreign key (ON DELETE CASCADE), checked once per statement instead of once
-- per row.
--
-- Why: a foreign key checks every inserted row with its own query and row
-- lock (SELECT ... FOR KEY SHARE on the device). Metrics arrive in batches of
-- hundreds from a few cameras, written by concurrent transactions that all
-- lock the same device rows, which turns each lock into a MultiXact. In the
-- ingestion benchmark (issue 6) that was ~4-7 µs of PostgreSQL CPU per
-- message, a sixth of the database's share. These triggers lock each
-- referenced device once per statement and refuse unknown ones with the
-- foreign key's own error (SQLSTATE 23503, same constraint name), so every
-- insert path (batches, single rows, COPY) and the hub's dead-lettering of
-- unknown devices behave as before.
--
-- Guarantees, as with the foreign key:
--   * an inserted or updated row names a registered device, or the statement
--     fails (the check runs after the statement, in its transaction);
--   * the device rows are locked FOR KEY SHARE until commit, so a concurrent
--     DELETE of a device waits, then removes the rows (below); a device
--     deleted first makes the check fail;
--   * deleting devices deletes their metrics (ON DELETE CASCADE);
--   * changing a referenced device's id is refused (NO ACTION).
ALTER TABLE inference_metrics DROP CONSTRAINT inference_metrics_device_id_fkey;

CREATE FUNCTION inference_metrics_check_devices() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text[];
    locked bigint;
    missing text;
BEGIN
    SELECT array_agg(DISTINCT device_id) INTO ids FROM new_rows WHERE device_id IS NOT NULL;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    -- Lock in key order, so concurrent writers do not deadlock; a device
    -- deleted meanwhile is not locked (and not counted).
    PERFORM 1 FROM devices WHERE id = ANY(ids) ORDER BY id FOR KEY SHARE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF locked < cardinality(ids) THEN
        SELECT u INTO missing FROM unnest(ids) AS u WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = u) LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "inference_metrics" violates foreign key constraint "inference_metrics_device_id_fkey"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'inference_metrics_device_id_fkey',
                  DETAIL = format('Key (device_id)=(%s) is not present in table "devices".', missing);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER inference_metrics_device_insert AFTER INSERT ON inference_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inference_metrics_check_devices();
CREATE TRIGGER inference_metrics_device_update AFTER UPDATE ON inference_metrics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION inference_metrics_check_devices();

CREATE FUNCTION devices_delete_metrics() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM inference_metrics m USING old_rows o WHERE m.device_id = o.id;
    RETURN NULL;
END $$;
CREATE TRIGGER devices_delete_metrics AFTER DELETE ON devices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION devices_delete_metrics();

CREATE FUNCTION devices_keep_metrics_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inference_metrics WHERE device_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "devices" violates foreign key constraint "inference_metrics_device_id_fkey" on table "inference_metrics"'
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'inference_metrics_device_id_fkey',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "inference_metrics".', OLD.id);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER devices_keep_metrics_key BEFORE UPDATE OF id ON devices
    FOR EACH ROW WHEN (NEW.id IS DISTINCT FROM OLD.id) EXECUTE FUNCTION devices_keep_metrics_key();

-- Orphans cannot exist before this migration (the foreign key held until
-- now, in this transaction).
