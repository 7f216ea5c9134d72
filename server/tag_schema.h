/*
 * tag_schema: the hub's optional tag schema: which top-level twin tag keys may exist, their types
 * (string | number | boolean | object | array) and, for primitives, the values allowed. The active schema
 * lives in memory (loaded at start, swapped under a lock by tag_schema_put/delete) so that a twin write
 * checks it without a query; it is persisted as one JSON document in hub_settings.
 *
 * Owns the active schema. Never changes a twin: tag_schema_violations only reports.
 */
#ifndef DH_TAG_SCHEMA_H
#define DH_TAG_SCHEMA_H

#include <jansson.h>

#define TAG_SCHEMA_MAX_BYTES (32 * 1024)
#define TAG_SCHEMA_VIOLATIONS_MAX 1000

/* Loads the stored schema (if any) into memory. Call once at start-up, on the calling thread's store,
 * outside a transaction. */
int tag_schema_init(void);

/* Forgets the in-memory schema (shutdown and tests). */
void tag_schema_shutdown(void);

/* Validates body {"keys": {key: {"type": t, "values": [..]}}, "additionalKeys": bool}, stores it and
 * makes it active. Existing twins are not touched. OUT: *out the stored schema (new reference). */
int tag_schema_put(const json_t *body, json_t **out);

/* OUT: *out the active schema (new reference). DH_ENOROUTE when none is set. */
int tag_schema_get(json_t **out);

/* Removes the schema: every tag is allowed again. DH_ENOROUTE when none was set. */
int tag_schema_delete(void);

/* Checks one top-level tag (its value after the write) against the active schema; 0 when there is no
 * schema. DH_EINVAL with a message naming the key, e.g. "tag 'floor' must be a number". */
int tag_schema_check_tag(const char *key, const json_t *value);

/* Twins whose stored tags break the active schema, at most TAG_SCHEMA_VIOLATIONS_MAX of them:
 * {"count": n, "truncated": bool, "violations": [{deviceId, moduleId?, key, message}]} (one entry per
 * twin: its first offending key). Runs its own read transaction on the calling thread's store.
 * OUT: *out (new reference). DH_ENOROUTE when no schema is set. */
int tag_schema_violations(json_t **out);

/* Internals exposed for unit tests. tag_schema__normalize checks a schema document. OUT: *out a
 * normalized copy (new reference). tag_schema__check checks key/value against such a document. */
int tag_schema__normalize(const json_t *body, json_t **out);
int tag_schema__check(const json_t *schema, const char *key, const json_t *value);

#endif
