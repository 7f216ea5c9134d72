/*
 * group: device groups, named saved queries. A group is a name, a condition (a WHERE clause of the query
 * language) and a description; its members are whatever the condition selects when asked, so counts and
 * member lists are always live. Jobs, rollouts and configurations may name a group instead of a condition
 * (group_condition): the condition is copied into them when they are created.
 *
 * Never speaks HTTP; never holds SQL (store_group does); runs conditions only through the query module.
 */
#ifndef DH_GROUP_H
#define DH_GROUP_H

#include <jansson.h>
#include <stddef.h>

#define GROUP_NAME_MAX 128
#define GROUP_LIST_MAX 1000

/* Creates or replaces group name from body {"condition": "...", "description": "...", "name"?}.
 * if_match NULL creates or replaces; "*" or an etag must match an existing group (DH_ETAG on a stale
 * etag, DH_ENOROUTE when the group does not exist). The condition must parse and compile.
 * OUT: *out the group with its live memberCount (new reference), *created 1 when it is new. */
int group_put(const char *name, const json_t *body, const char *if_match, json_t **out, int *created);

/* OUT: *out {name, condition, description, etag, createdTime, lastUpdatedTime, memberCount}
 * (new reference). DH_ENOROUTE naming the group when absent. */
int group_get(const char *name, json_t **out);

/* Deletes a group; if_match as for group_put. Jobs and configurations made from it keep their copy. */
int group_delete(const char *name, const char *if_match);

/* OUT: *out an array of every group (as group_get shows it, live counts included), by name. */
int group_list(json_t **out);

/* One page of the group's member twins, exactly as POST /devices/query with
 * "SELECT * FROM devices WHERE <condition>" would answer it. OUT: as query_run. */
int group_devices(const char *name, int max_items, const char *continuation, json_t **items, char **next,
		  const char **item_type);

/* The condition of group name, for jobs, rollouts and configurations. OUT: *out (caller frees).
 * DH_EINVAL naming the group when there is none (it is the caller's body that is wrong). */
int group_condition(const char *name, char **out);

/* Jobs and configurations: when body has "group", resolves it into *condition (caller frees); when it
 * has neither that nor cond_member, leaves *condition NULL. Both at once is DH_EINVAL. */
int group_resolve_target(const json_t *body, const char *cond_member, char **condition);

/* 1 when name is a valid group name: 1 to GROUP_NAME_MAX letters, digits and - . _ : */
int group_name_valid(const char *name);

#endif
