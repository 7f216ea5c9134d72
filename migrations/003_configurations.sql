-- 003: configurations (IoT Hub automatic device management) and what they did to each device.
-- A configuration's spec is JSON as the REST API takes it; its metrics are written by the reconciler.
CREATE TABLE configurations (
    config_id          TEXT PRIMARY KEY,
    schema_version     TEXT    NOT NULL DEFAULT '1.0',
    labels             TEXT    NOT NULL DEFAULT '{}',   -- JSON {name: value}
    content            TEXT    NOT NULL,                -- JSON {"deviceContent": {path: value}}
    target_condition   TEXT    NOT NULL DEFAULT '',
    priority           INTEGER NOT NULL DEFAULT 0,
    metric_queries     TEXT    NOT NULL DEFAULT '{}',   -- JSON {name: query}
    metric_results     TEXT    NOT NULL DEFAULT '{}',   -- JSON {name: count}
    targeted_count     INTEGER NOT NULL DEFAULT 0,
    applied_count      INTEGER NOT NULL DEFAULT 0,
    created_time       TEXT    NOT NULL,
    created_seq        INTEGER NOT NULL,                -- breaks ties between equal created_time
    last_updated_time  TEXT    NOT NULL,
    etag               INTEGER NOT NULL DEFAULT 1,
    evaluated_etag     INTEGER NOT NULL DEFAULT 0       -- the etag whose target set the reconciler has evaluated
);

-- Per targeted device: Targeted, or Applied when all of the configuration's content is in effect.
-- `configurations.[[id]].status` in queries reads this table.
CREATE TABLE configuration_devices (
    configuration_id TEXT    NOT NULL REFERENCES configurations (config_id) ON DELETE CASCADE,
    identity_id      INTEGER NOT NULL REFERENCES identities (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL,
    PRIMARY KEY (configuration_id, identity_id)
) WITHOUT ROWID;
CREATE INDEX configuration_devices_by_identity ON configuration_devices (identity_id);

-- The desired properties the reconciler wrote to a device and which configuration each came from:
-- JSON {"[\"fw\"]": {"c": "<config id>", "v": <value>}}. Kept after a configuration is deleted, so the
-- settings can be taken back.
CREATE TABLE configuration_settings (
    identity_id INTEGER PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    settings    TEXT    NOT NULL
);

-- Devices whose twin changed since the reconciler last looked at them. mark tells a later change from
-- the one the reconciler read, so a change during reconciliation keeps the device dirty.
CREATE TABLE configuration_dirty (
    identity_id INTEGER PRIMARY KEY REFERENCES identities (id) ON DELETE CASCADE,
    mark        INTEGER NOT NULL
);

-- Only while configurations exist, and only for the twin and identity fields target conditions and
-- metrics look at (not connection state or activity, which change all the time).
CREATE TRIGGER configuration_dirty_on_insert AFTER INSERT ON identities
WHEN NEW.module_id = '' AND EXISTS (SELECT 1 FROM configurations)
BEGIN
    INSERT OR REPLACE INTO configuration_dirty (identity_id, mark) VALUES (NEW.id, random());
END;

CREATE TRIGGER configuration_dirty_on_update
AFTER UPDATE OF tags, desired, reported, status, model_id, iot_edge ON identities
WHEN NEW.module_id = '' AND EXISTS (SELECT 1 FROM configurations)
BEGIN
    INSERT OR REPLACE INTO configuration_dirty (identity_id, mark) VALUES (NEW.id, random());
END;
