/*
 * store_job: the jobs and job_devices tables. All SQL about jobs lives here; callers own transactions.
 */
#ifndef DH_STORE_JOB_H
#define DH_STORE_JOB_H

#include "store.h"
#include "store_dialect.h"

#include <jansson.h>
#include <stdint.h>

#define STORE_JOB_ID_MAX 128

/* A job row. json members and query_condition are owned (store_job_release). */
typedef struct store_job {
	char job_id[STORE_JOB_ID_MAX + 1];
	char type[32];                 /* scheduleDeviceMethod | scheduleUpdateTwin */
	char *query_condition;
	int64_t created_ms, start_ms, end_ms;   /* end_ms 0 = not ended */
	int64_t max_execution_seconds;
	char status[16];               /* queued | scheduled | running | completed | failed | cancelled */
	char failure_reason[256];
	char status_message[256];
	json_t *spec;                  /* {"cloudToDeviceMethod":{..}} or {"updateTwin":{..}} */
	json_t *policy;                /* NULL for a plain job */
	int phase, paused, awaiting_approval;
	int64_t etag;
} store_job;

void store_job_release(store_job *j);
int store_job_insert(store *s, const store_job *j);           /* DH_EJOBEXISTS when the id is taken */
int store_job_get(store *s, const char *job_id, store_job *j); /* DH_ENOJOB when absent */
int store_job_update(store *s, const store_job *j);           /* every mutable column; bumps nothing */

/* Ids of jobs not yet finished (queued, scheduled, running), oldest first. OUT: ids[0..*n). */
int store_job_active(store *s, char ids[][STORE_JOB_ID_MAX + 1], int max, int *n);

/* Jobs for GET /jobs/v2/query: type and status filters may be NULL; offset paging. */
typedef int (*store_job_fn)(const store_job *j, void *ctx);
int store_job_each(store *s, const char *type, const char *status, int limit, int64_t offset, store_job_fn fn,
		   void *ctx);

/* ---- targets ---- */

/* Adds the devices that sql (compiled by the query module, selecting STORE_DEVICE_COLUMNS, with params)
 * returns as pending rows of phase `phase`, in random order when shuffle is set (canary sampling), skipping
 * devices already in the job. OUT: *added. */
int store_job_add_targets(store *s, const char *job_id, const char *sql, const store_param *params, size_t n,
			  int phase, int shuffle, int64_t now_ms, int64_t *added);
/* Percentage phases: moves rows first..first+count (in insertion order) of the job to phase. */
int store_job_assign_rank(store *s, const char *job_id, int64_t first, int64_t count, int phase);
/* Explicit phases: moves the job's rows still in phase `from` whose device matches sql to phase `to`. */
int store_job_assign_where(store *s, const char *job_id, int from, int to, const char *sql, const store_param *params,
			   size_t n);

/* 1 when compiled sql (with params) returns at least one row, 0 when none, or a negative error. */
int store_job_sql_has_row(store *s, const char *sql, const store_param *params, size_t n);

/* ---- per device ---- */
typedef struct store_job_device {
	char device_id[129];
	char module_id[129];
	int phase;
	char status[16];  /* pending | scheduled | running | verifying | completed | failed | canceled */
	int attempts;
	int64_t not_before_ms;
	int64_t start_ms;
} store_job_device;

/* Up to max rows of the job with status, of phase (or any phase when phase < 0), due (not_before_ms <= now).
 * OUT: out[0..*n). */
int store_job_due(store *s, const char *job_id, const char *status, int phase, int64_t now_ms, int max,
		  store_job_device *out, int *n);

/* Writes one device's new state. outcome (JSON, may be NULL) and error code/description (may be NULL). */
int store_job_device_set(store *s, const char *job_id, const store_job_device *d, int64_t now_ms,
			 const json_t *outcome, const char *error_code, const char *error_description);

/* One device's status in the job (out[16]); DH_ENOJOB when the job has no such device. */
int store_job_device_status(store *s, const char *job_id, const char *device_id, const char *module_id,
			    char out[16]);

/* A manual retry: the job's pending rows of phases before `phase` move to `phase`, the only phase the
 * engine dispatches. OUT: *moved (may be NULL). */
int store_job_rephase_pending(store *s, const char *job_id, int phase, int64_t *moved);

/* Rows moved from one status to another for the whole job (cancel, timeout, restart), with an error. */
int store_job_move(store *s, const char *job_id, const char *from, const char *to, int64_t now_ms,
		   const char *error_code, const char *error_description, int64_t *moved);

typedef struct store_job_counts {
	int64_t pending, scheduled, running, verifying, completed, failed, canceled, total;
	int64_t retrying;   /* pending rows that were tried before */
} store_job_counts;
/* Counts for one phase, or the whole job when phase < 0. */
int store_job_counts_get(store *s, const char *job_id, int phase, store_job_counts *out);

/* 1 when a device of the job is still pending, scheduled, running or verifying, 0 when none is, or a negative
 * error. Cheap at any job size, unlike store_job_counts_get. */
int store_job_unfinished(store *s, const char *job_id);

/* Failed rows grouped by error code: {"code": count}. New reference in *out. */
int store_job_failures(store *s, const char *job_id, json_t **out);

/* Firmware compliance of the job's devices from their reported firmware {version, status}:
 * {"targetVersion", "onTarget", "inProgress", "failed", "notYet"}. New reference in *out. */
int store_job_compliance(store *s, const char *job_id, const char *version, json_t **out);

/* Per-device job rows as IoT Hub shows them (reference §1.6), for GET and for SELECT * FROM devices.jobs.
 * STORE_JOB_ROWS_FROM names job_devices `d` joined with its job `j`; STORE_JOB_ROW_COLUMNS selects one row
 * over that join in the order store_job_row_json reads it. The query dialect's field table
 * (store_dialect_sqlite.c) uses the same aliases, so a WHERE compiled for devices.jobs runs over this FROM. */
#define STORE_JOB_ROWS_FROM "job_devices AS d JOIN jobs AS j ON j.job_id = d.job_id"
#define STORE_JOB_ROW_COLUMNS                                                                                   \
	"d.device_id, d.job_id, j.type, d.status, d.start_time, d.end_time, d.created_time, d.last_updated_time," \
	" d.module_id, d.outcome, d.error_code, d.error_description"

/* Renders the STORE_JOB_ROW_COLUMNS starting at column `first` of st's current row: {deviceId, jobId,
 * jobType, status, startTimeUtc, endTimeUtc, createdDateTimeUtc, lastUpdatedDateTimeUtc, moduleId (module
 * rows only), outcome:{deviceMethodResponse}, error:{code,description} (failed rows only)}. OUT: a new
 * reference, owned by the caller. */
json_t *store_job_row_json(sqlite3_stmt *st, int first);

/* Per-device rows of one job and/or one device (either filter may be NULL), offset paging: calls fn with
 * each row as store_job_row_json renders it (new reference, fn takes it). */
typedef int (*store_job_row_fn)(json_t *row, void *ctx);
int store_job_rows(store *s, const char *job_id, const char *device_id, int limit, int64_t offset, store_job_row_fn fn,
		   void *ctx);

/* Jobs counted by kind ("job", or "rollout" when it has a policy) and status, for the metrics scrape:
 * calls fn once per (kind, status) present. The strings live only during the call. */
typedef void (*store_job_count_fn)(const char *kind, const char *status, int64_t count, void *ctx);
int store_job_status_counts(store *s, store_job_count_fn fn, void *ctx);

#endif
