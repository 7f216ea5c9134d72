-- 009: operator accounts for the dashboard, their sessions, and the audit log (account.c, audit.c).
-- Passwords are PBKDF2-HMAC-SHA256 hashes with a per-account random salt; sessions store only the
-- SHA-256 of the cookie token, so a copy of the database does not hold usable session cookies.
CREATE TABLE accounts (
    name             TEXT    PRIMARY KEY,
    role             TEXT    NOT NULL,   -- viewer | operator | admin
    password_hash    TEXT    NOT NULL,   -- base64 of 32 bytes
    salt             TEXT    NOT NULL,   -- base64 of 16 random bytes
    iterations       INTEGER NOT NULL,
    created_time     TEXT    NOT NULL,   -- ISO 8601 UTC
    last_login_time  TEXT                -- NULL until the first login
);
CREATE TABLE operator_sessions (
    token_hash    TEXT    PRIMARY KEY,   -- hex SHA-256 of the dh_session cookie's token
    account       TEXT    NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_time  TEXT    NOT NULL,
    expires_ms    INTEGER NOT NULL       -- Unix milliseconds; fixed at login (12 h)
) WITHOUT ROWID;
CREATE INDEX operator_sessions_account ON operator_sessions (account);
CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    time          TEXT    NOT NULL,      -- ISO 8601 UTC
    time_ms       INTEGER NOT NULL,      -- the same, Unix milliseconds (filters)
    who           TEXT    NOT NULL,      -- account name, policy:<name>, device:<id> or anonymous
    action        TEXT    NOT NULL,      -- method + route pattern, "PUT /devices/{}"
    path          TEXT    NOT NULL,      -- the concrete path
    status        INTEGER NOT NULL,
    from_address  TEXT    NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time_ms);
