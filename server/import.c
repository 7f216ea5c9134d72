/*
 * import: the import worker. Owns the running import's copy of the file and its thread; the rules for
 * one entry are registry_bulk_apply's, the parsing import_line's, the rows store_import's.
 */
#include "import.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "events.h"
#include "import_line.h"
#include "log.h"
#include "registry.h"
#include "session.h"
#include "store_import.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct import_job {
	store_import row;
	char *data; /* the file, owned */
	size_t len;
	import_csv *csv; /* CSV: the parsed header (line 1); NULL for JSON lines */
} import_job;

static pthread_mutex_t import_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t import_thread;
static int import_thread_live;    /* a thread to join (running or finished) */
static atomic_int import_running; /* the worker has not finished yet */
static atomic_int import_stop;
static int import_closed; /* import_shutdown ran: no new imports */

int import_init(void)
{
	store *s = store_thread();
	char now[CLOCK_ISO_LEN];
	int rc;

	if (!s)
		return DH_EIO;
	clock_iso_now(now);
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_import_fail_running(s, "interrupted: the server stopped while it ran", now)) != 0) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s);
}

/* The next line of [*pos, end): OUT: *line, *len (without the newline). 0 at the end. */
static int next_line(const char **pos, const char *end, const char **line, size_t *len)
{
	const char *nl;

	if (*pos >= end)
		return 0;
	nl = memchr(*pos, '\n', (size_t)(end - *pos));
	*line = *pos;
	*len = (size_t)((nl ? nl : end) - *pos);
	*pos = nl ? nl + 1 : end;
	return 1;
}

static int blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return 0;
	}
	return 1;
}

static json_t *import_render(const store_import *r)
{
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s?, s:s?}", "id", r->import_id, "status",
			 r->status, "format", r->format, "totalLines", (json_int_t)r->total_lines, "processedLines",
			 (json_int_t)r->processed_lines, "succeeded", (json_int_t)r->succeeded, "failed",
			 (json_int_t)r->failed, "startedTime", r->started_time, "endTime",
			 r->end_time[0] ? r->end_time : NULL, "failureReason",
			 r->failure_reason[0] ? r->failure_reason : NULL);
}

/* The entry's device id ("" when the line did not parse). */
static const char *entry_id(const json_t *entry)
{
	const char *id = json_string_value(json_object_get(entry, "id"));

	id = id ? id : json_string_value(json_object_get(entry, "deviceId"));
	return id ? id : "";
}

/* Applies one line inside the open transaction; a failure is recorded as the line's error. Returns 0,
 * or a store error that must end the batch (the error row itself could not be written). */
static int apply_line(store *s, import_job *job, int64_t line_no, const char *line, size_t len, json_t *revoked)
{
	json_t *entry = NULL;
	int revoke = 0, rc;

	if (len > IMPORT_LINE_MAX)
		rc = err_set(DH_ETOOBIG, "the line has more than %d bytes", IMPORT_LINE_MAX);
	else if (job->csv)
		rc = import_csv_row(job->csv, line, len, &entry);
	else
		rc = import_line_json(line, len, &entry);
	if (rc == 0)
		rc = registry_bulk_apply(s, entry, &revoke);
	job->row.processed_lines++;
	if (rc == 0) {
		job->row.succeeded++;
		if (revoke)
			json_array_append_new(revoked, json_string(entry_id(entry)));
	} else {
		job->row.failed++;
		rc = store_import_error_add(s, job->row.import_id, line_no, entry_id(entry), err_http(rc).name,
					    err_message());
	}
	json_decref(entry);
	return rc;
}

/* One batch: up to IMPORT_BATCH non-blank lines from *pos in one transaction with the progress row. */
static int run_batch(store *s, import_job *job, const char **pos, int64_t *line_no)
{
	const char *end = job->data + job->len, *line;
	store_import before = job->row;
	json_t *revoked = json_array(), *v;
	size_t len, i;
	int n = 0, rc;

	if ((rc = store_begin_write(s)) != 0)
		goto out;
	while (rc == 0 && n < IMPORT_BATCH && next_line(pos, end, &line, &len)) {
		++*line_no;
		if (blank(line, len) || (job->csv && *line_no == 1))
			continue;
		n++;
		rc = apply_line(s, job, *line_no, line, len, revoked);
	}
	if (rc == 0 && *pos >= end) {
		snprintf(job->row.status, sizeof(job->row.status), "completed");
		clock_iso_now(job->row.end_time);
	}
	if (rc == 0 && (rc = store_import_update(s, &job->row)) == 0)
		rc = store_commit(s);
	if (rc) {
		store_rollback(s);
		job->row = before;
		goto out;
	}
	json_array_foreach(revoked, i, v)
	    session_kick(json_string_value(v), NULL, SESSION_CLOSE_REVOKED, "credentials revoked");
	events_publish("registry.bulk", json_pack("{s:s, s:s, s:i}", "source", "import", "importId", job->row.import_id,
						  "entries", n));
out:
	json_decref(revoked);
	return rc;
}

/* Records why the import ended early. */
static void import_fail(store *s, import_job *job, const char *reason)
{
	snprintf(job->row.status, sizeof(job->row.status), "failed");
	snprintf(job->row.failure_reason, sizeof(job->row.failure_reason), "%s", reason);
	clock_iso_now(job->row.end_time);
	if (store_begin_write(s) == 0 && store_import_update(s, &job->row) == 0 && store_commit(s) == 0)
		return;
	store_rollback(s);
	log_error("import %s: cannot record its failure: %s", job->row.import_id, err_message());
}

static void *import_main(void *arg)
{
	import_job *job = arg;
	store *s = store_thread();
	const char *pos = job->data;
	int64_t line_no = 0;
	int rc = s ? 0 : DH_EIO;

	while (rc == 0 && strcmp(job->row.status, "running") == 0 && !atomic_load(&import_stop))
		rc = run_batch(s, job, &pos, &line_no);
	if (s && strcmp(job->row.status, "running") == 0)
		import_fail(s, job, rc ? err_message() : "interrupted: the server stopped while it ran");
	log_info("import %s %s: %lld lines, %lld succeeded, %lld failed", job->row.import_id, job->row.status,
		 (long long)job->row.processed_lines, (long long)job->row.succeeded, (long long)job->row.failed);
	import_csv_free(job->csv);
	free(job->data);
	free(job);
	atomic_store(&import_running, 0);
	return NULL;
}

static int format_of(const char *content_type, int *csv)
{
	static const char *const jsonl[] = {"application/x-ndjson", "application/jsonl", "application/json-lines",
					    "application/x-jsonlines"};
	size_t n;

	if (!content_type)
		return err_set(DH_EMEDIA, "Content-Type must be application/x-ndjson or text/csv");
	n = strcspn(content_type, "; ");
	*csv = n == 8 && strncasecmp(content_type, "text/csv", 8) == 0;
	for (size_t i = 0; !*csv && i < sizeof(jsonl) / sizeof(jsonl[0]); i++) {
		if (n == strlen(jsonl[i]) && strncasecmp(content_type, jsonl[i], n) == 0)
			return 0;
	}
	return *csv ? 0 : err_set(DH_EMEDIA, "Content-Type must be application/x-ndjson or text/csv");
}

/* Prepares the job: copies the file, parses a CSV header, counts the lines to apply. */
static int job_new(const char *body, size_t len, int csv, import_job **out)
{
	import_job *job = xcalloc(1, sizeof(*job));
	const char *pos, *line;
	unsigned char rnd[8];
	size_t n;
	int rc = 0;

	job->data = xmalloc(len + 1);
	memcpy(job->data, body, len);
	job->data[len] = '\0';
	job->len = len;
	pos = job->data;
	if (csv &&
	    (!next_line(&pos, job->data + len, &line, &n) || (rc = import_csv_header(line, n, &job->csv)) != 0)) {
		rc = rc ? rc : err_set(DH_EINVAL, "the CSV file has no header row");
		goto out;
	}
	while (next_line(&pos, job->data + len, &line, &n)) {
		if (!blank(line, n))
			job->row.total_lines++;
	}
	if ((rc = crypto_random(rnd, sizeof(rnd))) != 0)
		goto out;
	snprintf(job->row.import_id, sizeof(job->row.import_id), "import-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(job->row.status, sizeof(job->row.status), "running");
	snprintf(job->row.format, sizeof(job->row.format), "%s", csv ? "csv" : "jsonl");
	clock_iso_now(job->row.started_time);
out:
	if (rc) {
		import_csv_free(job->csv);
		free(job->data);
		free(job);
		return rc;
	}
	*out = job;
	return 0;
}

static int job_record(const import_job *job)
{
	store *s = store_thread();
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_import_insert(s, &job->row)) != 0) {
		store_rollback(s);
		return rc;
	}
	return store_commit(s);
}

int import_start(const char *body, size_t len, const char *content_type, json_t **out)
{
	import_job *job = NULL;
	int csv = 0, rc;

	*out = NULL;
	if ((rc = format_of(content_type, &csv)) != 0)
		return rc;
	if (len > IMPORT_MAX_BYTES)
		return err_set(DH_ETOOBIG, "an import file holds at most %zu bytes", IMPORT_MAX_BYTES);
	pthread_mutex_lock(&import_lock);
	if (import_closed) {
		rc = err_set(DH_EBUSY, "the server is stopping");
		goto out;
	}
	if (atomic_load(&import_running)) {
		rc = err_set(DH_EJOBEXISTS, "an import is already running; one runs at a time");
		goto out;
	}
	if (import_thread_live) { /* the previous one has finished: reap it */
		pthread_join(import_thread, NULL);
		import_thread_live = 0;
	}
	if ((rc = job_new(body, len, csv, &job)) != 0 || (rc = job_record(job)) != 0)
		goto out;
	*out = import_render(&job->row);
	atomic_store(&import_stop, 0);
	atomic_store(&import_running, 1);
	if (pthread_create(&import_thread, NULL, import_main, job) != 0) {
		atomic_store(&import_running, 0);
		json_decref(*out);
		*out = NULL;
		rc = err_set(DH_EINTERNAL, "cannot start the import thread");
		goto out;
	}
	import_thread_live = 1;
	job = NULL; /* the thread owns it */
out:
	pthread_mutex_unlock(&import_lock);
	if (job) {
		import_csv_free(job->csv);
		free(job->data);
		free(job);
	}
	return rc;
}

void import_shutdown(void)
{
	pthread_mutex_lock(&import_lock);
	import_closed = 1;
	atomic_store(&import_stop, 1);
	if (import_thread_live)
		pthread_join(import_thread, NULL);
	import_thread_live = 0;
	pthread_mutex_unlock(&import_lock);
}

int import_get(const char *import_id, json_t **out)
{
	store *s = store_thread();
	store_import row;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	rc = store_import_get(s, import_id, &row);
	store_rollback(s);
	if (rc == 0)
		*out = import_render(&row);
	return rc;
}

static int error_line(int64_t line, const char *device_id, const char *error_code, const char *message, void *ctx)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "line", (json_int_t)line, "deviceId", device_id ? device_id : "",
			      "errorCode", error_code ? error_code : "", "message", message ? message : "");
	char *text = json_dumps(o, JSON_COMPACT);

	buf_puts(ctx, text);
	buf_putc(ctx, '\n');
	free(text);
	json_decref(o);
	return 0;
}

int import_errors(const char *import_id, char **out, size_t *len)
{
	store *s = store_thread();
	store_import row;
	buf text = BUF_INIT;
	int rc;

	*out = NULL;
	*len = 0;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_import_get(s, import_id, &row)) == 0)
		rc = store_import_errors(s, import_id, error_line, &text);
	store_rollback(s);
	if (rc) {
		buf_release(&text);
		return rc;
	}
	*len = text.len;
	*out = text.len ? buf_detach(&text) : xstrdup("");
	return 0;
}
