/*
 * connmap: intrusive id -> connection hash map (see connmap.h). Chained buckets, a power of two in
 * number, doubled when the count reaches it, so chains stay short. Never frees a node.
 */
#include "connmap.h"

#include <stdlib.h>

#include "buf.h"

#define CONNMAP_FIRST_BUCKETS 64

static size_t slot(const connmap *map, uint64_t id)
{
	/* Fibonacci hashing: sequential ids spread over the buckets. */
	return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 20) & (map->nbuckets - 1);
}

static void grow(connmap *map)
{
	size_t old_n = map->nbuckets;
	connmap_node **old = map->buckets;

	map->nbuckets = old_n ? old_n * 2 : CONNMAP_FIRST_BUCKETS;
	map->buckets = xcalloc(map->nbuckets, sizeof(*map->buckets));
	for (size_t i = 0; i < old_n; i++) {
		for (connmap_node *n = old[i], *next; n; n = next) {
			size_t s = slot(map, n->id);
			next = n->next;
			n->next = map->buckets[s];
			map->buckets[s] = n;
		}
	}
	free(old);
}

void connmap_init(connmap *map)
{
	map->buckets = NULL;
	map->nbuckets = map->count = 0;
	grow(map);
}

void connmap_release(connmap *map)
{
	free(map->buckets);
	map->buckets = NULL;
	map->nbuckets = map->count = 0;
}

void connmap_insert(connmap *map, connmap_node *node)
{
	size_t s;

	if (map->count >= map->nbuckets)
		grow(map);
	s = slot(map, node->id);
	node->next = map->buckets[s];
	map->buckets[s] = node;
	map->count++;
}

connmap_node *connmap_find(const connmap *map, uint64_t id)
{
	connmap_node *n = map->nbuckets ? map->buckets[slot(map, id)] : NULL;

	while (n && n->id != id)
		n = n->next;
	return n;
}

void connmap_remove(connmap *map, connmap_node *node)
{
	connmap_node **pp;

	if (!map->nbuckets)
		return;
	pp = &map->buckets[slot(map, node->id)];
	while (*pp && *pp != node)
		pp = &(*pp)->next;
	if (*pp) {
		*pp = node->next;
		map->count--;
	}
}

size_t connmap_count(const connmap *map)
{
	return map->count;
}

/* The first node in bucket `from` or after it. */
static connmap_node *first_from(const connmap *map, size_t from)
{
	for (size_t i = from; i < map->nbuckets; i++)
		if (map->buckets[i])
			return map->buckets[i];
	return NULL;
}

connmap_node *connmap_first(const connmap *map)
{
	return first_from(map, 0);
}

connmap_node *connmap_next(const connmap *map, const connmap_node *node)
{
	return node->next ? node->next : first_from(map, slot(map, node->id) + 1);
}
