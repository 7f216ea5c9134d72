/*
 * twin: IoT Hub's device twin model: merge patches with `null` deletes, $metadata and $version
 * bookkeeping, the size/depth/key limits, and the JSON a twin is shown as.
 *
 * Pure functions on store_twin records plus the transactional operations the REST API and the device
 * channel call (twin_get, twin_update, twin_update_reported). Never speaks HTTP; never holds SQL.
 */
#ifndef DH_TWIN_H
#define DH_TWIN_H

#include "store_device.h"

#include <jansson.h>

/* IoT Hub's limits (reference §5). Sizes count UTF-8 key and value bytes, numbers 8, booleans 4. */
#define TWIN_TAGS_MAX_BYTES (8 * 1024)
#define TWIN_DESIRED_MAX_BYTES (32 * 1024)
#define TWIN_REPORTED_MAX_BYTES (32 * 1024)
#define TWIN_MAX_DEPTH 10
#define TWIN_KEY_MAX_BYTES 1024
#define TWIN_STRING_MAX_BYTES (4 * 1024)

/* A fresh twin as a new identity gets it: empty tags/desired/reported, versions 1, etag counter 1,
 * $metadata.$lastUpdated = now. OUT: *tw (owned references; release with store_twin_release). */
void twin_init(store_twin *tw, const char *now);

/* Validates one section value (tags, desired or reported patch or replacement) against the key, string,
 * integer-range, depth and size rules; section names the limit in the message ("tags", ...).
 * Returns 0 or DH_EINVAL naming the limit and the offending key. */
int twin_validate_section(const json_t *value, const char *section, size_t max_bytes);

/* Applies a service PATCH body {"tags":{..},"properties":{"desired":{..}}} as a JSON merge patch in which
 * null deletes. Other top-level members that IoT Hub echoes (deviceId, etag, version, ...) are ignored;
 * properties.reported is refused (read-only to the service). Bumps version/etag, desired $version and
 * $metadata when anything changes. On error tw is unchanged. */
int twin_apply_patch(store_twin *tw, const json_t *patch, const char *now);

/* Applies a service PUT body: replaces tags and properties.desired wholesale (absent = empty). */
int twin_apply_replace(store_twin *tw, const json_t *body, const char *now);

/* Applies a device's reported-properties merge patch; bumps reported $version, version, etag, metadata.
 * On error tw is unchanged. */
int twin_apply_reported(store_twin *tw, const json_t *patch, const char *now);

/* twin_apply_reported without its copy of the section, for a twin read only to take this patch: on error
 * tw's reported section may be half merged and must be discarded, not stored. */
int twin_merge_reported(store_twin *tw, const json_t *patch, const char *now);

/* The twin as the REST API shows it (reference §1.4), including deviceId (and moduleId for modules),
 * etag, deviceEtag, version, status, connection fields, tags, properties with $metadata and $version.
 * Returns a new reference. */
json_t *twin_render(const store_identity *id, const store_twin *tw);

/* Adds IoT Hub's `configurations` member to a rendered twin: {config id: {"status": "targeted"|"applied"}}
 * from statuses {config id: "Targeted"|"Applied"} (store_twin.configurations). Nothing when statuses is
 * NULL or empty: an untargeted twin has no member. twin_render calls it; query pages, whose statuses are
 * read in one batch after the rows, call it on each twin. */
void twin_render_configurations(json_t *twin, const json_t *statuses);

/* etag text forms: twin = base64 of 8 big-endian bytes ("AAAAAAAAAAE="); identity = base64 of the
 * decimal counter ("MA==" for 0). out must hold 32 bytes. Returns out. */
char *twin_etag_text(int64_t counter, char out[32]);
char *twin_identity_etag_text(int64_t counter, char out[32]);

/* REST operations, each one transaction on the calling thread's store.
 * twin_get: OUT *out the rendered twin (new reference). DH_ENODEVICE / DH_ENOMODULE when absent.
 * twin_update: replace ? PUT : PATCH; if_match NULL, "*" or an etag (quotes already stripped); a stale
 * etag is DH_EETAG and changes nothing. OUT *out the rendered twin after the change. */
int twin_get(const char *device_id, const char *module_id, json_t **out);
int twin_update(const char *device_id, const char *module_id, const json_t *body, int replace,
		const char *if_match, json_t **out);
/* A service PATCH inside the caller's transaction (jobs batch many). Pushes nothing: when
 * *desired_version is non-zero the desired section changed, and the caller pushes the patch's
 * properties.desired with that version after its commit (session_push_desired). */
int twin_patch_locked(store *s, const char *device_id, const char *module_id, const json_t *body,
		      const char *if_match, const char *now, int64_t *desired_version);

/* The device channel's read: {"desired":{..,"$version":n},"reported":{..,"$version":m}} without tags
 * or $metadata (reference §3). When the desired $version is <= if_newer_than (pass -1 for always),
 * *out is NULL and *desired_version still says the current version. OUT: *out (new reference),
 * *desired_version, *reported_version. */
int twin_get_properties(const char *device_id, const char *module_id, int64_t if_newer_than, json_t **out,
			int64_t *desired_version, int64_t *reported_version);
/* The device channel's write inside the caller's transaction (twin_batch groups many): merges patch into
 * reported, reading and writing only that section. OUT *reported_version. */
int twin_report_locked(store *s, const char *device_id, const char *module_id, const json_t *patch,
		       const char *now, int64_t *reported_version);
/* The same as one transaction of its own on the calling thread's store. OUT *reported_version. */
int twin_update_reported(const char *device_id, const char *module_id, const json_t *patch,
			 int64_t *reported_version);

/* Publishes twin.updated {deviceId, moduleId?, section, version} to the live event stream (events.md).
 * Called after the commit by whoever committed a change made inside a transaction (twin_patch_locked,
 * twin_report_locked); twin_update and twin_update_reported publish their own. */
void twin_publish_updated(const char *device_id, const char *module_id, const char *section, int64_t version);

#endif
