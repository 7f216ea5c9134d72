-- 010: fleet counters and history, health rules (fleet.c, health.c; docs/fleet-health.md).
-- Device counts for GET /devicehub/fleet are kept by triggers in one row, so reading them never scans
-- identities (at 1,000,000 devices a count over the index takes ~100 ms; this takes microseconds).
-- Device rows only (module_id = ''), as GET /statistics/devices counts.
CREATE TABLE fleet_counters (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    total    INTEGER NOT NULL,
    enabled  INTEGER NOT NULL
);
INSERT INTO fleet_counters (id, total, enabled)
SELECT 1, count(*), coalesce(sum(status = 'enabled'), 0) FROM identities WHERE module_id = '';

CREATE TRIGGER fleet_counters_on_insert AFTER INSERT ON identities
WHEN NEW.module_id = ''
BEGIN
    UPDATE fleet_counters SET total = total + 1, enabled = enabled + (NEW.status = 'enabled') WHERE id = 1;
END;

CREATE TRIGGER fleet_counters_on_delete AFTER DELETE ON identities
WHEN OLD.module_id = ''
BEGIN
    UPDATE fleet_counters SET total = total - 1, enabled = enabled - (OLD.status = 'enabled') WHERE id = 1;
END;

CREATE TRIGGER fleet_counters_on_status AFTER UPDATE OF status ON identities
WHEN NEW.module_id = '' AND OLD.status IS NOT NEW.status
BEGIN
    UPDATE fleet_counters SET enabled = enabled + (NEW.status = 'enabled') - (OLD.status = 'enabled') WHERE id = 1;
END;

-- One sample of the fleet every --fleet-history-interval seconds, pruned after --fleet-history-days.
CREATE TABLE fleet_history (
    time_ms    INTEGER PRIMARY KEY,   -- Unix milliseconds (hub clock) of the sample
    total      INTEGER NOT NULL,
    enabled    INTEGER NOT NULL,
    connected  INTEGER NOT NULL
);

-- Health rules: a rule breaks when more than threshold devices match its condition (a WHERE clause of
-- the query language, checked by query_parse_condition and query_compile before it is stored).
CREATE TABLE health_rules (
    name          TEXT    PRIMARY KEY,
    condition     TEXT    NOT NULL,
    threshold     INTEGER NOT NULL DEFAULT 0,
    severity      TEXT    NOT NULL,   -- warning | critical
    description   TEXT    NOT NULL DEFAULT '',
    created_time  TEXT    NOT NULL,   -- ISO 8601 UTC
    updated_time  TEXT    NOT NULL
);
INSERT INTO health_rules (name, condition, threshold, severity, description, created_time, updated_time) VALUES
    ('low-battery', 'properties.reported.battery < 20', 0, 'warning', 'Devices reporting a battery below 20%',
     strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('firmware-error', 'properties.reported.firmware.status = ''error''', 0, 'critical',
     'Devices whose firmware reports an error', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
     strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('not-seen-1h', 'connectionState = ''Disconnected'' AND lastActivityTime < AGO(3600)', 0, 'warning',
     'Disconnected devices not seen for an hour', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
     strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
