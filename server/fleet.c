/*
 * fleet: counts, sampled history and twin paths (fleet.h). The sampler thread sleeps on a condition
 * variable, so fleet_sampler_stop wakes it at once instead of waiting out the interval.
 */
#include "fleet.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "session.h"
#include "store.h"
#include "store_device.h"
#include "store_fleet.h"
#include "tag_schema.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY_MS (24 * 3600 * 1000LL)

static atomic_int sampler_interval_s = 60;
static atomic_int sampler_keep_days = 30;

int fleet_get(json_t **out)
{
	store *s = store_thread();
	store_device_counts c;
	char now[CLOCK_ISO_LEN];
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_device_counts_get(s, &c)) != 0)
		return rc;
	clock_iso_from_ms(clock_hub_ms(), now);
	*out = json_pack("{s:I, s:I, s:I, s:I, s:s}", "total", (json_int_t)c.total, "enabled", (json_int_t)c.enabled,
			 "disabled", (json_int_t)c.disabled, "connected",
			 (json_int_t)session_connected_count(), "time", now);
	return 0;
}

/* ---- history ----------------------------------------------------------------------------------------- */

static int add_point(const store_fleet_sample *sample, void *ctx)
{
	char time[CLOCK_ISO_LEN];

	clock_iso_from_ms(sample->time_ms, time);
	json_array_append_new(ctx, json_pack("{s:s, s:I, s:I, s:I}", "time", time, "total", (json_int_t)sample->total,
					     "enabled", (json_int_t)sample->enabled, "connected",
					     (json_int_t)sample->connected));
	return 0;
}

/* A time argument into ms; NULL or "" keeps *ms. */
static int parse_time(const char *name, const char *text, int64_t *ms)
{
	if (!text || !*text)
		return 0;
	if (clock_parse_iso(text, ms) != 0)
		return err_set(DH_EINVAL, "%s must be an ISO-8601 UTC time such as 2026-11-26T14:00:00Z, not '%.64s'",
			       name, text);
	return 0;
}

int fleet_history(const char *since, const char *until, json_t **out)
{
	store *s = store_thread();
	int64_t until_ms = clock_hub_ms(), since_ms, n = 0, bucket_ms = 0, interval_s = atomic_load(&sampler_interval_s);
	json_t *points = NULL;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = parse_time("until", until, &until_ms)) != 0)
		return rc;
	since_ms = until_ms - DAY_MS;
	if ((rc = parse_time("since", since, &since_ms)) != 0)
		return rc;
	if (since_ms > until_ms)
		return err_set(DH_EINVAL, "since must not be after until");
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_fleet_history_count(s, since_ms, until_ms, &n)) != 0)
		goto out;
	/* Equal-width buckets over the asked span; with samples every interval_s, a bucket holds about
	 * bucket_ms / interval_s of them, so the answer stays within the limit. */
	if (n > FLEET_HISTORY_MAX_POINTS) {
		bucket_ms = (until_ms - since_ms) / FLEET_HISTORY_MAX_POINTS + 1;
		if (bucket_ms / 1000 > interval_s)
			interval_s = bucket_ms / 1000;
	}
	points = json_array();
	rc = store_fleet_history_range(s, since_ms, until_ms, bucket_ms, add_point, points);
out:
	store_rollback(s); /* read only */
	if (rc == 0)
		*out = json_pack("{s:I, s:o}", "intervalSeconds", (json_int_t)interval_s, "points", points);
	else
		json_decref(points);
	return rc;
}

int fleet_sample_now(void)
{
	store *s = store_thread();
	store_device_counts c;
	store_fleet_sample sample;
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_device_counts_get(s, &c)) != 0)
		goto out;
	sample.time_ms = clock_hub_ms();
	sample.total = c.total;
	sample.enabled = c.enabled;
	sample.connected = session_connected_count();
	if ((rc = store_fleet_history_add(s, &sample)) != 0 ||
	    (rc = store_fleet_history_prune(s, sample.time_ms - atomic_load(&sampler_keep_days) * DAY_MS)) != 0)
		goto out;
	rc = store_commit(s);
out:
	if (rc)
		store_rollback(s);
	return rc;
}

/* ---- the sampler thread -------------------------------------------------------------------------------- */

static pthread_mutex_t sampler_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sampler_wake = PTHREAD_COND_INITIALIZER;
static pthread_t sampler_thread;
static int sampler_running;
static int sampler_stopping; /* under sampler_lock */

static void *sampler_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&sampler_lock);
	while (!sampler_stopping) {
		struct timespec until;
		pthread_mutex_unlock(&sampler_lock);
		if (fleet_sample_now() != 0)
			log_warn("fleet history: sample failed: %s", err_message());
		store_end_request(store_thread_if_open());
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += atomic_load(&sampler_interval_s);
		pthread_mutex_lock(&sampler_lock);
		while (!sampler_stopping)
			if (pthread_cond_timedwait(&sampler_wake, &sampler_lock, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&sampler_lock);
	return NULL;
}

int fleet_sampler_start(int interval_s, int keep_days)
{
	if (sampler_running)
		return 0;
	atomic_store(&sampler_interval_s, interval_s > 0 ? interval_s : 60);
	atomic_store(&sampler_keep_days, keep_days > 0 ? keep_days : 30);
	sampler_stopping = 0;
	if (pthread_create(&sampler_thread, NULL, sampler_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the fleet history sampler");
	sampler_running = 1;
	return 0;
}

void fleet_sampler_stop(void)
{
	if (!sampler_running)
		return;
	pthread_mutex_lock(&sampler_lock);
	sampler_stopping = 1;
	pthread_cond_signal(&sampler_wake);
	pthread_mutex_unlock(&sampler_lock);
	pthread_join(sampler_thread, NULL);
	sampler_running = 0;
}

/* ---- twin paths ---------------------------------------------------------------------------------------- */

static pthread_mutex_t paths_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *paths_cached;      /* {"paths": [...]}, under paths_lock */
static int64_t paths_cached_ms;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* The twin sample's paths plus "tags.<key>" for each key of the tag schema, sorted and deduplicated. */
static json_t *merge_paths(json_t *seen)
{
	json_t *schema = NULL, *keys, *sorted = json_array();
	json_t **v = NULL;
	const char *key;
	json_t *value;
	size_t n, i;

	if (tag_schema_get(&schema) == 0 && json_is_object(keys = json_object_get(schema, "keys")))
		json_object_foreach(keys, key, value) {
			buf path = BUF_INIT;
			buf_printf(&path, "tags.%s", key);
			json_array_append_new(seen, json_string(buf_cstr(&path)));
			buf_release(&path);
		}
	err_clear();
	json_decref(schema);
	n = json_array_size(seen);
	v = xmalloc((n ? n : 1) * sizeof(*v));
	for (i = 0; i < n; i++)
		v[i] = json_array_get(seen, i);
	qsort(v, n, sizeof(*v), cmp_str);
	for (i = 0; i < n && json_array_size(sorted) < FLEET_TWIN_PATHS_MAX; i++)
		if (i == 0 || strcmp(json_string_value(v[i]), json_string_value(v[i - 1])) != 0)
			json_array_append(sorted, v[i]);
	free(v);
	return sorted;
}

int fleet_twin_paths(json_t **out)
{
	int64_t now = clock_hub_ms();
	store *s = store_thread();
	json_t *seen = NULL;
	int rc = 0;

	*out = NULL;
	pthread_mutex_lock(&paths_lock);
	if (!paths_cached || now - paths_cached_ms >= FLEET_TWIN_PATHS_CACHE_S * 1000 || now < paths_cached_ms) {
		/* Computed under the lock: concurrent askers wait for one scan instead of each running it. */
		if (!s)
			rc = DH_EIO;
		else if ((rc = store_fleet_twin_paths(s, FLEET_TWIN_PATHS_SAMPLE, FLEET_TWIN_PATHS_MAX, &seen)) == 0) {
			json_decref(paths_cached);
			paths_cached = json_pack("{s:o}", "paths", merge_paths(seen));
			paths_cached_ms = now;
		}
	}
	if (rc == 0)
		*out = json_deep_copy(paths_cached); /* the answer may be edited on its way out; the cache must not be */
	pthread_mutex_unlock(&paths_lock);
	json_decref(seen);
	return rc;
}

void fleet_twin_paths_forget(void)
{
	pthread_mutex_lock(&paths_lock);
	json_decref(paths_cached);
	paths_cached = NULL;
	pthread_mutex_unlock(&paths_lock);
}
