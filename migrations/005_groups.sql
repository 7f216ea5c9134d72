-- 005: device groups, named saved queries (group.c). The condition is a WHERE clause of the query
-- language, checked by query_parse_condition before it is stored; members are never stored, they are
-- whatever the condition selects when asked. The tag schema is not a table: it is one JSON document in
-- hub_settings under the name 'tag_schema' (tag_schema.c).
CREATE TABLE device_groups (
    name          TEXT    PRIMARY KEY,
    condition     TEXT    NOT NULL,
    description   TEXT    NOT NULL DEFAULT '',
    etag          INTEGER NOT NULL,   -- counter, bumped by every replace; shown base64 like twin etags
    created_time  TEXT    NOT NULL,   -- ISO 8601 UTC
    updated_time  TEXT    NOT NULL
);
