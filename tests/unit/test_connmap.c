/* Unit tests for server/connmap.c: the intrusive conn id -> connection map the device edges share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "connmap.h"

/* A connection as an edge embeds the node: not as the first member, to exercise connmap_entry. */
typedef struct test_conn {
	int visits;
	connmap_node node;
} test_conn;

#define MANY 5000

/* MANY connections with ids as the edges assign them (1, 2, 3, ...), all inserted into map. */
static test_conn *conns_inserted(connmap *map)
{
	test_conn *conns = calloc(MANY, sizeof(*conns));

	assert_non_null(conns);
	connmap_init(map);
	for (size_t i = 0; i < MANY; i++) {
		conns[i].node.id = i + 1;
		connmap_insert(map, &conns[i].node);
	}
	return conns;
}

static void test_connmap__find_after_insert_and_grow(void **state)
{
	connmap map;
	test_conn *conns = conns_inserted(&map);

	(void)state;
	assert_int_equal(connmap_count(&map), MANY);
	assert_true(map.nbuckets >= MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(connmap_entry(connmap_find(&map, i + 1), test_conn, node), &conns[i]);
	assert_null(connmap_find(&map, 0));
	assert_null(connmap_find(&map, MANY + 1));
	connmap_release(&map);
	free(conns);
}

static void test_connmap__remove_forgets_only_that_id(void **state)
{
	connmap map;
	test_conn *conns = conns_inserted(&map);

	(void)state;
	for (size_t i = 0; i < MANY; i += 2)
		connmap_remove(&map, &conns[i].node);
	connmap_remove(&map, &conns[0].node); /* already gone: ignored */
	assert_int_equal(connmap_count(&map), MANY / 2);
	for (size_t i = 0; i < MANY; i++) {
		if (i % 2)
			assert_ptr_equal(connmap_find(&map, i + 1), &conns[i].node);
		else
			assert_null(connmap_find(&map, i + 1));
	}
	connmap_release(&map);
	free(conns);
}

static void test_connmap__zeroed_map_is_empty_and_usable(void **state)
{
	connmap map = {0};
	test_conn c = {.node = {.id = 42}};

	(void)state;
	assert_null(connmap_find(&map, 42));
	assert_null(connmap_first(&map));
	connmap_remove(&map, &c.node);
	connmap_insert(&map, &c.node);
	assert_ptr_equal(connmap_find(&map, 42), &c.node);
	connmap_remove(&map, &c.node);
	assert_int_equal(connmap_count(&map), 0);
	connmap_release(&map);
	assert_null(map.buckets);
}

static void test_connmap__iteration_visits_each_once(void **state)
{
	connmap map;
	test_conn *conns = conns_inserted(&map);
	size_t seen = 0;

	(void)state;
	for (connmap_node *n = connmap_first(&map); n; n = connmap_next(&map, n)) {
		connmap_entry(n, test_conn, node)->visits++;
		seen++;
	}
	assert_int_equal(seen, MANY);
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(conns[i].visits, 1);
	connmap_for_each(c, test_conn, node, &map)
		c->visits++;
	for (size_t i = 0; i < MANY; i++)
		assert_int_equal(conns[i].visits, 2);
	connmap_release(&map);
	free(conns);
}

static void test_connmap__iteration_may_remove_the_current_node(void **state)
{
	connmap map;
	test_conn *conns = conns_inserted(&map);
	size_t seen = 0;

	(void)state;
	for (connmap_node *n = connmap_first(&map), *next; n; n = next) {
		next = connmap_next(&map, n);
		connmap_remove(&map, n);
		seen++;
	}
	assert_int_equal(seen, MANY);
	assert_int_equal(connmap_count(&map), 0);
	assert_null(connmap_first(&map));
	connmap_release(&map);
	free(conns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_connmap__find_after_insert_and_grow),
	    cmocka_unit_test(test_connmap__remove_forgets_only_that_id),
	    cmocka_unit_test(test_connmap__zeroed_map_is_empty_and_usable),
	    cmocka_unit_test(test_connmap__iteration_visits_each_once),
	    cmocka_unit_test(test_connmap__iteration_may_remove_the_current_node),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
