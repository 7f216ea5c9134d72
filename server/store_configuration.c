/*
 * store_configuration: all SQL about configurations and the reconciler's per-device tables. Callers own
 * the transaction. Must never decide which configuration wins or what a twin should hold.
 */
#include "store_configuration.h"

#include "buf.h"
#include "err.h"
#include "json_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_COLUMNS                                                                                  \
	"config_id, schema_version, labels, content, target_condition, priority, metric_queries,"       \
	" metric_results, targeted_count, applied_count, created_time, created_seq, last_updated_time," \
	" etag, evaluated_etag"

void store_configuration_release(store_configuration *c)
{
	if (!c)
		return;
	json_decref(c->labels);
	json_decref(c->content);
	json_decref(c->metric_queries);
	json_decref(c->metric_results);
	free(c->target_condition);
	memset(c, 0, sizeof(*c));
}


static void read_row(sqlite3_stmt *st, store_configuration *c)
{
	const char *cond = (const char *)sqlite3_column_text(st, 4);

	memset(c, 0, sizeof(*c));
	store_col_text(st, 0, c->id, sizeof(c->id));
	store_col_text(st, 1, c->schema_version, sizeof(c->schema_version));
	c->labels = store_col_object(st, 2);
	c->content = store_col_object(st, 3);
	c->target_condition = xstrdup(cond ? cond : "");
	c->priority = sqlite3_column_int64(st, 5);
	c->metric_queries = store_col_object(st, 6);
	c->metric_results = store_col_object(st, 7);
	c->targeted_count = sqlite3_column_int64(st, 8);
	c->applied_count = sqlite3_column_int64(st, 9);
	store_col_text(st, 10, c->created_time, sizeof(c->created_time));
	c->created_seq = sqlite3_column_int64(st, 11);
	store_col_text(st, 12, c->last_updated_time, sizeof(c->last_updated_time));
	c->etag = sqlite3_column_int64(st, 13);
	c->evaluated_etag = sqlite3_column_int64(st, 14);
}

/* Steps a cached statement that returns no rows. */
static int step_done(store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, what);
}

int store_configuration_get(store *s, const char *id, store_configuration *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " CONFIG_COLUMNS " FROM configurations WHERE config_id = ?1");
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_row(st, out);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_DONE)
		return err_set(DH_ENOCONFIG, "configuration '%s' not found", id);
	return store_fail(s, "reading a configuration");
}

int store_configuration_each(store *s, int top, store_configuration_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " CONFIG_COLUMNS " FROM configurations ORDER BY created_seq LIMIT ?1");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	sqlite3_bind_int(st, 1, top);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_configuration c;
		read_row(st, &c);
		rc = fn(&c, ctx);
		store_configuration_release(&c);
	}
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_fail(s, "listing configurations");
	sqlite3_reset(st);
	return rc;
}

int store_configuration_count(store *s, int64_t *n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM configurations");
	int rc;

	if (!st)
		return DH_EIO;
	rc = sqlite3_step(st);
	*n = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "counting configurations");
}

int store_configuration_insert(store *s, store_configuration *c)
{
	sqlite3_stmt *st = store_stmt(
	    s, "INSERT INTO configurations (config_id, schema_version, labels, content, target_condition, priority,"
	       " metric_queries, metric_results, created_time, created_seq, last_updated_time, etag)"
	       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
	       " (SELECT coalesce(max(created_seq), 0) + 1 FROM configurations), ?10, ?11)"
	       " RETURNING created_seq");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->schema_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, json_util_dump(c->labels), -1, free);
	sqlite3_bind_text(st, 4, json_util_dump(c->content), -1, free);
	sqlite3_bind_text(st, 5, c->target_condition, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, c->priority);
	sqlite3_bind_text(st, 7, json_util_dump(c->metric_queries), -1, free);
	sqlite3_bind_text(st, 8, json_util_dump(c->metric_results), -1, free);
	sqlite3_bind_text(st, 9, c->created_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 10, c->last_updated_time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 11, c->etag);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		c->created_seq = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	if (rc == SQLITE_CONSTRAINT)
		return err_set(DH_ECONFIGEXISTS, "configuration '%s' already exists", c->id);
	return store_fail(s, "inserting a configuration");
}

int store_configuration_update(store *s, const store_configuration *c)
{
	sqlite3_stmt *st = store_stmt(
	    s, "UPDATE configurations SET schema_version = ?2, labels = ?3, target_condition = ?4, priority = ?5,"
	       " metric_queries = ?6, metric_results = ?7, last_updated_time = ?8, etag = ?9 WHERE config_id = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->schema_version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, json_util_dump(c->labels), -1, free);
	sqlite3_bind_text(st, 4, c->target_condition, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->priority);
	sqlite3_bind_text(st, 6, json_util_dump(c->metric_queries), -1, free);
	sqlite3_bind_text(st, 7, json_util_dump(c->metric_results), -1, free);
	sqlite3_bind_text(st, 8, c->last_updated_time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 9, c->etag);
	return step_done(s, st, "updating a configuration");
}

int store_configuration_delete(store *s, const char *id)
{
	int rc = store_change_by_key(s, "DELETE FROM configurations WHERE config_id = ?1", id,
				     "deleting a configuration");

	return rc == DH_ENOROUTE ? err_set(DH_ENOCONFIG, "configuration '%s' not found", id) : rc;
}

int store_configuration_set_evaluated(store *s, const char *id, int64_t etag)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE configurations SET evaluated_etag = ?2 WHERE config_id = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, etag);
	return step_done(s, st, "recording a configuration's evaluation");
}

int store_configuration_set_metrics(store *s, const char *id, int64_t targeted, int64_t applied, const json_t *results)
{
	sqlite3_stmt *st = store_stmt(
	    s, "UPDATE configurations SET targeted_count = ?2, applied_count = ?3, metric_results = ?4"
	       " WHERE config_id = ?1 AND (targeted_count <> ?2 OR applied_count <> ?3 OR metric_results <> ?4)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, targeted);
	sqlite3_bind_int64(st, 3, applied);
	sqlite3_bind_text(st, 4, json_util_dump(results), -1, free);
	return step_done(s, st, "writing configuration metrics");
}

int store_configuration_dirty_members(store *s, const char *id)
{
	sqlite3_stmt *st =
	    store_stmt(s, "INSERT OR REPLACE INTO configuration_dirty (identity_id, mark)"
			  " SELECT identity_id, random() FROM configuration_devices WHERE configuration_id = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	return step_done(s, st, "marking a configuration's devices");
}

/* Prepares sql with params bound; the caller finalises. */
static int prepare_bound(store *s, const char *sql, const store_param *params, size_t n, sqlite3_stmt **out)
{
	int rc = store_prepare(s, sql, out);

	if (rc == 0 && (rc = store_bind_params(*out, params, n)) != 0) {
		sqlite3_finalize(*out);
		*out = NULL;
	}
	return rc;
}

int store_configuration_dirty_orphans(store *s)
{
	sqlite3_stmt *st =
	    store_stmt(s, "INSERT OR REPLACE INTO configuration_dirty (identity_id, mark)"
			  " SELECT cs.identity_id, random() FROM configuration_settings cs WHERE EXISTS"
			  " (SELECT 1 FROM json_each(cs.settings) j WHERE json_extract(j.value, '$.c') NOT IN"
			  " (SELECT config_id FROM configurations))");

	if (!st)
		return DH_EIO;
	return step_done(s, st, "marking devices of deleted configurations");
}

int store_configuration_dirty_targets(store *s, const char *target_sql, const store_param *params, size_t n)
{
	buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc;

	buf_printf(&sql, "INSERT OR REPLACE INTO configuration_dirty (identity_id, mark) SELECT id, random() FROM (%s)",
		   target_sql);
	if ((rc = prepare_bound(s, buf_cstr(&sql), params, n, &st)) != 0)
		goto out;
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = store_fail(s, "marking a configuration's targets");
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}

int store_configuration_dirty_batch(store *s, int64_t after, int limit, int64_t **rows, int64_t **marks, size_t *n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT identity_id, mark FROM configuration_dirty WHERE identity_id > ?2"
					 " ORDER BY identity_id LIMIT ?1");
	int step;

	*rows = xmalloc((size_t)limit * sizeof(**rows));
	*marks = xmalloc((size_t)limit * sizeof(**marks));
	*n = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_int(st, 1, limit);
	sqlite3_bind_int64(st, 2, after);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && *n < (size_t)limit) {
		(*rows)[*n] = sqlite3_column_int64(st, 0);
		(*marks)[(*n)++] = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return step == SQLITE_DONE || step == SQLITE_ROW ? 0 : store_fail(s, "reading dirty devices");
}

int store_configuration_targets_in(store *s, const char *target_sql, const store_param *params, size_t n,
				   const char *rows_json, store_configuration_row_fn fn, void *ctx)
{
	buf sql = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc, step = SQLITE_DONE;

	/* The batch goes in as one more numbered parameter after the compiled query's own. CROSS JOIN keeps
	 * the batch as the outer loop, so SQLite flattens the subquery and probes identities by row key;
	 * with `id IN (batch)` it preferred the module_id index and scanned every device per batch. */
	buf_printf(&sql, "SELECT t.id FROM json_each(?%zu) AS j CROSS JOIN (%s) AS t WHERE t.id = j.value", n + 1,
		   target_sql);
	if ((rc = prepare_bound(s, buf_cstr(&sql), params, n, &st)) != 0)
		goto out;
	sqlite3_bind_text(st, (int)n + 1, rows_json, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(sqlite3_column_int64(st, 0), ctx);
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "evaluating a target condition");
out:
	sqlite3_finalize(st);
	buf_release(&sql);
	return rc;
}

int store_configuration_devices_in(store *s, const char *rows_json, store_configuration_device_fn fn, void *ctx)
{
	sqlite3_stmt *st =
	    store_stmt(s, "SELECT i.id, i.device_id, cs.settings FROM json_each(?1) AS j"
			  " CROSS JOIN identities i LEFT JOIN configuration_settings cs ON cs.identity_id = i.id"
			  " WHERE i.id = j.value AND i.module_id = ''");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, rows_json, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2), ctx);
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading configuration state");
	sqlite3_reset(st);
	return rc;
}

int store_configuration_statuses_in(store *s, const char *rows_json, store_configuration_statuses_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT j.value, " STORE_CONFIGURATION_STATUSES_OF("j.value")
					 " FROM json_each(?1) AS j");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, rows_json, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		if (sqlite3_column_type(st, 1) != SQLITE_NULL)
			rc = fn(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1), ctx);
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading configuration statuses");
	sqlite3_reset(st);
	return rc;
}

static int save_settings(store *s, int64_t row, const char *settings)
{
	/* Unchanged settings are not rewritten; a device deleted meanwhile gets none. */
	sqlite3_stmt *st = settings
			       ? store_stmt(s, "INSERT INTO configuration_settings (identity_id, settings)"
					       " SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM identities WHERE id = ?1)"
					       " ON CONFLICT (identity_id) DO UPDATE SET settings = excluded.settings"
					       " WHERE settings <> excluded.settings")
			       : store_stmt(s, "DELETE FROM configuration_settings WHERE identity_id = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, row);
	if (settings)
		sqlite3_bind_text(st, 2, settings, -1, SQLITE_STATIC);
	return step_done(s, st, "writing configuration settings");
}

/* Replaces the device's statuses, writing only rows that differ. */
static int save_statuses(store *s, int64_t row, const char *statuses)
{
	sqlite3_stmt *del = store_stmt(s, "DELETE FROM configuration_devices WHERE identity_id = ?1"
					  " AND configuration_id NOT IN (SELECT key FROM json_each(?2))");
	sqlite3_stmt *put = NULL;
	int rc;

	if (!del)
		return DH_EIO;
	sqlite3_bind_int64(del, 1, row);
	sqlite3_bind_text(del, 2, statuses, -1, SQLITE_STATIC);
	if ((rc = step_done(s, del, "writing configuration statuses")) != 0)
		return rc;
	put =
	    store_stmt(s, "INSERT INTO configuration_devices (configuration_id, identity_id, status)"
			  " SELECT j.key, ?1, j.value FROM json_each(?2) j JOIN configurations c ON c.config_id = j.key"
			  " WHERE EXISTS (SELECT 1 FROM identities WHERE id = ?1) ON CONFLICT (configuration_id, "
			  "identity_id) DO UPDATE SET status = excluded.status"
			  " WHERE status <> excluded.status");
	if (!put)
		return DH_EIO;
	sqlite3_bind_int64(put, 1, row);
	sqlite3_bind_text(put, 2, statuses, -1, SQLITE_STATIC);
	return step_done(s, put, "writing configuration statuses");
}

int store_configuration_save_device(store *s, int64_t row, const char *settings, const char *statuses, int64_t mark)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = save_settings(s, row, settings)) != 0 || (rc = save_statuses(s, row, statuses)) != 0)
		return rc;
	st = store_stmt(s, "DELETE FROM configuration_dirty WHERE identity_id = ?1 AND mark = ?2");
	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, row);
	sqlite3_bind_int64(st, 2, mark);
	return step_done(s, st, "clearing a dirty device");
}

int store_configuration_status_counts(store *s, const char *id, int64_t *targeted, int64_t *applied)
{
	sqlite3_stmt *st =
	    store_stmt(s, "SELECT count(*), coalesce(sum(status = 'Applied'), 0) FROM configuration_devices"
			  " WHERE configuration_id = ?1");
	int rc;

	*targeted = *applied = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*targeted = sqlite3_column_int64(st, 0);
		*applied = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "counting configuration statuses");
}

int store_configuration_count_rows(store *s, const char *sql, const store_param *params, size_t n, int64_t *count)
{
	buf wrapped = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc;

	*count = 0;
	buf_printf(&wrapped, "SELECT count(*) FROM (%s)", sql);
	if ((rc = prepare_bound(s, buf_cstr(&wrapped), params, n, &st)) != 0)
		goto out;
	if (sqlite3_step(st) == SQLITE_ROW)
		*count = sqlite3_column_int64(st, 0);
	else
		rc = store_fail(s, "counting query rows");
out:
	sqlite3_finalize(st);
	buf_release(&wrapped);
	return rc;
}

/* The match of one device is computed once per row in the inner SELECT; the outer one sums. ?4 is the
 * desired value's kind, ?5 its value (text, number, or an array's JSON text). */
int store_configuration_drift_path(store *s, const char *id, const char *json_path, const json_t *value,
				   int64_t *matched, int64_t *drifting, char *oldest_since, size_t n)
{
	sqlite3_stmt *st = store_stmt(
	    s, "SELECT count(*), coalesce(sum(m), 0), min(CASE WHEN m = 0 THEN lu END) FROM ("
	       " SELECT CASE ?4"
	       "  WHEN 'text' THEN coalesce(json_type(i.reported, ?2) = 'text' AND json_extract(i.reported, ?2) = ?5, 0)"
	       "  WHEN 'number' THEN coalesce(json_type(i.reported, ?2) IN ('integer', 'real')"
	       "   AND json_extract(i.reported, ?2) = ?5, 0)"
	       "  WHEN 'true' THEN coalesce(json_type(i.reported, ?2) = 'true', 0)"
	       "  WHEN 'false' THEN coalesce(json_type(i.reported, ?2) = 'false', 0)"
	       "  WHEN 'null' THEN coalesce(json_type(i.reported, ?2), 'null') = 'null'"
	       "  ELSE coalesce(json_type(i.reported, ?2) = 'array' AND json(json_extract(i.reported, ?2)) = json(?5), 0)"
	       "  END AS m, json_extract(i.desired_meta, ?3) AS lu"
	       " FROM configuration_devices cd JOIN identities i ON i.id = cd.identity_id"
	       " WHERE cd.configuration_id = ?1)");
	buf meta_path = BUF_INIT;
	char *array_text = NULL;
	const char *kind;
	int step;

	*matched = *drifting = 0;
	oldest_since[0] = '\0';
	if (!st)
		return DH_EIO;
	buf_printf(&meta_path, "%s.\"$lastUpdated\"", json_path);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, json_path, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, buf_cstr(&meta_path), -1, SQLITE_STATIC);
	if (json_is_string(value)) {
		kind = "text";
		sqlite3_bind_text(st, 5, json_string_value(value), -1, SQLITE_STATIC);
	} else if (json_is_integer(value)) {
		kind = "number";
		sqlite3_bind_int64(st, 5, json_integer_value(value));
	} else if (json_is_real(value)) {
		kind = "number";
		sqlite3_bind_double(st, 5, json_real_value(value));
	} else if (json_is_boolean(value) || json_is_null(value)) {
		kind = json_is_true(value) ? "true" : json_is_false(value) ? "false" : "null";
	} else {
		kind = "array";
		array_text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
		sqlite3_bind_text(st, 5, array_text ? array_text : "[]", -1, SQLITE_STATIC);
	}
	sqlite3_bind_text(st, 4, kind, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		*matched = sqlite3_column_int64(st, 1);
		*drifting = sqlite3_column_int64(st, 0) - *matched;
		store_col_text(st, 2, oldest_since, n);
	}
	sqlite3_reset(st);
	free(array_text);
	buf_release(&meta_path);
	return step == SQLITE_ROW ? 0 : store_fail(s, "measuring a configuration's drift");
}
