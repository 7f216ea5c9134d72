/*
 * audit: the audit log's in-memory queue, its writer thread and its listing. Must never make a request
 * wait for SQLite (only a full queue makes one wait, briefly).
 */
#include "audit.h"

#include "clock.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "store_account.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define AUDIT_FLUSH_MS 200
#define AUDIT_WAIT_MS 2000

static pthread_mutex_t audit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t audit_wake = PTHREAD_COND_INITIALIZER;    /* to the writer: entries or a flush */
static pthread_cond_t audit_written = PTHREAD_COND_INITIALIZER; /* from the writer: a batch is stored */
static store_audit *audit_queue; /* AUDIT_QUEUE_MAX entries; entries [0, audit_count) are pending */
static int audit_count;
static unsigned long long audit_queued, audit_stored; /* totals, for audit_flush */
static int audit_running, audit_flush_wanted;
static pthread_t audit_thread;

/* A deadline ms milliseconds from now, for pthread_cond_timedwait. */
static struct timespec deadline(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Stores entries[0..n) in one transaction on the calling thread's connection. */
static void write_batch(const store_audit *entries, int n)
{
	store *s = store_thread();
	int rc = s ? store_begin_write(s) : DH_EIO;

	for (int i = 0; rc == 0 && i < n; i++)
		rc = store_audit_insert(s, &entries[i]);
	if (rc == 0)
		rc = store_commit(s);
	if (rc) {
		if (s)
			store_rollback(s);
		log_warn("audit: %d entries not stored: %s", n, err_message());
	}
}

static void *writer_main(void *arg)
{
	store_audit *batch = calloc(AUDIT_QUEUE_MAX, sizeof(*batch));
	int n;

	pthread_mutex_lock(&audit_lock);
	while (audit_running || audit_count > 0) {
		if (audit_count == 0 || (!audit_flush_wanted && audit_running)) {
			struct timespec ts = deadline(AUDIT_FLUSH_MS);
			pthread_cond_timedwait(&audit_wake, &audit_lock, &ts);
		}
		if (audit_count == 0)
			continue;
		n = audit_count;
		memcpy(batch, audit_queue, (size_t)n * sizeof(*batch));
		audit_count = 0;
		audit_flush_wanted = 0;
		pthread_mutex_unlock(&audit_lock);
		write_batch(batch, n);
		pthread_mutex_lock(&audit_lock);
		audit_stored += (unsigned long long)n;
		pthread_cond_broadcast(&audit_written);
	}
	pthread_mutex_unlock(&audit_lock);
	free(batch);
	return NULL;
}

int audit_start(void)
{
	pthread_mutex_lock(&audit_lock);
	if (!audit_queue)
		audit_queue = calloc(AUDIT_QUEUE_MAX, sizeof(*audit_queue));
	audit_running = audit_queue != NULL;
	pthread_mutex_unlock(&audit_lock);
	if (!audit_running || pthread_create(&audit_thread, NULL, writer_main, NULL) != 0) {
		audit_running = 0;
		return err_set(DH_EINTERNAL, "cannot start the audit writer");
	}
	return 0;
}

void audit_stop(void)
{
	pthread_mutex_lock(&audit_lock);
	if (!audit_running) {
		pthread_mutex_unlock(&audit_lock);
		return;
	}
	audit_running = 0;
	pthread_cond_signal(&audit_wake);
	pthread_mutex_unlock(&audit_lock);
	pthread_join(audit_thread, NULL);
	free(audit_queue);
	audit_queue = NULL;
}

static void fill(store_audit *e, const char *who, const char *method, const char *pattern, const char *path, int status,
		 const char *from)
{
	memset(e, 0, sizeof(*e));
	clock_iso_now(e->time);
	clock_parse_iso(e->time, &e->time_ms);
	snprintf(e->who, sizeof(e->who), "%s", who);
	snprintf(e->action, sizeof(e->action), "%s %s", method, pattern);
	snprintf(e->path, sizeof(e->path), "%s", path);
	e->status = status;
	snprintf(e->from, sizeof(e->from), "%s", from);
}

void audit_record(const char *who, const char *method, const char *pattern, const char *path, int status,
		  const char *from)
{
	store_audit e;
	int dropped = 0;

	fill(&e, who, method, pattern, path, status, from);
	pthread_mutex_lock(&audit_lock);
	if (!audit_running) {
		pthread_mutex_unlock(&audit_lock);
		write_batch(&e, 1);
		return;
	}
	if (audit_count == AUDIT_QUEUE_MAX) {
		struct timespec ts = deadline(AUDIT_WAIT_MS);
		audit_flush_wanted = 1;
		pthread_cond_signal(&audit_wake);
		while (audit_count == AUDIT_QUEUE_MAX && audit_running &&
		       pthread_cond_timedwait(&audit_written, &audit_lock, &ts) != ETIMEDOUT)
			;
		dropped = audit_count == AUDIT_QUEUE_MAX || !audit_running;
	}
	if (!dropped) {
		audit_queue[audit_count++] = e;
		audit_queued++;
	}
	pthread_mutex_unlock(&audit_lock);
	if (dropped)
		log_warn("audit: queue full; dropped %s by %s", e.action, e.who);
}

void audit_flush(void)
{
	struct timespec ts = deadline(AUDIT_WAIT_MS);
	unsigned long long target;

	pthread_mutex_lock(&audit_lock);
	target = audit_queued;
	audit_flush_wanted = 1;
	pthread_cond_signal(&audit_wake);
	while (audit_running && audit_stored < target &&
	       pthread_cond_timedwait(&audit_written, &audit_lock, &ts) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&audit_lock);
}

static int add_entry(const store_audit *e, void *ctx)
{
	json_array_append_new(ctx, json_pack("{s:I, s:s, s:s, s:s, s:s, s:i, s:s}", "id", (json_int_t)e->id, "time",
					     e->time, "who", e->who, "action", e->action, "path", e->path, "status",
					     e->status, "from", e->from));
	return 0;
}

static int parse_time(const char *text, const char *what, int64_t *ms)
{
	*ms = -1;
	if (text && *text && clock_parse_iso(text, ms) != 0)
		return err_set(DH_EINVAL, "%s must be an ISO 8601 UTC time", what);
	return 0;
}

int audit_list(const char *who, const char *action, const char *since, const char *until, int top,
	       const char *continuation, json_t **out)
{
	store_audit_filter f = {who, action, -1, -1, 0, 0};
	store *s = store_thread();
	json_t *items = NULL;
	char *end = NULL;
	int rc;

	*out = NULL;
	if ((rc = parse_time(since, "since", &f.since_ms)) != 0 || (rc = parse_time(until, "until", &f.until_ms)) != 0)
		return rc;
	if (top < 0 || top > AUDIT_LIST_MAX)
		return err_set(DH_EINVAL, "top must be 1 to %d", AUDIT_LIST_MAX);
	if (continuation && *continuation) {
		f.before_id = strtoll(continuation, &end, 10);
		if (*end || f.before_id <= 0)
			return err_set(DH_EINVAL, "continuationToken is not one this API gave");
	}
	f.limit = (top ? top : 100) + 1; /* one more than asked: is there a next page? */
	if (!s)
		return DH_EIO;
	audit_flush();
	items = json_array();
	if ((rc = store_begin_read(s)) == 0) {
		rc = store_audit_each(s, &f, add_entry, items);
		store_rollback(s);
	}
	if (rc) {
		json_decref(items);
		return rc;
	}
	if ((int)json_array_size(items) == f.limit) {
		char token[32];
		json_array_remove(items, json_array_size(items) - 1);
		snprintf(token, sizeof(token), "%lld",
			 (long long)json_integer_value(
			     json_object_get(json_array_get(items, json_array_size(items) - 1), "id")));
		*out = json_pack("{s:o, s:s}", "items", items, "continuationToken", token);
	} else {
		*out = json_pack("{s:o, s:n}", "items", items, "continuationToken");
	}
	return 0;
}
