/* store_job: SQL for jobs and their per-device rows. Must never decide what a job does next (job.c does). */
#include "store_job.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "json_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_COLUMNS                                                                                             \
	"job_id, type, query_condition, created_time, start_time, end_time, max_execution_seconds, status,"     \
	" failure_reason, status_message, spec, policy, phase, paused, awaiting_approval, etag"

void store_job_release(store_job *j)
{
	free(j->query_condition);
	json_decref(j->spec);
	json_decref(j->policy);
	memset(j, 0, sizeof(*j));
}

static int64_t time_col(sqlite3_stmt *st, int col)
{
	int64_t ms = 0;
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t && clock_parse_iso(t, &ms) == 0 ? ms : 0;
}

static json_t *json_or_null(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);

	return t ? json_loads(t, 0, NULL) : NULL;
}

static void read_job(sqlite3_stmt *st, store_job *j)
{
	memset(j, 0, sizeof(*j));
	store_col_text(st, 0, j->job_id, sizeof(j->job_id));
	store_col_text(st, 1, j->type, sizeof(j->type));
	j->query_condition = xstrdup((const char *)sqlite3_column_text(st, 2));
	j->created_ms = time_col(st, 3);
	j->start_ms = time_col(st, 4);
	j->end_ms = time_col(st, 5);
	j->max_execution_seconds = sqlite3_column_int64(st, 6);
	store_col_text(st, 7, j->status, sizeof(j->status));
	store_col_text(st, 8, j->failure_reason, sizeof(j->failure_reason));
	store_col_text(st, 9, j->status_message, sizeof(j->status_message));
	j->spec = json_or_null(st, 10);
	j->policy = json_or_null(st, 11);
	j->phase = sqlite3_column_int(st, 12);
	j->paused = sqlite3_column_int(st, 13);
	j->awaiting_approval = sqlite3_column_int(st, 14);
	j->etag = sqlite3_column_int64(st, 15);
}

static void bind_time(sqlite3_stmt *st, int i, int64_t ms)
{
	char t[CLOCK_ISO_LEN];

	if (!ms) {
		sqlite3_bind_null(st, i);
		return;
	}
	clock_iso_from_ms(ms, t);
	sqlite3_bind_text(st, i, t, -1, SQLITE_TRANSIENT);
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Binds the row in JOB_COLUMNS order to ?1..?16. */
static void bind_job(sqlite3_stmt *st, const store_job *j)
{
	sqlite3_bind_text(st, 1, j->job_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, j->type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, j->query_condition ? j->query_condition : "", -1, SQLITE_TRANSIENT);
	bind_time(st, 4, j->created_ms);
	bind_time(st, 5, j->start_ms);
	bind_time(st, 6, j->end_ms);
	sqlite3_bind_int64(st, 7, j->max_execution_seconds);
	sqlite3_bind_text(st, 8, j->status, -1, SQLITE_TRANSIENT);
	bind_opt_text(st, 9, j->failure_reason);
	bind_opt_text(st, 10, j->status_message);
	sqlite3_bind_text(st, 11, json_util_dump(j->spec ? j->spec : json_object()), -1, free);
	if (j->policy)
		sqlite3_bind_text(st, 12, json_util_dump(j->policy), -1, free);
	else
		sqlite3_bind_null(st, 12);
	sqlite3_bind_int(st, 13, j->phase);
	sqlite3_bind_int(st, 14, j->paused);
	sqlite3_bind_int(st, 15, j->awaiting_approval);
	sqlite3_bind_int64(st, 16, j->etag);
}

static int step_done(store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, what);
}

int store_job_insert(store *s, const store_job *j)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO jobs (" JOB_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
					 " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
	int rc;

	if (!st)
		return DH_EIO;
	bind_job(st, j);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_CONSTRAINT)
		return err_set(DH_EJOBEXISTS, "job '%s' already exists", j->job_id);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "creating a job");
}

int store_job_get(store *s, const char *job_id, store_job *j)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE job_id = ?1");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		read_job(st, j);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? err_set(DH_ENOJOB, "job '%s' not found", job_id) : store_fail(s, "reading a job");
}

int store_job_update(store *s, const store_job *j)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE jobs SET type = ?2, query_condition = ?3, created_time = ?4,"
					 " start_time = ?5, end_time = ?6, max_execution_seconds = ?7, status = ?8,"
					 " failure_reason = ?9, status_message = ?10, spec = ?11, policy = ?12, phase = ?13,"
					 " paused = ?14, awaiting_approval = ?15, etag = ?16 WHERE job_id = ?1");

	if (!st)
		return DH_EIO;
	bind_job(st, j);
	return step_done(s, st, "updating a job");
}

int store_job_active(store *s, char ids[][STORE_JOB_ID_MAX + 1], int max, int *n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT job_id FROM jobs WHERE status IN ('queued', 'scheduled', 'running')"
					 " ORDER BY created_time LIMIT ?1");
	int rc;

	*n = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_int(st, 1, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		store_col_text(st, 0, ids[(*n)++], STORE_JOB_ID_MAX + 1);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "listing active jobs");
}

int store_job_each(store *s, const char *type, const char *status, int limit, int64_t offset, store_job_fn fn,
		   void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " JOB_COLUMNS " FROM jobs WHERE (?1 IS NULL OR type = ?1)"
					 " AND (?2 IS NULL OR status = ?2) ORDER BY created_time, job_id LIMIT ?3 OFFSET ?4");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	bind_opt_text(st, 1, type);
	bind_opt_text(st, 2, status);
	sqlite3_bind_int(st, 3, limit);
	sqlite3_bind_int64(st, 4, offset);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_job j;
		read_job(st, &j);
		rc = fn(&j, ctx);
		store_job_release(&j);
	}
	sqlite3_reset(st);
	return rc ? rc : (step == SQLITE_DONE || step == SQLITE_ROW ? 0 : store_fail(s, "listing jobs"));
}

/* Prepares dynamic SQL, binds the compiled params, then extra text/int params after them. */
static int prepare_with(store *s, const char *sql, const store_param *params, size_t n, sqlite3_stmt **st)
{
	int rc = store_prepare(s, sql, st);

	if (rc == 0 && (rc = store_bind_params(*st, params, n)) != 0) {
		sqlite3_finalize(*st);
		*st = NULL;
	}
	return rc;
}

int store_job_add_targets(store *s, const char *job_id, const char *sql, const store_param *params, size_t n,
			  int phase, int shuffle, int64_t now_ms, int64_t *added)
{
	buf q = BUF_INIT;
	char now[CLOCK_ISO_LEN];
	sqlite3_stmt *st = NULL;
	int rc;

	clock_iso_from_ms(now_ms, now);
	buf_printf(&q, "INSERT OR IGNORE INTO job_devices (job_id, device_id, module_id, phase, status, created_time,"
		       " last_updated_time) SELECT ?%zu, t.device_id, t.module_id, ?%zu, 'pending', ?%zu, ?%zu FROM (%s) AS t%s",
		   n + 1, n + 2, n + 3, n + 3, sql, shuffle ? " ORDER BY random()" : "");
	if ((rc = prepare_with(s, q.data, params, n, &st)) != 0)
		goto out;
	sqlite3_bind_text(st, (int)n + 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, (int)n + 2, phase);
	sqlite3_bind_text(st, (int)n + 3, now, -1, SQLITE_STATIC);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "resolving a job's targets");
	*added = rc == 0 ? sqlite3_changes(store_db(s)) : 0;
out:
	sqlite3_finalize(st);
	buf_release(&q);
	return rc;
}

int store_job_sql_has_row(store *s, const char *sql, const store_param *params, size_t n)
{
	sqlite3_stmt *st = NULL;
	int rc = prepare_with(s, sql, params, n, &st);

	if (rc)
		return rc;
	rc = sqlite3_step(st);
	rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : store_fail(s, "evaluating a condition");
	sqlite3_finalize(st);
	return rc;
}

int store_job_assign_rank(store *s, const char *job_id, int64_t first, int64_t count, int phase)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE job_devices SET phase = ?4 WHERE rowid IN (SELECT rowid FROM job_devices"
					 " WHERE job_id = ?1 ORDER BY rowid LIMIT ?3 OFFSET ?2)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, first);
	sqlite3_bind_int64(st, 3, count);
	sqlite3_bind_int(st, 4, phase);
	return step_done(s, st, "assigning phases");
}

int store_job_assign_where(store *s, const char *job_id, int from, int to, const char *sql, const store_param *params,
			   size_t n)
{
	buf q = BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc;

	buf_printf(&q, "UPDATE job_devices SET phase = ?%zu WHERE job_id = ?%zu AND phase = ?%zu AND device_id IN"
		       " (SELECT t.device_id FROM (%s) AS t)", n + 1, n + 2, n + 3, sql);
	if ((rc = prepare_with(s, q.data, params, n, &st)) != 0)
		goto out;
	sqlite3_bind_int(st, (int)n + 1, to);
	sqlite3_bind_text(st, (int)n + 2, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, (int)n + 3, from);
	rc = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(s, "assigning phases");
out:
	sqlite3_finalize(st);
	buf_release(&q);
	return rc;
}

int store_job_due(store *s, const char *job_id, const char *status, int phase, int64_t now_ms, int max,
		  store_job_device *out, int *n)
{
	/* With one phase, job_devices_by_status (job_id, status, phase) yields rows in rowid order, so SQLite
	 * stops after LIMIT rows; across phases it must read and sort every row of that status, which made
	 * each engine step O(devices) (docs/performance.md, "Jobs"). Same rows, same order, either way. */
	sqlite3_stmt *st = phase >= 0
				   ? store_stmt(s, "SELECT device_id, module_id, phase, status, attempts, not_before_ms, start_time"
						   " FROM job_devices WHERE job_id = ?1 AND status = ?2 AND phase = ?3"
						   " AND not_before_ms <= ?4 ORDER BY rowid LIMIT ?5")
				   : store_stmt(s, "SELECT device_id, module_id, phase, status, attempts, not_before_ms, start_time"
						   " FROM job_devices WHERE job_id = ?1 AND status = ?2 AND (?3 < 0 OR phase = ?3)"
						   " AND not_before_ms <= ?4 ORDER BY rowid LIMIT ?5");
	int rc;

	*n = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, phase);
	sqlite3_bind_int64(st, 4, now_ms);
	sqlite3_bind_int(st, 5, max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_job_device *d = &out[(*n)++];
		store_col_text(st, 0, d->device_id, sizeof(d->device_id));
		store_col_text(st, 1, d->module_id, sizeof(d->module_id));
		d->phase = sqlite3_column_int(st, 2);
		store_col_text(st, 3, d->status, sizeof(d->status));
		d->attempts = sqlite3_column_int(st, 4);
		d->not_before_ms = sqlite3_column_int64(st, 5);
		d->start_ms = time_col(st, 6);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "reading job devices");
}

int store_job_device_set(store *s, const char *job_id, const store_job_device *d, int64_t now_ms,
			 const json_t *outcome, const char *error_code, const char *error_description)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE job_devices SET status = ?4, attempts = ?5, not_before_ms = ?6,"
					 " start_time = coalesce(?7, start_time), end_time = ?8, last_updated_time = ?9,"
					 " outcome = coalesce(?10, outcome), error_code = ?11, error_description = ?12"
					 " WHERE job_id = ?1 AND device_id = ?2 AND module_id = ?3");
	int finished = strcmp(d->status, "completed") == 0 || strcmp(d->status, "failed") == 0 ||
		       strcmp(d->status, "canceled") == 0;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, d->device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, d->module_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, d->status, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, d->attempts);
	sqlite3_bind_int64(st, 6, d->not_before_ms);
	bind_time(st, 7, d->start_ms);
	bind_time(st, 8, finished ? now_ms : 0);
	bind_time(st, 9, now_ms);
	if (outcome)
		sqlite3_bind_text(st, 10, json_util_dump(outcome), -1, free);
	bind_opt_text(st, 11, error_code);
	bind_opt_text(st, 12, error_description);
	return step_done(s, st, "updating a job device");
}

int store_job_device_status(store *s, const char *job_id, const char *device_id, const char *module_id,
			    char out[16])
{
	sqlite3_stmt *st = store_stmt(s, "SELECT status FROM job_devices WHERE job_id = ?1 AND device_id = ?2"
					 " AND module_id = ?3");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, module_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		store_col_text(st, 0, out, 16);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? err_set(DH_ENOJOB, "job '%s' has no device '%s'", job_id, device_id)
				 : store_fail(s, "reading a job device");
}

int store_job_move(store *s, const char *job_id, const char *from, const char *to, int64_t now_ms,
		   const char *error_code, const char *error_description, int64_t *moved)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE job_devices SET status = ?3, last_updated_time = ?4,"
					 " end_time = CASE WHEN ?3 IN ('completed', 'failed', 'canceled') THEN ?4 END,"
					 " error_code = coalesce(?5, error_code),"
					 " error_description = coalesce(?6, error_description)"
					 " WHERE job_id = ?1 AND status = ?2");
	char now[CLOCK_ISO_LEN];
	int rc;

	if (!st)
		return DH_EIO;
	clock_iso_from_ms(now_ms, now);
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, to, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, now, -1, SQLITE_STATIC);
	bind_opt_text(st, 5, error_code);
	bind_opt_text(st, 6, error_description);
	rc = step_done(s, st, "moving job devices");
	if (moved)
		*moved = rc == 0 ? sqlite3_changes(store_db(s)) : 0;
	return rc;
}

int store_job_rephase_pending(store *s, const char *job_id, int phase, int64_t *moved)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE job_devices SET phase = ?2"
					 " WHERE job_id = ?1 AND status = 'pending' AND phase < ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, phase);
	rc = step_done(s, st, "moving retried job devices");
	if (moved)
		*moved = rc == 0 ? sqlite3_changes(store_db(s)) : 0;
	return rc;
}

int store_job_counts_get(store *s, const char *job_id, int phase, store_job_counts *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT status, count(*), sum(attempts > 0) FROM job_devices"
					 " WHERE job_id = ?1 AND (?2 < 0 OR phase = ?2) GROUP BY status");
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, phase);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *status = (const char *)sqlite3_column_text(st, 0);
		int64_t count = sqlite3_column_int64(st, 1);
		out->total += count;
		if (strcmp(status, "pending") == 0) {
			out->pending = count;
			out->retrying = sqlite3_column_int64(st, 2);
		} else if (strcmp(status, "scheduled") == 0) {
			out->scheduled = count;
		} else if (strcmp(status, "running") == 0) {
			out->running = count;
		} else if (strcmp(status, "verifying") == 0) {
			out->verifying = count;
		} else if (strcmp(status, "completed") == 0) {
			out->completed = count;
		} else if (strcmp(status, "failed") == 0) {
			out->failed = count;
		} else if (strcmp(status, "canceled") == 0) {
			out->canceled = count;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "counting job devices");
}

int store_job_unfinished(store *s, const char *job_id)
{
	/* EXISTS over job_devices_by_status: stops at the first row, never reads the table. */
	sqlite3_stmt *st = store_stmt(s, "SELECT EXISTS (SELECT 1 FROM job_devices WHERE job_id = ?1"
					 " AND status IN ('pending', 'scheduled', 'running', 'verifying'))");
	int rc, any = 0;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		any = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? any : store_fail(s, "checking a job's devices");
}

int store_job_failures(store *s, const char *job_id, json_t **out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT coalesce(error_code, 'Unknown'), count(*) FROM job_devices"
					 " WHERE job_id = ?1 AND status = 'failed' GROUP BY 1 ORDER BY 2 DESC");
	int rc;

	*out = json_object();
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(st, 0), json_integer(sqlite3_column_int64(st, 1)));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "grouping job failures");
}

json_t *store_job_row_json(sqlite3_stmt *st, int first)
{
#define COL(i) ((const char *)sqlite3_column_text(st, first + (i)))
	const char *module = COL(8), *outcome = COL(9), *code = COL(10), *description = COL(11);
	json_t *row = json_object(), *out = outcome ? json_loads(outcome, 0, NULL) : NULL;

	json_object_set_new(row, "deviceId", json_string(COL(0) ? COL(0) : ""));
	json_object_set_new(row, "jobId", json_string(COL(1) ? COL(1) : ""));
	json_object_set_new(row, "jobType", json_string(COL(2) ? COL(2) : ""));
	json_object_set_new(row, "status", json_string(COL(3) ? COL(3) : ""));
	/* A row not started or not finished shows null times, as IoT Hub does. */
	json_object_set_new(row, "startTimeUtc", COL(4) ? json_string(COL(4)) : json_null());
	json_object_set_new(row, "endTimeUtc", COL(5) ? json_string(COL(5)) : json_null());
	json_object_set_new(row, "createdDateTimeUtc", json_string(COL(6) ? COL(6) : ""));
	json_object_set_new(row, "lastUpdatedDateTimeUtc", json_string(COL(7) ? COL(7) : ""));
	if (module && *module)
		json_object_set_new(row, "moduleId", json_string(module));
	json_object_set_new(row, "outcome", out ? out : json_pack("{s:n}", "deviceMethodResponse"));
	if (code)
		json_object_set_new(row, "error", json_pack("{s:s, s:s}", "code", code, "description",
							   description ? description : ""));
	return row;
#undef COL
}

int store_job_rows(store *s, const char *job_id, const char *device_id, int limit, int64_t offset, store_job_row_fn fn,
		   void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " STORE_JOB_ROW_COLUMNS " FROM " STORE_JOB_ROWS_FROM
					 " WHERE (?1 IS NULL OR d.job_id = ?1) AND (?2 IS NULL OR d.device_id = ?2)"
					 " ORDER BY d.rowid LIMIT ?3 OFFSET ?4");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	bind_opt_text(st, 1, job_id);
	bind_opt_text(st, 2, device_id);
	sqlite3_bind_int(st, 3, limit);
	sqlite3_bind_int64(st, 4, offset);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(store_job_row_json(st, 0), ctx);
	sqlite3_reset(st);
	return rc ? rc : (step == SQLITE_DONE || step == SQLITE_ROW ? 0 : store_fail(s, "reading job devices"));
}

int store_job_compliance(store *s, const char *job_id, const char *version, json_t **out)
{
	sqlite3_stmt *st = store_stmt(
		s, "SELECT coalesce(sum(v = ?2 AND st = 'current'), 0),"
		   " coalesce(sum(st IN ('downloading', 'verifying', 'applying', 'rebooting')), 0),"
		   " coalesce(sum(st = 'error'), 0), count(*) FROM (SELECT"
		   " json_extract(i.reported, '$.firmware.version') AS v, json_extract(i.reported, '$.firmware.status') AS st"
		   " FROM job_devices d JOIN identities i ON i.device_id = d.device_id AND i.module_id = d.module_id"
		   " WHERE d.job_id = ?1)");
	int rc;

	*out = NULL;
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, version, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		int64_t on = sqlite3_column_int64(st, 0), prog = sqlite3_column_int64(st, 1);
		int64_t failed = sqlite3_column_int64(st, 2), all = sqlite3_column_int64(st, 3);
		*out = json_pack("{s:s, s:I, s:I, s:I, s:I}", "targetVersion", version, "onTarget", (json_int_t)on,
				 "inProgress", (json_int_t)prog, "failed", (json_int_t)failed, "notYet",
				 (json_int_t)(all - on - prog - failed));
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "measuring firmware compliance");
}

int store_job_status_counts(store *s, store_job_count_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT policy IS NOT NULL, status, count(*) FROM jobs GROUP BY 1, 2");
	int rc;

	if (!st)
		return DH_EIO;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		fn(sqlite3_column_int(st, 0) ? "rollout" : "job", (const char *)sqlite3_column_text(st, 1),
		   sqlite3_column_int64(st, 2), ctx);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "counting jobs by status");
}
