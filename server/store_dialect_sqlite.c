/*
 * store_dialect_sqlite: how SQLite spells the query compiler's SQL, which identities column holds each
 * twin path, and which job_devices/jobs column holds each field of a per-device job row (devices.jobs).
 *
 * json_value emits exactly `json_extract(<col>, '$.a.b')`: operators create expression indexes with that
 * text (--index PATH), and SQLite only uses such an index when the query repeats the expression, so the
 * spelling here is part of the index contract. Path segments reach this file already validated by the
 * query compiler (no '"' inside a segment); user values never do: they are bound parameters.
 */
#include "store_dialect.h"

#include "store_job.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longer paths come before their prefixes (properties.desired.$version before properties.desired). */
static const store_field fields[] = {
	{"deviceId", "device_id", STORE_FIELD_TEXT, 1},
	{"moduleId", "module_id", STORE_FIELD_TEXT, 1},
	{"status", "status", STORE_FIELD_TEXT, 1},
	{"statusReason", "status_reason", STORE_FIELD_TEXT, 1},
	{"statusUpdateTime", "status_updated_time", STORE_FIELD_TEXT, 1},
	{"connectionState", "connection_state", STORE_FIELD_TEXT, 1},
	{"lastActivityTime", "last_activity_time", STORE_FIELD_TEXT, 1},
	{"cloudToDeviceMessageCount", "c2d_count", STORE_FIELD_INT, 1},
	{"authenticationType", "auth_type", STORE_FIELD_TEXT, 1},
	{"modelId", "model_id", STORE_FIELD_TEXT, 1},
	{"version", "twin_version", STORE_FIELD_INT, 1},
	{"capabilities.iotEdge", "iot_edge", STORE_FIELD_BOOL, 1},
	{"x509Thumbprint.primaryThumbprint", "primary_thumbprint", STORE_FIELD_TEXT, 1},
	{"x509Thumbprint.secondaryThumbprint", "secondary_thumbprint", STORE_FIELD_TEXT, 1},
	{"tags", "tags", STORE_FIELD_JSON, 1},
	{"properties.desired.$metadata", "desired_meta", STORE_FIELD_JSON, 1},
	{"properties.desired.$version", "desired_version", STORE_FIELD_INT, 1},
	{"properties.desired", "desired", STORE_FIELD_JSON, 1},
	{"properties.reported.$metadata", "reported_meta", STORE_FIELD_JSON, 1},
	{"properties.reported.$version", "reported_version", STORE_FIELD_INT, 1},
	{"properties.reported", "reported", STORE_FIELD_JSON, 1},
};

/* Per-device job rows, over STORE_JOB_ROWS_FROM (job_devices d, jobs j). A NULL time column is JSON null
 * in the row, like a NULL TEXT column of a twin. outcome and error are built the way store_job_row_json
 * shows them, so a filter sees what the row shows: outcome is {"deviceMethodResponse":null} until a method
 * answered, and error exists only on rows with an error code. */
static const store_field job_fields[] = {
	{"deviceId", "d.device_id", STORE_FIELD_TEXT, 1},
	{"moduleId", "d.module_id", STORE_FIELD_TEXT, 1},
	{"jobId", "d.job_id", STORE_FIELD_TEXT, 1},
	{"jobType", "j.type", STORE_FIELD_TEXT, 1},
	{"status", "d.status", STORE_FIELD_TEXT, 1},
	{"startTimeUtc", "d.start_time", STORE_FIELD_TEXT, 1},
	{"endTimeUtc", "d.end_time", STORE_FIELD_TEXT, 1},
	{"createdDateTimeUtc", "d.created_time", STORE_FIELD_TEXT, 1},
	/* IoT Hub's own example query (query-jobs.md) spells it createdTimeUtc. */
	{"createdTimeUtc", "d.created_time", STORE_FIELD_TEXT, 1},
	{"lastUpdatedDateTimeUtc", "d.last_updated_time", STORE_FIELD_TEXT, 1},
	{"outcome", "coalesce(d.outcome, '{\"deviceMethodResponse\":null}')", STORE_FIELD_JSON, 1},
	{"error", "(CASE WHEN d.error_code IS NOT NULL THEN json_object('code', d.error_code, 'description',"
		  " coalesce(d.error_description, '')) END)", STORE_FIELD_JSON, 1},
};

/* How many of segs[0..n) the dotted field path covers, or 0 when it is not a prefix of them. */
static size_t field_prefix(const store_field *f, const char *const *segs, size_t n)
{
	const char *p = f->path;
	size_t used = 0;

	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);
		if (used >= n || strlen(segs[used]) != len)
			return 0;
		if (f->case_insensitive ? strncasecmp(segs[used], p, len) : strncmp(segs[used], p, len))
			return 0;
		used++;
		p += len + (dot ? 1 : 0);
	}
	return used;
}

static const store_field *lookup_in(const store_field *table, size_t count, const char *const *segs, size_t n,
				    size_t *consumed)
{
	for (size_t i = 0; i < count; i++) {
		size_t used = field_prefix(&table[i], segs, n);
		if (!used)
			continue;
		/* A scalar column holds nothing below itself: statusReason.x is undefined, and so is
		 * properties.desired.$version.x (desired never stores $version). */
		if (table[i].kind != STORE_FIELD_JSON && used != n)
			return NULL;
		if (consumed)
			*consumed = used;
		return &table[i];
	}
	return NULL;
}

const store_field *store_field_lookup(const char *const *segs, size_t n, size_t *consumed)
{
	return lookup_in(fields, sizeof(fields) / sizeof(fields[0]), segs, n, consumed);
}

const store_field *store_job_field_lookup(const char *const *segs, size_t n, size_t *consumed)
{
	return lookup_in(job_fields, sizeof(job_fields) / sizeof(job_fields[0]), segs, n, consumed);
}

static int plain_segment(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* '$.a."b c"' as a SQL string literal: single quotes doubled, segments other than [A-Za-z0-9_]+ quoted
 * inside the JSON path. */
static void path_literal(buf *out, const char *const *segs, size_t n)
{
	buf_puts(out, "'$");
	for (size_t i = 0; i < n; i++) {
		int quote = !plain_segment(segs[i]) || !segs[i][0];
		buf_puts(out, quote ? ".\"" : ".");
		for (const char *c = segs[i]; *c; c++)
			buf_append(out, *c == '\'' ? "''" : c, *c == '\'' ? 2 : 1);
		if (quote)
			buf_putc(out, '"');
	}
	buf_putc(out, '\'');
}

static void sqlite_json_value(buf *out, const char *col, const char *const *segs, size_t n)
{
	buf_printf(out, "json_extract(%s, ", col);
	path_literal(out, segs, n);
	buf_putc(out, ')');
}

static void sqlite_json_type(buf *out, const char *col, const char *const *segs, size_t n)
{
	buf_printf(out, "json_type(%s, ", col);
	path_literal(out, segs, n);
	buf_putc(out, ')');
}

/* `->` returns the JSON text of the value (strings quoted, objects minified) and NULL when absent, in one
 * parse; json_quote(json_extract()) would need a second parse to tell absent from null. */
static void sqlite_json_text(buf *out, const char *col, const char *const *segs, size_t n)
{
	if (n == 0) {
		buf_puts(out, col);
		return;
	}
	buf_printf(out, "(%s -> ", col);
	path_literal(out, segs, n);
	buf_putc(out, ')');
}

static void sqlite_column_text(buf *out, const char *col, store_field_kind kind)
{
	if (kind == STORE_FIELD_BOOL)
		buf_printf(out, "CASE WHEN %s THEN 'true' ELSE 'false' END", col);
	else if (kind == STORE_FIELD_JSON)
		buf_puts(out, col);
	else
		buf_printf(out, "json_quote(%s)", col);
}

static void sqlite_placeholder(buf *out, int index)
{
	buf_printf(out, "?%d", index);
}

static void sqlite_identifier(buf *out, const char *name)
{
	buf_putc(out, '"');
	for (const char *c = name; *c; c++)
		buf_append(out, *c == '"' ? "\"\"" : c, *c == '"' ? 2 : 1);
	buf_putc(out, '"');
}

/* A correlated lookup on configuration_devices' primary key (configuration_id, identity_id). */
static void sqlite_configuration_status(buf *out, const char *id_param, int as_json)
{
	buf_printf(out, "(SELECT %s FROM configuration_devices WHERE configuration_id = %s AND identity_id = identities.id)",
		   as_json ? "json_quote(status)" : "status", id_param);
}

static const store_dialect sqlite_dialect = {
	.name = "sqlite",
	.identity_table = "identities",
	.row_key = "id",
	.devices_filter = "module_id = ''",
	.modules_filter = "module_id <> ''",
	.job_table = STORE_JOB_ROWS_FROM,
	.job_row_key = "d.rowid",
	.json_value = sqlite_json_value,
	.json_type = sqlite_json_type,
	.json_text = sqlite_json_text,
	.column_text = sqlite_column_text,
	.placeholder = sqlite_placeholder,
	.identifier = sqlite_identifier,
	.configuration_status = sqlite_configuration_status,
};

const store_dialect *store_dialect_sqlite(void)
{
	return &sqlite_dialect;
}
