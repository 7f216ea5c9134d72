/* Unit tests for server/edge_queue.c: the messages, per-connection queues and locked inbox the device
 * edges share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edge_queue.h"

#define HEADROOM 16 /* stands in for LWS_PRE */

/* A connection as an edge embeds its node and queue. */
typedef struct test_conn {
	connmap_node node;
	edge_outq out;
	int closed_with; /* the close code a routed close request carried */
} test_conn;

static edge_msg *text_msg(uint64_t conn, const char *text)
{
	edge_msg *m = edge_msg_new(conn, HEADROOM);

	buf_puts(&m->frame, text);
	return m;
}

static void test_edge_queue__msg_has_zeroed_headroom_then_body(void **state)
{
	edge_msg *m = text_msg(7, "hello");
	edge_msg *c = edge_msg_new_close(7, HEADROOM, 4003, NULL);

	(void)state;
	assert_int_equal(m->frame.len, HEADROOM + 5);
	for (size_t i = 0; i < HEADROOM; i++)
		assert_int_equal(m->frame.data[i], 0);
	assert_string_equal(edge_msg_body(m), "hello");
	assert_int_equal(edge_msg_body_len(m), 5);
	assert_false(m->close);
	assert_true(c->close);
	assert_int_equal(c->close_code, 4003);
	assert_string_equal(edge_msg_body(c), "");
	edge_msg_free_list(m);
	edge_msg_free_list(c);
}

static void test_edge_queue__outq_keeps_order_and_counts(void **state)
{
	edge_outq q = {0};
	char text[8];
	edge_msg *m;

	(void)state;
	assert_null(edge_outq_pop(&q));
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		assert_int_equal(edge_outq_push(&q, text_msg(1, text), 0), 0);
	}
	assert_int_equal(q.count, 5);
	assert_int_equal(q.bytes, 5 * (HEADROOM + 2));
	assert_string_equal(edge_msg_body(edge_outq_peek(&q)), "m0");
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "m%d", i);
		m = edge_outq_pop(&q);
		assert_non_null(m);
		assert_null(m->next);
		assert_string_equal(edge_msg_body(m), text);
		edge_msg_free_list(m);
	}
	assert_null(edge_outq_pop(&q));
	assert_null(edge_outq_peek(&q));
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
	/* Empty again, the queue takes new messages from the start. */
	edge_outq_push(&q, text_msg(1, "again"), 0);
	assert_string_equal(edge_msg_body(edge_outq_peek(&q)), "again");
	edge_outq_release(&q);
	assert_null(edge_outq_peek(&q));
}

static void test_edge_queue__outq_reports_bound_crossed(void **state)
{
	edge_outq q = {0};
	const size_t each = HEADROOM + 4, max = 3 * each; /* three fit exactly, the fourth crosses */

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(edge_outq_push(&q, text_msg(1, "abcd"), max), 0);
	assert_int_equal(edge_outq_push(&q, text_msg(1, "abcd"), max), 1);
	assert_int_equal(q.count, 4); /* queued all the same: the edge closes */
	assert_int_equal(q.bytes, 4 * each);
	edge_msg_free_list(edge_outq_pop(&q));
	assert_int_equal(edge_outq_push(&q, text_msg(1, "abcd"), max), 1);
	edge_msg_free_list(edge_outq_pop(&q));
	edge_msg_free_list(edge_outq_pop(&q));
	assert_int_equal(edge_outq_push(&q, text_msg(1, "abcd"), max), 0);
	edge_outq_release(&q);
}

static void test_edge_queue__outq_take_all_empties_in_order(void **state)
{
	edge_outq q = {0};
	edge_msg *list, *next;
	int n = 0;

	(void)state;
	assert_null(edge_outq_take_all(&q));
	edge_outq_push(&q, text_msg(1, "a"), 0);
	edge_outq_push(&q, text_msg(1, "b"), 0);
	list = edge_outq_take_all(&q);
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
	assert_null(edge_outq_peek(&q));
	for (; list; list = next, n++) {
		next = list->next;
		assert_string_equal(edge_msg_body(list), n == 0 ? "a" : "b");
		list->next = NULL;
		edge_msg_free_list(list);
	}
	assert_int_equal(n, 2);
}

static void count_wake(void *arg)
{
	(*(int *)arg)++;
}

static void route_to_conn(void *arg, connmap_node *node, edge_msg *m)
{
	test_conn *c = connmap_entry(node, test_conn, node);

	(*(int *)arg)++;
	if (m->close) {
		c->closed_with = m->close_code;
		edge_msg_free_list(m);
		return;
	}
	edge_outq_push(&c->out, m, 0);
}

static void test_edge_queue__inbox_wakes_once_per_drain(void **state)
{
	edge_inbox inbox;
	connmap conns;
	int wakes = 0, routed = 0;

	(void)state;
	connmap_init(&conns);
	edge_inbox_init(&inbox, count_wake, &wakes);
	edge_inbox_push(&inbox, text_msg(1, "a"));
	edge_inbox_push(&inbox, text_msg(1, "b"));
	assert_int_equal(wakes, 1); /* the drain takes all: only the first message wakes */
	edge_inbox_drain(&inbox, &conns, route_to_conn, &routed);
	edge_inbox_push(&inbox, text_msg(1, "c"));
	assert_int_equal(wakes, 2);
	edge_inbox_release(&inbox); /* frees what still waits */
	connmap_release(&conns);
}

/* Two live connections (ids 1 and 2) and an inbox with no wake function. */
typedef struct two_conns {
	test_conn a, b;
	edge_inbox inbox;
	connmap conns;
	int routed;
} two_conns;

static void two_conns_open(two_conns *f)
{
	*f = (two_conns){.a.node.id = 1, .b.node.id = 2};
	connmap_init(&f->conns);
	connmap_insert(&f->conns, &f->a.node);
	connmap_insert(&f->conns, &f->b.node);
	edge_inbox_init(&f->inbox, NULL, NULL);
}

static void two_conns_close(two_conns *f)
{
	edge_outq_release(&f->a.out);
	edge_outq_release(&f->b.out);
	edge_inbox_release(&f->inbox);
	connmap_release(&f->conns);
}

static void test_edge_queue__inbox_routes_by_id_in_order(void **state)
{
	two_conns f;
	test_conn *a = &f.a, *b = &f.b;

	(void)state;
	two_conns_open(&f);
	edge_inbox_push(&f.inbox, text_msg(1, "a1"));
	edge_inbox_push(&f.inbox, text_msg(2, "b1"));
	edge_inbox_push(&f.inbox, text_msg(1, "a2"));
	edge_inbox_push(&f.inbox, edge_msg_new_close(2, HEADROOM, 4000, "evicted"));
	assert_int_equal(edge_inbox_drain(&f.inbox, &f.conns, route_to_conn, &f.routed), 0);
	assert_int_equal(f.routed, 4);
	assert_int_equal(a->out.count, 2);
	assert_string_equal(edge_msg_body(edge_outq_peek(&a->out)), "a1");
	assert_string_equal(edge_msg_body(a->out.tail), "a2");
	assert_int_equal(b->out.count, 1);
	assert_int_equal(b->closed_with, 4000);
	assert_int_equal(a->closed_with, 0);
	/* Drained: a second drain routes nothing. */
	assert_int_equal(edge_inbox_drain(&f.inbox, &f.conns, route_to_conn, &f.routed), 0);
	assert_int_equal(f.routed, 4);
	two_conns_close(&f);
}

static void test_edge_queue__late_message_for_closed_conn_dropped(void **state)
{
	two_conns f;
	test_conn *a = &f.a, *b = &f.b;

	(void)state;
	two_conns_open(&f);
	edge_inbox_push(&f.inbox, text_msg(1, "for a"));
	edge_inbox_push(&f.inbox, text_msg(2, "for b, late"));
	edge_inbox_push(&f.inbox, edge_msg_new_close(2, HEADROOM, 4003, "revoked"));
	edge_inbox_push(&f.inbox, text_msg(99, "never connected"));
	connmap_remove(&f.conns, &b->node); /* b closed before the service thread drained */
	assert_int_equal(edge_inbox_drain(&f.inbox, &f.conns, route_to_conn, &f.routed), 3);
	assert_int_equal(f.routed, 1);
	assert_int_equal(a->out.count, 1);
	assert_int_equal(b->out.count, 0);
	assert_int_equal(b->closed_with, 0);
	two_conns_close(&f);
}

/* Producers on other threads while the test thread drains, as session_ops and twin_batch do. */
#define PRODUCERS 4
#define PER_PRODUCER 2000

typedef struct producer {
	edge_inbox *inbox;
	uint64_t conn;
} producer;

static void *produce(void *arg)
{
	producer *p = arg;
	char text[16];

	for (int i = 0; i < PER_PRODUCER; i++) {
		snprintf(text, sizeof(text), "%d", i);
		edge_inbox_push(p->inbox, text_msg(p->conn, text));
	}
	return NULL;
}

static void check_in_order(void *arg, connmap_node *node, edge_msg *m)
{
	test_conn *c = connmap_entry(node, test_conn, node);

	(void)arg;
	/* Each producer's messages arrive in the order it pushed them. */
	assert_int_equal(atoi(edge_msg_body(m)), (int)c->out.count);
	edge_outq_push(&c->out, m, 0);
}

static void test_edge_queue__inbox_keeps_each_producers_order(void **state)
{
	test_conn conn[PRODUCERS];
	producer prod[PRODUCERS];
	pthread_t thread[PRODUCERS];
	edge_inbox inbox;
	connmap conns;
	size_t total = 0;

	(void)state;
	memset(conn, 0, sizeof(conn));
	connmap_init(&conns);
	edge_inbox_init(&inbox, NULL, NULL);
	for (int i = 0; i < PRODUCERS; i++) {
		conn[i].node.id = (uint64_t)i + 1;
		connmap_insert(&conns, &conn[i].node);
		prod[i] = (producer){&inbox, (uint64_t)i + 1};
		assert_int_equal(pthread_create(&thread[i], NULL, produce, &prod[i]), 0);
	}
	while (total < PRODUCERS * PER_PRODUCER) {
		edge_inbox_drain(&inbox, &conns, check_in_order, NULL);
		total = 0;
		for (int i = 0; i < PRODUCERS; i++)
			total += conn[i].out.count;
	}
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(thread[i], NULL);
		assert_int_equal(conn[i].out.count, PER_PRODUCER);
		edge_outq_release(&conn[i].out);
	}
	edge_inbox_release(&inbox);
	connmap_release(&conns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_edge_queue__msg_has_zeroed_headroom_then_body),
	    cmocka_unit_test(test_edge_queue__outq_keeps_order_and_counts),
	    cmocka_unit_test(test_edge_queue__outq_reports_bound_crossed),
	    cmocka_unit_test(test_edge_queue__outq_take_all_empties_in_order),
	    cmocka_unit_test(test_edge_queue__inbox_wakes_once_per_drain),
	    cmocka_unit_test(test_edge_queue__inbox_routes_by_id_in_order),
	    cmocka_unit_test(test_edge_queue__late_message_for_closed_conn_dropped),
	    cmocka_unit_test(test_edge_queue__inbox_keeps_each_producers_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
