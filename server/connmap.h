/*
 * connmap: an intrusive hash map from a 64-bit connection id to the connection that embeds its node.
 * Leaf module, shared by the device edges (ws_device, mqtt_device) to find a live connection from the id
 * a queued message names.
 *
 * The map owns only its bucket array: nodes live inside the caller's per-connection struct, so insert and
 * remove never allocate or free a connection. Ids are assigned by the caller and must be unique among
 * the nodes in one map. Not thread-safe: each edge uses its map from its service thread only.
 * Out of memory aborts (buf's xcalloc), like every other allocation in the server.
 */
#ifndef DH_CONNMAP_H
#define DH_CONNMAP_H

#include <stddef.h>
#include <stdint.h>

/* Embed in the connection struct; `id` is the connection's id (set it before connmap_insert). */
typedef struct connmap_node {
	uint64_t id;
	struct connmap_node *next;
} connmap_node;

typedef struct connmap {
	connmap_node **buckets;
	size_t nbuckets, count;
} connmap;

/* The struct of type `type` whose member `member` is the connmap_node *node (NULL stays NULL). */
#define connmap_entry(node, type, member) \
	((node) ? (type *)(void *)((char *)(node)-offsetof(type, member)) : (type *)NULL)

/* Initialises map (caller's memory) with its first bucket array. A zeroed connmap is also valid. */
void connmap_init(connmap *map);

/* Frees the bucket array and zeroes map; the nodes still in it are not touched. */
void connmap_release(connmap *map);

/* Adds node (not taken: it stays the caller's) under node->id, growing the buckets as needed. The id must
 * not already be in map, and node must not be in any map. */
void connmap_insert(connmap *map, connmap_node *node);

/* The node with id, or NULL. Borrowed. */
connmap_node *connmap_find(const connmap *map, uint64_t id);

/* Takes node out of map if it is there (a node not in map is ignored). node->id is left as it was. */
void connmap_remove(connmap *map, connmap_node *node);

/* How many nodes map holds. */
size_t connmap_count(const connmap *map);

/* Iteration in no particular order: connmap_first, then connmap_next until NULL. Each node is visited
 * once as long as the map is not changed in between, except that removing the node just returned is
 * allowed if its successor was fetched first. */
connmap_node *connmap_first(const connmap *map);
connmap_node *connmap_next(const connmap *map, const connmap_node *node);

/* `for` over the structs of type `type` that embed their node as `member`, as `type *var`: the same rules
 * as connmap_first/connmap_next, so the loop body must not remove var (it may mark it for closing). */
#define connmap_for_each(var, type, member, map)                               \
	for (type *var = connmap_entry(connmap_first(map), type, member); var; \
	     var = connmap_entry(connmap_next((map), &var->member), type, member))

#endif
