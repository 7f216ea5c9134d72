/* Unit tests for server/events.c: the event ring, readers' catch-up and gaps, the types filter, the
 * subscriber and tickets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "events.h"

static int reset(void **state)
{
	(void)state;
	events_reset();
	events_subscribe(NULL, NULL);
	return 0;
}

static void publish_n(int n, const char *type)
{
	for (int i = 0; i < n; i++)
		events_publish(type, json_pack("{s:i}", "i", i));
}

static void test_events__text_has_seq_time_type_and_members(void **state)
{
	events_item *it[2];
	json_t *v;
	size_t len;

	(void)state;
	events_publish("device.connected", json_pack("{s:s}", "deviceId", "d1"));
	events_publish("job.progress", NULL);
	assert_int_equal(events_since(0, it, 2), 2);
	v = json_loads(events_item_text(it[0], &len), 0, NULL);
	assert_non_null(v);
	assert_int_equal(len, strlen(events_item_text(it[0], NULL)));
	assert_int_equal(json_integer_value(json_object_get(v, "seq")), 1);
	assert_string_equal(json_string_value(json_object_get(v, "type")), "device.connected");
	assert_string_equal(json_string_value(json_object_get(v, "deviceId")), "d1");
	assert_int_equal(strlen(json_string_value(json_object_get(v, "time"))), 24); /* ...T..:..:..sssZ */
	json_decref(v);
	v = json_loads(events_item_text(it[1], NULL), 0, NULL);
	assert_non_null(v);
	assert_int_equal(json_object_size(v), 3); /* no members: seq, time, type */
	assert_string_equal(events_item_type(it[1]), "job.progress");
	json_decref(v);
	events_item_unref(it[0]);
	events_item_unref(it[1]);
}

static void test_events__since_returns_the_rest_in_order(void **state)
{
	events_item *it[10];
	int64_t oldest, latest;
	int n;

	(void)state;
	assert_int_equal(events_since(0, it, 10), 0); /* empty ring: nothing, no gap */
	publish_n(7, "t");
	events_bounds(&oldest, &latest);
	assert_int_equal(oldest, 1);
	assert_int_equal(latest, 7);
	n = events_since(3, it, 10);
	assert_int_equal(n, 4);
	for (int i = 0; i < n; i++) {
		assert_int_equal(events_item_seq(it[i]), 4 + i);
		events_item_unref(it[i]);
	}
	assert_int_equal(events_since(5, it, 1), 1); /* max respected */
	assert_int_equal(events_item_seq(it[0]), 6);
	events_item_unref(it[0]);
	assert_int_equal(events_since(7, it, 10), 0);
	assert_int_equal(events_since(8, it, 10), EVENTS_GAP); /* ahead of the newest: from before a restart */
}

static void test_events__overflow_drops_the_oldest_and_reports_a_gap(void **state)
{
	events_item *it[2];
	int64_t oldest, latest;

	(void)state;
	publish_n(EVENTS_RING_SIZE + 25, "t");
	events_bounds(&oldest, &latest);
	assert_int_equal(latest, EVENTS_RING_SIZE + 25);
	assert_int_equal(oldest, 26);
	assert_int_equal(events_since(0, it, 2), EVENTS_GAP);
	assert_int_equal(events_since(24, it, 2), EVENTS_GAP);
	assert_int_equal(events_since(25, it, 2), 2); /* exactly the oldest kept comes next */
	assert_int_equal(events_item_seq(it[0]), 26);
	events_item_unref(it[0]);
	events_item_unref(it[1]);
	/* A reference outlives the ring's: the item stays readable after it is dropped. */
	assert_int_equal(events_since(latest - 1, it, 1), 1);
	publish_n(EVENTS_RING_SIZE, "u");
	assert_string_equal(events_item_type(it[0]), "t");
	events_item_unref(it[0]);
}

static void test_events__latest_is_newest_first_and_filters_types(void **state)
{
	json_t *r, *items;

	(void)state;
	events_publish("device.connected", json_pack("{s:s}", "deviceId", "a"));
	events_publish("twin.updated", json_pack("{s:s}", "deviceId", "a"));
	events_publish("device.disconnected", json_pack("{s:s}", "deviceId", "a"));
	events_publish("device.connectedX", NULL);
	r = events_latest(50, NULL);
	items = json_object_get(r, "items");
	assert_int_equal(json_integer_value(json_object_get(r, "seq")), 4);
	assert_int_equal(json_array_size(items), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(items, 0), "seq")), 4);
	json_decref(r);
	r = events_latest(50, "device.connected,device.disconnected");
	items = json_object_get(r, "items");
	assert_int_equal(json_array_size(items), 2); /* not device.connectedX: names match whole */
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "type")),
			    "device.disconnected");
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 1), "type")), "device.connected");
	json_decref(r);
	r = events_latest(1, "");
	assert_int_equal(json_array_size(json_object_get(r, "items")), 1);
	json_decref(r);
	r = events_latest(5, "nothing.here");
	assert_int_equal(json_array_size(json_object_get(r, "items")), 0);
	json_decref(r);
}

static int64_t heard_seq;
static int heard_calls;

static void on_published(void *arg, int64_t seq)
{
	assert_ptr_equal(arg, &heard_calls);
	heard_seq = seq;
	heard_calls++;
}

static void test_events__subscriber_hears_every_publish(void **state)
{
	(void)state;
	heard_calls = 0;
	events_subscribe(on_published, &heard_calls);
	publish_n(3, "t");
	assert_int_equal(heard_calls, 3);
	assert_int_equal(heard_seq, 3);
	events_subscribe(NULL, NULL);
	publish_n(1, "t");
	assert_int_equal(heard_calls, 3);
}

static void *publisher(void *arg)
{
	(void)arg;
	publish_n(2000, "p");
	return NULL;
}

static void test_events__concurrent_publishers_get_distinct_seqs(void **state)
{
	pthread_t t[4];
	events_item *it[1];
	int64_t latest, prev = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, publisher, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	events_bounds(NULL, &latest);
	assert_int_equal(latest, 8000);
	for (int64_t seq = 0; events_since(seq, it, 1) == 1; seq++) {
		assert_int_equal(events_item_seq(it[0]), prev + 1);
		prev = events_item_seq(it[0]);
		events_item_unref(it[0]);
	}
	assert_int_equal(prev, 8000);
}

static void test_events__ticket_is_single_use(void **state)
{
	char a[EVENTS_TICKET_LEN + 1], b[EVENTS_TICKET_LEN + 1];

	(void)state;
	assert_int_equal(events_ticket_new(a), 0);
	assert_int_equal(events_ticket_new(b), 0);
	assert_int_equal(strlen(a), EVENTS_TICKET_LEN);
	assert_null(strpbrk(a, "+/="));
	assert_string_not_equal(a, b);
	assert_int_equal(events_ticket_take(a), 0);
	assert_int_equal(events_ticket_take(a), DH_EUNAUTH);
	assert_int_equal(events_ticket_take("short"), DH_EUNAUTH);
	assert_int_equal(events_ticket_take(NULL), DH_EUNAUTH);
	b[0] = b[0] == 'A' ? 'B' : 'A';
	assert_int_equal(events_ticket_take(b), DH_EUNAUTH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_events__text_has_seq_time_type_and_members, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__since_returns_the_rest_in_order, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__overflow_drops_the_oldest_and_reports_a_gap, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__latest_is_newest_first_and_filters_types, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__subscriber_hears_every_publish, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__concurrent_publishers_get_distinct_seqs, reset, reset),
	    cmocka_unit_test_setup_teardown(test_events__ticket_is_single_use, reset, reset),
	};

	if (crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
