-- Device lifecycle: enrollments (DPS-style groups and individual enrollments), the registrations they
-- produced, and the archive of retired devices' twins.

-- kind 'group': a device derives its key as HMAC-SHA256(group key, device id). kind 'individual': the
-- enrollment's own keys are the device's keys. initial_twin is {"tags":{..},"properties":{"desired":{..}}}.
CREATE TABLE enrollments (
	kind TEXT NOT NULL CHECK (kind IN ('group', 'individual')),
	id TEXT NOT NULL,
	primary_key TEXT NOT NULL,
	secondary_key TEXT NOT NULL,
	enabled INTEGER NOT NULL DEFAULT 1,
	initial_twin TEXT NOT NULL DEFAULT '{}',
	created_time TEXT NOT NULL,
	updated_time TEXT NOT NULL,
	PRIMARY KEY (kind, id)
);

CREATE TABLE registrations (
	id INTEGER PRIMARY KEY,
	registration_id TEXT NOT NULL,
	device_id TEXT NOT NULL,
	enrollment_group_id TEXT,           -- NULL for an individual enrollment
	created_time TEXT NOT NULL,
	source_address TEXT NOT NULL
);
CREATE INDEX registrations_group ON registrations (enrollment_group_id);

-- A retired device: its twin as it was (identity without keys), read-only.
CREATE TABLE archived_twins (
	id INTEGER PRIMARY KEY,
	device_id TEXT NOT NULL,
	reason TEXT NOT NULL,
	retired_time TEXT NOT NULL,
	retired_ms INTEGER NOT NULL,
	replaced_by TEXT,
	twin TEXT NOT NULL
);
CREATE INDEX archived_twins_device ON archived_twins (device_id);
CREATE INDEX archived_twins_retired ON archived_twins (retired_ms);
