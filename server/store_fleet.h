/*
 * store_fleet: SQL for the fleet view: the device counters that triggers keep (fleet_counters), the
 * sampled history (fleet_history) and the twin paths seen in recently updated twins. All functions run
 * inside the caller's transaction or, alone, in SQLite's autocommit. Must never decide when to sample or
 * how to present (fleet.c does).
 */
#ifndef DH_STORE_FLEET_H
#define DH_STORE_FLEET_H

#include "store.h"

#include <jansson.h>
#include <stdint.h>

/* One history sample. */
typedef struct store_fleet_sample {
	int64_t time_ms;
	int64_t total;
	int64_t enabled;
	int64_t connected;
} store_fleet_sample;

/* Inserts a sample (a sample at the same millisecond replaces it). */
int store_fleet_history_add(store *s, const store_fleet_sample *sample);

/* Deletes samples older than before_ms. */
int store_fleet_history_prune(store *s, int64_t before_ms);

/* Samples with since_ms <= time_ms <= until_ms, oldest first. bucket_ms 0: every sample; otherwise one
 * point per bucket_ms-wide bucket counted from since_ms: the bucket's first sample time and the averages
 * (rounded) of its counts. fn gets each point; stops early with fn's non-zero result. */
typedef int (*store_fleet_sample_fn)(const store_fleet_sample *sample, void *ctx);
int store_fleet_history_range(store *s, int64_t since_ms, int64_t until_ms, int64_t bucket_ms,
			      store_fleet_sample_fn fn, void *ctx);

/* How many samples lie in [since_ms, until_ms]. */
int store_fleet_history_count(store *s, int64_t since_ms, int64_t until_ms, int64_t *out);

/* Leaf paths ("tags.a.b", "properties.reported.x", "properties.desired.y") of the sample_size device
 * twins updated last (by the newest $lastUpdated of their desired or reported metadata), deduplicated and
 * sorted, at most max of them; members named $metadata / $version / $... are skipped, arrays are leaves.
 * OUT: *out a JSON array of strings (new reference). */
int store_fleet_twin_paths(store *s, int sample_size, int max, json_t **out);

#endif
