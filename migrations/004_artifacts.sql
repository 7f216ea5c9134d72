-- 004: firmware artifacts. The package bytes are files under <data-dir>/artifacts/<artifact_id>; this
-- table holds what the hub knows of them. A row exists only while its file does (artifact.c orders the
-- writes so, and removes files without a row at start-up).
CREATE TABLE artifacts (
    artifact_id       TEXT    PRIMARY KEY,
    version           TEXT    NOT NULL,
    compatible_model  TEXT    NOT NULL,   -- JSON: a model name, or an array of them
    sha256            TEXT    NOT NULL,   -- lowercase hex of the file's SHA-256
    size              INTEGER NOT NULL,   -- bytes
    content_type      TEXT    NOT NULL,
    created_time      TEXT    NOT NULL    -- ISO 8601 UTC
);
