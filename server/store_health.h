/*
 * store_health: rows of the health_rules table. All functions run inside the caller's transaction or,
 * alone, in SQLite's autocommit. Must never decide what a rule may be (health.c does) nor run a rule's
 * condition (the query module does).
 */
#ifndef DH_STORE_HEALTH_H
#define DH_STORE_HEALTH_H

#include "store.h"

#include <stdint.h>

#define STORE_HEALTH_NAME_MAX 128
#define STORE_HEALTH_CONDITION_MAX 4096
#define STORE_HEALTH_DESCRIPTION_MAX 256   /* characters, not bytes */

/* One rule. Plain arrays: copying is assignment and nothing needs freeing. */
typedef struct store_health_rule {
	char name[STORE_HEALTH_NAME_MAX + 1];
	char condition[STORE_HEALTH_CONDITION_MAX + 1];
	int64_t threshold;
	char severity[16];
	char description[STORE_HEALTH_DESCRIPTION_MAX * 4 + 1]; /* 256 characters of UTF-8 */
	char created_time[32];
	char updated_time[32];
} store_health_rule;

/* Inserts r, or replaces the row of the same name (created_time kept). OUT: *created 1 when new. */
int store_health_rule_put(store *s, const store_health_rule *r, int *created);

/* Deletes the row; DH_ENOROUTE with "health rule '<name>' not found" when there was none. */
int store_health_rule_delete(store *s, const char *name);

/* Calls fn for every rule by name; stops early with fn's non-zero result. */
typedef int (*store_health_rule_fn)(const store_health_rule *r, void *ctx);
int store_health_rule_each(store *s, store_health_rule_fn fn, void *ctx);

#endif
