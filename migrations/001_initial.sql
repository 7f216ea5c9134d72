-- 001: identities (devices and modules, each with its twin) and shared access policies.
-- A device row has module_id = ''; a module row names its device. Twin sections are JSON text.
CREATE TABLE identities (
    id                            INTEGER PRIMARY KEY,
    device_id                     TEXT    NOT NULL,
    module_id                     TEXT    NOT NULL DEFAULT '',
    generation_id                 TEXT    NOT NULL,
    etag                          INTEGER NOT NULL,
    status                        TEXT    NOT NULL DEFAULT 'enabled',
    status_reason                 TEXT,
    status_updated_time           TEXT    NOT NULL,
    connection_state              TEXT    NOT NULL DEFAULT 'Disconnected',
    connection_state_updated_time TEXT    NOT NULL,
    last_activity_time            TEXT    NOT NULL,
    c2d_count                     INTEGER NOT NULL DEFAULT 0,
    auth_type                     TEXT    NOT NULL DEFAULT 'sas',
    primary_key                   TEXT,
    secondary_key                 TEXT,
    primary_thumbprint            TEXT,
    secondary_thumbprint          TEXT,
    iot_edge                      INTEGER NOT NULL DEFAULT 0,
    device_scope                  TEXT,
    managed_by                    TEXT,
    model_id                      TEXT    NOT NULL DEFAULT '',
    twin_version                  INTEGER NOT NULL,
    twin_etag                     INTEGER NOT NULL,
    tags                          TEXT    NOT NULL DEFAULT '{}',
    desired                       TEXT    NOT NULL DEFAULT '{}',
    desired_meta                  TEXT    NOT NULL DEFAULT '{}',
    desired_version               INTEGER NOT NULL DEFAULT 1,
    reported                      TEXT    NOT NULL DEFAULT '{}',
    reported_meta                 TEXT    NOT NULL DEFAULT '{}',
    reported_version              INTEGER NOT NULL DEFAULT 1,
    UNIQUE (device_id, module_id)
);

-- Registry statistics count by kind and status without touching the table.
CREATE INDEX identities_kind_status ON identities (module_id, status, connection_state);

CREATE TABLE policies (
    name          TEXT PRIMARY KEY,
    rights        INTEGER NOT NULL,
    primary_key   TEXT    NOT NULL,
    secondary_key TEXT    NOT NULL
);

-- Operator-declared indexed twin paths (--index), so start-up knows which expression indexes it made.
CREATE TABLE twin_indexes (
    path       TEXT PRIMARY KEY,
    index_name TEXT NOT NULL
);

-- Hub-wide settings generated at first start.
CREATE TABLE hub_settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
