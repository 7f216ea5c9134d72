-- 008: bulk imports (docs/import-export.md). One row per import with its progress, written by the
-- import worker with each batch it commits; one row per line that failed. An import still 'running'
-- when the server starts was interrupted by a stop or crash and is marked 'failed' (import_recover).
CREATE TABLE imports (
    import_id        TEXT    PRIMARY KEY,
    status           TEXT    NOT NULL,            -- running | completed | failed
    format           TEXT    NOT NULL,            -- jsonl | csv
    total_lines      INTEGER NOT NULL,
    processed_lines  INTEGER NOT NULL DEFAULT 0,
    succeeded        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    started_time     TEXT    NOT NULL,            -- ISO 8601 UTC
    end_time         TEXT,
    failure_reason   TEXT
);

CREATE TABLE import_errors (
    import_id   TEXT    NOT NULL REFERENCES imports(import_id) ON DELETE CASCADE,
    line        INTEGER NOT NULL,                 -- 1-based line of the uploaded file
    device_id   TEXT    NOT NULL,
    error_code  TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    PRIMARY KEY (import_id, line)
) WITHOUT ROWID;
