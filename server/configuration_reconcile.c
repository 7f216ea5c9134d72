/*
 * configuration_reconcile: the thread that applies configurations to device twins.
 *
 * A pass (about every second, and at once after a configuration changed):
 *  1. loads the configurations, ranked (priority, then newest);
 *  2. for each configuration whose spec changed since it was last evaluated (a new etag), marks dirty
 *     every device it targets now and every device it targeted before (one INSERT ... SELECT each);
 *     after a deletion, marks dirty the devices still holding its settings;
 *  3. walks the dirty devices once, in row order, in batches: evaluates every target condition on the
 *     batch in one statement per configuration, resolves the winning content per path, writes the
 *     desired patch through twin_update only when it changes something (twin_update pushes it to a
 *     connected device), and records settings, statuses and the cleared dirty mark in one transaction;
 *  4. recomputes metrics when anything changed, at most once a second and never spending more than a
 *     fifth of the time on them (a 200 ms metrics run waits 800 ms before the next).
 *
 * Devices become dirty through triggers on the identities table (migrations/003), so twin changes from
 * any path (REST, bulk, the device channel) are seen without the writers knowing about configurations.
 * A device changed while its batch is being reconciled keeps its mark and is seen again next pass.
 */
#include "configuration_int.h"

#include "buf.h"
#include "err.h"
#include "json_util.h"
#include "log.h"
#include "store.h"
#include "store_configuration.h"
#include "twin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_DEVICES 1024
#define PASS_INTERVAL_MS 1000
#define METRICS_MIN_INTERVAL_MS 1000
#define METRICS_COST_FACTOR 4

/* One loaded configuration. */
typedef struct rconfig {
	store_configuration rec;
	query_sql target; /* sql NULL: targets nothing */
	json_t *entries;  /* configuration_content_entries */
} rconfig;

typedef struct rset {
	rconfig *items; /* ranked, winner first */
	size_t n;
} rset;

/* What survives between passes. */
typedef struct reconciler {
	int64_t metrics_due_ms;
	int metrics_pending;
	json_t *known_ids; /* ids seen by the last pass; NULL before the first */
} reconciler;

/* One batch of dirty devices. */
typedef struct batch {
	int64_t *rows; /* ascending */
	int64_t *marks;
	size_t n;
	size_t nconfigs;
	unsigned char *member; /* n x nconfigs: device i targeted by configuration j */
	char **device_ids;     /* NULL: the device is gone */
	char **settings;       /* recorded settings text, NULL: none */
	char **new_settings;
	char **statuses;
} batch;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static configuration_claim claim_of(const rconfig *r)
{
	return (configuration_claim){r->rec.id, r->rec.priority, r->rec.created_time, r->rec.created_seq, r->entries};
}

static int rank_cmp(const void *x, const void *y)
{
	configuration_claim a = claim_of(x), b = claim_of(y);

	return configuration_outranks(&a, &b) ? -1 : configuration_outranks(&b, &a) ? 1 : 0;
}

static void rset_release(rset *set)
{
	for (size_t i = 0; i < set->n; i++) {
		store_configuration_release(&set->items[i].rec);
		query_sql_release(&set->items[i].target);
		json_decref(set->items[i].entries);
	}
	free(set->items);
	memset(set, 0, sizeof(*set));
}

/* Takes the record over. A configuration that no longer compiles (validated at PUT, so only after a
 * query-language change) targets nothing rather than stopping every other one. */
static int load_one(store_configuration *c, void *ctx)
{
	rset *set = ctx;
	rconfig *r;

	set->items = xrealloc(set->items, (set->n + 1) * sizeof(*set->items));
	r = &set->items[set->n++];
	memset(r, 0, sizeof(*r));
	r->rec = *c;
	memset(c, 0, sizeof(*c));
	if (configuration__compile_target(r->rec.target_condition, &r->target) != 0) {
		log_warn("configuration '%s': target condition ignored: %s", r->rec.id, err_message());
		query_sql_release(&r->target);
	}
	if (configuration_content_entries(r->rec.content, &r->entries) != 0) {
		log_warn("configuration '%s': content ignored: %s", r->rec.id, err_message());
		r->entries = json_array();
	}
	return 0;
}

static int load(store *s, rset *set)
{
	int rc = store_begin_read(s);

	if (rc == 0)
		rc = store_configuration_each(s, 1 << 20, load_one, set);
	store_rollback(s);
	if (rc == 0 && set->n > 1)
		qsort(set->items, set->n, sizeof(*set->items), rank_cmp);
	return rc;
}

/* Ends a write transaction begun by the caller: commits after work that succeeded, else rolls back. */
static int finish_write(store *s, int rc)
{
	if (rc == 0)
		rc = store_commit(s);
	if (rc)
		store_rollback(s);
	return rc;
}

static int evaluate_one(store *s, const rconfig *c)
{
	int rc = store_configuration_dirty_members(s, c->rec.id);

	if (rc == 0 && c->target.sql)
		rc = store_configuration_dirty_targets(s, c->target.sql, c->target.params, c->target.nparams);
	if (rc == 0)
		rc = store_configuration_set_evaluated(s, c->rec.id, c->rec.etag);
	return rc;
}

/* Step 2: new or changed target sets, and deleted configurations. */
static int evaluate_changes(store *s, reconciler *r, const rset *set, int *changed)
{
	json_t *ids = json_object();
	int deleted = r->known_ids == NULL, rc = 0;
	const char *id;
	json_t *v;

	for (size_t i = 0; i < set->n; i++)
		json_object_set_new(ids, set->items[i].rec.id, json_true());
	json_object_foreach(r->known_ids, id, v) deleted |= json_object_get(ids, id) == NULL;
	if (deleted && (rc = store_begin_write(s)) == 0)
		rc = finish_write(s, store_configuration_dirty_orphans(s));
	for (size_t i = 0; i < set->n && rc == 0; i++) {
		if (set->items[i].rec.evaluated_etag == set->items[i].rec.etag)
			continue;
		if ((rc = store_begin_write(s)) == 0)
			rc = finish_write(s, evaluate_one(s, &set->items[i]));
		*changed = 1;
	}
	*changed |= deleted;
	json_decref(r->known_ids);
	r->known_ids = ids;
	return rc;
}

static void batch_release(batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->device_ids[i]);
		free(b->settings[i]);
		free(b->new_settings[i]);
		free(b->statuses[i]);
	}
	free(b->rows);
	free(b->marks);
	free(b->member);
	free(b->device_ids);
	free(b->settings);
	free(b->new_settings);
	free(b->statuses);
	memset(b, 0, sizeof(*b));
}

static int row_cmp(const void *key, const void *elem)
{
	int64_t a = *(const int64_t *)key, b = *(const int64_t *)elem;

	return a < b ? -1 : a > b;
}

/* The batch index of row, or -1. */
static long row_index(const batch *b, int64_t row)
{
	const int64_t *at = bsearch(&row, b->rows, b->n, sizeof(*b->rows), row_cmp);

	return at ? (long)(at - b->rows) : -1;
}

typedef struct target_ctx {
	batch *b;
	size_t config;
} target_ctx;

static int on_target(int64_t row, void *ctx)
{
	target_ctx *t = ctx;
	long i = row_index(t->b, row);

	if (i >= 0)
		t->b->member[(size_t)i * t->b->nconfigs + t->config] = 1;
	return 0;
}

static int on_device(int64_t row, const char *device_id, const char *settings, void *ctx)
{
	batch *b = ctx;
	long i = row_index(b, row);

	if (i >= 0) {
		b->device_ids[i] = xstrdup(device_id);
		b->settings[i] = settings ? xstrdup(settings) : NULL;
	}
	return 0;
}

/* Reads membership and recorded settings of the batch in one read transaction. */
static int read_batch(store *s, const rset *set, batch *b)
{
	buf rows = BUF_INIT;
	int rc;

	for (size_t i = 0; i < b->n; i++)
		buf_printf(&rows, "%s%lld", i ? "," : "[", (long long)b->rows[i]);
	buf_putc(&rows, ']');
	b->nconfigs = set->n;
	b->member = xcalloc(b->n * (set->n ? set->n : 1), 1);
	b->device_ids = xcalloc(b->n, sizeof(char *));
	b->settings = xcalloc(b->n, sizeof(char *));
	b->new_settings = xcalloc(b->n, sizeof(char *));
	b->statuses = xcalloc(b->n, sizeof(char *));
	rc = store_begin_read(s);
	for (size_t j = 0; j < set->n && rc == 0; j++) {
		target_ctx t = {b, j};
		if (set->items[j].target.sql)
			rc = store_configuration_targets_in(s, set->items[j].target.sql, set->items[j].target.params,
							    set->items[j].target.nparams, buf_cstr(&rows), on_target,
							    &t);
	}
	if (rc == 0)
		rc = store_configuration_devices_in(s, buf_cstr(&rows), on_device, b);
	store_rollback(s);
	buf_release(&rows);
	return rc;
}

/* Writes patch into the device's desired properties. 0 or the twin's error (logged). */
static int write_desired(const char *device_id, json_t *patch, int *changed)
{
	json_t *body = json_pack("{s:{s:O}}", "properties", "desired", patch), *twin = NULL;
	int rc = twin_update(device_id, "", body, 0, NULL, &twin);

	if (rc && rc != DH_ENODEVICE)
		log_warn("configurations: cannot set the desired properties of '%s': %s", device_id, err_message());
	*changed = 1;
	json_decref(twin);
	json_decref(body);
	return rc;
}

/* Step 3 for one device: resolve, write what changed, and prepare what to record. */
static void reconcile_device(const rset *set, batch *b, size_t i, int *changed)
{
	configuration_claim *claims = xcalloc(set->n ? set->n : 1, sizeof(*claims));
	int *applied = xcalloc(set->n ? set->n : 1, sizeof(*applied));
	json_t *before = b->settings[i] ? json_loads(b->settings[i], 0, NULL) : NULL, *after, *patch, *statuses;
	size_t k = 0;
	int ok = 1;

	if (!json_is_object(before)) {
		json_decref(before);
		before = json_object();
	}
	for (size_t j = 0; j < set->n; j++)
		if (b->member[i * b->nconfigs + j])
			claims[k++] = claim_of(&set->items[j]);
	after = configuration_resolve(claims, k, applied);
	patch = configuration_patch(before, after);
	if (patch)
		ok = write_desired(b->device_ids[i], patch, changed) == 0;
	statuses = json_object();
	for (size_t j = 0; j < k; j++)
		json_object_set_new(statuses, claims[j].id, json_string(ok && applied[j] ? "Applied" : "Targeted"));
	/* After a failed write the twin still holds what `before` says. */
	if (json_object_size(ok ? after : before))
		b->new_settings[i] = json_dumps(ok ? after : before, JSON_COMPACT | JSON_SORT_KEYS);
	b->statuses[i] = json_dumps(statuses, JSON_COMPACT);
	json_decref(statuses);
	json_decref(patch);
	json_decref(after);
	json_decref(before);
	free(applied);
	free(claims);
}

static int save_batch(store *s, const batch *b)
{
	int rc = 0;

	for (size_t i = 0; i < b->n && rc == 0; i++)
		if (b->device_ids[i])
			rc = store_configuration_save_device(s, b->rows[i], b->new_settings[i], b->statuses[i],
							     b->marks[i]);
	return rc;
}

static atomic_int reconciler_stopping;

/* Step 3: every device dirty at the start of the walk, once. */
static int reconcile_dirty(store *s, const rset *set, int *changed)
{
	int64_t after = 0;
	int rc = 0;

	while (rc == 0 && !atomic_load(&reconciler_stopping)) {
		batch b = {0};
		if ((rc = store_begin_read(s)) == 0)
			rc = store_configuration_dirty_batch(s, after, BATCH_DEVICES, &b.rows, &b.marks, &b.n);
		store_rollback(s);
		if (rc == 0 && b.n > 0 && (rc = read_batch(s, set, &b)) == 0) {
			for (size_t i = 0; i < b.n; i++)
				if (b.device_ids[i])
					reconcile_device(set, &b, i, changed);
			if ((rc = store_begin_write(s)) == 0)
				rc = finish_write(s, save_batch(s, &b));
			after = b.rows[b.n - 1];
			*changed = 1; /* reported changes move custom metrics */
		}
		if (b.n < BATCH_DEVICES)
			after = -1;
		batch_release(&b);
		if (after < 0)
			break;
	}
	return rc;
}

/* Step 4. Metric queries that fail (a query-language change) count 0 and are logged. */
static int compute_metrics(store *s, const rset *set)
{
	int64_t *targeted = xcalloc(set->n + 1, sizeof(*targeted)), *applied = xcalloc(set->n + 1, sizeof(*applied));
	json_t **results = xcalloc(set->n + 1, sizeof(*results));
	int rc = store_begin_read(s);

	for (size_t i = 0; i < set->n && rc == 0; i++) {
		const char *name;
		json_t *text;
		rc = store_configuration_status_counts(s, set->items[i].rec.id, &targeted[i], &applied[i]);
		results[i] = json_object();
		json_object_foreach(set->items[i].rec.metric_queries, name, text)
		{
			query_sql qs;
			int64_t count = 0;
			if (rc == 0 && configuration__compile_metric(json_string_value(text), &qs) == 0 && qs.sql)
				rc = store_configuration_count_rows(s, qs.sql, qs.params, qs.nparams, &count);
			query_sql_release(&qs);
			json_object_set_new(results[i], name, json_integer(count));
		}
	}
	store_rollback(s);
	if (rc == 0 && (rc = store_begin_write(s)) == 0) {
		for (size_t i = 0; i < set->n && rc == 0; i++)
			rc = store_configuration_set_metrics(s, set->items[i].rec.id, targeted[i], applied[i],
							     results[i]);
		rc = finish_write(s, rc);
	}
	for (size_t i = 0; i < set->n; i++)
		json_decref(results[i]);
	free(results);
	free(applied);
	free(targeted);
	return rc;
}

static int run_pass(reconciler *r, int force_metrics)
{
	store *s = store_thread();
	rset set = {0};
	int changed = 0, rc;

	if (!s)
		return DH_EIO;
	if ((rc = load(s, &set)) != 0 || (rc = evaluate_changes(s, r, &set, &changed)) != 0 ||
	    (rc = reconcile_dirty(s, &set, &changed)) != 0)
		goto out;
	r->metrics_pending |= changed;
	if (r->metrics_pending && (force_metrics || now_ms() >= r->metrics_due_ms)) {
		int64_t start = now_ms(), cost;
		rc = compute_metrics(s, &set);
		cost = now_ms() - start;
		r->metrics_pending = rc != 0;
		r->metrics_due_ms =
		    now_ms() + (cost * METRICS_COST_FACTOR > METRICS_MIN_INTERVAL_MS ? cost * METRICS_COST_FACTOR
										     : METRICS_MIN_INTERVAL_MS);
	}
out:
	rset_release(&set);
	return rc;
}

int configuration_reconcile(void)
{
	reconciler r = {.metrics_pending = 1};
	int rc;

	/* Its own writes dirty the devices it wrote, so a second walk confirms them (and is a no-op). */
	rc = run_pass(&r, 0);
	if (rc == 0)
		rc = run_pass(&r, 1);
	json_decref(r.known_ids);
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------------------------- */

static pthread_mutex_t reconciler_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reconciler_wake = PTHREAD_COND_INITIALIZER;
static pthread_t reconciler_thread;
static int reconciler_running;
static int reconciler_kicked;

void configuration__kick(void)
{
	pthread_mutex_lock(&reconciler_lock);
	reconciler_kicked = 1;
	pthread_cond_signal(&reconciler_wake);
	pthread_mutex_unlock(&reconciler_lock);
}

static void *reconciler_main(void *arg)
{
	reconciler r = {.metrics_pending = 1};

	while (!atomic_load(&reconciler_stopping)) {
		struct timespec until;
		if (run_pass(&r, 0) != 0)
			log_warn("configurations: reconciliation pass failed: %s", err_message());
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += PASS_INTERVAL_MS / 1000;
		pthread_mutex_lock(&reconciler_lock);
		while (!reconciler_kicked && !atomic_load(&reconciler_stopping))
			if (pthread_cond_timedwait(&reconciler_wake, &reconciler_lock, &until) != 0)
				break;
		reconciler_kicked = 0;
		pthread_mutex_unlock(&reconciler_lock);
	}
	json_decref(r.known_ids);
	return NULL;
}

int configuration_reconciler_start(void)
{
	if (reconciler_running)
		return 0;
	atomic_store(&reconciler_stopping, 0);
	if (pthread_create(&reconciler_thread, NULL, reconciler_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the configuration reconciler");
	reconciler_running = 1;
	return 0;
}

void configuration_reconciler_stop(void)
{
	if (!reconciler_running)
		return;
	atomic_store(&reconciler_stopping, 1);
	configuration__kick();
	pthread_join(reconciler_thread, NULL);
	reconciler_running = 0;
}
