/*
 * store_dialect: how one database engine spells the SQL that the query compiler emits.
 *
 * The query module (domain) turns IoT Hub's query language into SQL only through this interface and the
 * field table below, so a PostgreSQL backend is a second dialect, not a change to query.c. The SQLite
 * dialect lives in store_dialect_sqlite.c. Nothing here executes SQL.
 */
#ifndef DH_STORE_DIALECT_H
#define DH_STORE_DIALECT_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

/* A value bound to a numbered parameter of SQL the query compiler made. */
typedef enum store_param_kind { STORE_PARAM_INT, STORE_PARAM_REAL, STORE_PARAM_TEXT, STORE_PARAM_NULL } store_param_kind;
typedef struct store_param {
	store_param_kind kind;
	int64_t i;
	double r;
	char *text;
} store_param;

/* What a twin (or job row) field is stored as. */
typedef enum store_field_kind {
	STORE_FIELD_TEXT,     /* a text column: deviceId, status, ... */
	STORE_FIELD_INT,      /* an integer column: version, $version, cloudToDeviceMessageCount */
	STORE_FIELD_BOOL,     /* an integer column holding 0/1, shown as JSON true/false: capabilities.iotEdge */
	STORE_FIELD_JSON,     /* a JSON text column: tags, desired, desired_meta, reported, reported_meta */
} store_field_kind;

/* A twin path's home: the column, and for JSON columns how many leading path segments name the column
 * (e.g. properties.desired.$metadata.x → column desired_meta, prefix 3, rest "x"). */
typedef struct store_field {
	const char *path;        /* the twin path prefix as IoT Hub names it, e.g. "properties.reported" */
	const char *column;      /* the column, e.g. "reported" */
	store_field_kind kind;
	int case_insensitive;    /* system fields match regardless of case (SELECT DeviceId) */
} store_field;

/* Finds the field that holds twin path segs[0..n). For a JSON field, *consumed says how many segments the
 * field's own path used; the rest is the path inside the JSON column. NULL when no field holds the path
 * (the query then sees `undefined`). Static storage. */
const store_field *store_field_lookup(const char *const *segs, size_t n, size_t *consumed);

/* The same for the fields of a per-device job row (SELECT * FROM devices.jobs): deviceId, moduleId, jobId,
 * jobType, status, the four times, outcome.… (JSON) and error.… (JSON). Columns are expressions over the
 * dialect's job_table. NULL when a job row has no such field. Static storage. */
const store_field *store_job_field_lookup(const char *const *segs, size_t n, size_t *consumed);

typedef struct store_dialect {
	const char *name;               /* "sqlite" */
	const char *identity_table;     /* table with one row per device and per module */
	const char *row_key;            /* the column that orders rows for keyset paging ("id") */
	/* SQL condition selecting device rows / module rows of identity_table. */
	const char *devices_filter;
	const char *modules_filter;
	/* FROM clause of per-device job rows (devices.jobs), and the column that orders them for keyset paging. */
	const char *job_table;
	const char *job_row_key;
	/* Appends an expression for the SQL value at path segs[0..n) inside JSON column col. Strings come out as
	 * text, numbers as numbers, true/false as 1/0, null and absent as NULL. n == 0 means the whole column. */
	void (*json_value)(buf *out, const char *col, const char *const *segs, size_t n);
	/* Appends an expression for the JSON type name at that path: 'null' 'true' 'false' 'integer' 'real'
	 * 'text' 'array' 'object', or NULL when absent. */
	void (*json_type)(buf *out, const char *col, const char *const *segs, size_t n);
	/* Appends an expression that renders the value at that path as JSON text (NULL when absent). */
	void (*json_text)(buf *out, const char *col, const char *const *segs, size_t n);
	/* Appends an expression that renders a TEXT, INT or BOOL column as JSON text ("x", 5, true/false;
	 * SQL NULL becomes JSON null). */
	void (*column_text)(buf *out, const char *col, store_field_kind kind);
	/* Appends the placeholder for bound parameter number index (1-based): "?1" or "$1". */
	void (*placeholder)(buf *out, int index);
	/* Appends a quoted SQL identifier. */
	void (*identifier)(buf *out, const char *name);
	/* Appends an expression for `configurations.[[id]].status` of the identity row being filtered: the
	 * status text ('Targeted', 'Applied'), or NULL when the configuration does not target it. id_param is
	 * the placeholder holding the configuration id; as_json renders the text as JSON ("Applied"). */
	void (*configuration_status)(buf *out, const char *id_param, int as_json);
} store_dialect;

/* The SQLite dialect. Static storage. */
const store_dialect *store_dialect_sqlite(void);

#endif
