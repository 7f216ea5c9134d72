-- 002: jobs (IoT Hub jobs v2) and rollouts, which are jobs with a policy, and their per-device rows.
CREATE TABLE jobs (
    job_id                  TEXT PRIMARY KEY,
    type                    TEXT    NOT NULL,            -- scheduleDeviceMethod | scheduleUpdateTwin
    query_condition         TEXT    NOT NULL,
    created_time            TEXT    NOT NULL,
    start_time              TEXT    NOT NULL,            -- when the job may start
    end_time                TEXT,
    max_execution_seconds   INTEGER NOT NULL,
    status                  TEXT    NOT NULL,            -- queued | scheduled | running | completed | failed | cancelled
    failure_reason          TEXT,
    status_message          TEXT,
    spec                    TEXT    NOT NULL,            -- JSON: cloudToDeviceMethod or updateTwin
    policy                  TEXT,                        -- JSON rollout policy; NULL for a plain job
    phase                   INTEGER NOT NULL DEFAULT 0,  -- the rollout phase now running
    paused                  INTEGER NOT NULL DEFAULT 0,
    awaiting_approval       INTEGER NOT NULL DEFAULT 0,
    etag                    INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE job_devices (
    job_id             TEXT    NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
    device_id          TEXT    NOT NULL,
    module_id          TEXT    NOT NULL DEFAULT '',
    phase              INTEGER NOT NULL DEFAULT 0,
    status             TEXT    NOT NULL,   -- pending | scheduled | running | verifying | completed | failed | canceled
    attempts           INTEGER NOT NULL DEFAULT 0,
    created_time       TEXT    NOT NULL,
    start_time         TEXT,
    end_time           TEXT,
    last_updated_time  TEXT    NOT NULL,
    not_before_ms      INTEGER NOT NULL DEFAULT 0,   -- deferred (retry backoff, window, jitter) until then
    outcome            TEXT,                         -- JSON {"deviceMethodResponse":{"status":..,"payload":..}}
    error_code         TEXT,
    error_description  TEXT,
    PRIMARY KEY (job_id, device_id, module_id)
);
CREATE INDEX job_devices_by_status ON job_devices (job_id, status, phase);
CREATE INDEX job_devices_by_device ON job_devices (device_id);
