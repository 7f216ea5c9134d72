/*
 * fleet: the fleet at a glance for the dashboard: device counts now (GET /devicehub/fleet), their
 * history sampled by a background thread (GET /devicehub/fleet/history), and the twin paths in use for
 * the query box's autocomplete (GET /devicehub/twin-paths).
 *
 * Never speaks HTTP; never holds SQL (store_fleet does). Counts come from counters kept by triggers and
 * connected identities from the live sessions, so nothing here scans the device table per request.
 */
#ifndef DH_FLEET_H
#define DH_FLEET_H

#include <jansson.h>

#define FLEET_HISTORY_MAX_POINTS 2000
#define FLEET_TWIN_PATHS_SAMPLE 500
#define FLEET_TWIN_PATHS_MAX 500
#define FLEET_TWIN_PATHS_CACHE_S 60

/* OUT: *out {"total","enabled","disabled","connected","time"} (new reference). */
int fleet_get(json_t **out);

/* Samples between since and until (ISO-8601 UTC texts; NULL: until = now, since = until - 24 h).
 * More than FLEET_HISTORY_MAX_POINTS samples are averaged per bucket of equal width.
 * OUT: *out {"intervalSeconds", "points":[{"time","total","enabled","connected"}]} (new reference).
 * DH_EINVAL for a time that does not parse or since after until. */
int fleet_history(const char *since, const char *until, json_t **out);

/* Takes one sample now (and prunes). The sampler thread's step; tests call it directly. */
int fleet_sample_now(void);

/* Starts the sampler thread: a sample every interval_s seconds (the first at once), samples older than
 * keep_days days pruned. 0 or DH_EINTERNAL. fleet_sampler_stop wakes and joins it (prompt). */
int fleet_sampler_start(int interval_s, int keep_days);
void fleet_sampler_stop(void);

/* OUT: *out {"paths":[...]} (new reference): leaf paths of recently updated twins plus the tag schema's
 * keys, sorted, deduplicated, at most FLEET_TWIN_PATHS_MAX, recomputed at most every
 * FLEET_TWIN_PATHS_CACHE_S seconds. */
int fleet_twin_paths(json_t **out);

/* Forgets the cached twin paths (tests). */
void fleet_twin_paths_forget(void);

#endif
