/*
 * configuration: IoT Hub's automatic device management (reference §1.7). A configuration targets device
 * twins with a query condition and sets desired properties on them (content.deviceContent); where two
 * configurations set the same path the higher priority wins (ties: the newer one). Its metrics count
 * targeted and applied devices and run custom queries.
 *
 * The REST operations validate and store configurations; a reconciler thread applies them: it looks at
 * the devices whose twins changed (and at every target after a configuration changed), decides the
 * winning content per path, writes desired properties through twin_update only where something changes,
 * takes settings back from devices that left the target set, records per-device status, and recomputes
 * metrics. Never speaks HTTP; never holds SQL (store_configuration does). Not the settings module
 * (config.c).
 */
#ifndef DH_CONFIGURATION_H
#define DH_CONFIGURATION_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIGURATION_MAX_COUNT 100 /* per hub (paid tiers) */
#define CONFIGURATION_MAX_METRICS 5 /* custom metric queries per configuration */
#define CONFIGURATION_ID_MAX 128

/* ---- rules (pure functions) ---- */

/* 1–128 characters of printable ASCII without upper case, spaces or & ^ [ ] { } \ | " < > /.
 * Returns 0 or DH_EINVAL. */
int configuration_validate_id(const char *id);

/* The content's entries: content is {"deviceContent": {"properties.desired.a.b": v, "properties.desired":
 * {"k": v}, ...}}; each key becomes the path below desired (the key "properties.desired" contributes one
 * entry per member). OUT: *entries, a new array of [[segment, ...], value]. DH_EINVAL for keys not under
 * properties.desired, bad segments, overlapping paths, module content, or desired over the twin limits. */
int configuration_content_entries(const json_t *content, json_t **entries);

/* One configuration that targets a device, as conflict resolution sees it. Borrowed pointers. */
typedef struct configuration_claim {
	const char *id;
	int64_t priority;
	const char *created_time; /* ISO 8601; later is newer */
	int64_t created_seq;      /* creation order, for equal times */
	const json_t *entries;    /* from configuration_content_entries */
} configuration_claim;

/* 1 when a wins over b: higher priority, then newer creation. */
int configuration_outranks(const configuration_claim *a, const configuration_claim *b);
/* Sorts claims winner first. */
void configuration_sort(configuration_claim *claims, size_t n);

/* Resolves the content of claims (sorted winner first) for one device: a path is taken by the first claim
 * that sets it or any path overlapping it (one a prefix of the other). OUT: applied[i] = 1 when all of
 * claims[i]'s entries were taken. Returns the settings, a new object {"<path as JSON array>": {"c": id,
 * "v": value}}. */
json_t *configuration_resolve(const configuration_claim *claims, size_t n, int *applied);

/* The desired-properties merge patch that turns a twin carrying the settings before into one carrying
 * after: changed or new values set, values no longer set deleted (null). Values already written are not
 * written again. Returns a new object, or NULL when nothing changes. */
json_t *configuration_patch(const json_t *before, const json_t *after);

/* ---- REST operations, each one transaction on the calling thread's store ---- */

/* PUT /configurations/{id}: no if_match creates (DH_ECONFIGEXISTS if it exists, DH_EQUOTA over
 * CONFIGURATION_MAX_COUNT); "*" or an etag updates (DH_ENOCONFIG, DH_EETAG). Content cannot change on
 * update. OUT: *out the configuration as shown (new reference). */
int configuration_put(const char *id, const json_t *body, const char *if_match, json_t **out);
/* GET /configurations/{id}. OUT: *out (new reference). DH_ENOCONFIG when absent. */
int configuration_get(const char *id, json_t **out);
/* GET /configurations?top=N: up to top (≤ CONFIGURATION_MAX_COUNT) in creation order. OUT: *out array. */
int configuration_list(int top, json_t **out);
/* DELETE /configurations/{id}; if_match NULL or "*" is unconditional. Its settings are taken back from
 * the devices by the reconciler. */
int configuration_delete(const char *id, const char *if_match);
/* POST /configurations/testQueries {"targetCondition", "customMetricQueries": {name: query}}.
 * OUT: *out {"targetConditionError", "customMetricQueryErrors": {name: error}} plus devicehub's counts
 * "targetedCount" and "customMetricQueryResults" {name: count} for the queries that are valid. */
int configuration_test_queries(const json_t *body, json_t **out);

/* Drift of configuration id (configuration_drift.c): for each leaf of its desired content, among the
 * devices it targets (as the reconciler last recorded them), how many report the desired value at the same
 * path and how many do not, and the oldest desired $lastUpdated of that leaf among those that do not.
 * OUT: *out {"configurationId","targetedCount","properties":[{"path":"properties.desired.x.y","value",
 * "matched","drifting","oldestDriftSince": ISO|null}]} (new reference). DH_ENOCONFIG when absent. */
int configuration_drift(const char *id, json_t **out);

/* ---- the reconciler ---- */

/* Starts the reconciler thread: a pass about every second and right after a configuration changes.
 * Needs the store (store_global_init) and writes twins through twin_update, which pushes desired
 * patches to sessions: start it after the store, stop it before the sessions and the device edge go.
 * Returns 0 or DH_EINTERNAL. */
int configuration_reconciler_start(void);
/* Stops the thread and waits for it (the pass in progress finishes its current batch). No-op when not
 * started. */
void configuration_reconciler_stop(void);

/* One full pass on the calling thread: evaluates changed configurations, reconciles every dirty device,
 * and recomputes all metrics. For tests and tools; the thread calls the same steps. */
int configuration_reconcile(void);

#endif
