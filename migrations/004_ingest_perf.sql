-- 004: the infractions list at a million rows (issue 6: p95 under 20 ms).
--
-- Measured with 1,000,000 infractions (BenchmarkListInfractions1MIntegration,
-- hub/internal/db): the page itself is fast with the 001 indexes, but the
-- exact "count" the API returns cost up to ~170 ms (count(*) over the whole
-- table, ~90 ms over one status), because PostgreSQL counts row by row.
--
-- infraction_counts keeps the exact number of infractions per (status, type,
-- zone, camera), maintained by statement-level triggers in the same
-- transaction as the change, so it is never stale or approximate. A count
-- whose filters are only among those columns is a sum over at most a few
-- thousand rows; a filter by date or plate selects few rows and is counted
-- directly through its index. The triggers lock the summary rows they change
-- in key order (ORDER BY), so concurrent writers do not deadlock on them.
CREATE TABLE infraction_counts (
    status VARCHAR(50),
    type VARCHAR(50) NOT NULL,
    zone_id VARCHAR(50),
    device_id VARCHAR(50),
    n BIGINT NOT NULL,
    CONSTRAINT infraction_counts_key UNIQUE NULLS NOT DISTINCT (status, type, zone_id, device_id)
);

INSERT INTO infraction_counts(status, type, zone_id, device_id, n)
    SELECT status, type, zone_id, device_id, count(*) FROM infractions GROUP BY 1, 2, 3, 4;

CREATE FUNCTION infraction_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO infraction_counts AS c(status, type, zone_id, device_id, n)
            SELECT status, type, zone_id, device_id, count(*) FROM new_rows
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT ON CONSTRAINT infraction_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO infraction_counts AS c(status, type, zone_id, device_id, n)
            SELECT status, type, zone_id, device_id, -count(*) FROM old_rows
            GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT ON CONSTRAINT infraction_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
    ELSE -- UPDATE: only rows whose counted columns changed move between keys.
        INSERT INTO infraction_counts AS c(status, type, zone_id, device_id, n)
            SELECT status, type, zone_id, device_id, sum(d) FROM (
                SELECT o.status, o.type, o.zone_id, o.device_id, -1 AS d
                    FROM old_rows o JOIN new_rows w ON w.id = o.id
                    WHERE (o.status, o.type, o.zone_id, o.device_id) IS DISTINCT FROM (w.status, w.type, w.zone_id, w.device_id)
                UNION ALL
                SELECT w.status, w.type, w.zone_id, w.device_id, 1
                    FROM old_rows o JOIN new_rows w ON w.id = o.id
                    WHERE (o.status, o.type, o.zone_id, o.device_id) IS DISTINCT FROM (w.status, w.type, w.zone_id, w.device_id)
            ) m GROUP BY 1, 2, 3, 4 HAVING sum(d) <> 0 ORDER BY 1, 2, 3, 4
            ON CONFLICT ON CONSTRAINT infraction_counts_key DO UPDATE SET n = c.n + EXCLUDED.n;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER infraction_counts_insert AFTER INSERT ON infractions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION infraction_counts_apply();
CREATE TRIGGER infraction_counts_update AFTER UPDATE ON infractions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION infraction_counts_apply();
CREATE TRIGGER infraction_counts_delete AFTER DELETE ON infractions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION infraction_counts_apply();

CREATE FUNCTION infraction_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM infraction_counts;
    RETURN NULL;
END $$;
CREATE TRIGGER infraction_counts_truncate AFTER TRUNCATE ON infractions
    FOR EACH STATEMENT EXECUTE FUNCTION infraction_counts_truncate();

-- Pages filtered by status, camera or plate, newest first, without a sort
-- (measured without them at 1M rows: "pending on an old day" p95 42 ms,
-- "camera + type" 24 ms). Each replaces 001's single-column index on the same
-- leading column, which it serves as well, so ingestion maintains no more
-- indexes than before.
CREATE INDEX idx_infractions_status_detected ON infractions(status, detected_at DESC);
CREATE INDEX idx_infractions_device_detected ON infractions(device_id, detected_at DESC);
CREATE INDEX idx_infractions_plate_detected ON infractions(plate, detected_at DESC);
DROP INDEX idx_infractions_status;
DROP INDEX idx_infractions_device;
DROP INDEX idx_infractions_plate;
