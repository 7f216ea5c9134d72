/*
 * store_group: rows of the device_groups table (named saved queries). All functions run inside the
 * caller's transaction or, alone, in SQLite's autocommit. Must never decide what a group may be
 * (group.c does) nor run the group's condition (the query module does).
 */
#ifndef DH_STORE_GROUP_H
#define DH_STORE_GROUP_H

#include "store.h"

#include <jansson.h>
#include <stdint.h>

#define STORE_GROUP_NAME_MAX 128
#define STORE_GROUP_CONDITION_MAX 4096
#define STORE_GROUP_DESCRIPTION_MAX 1024

/* One group. Plain arrays: copying is assignment and nothing needs freeing. */
typedef struct store_group {
	char name[STORE_GROUP_NAME_MAX + 1];
	char condition[STORE_GROUP_CONDITION_MAX + 1];
	char description[STORE_GROUP_DESCRIPTION_MAX + 1];
	int64_t etag;
	char created_time[32];
	char updated_time[32];
} store_group;

/* Inserts g, or replaces the row of the same name (created_time kept). */
int store_group_put(store *s, const store_group *g);

/* OUT: *out the group. DH_ENOROUTE with "group '<name>' not found" when there is none. */
int store_group_get(store *s, const char *name, store_group *out);

/* Deletes the row; DH_ENOROUTE when there was none. */
int store_group_delete(store *s, const char *name);

/* Calls fn for every group by name; stops early with fn's non-zero result. */
typedef int (*store_group_fn)(const store_group *g, void *ctx);
int store_group_each(store *s, store_group_fn fn, void *ctx);

/* Calls fn for every twin (devices and modules; module_id "" for a device) whose tags are not empty, in
 * row order; stops early with fn's non-zero result. For tag_schema_violations, which must scan what is
 * stored. tags is borrowed for the call. */
typedef int (*store_group_tags_fn)(const char *device_id, const char *module_id, const json_t *tags, void *ctx);
int store_group_each_tagged(store *s, store_group_tags_fn fn, void *ctx);

#endif
