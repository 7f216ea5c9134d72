/* Unit tests for server/mqtt_codec.c: the incremental MQTT 3.1.1 parser and the encoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "mqtt_codec.h"

/* The CONNECT the Node SDK sends (shape as on the wire; shortened user name and password). */
static const uint8_t node_connect[] = {
    0x10, 0x49,                                              /* CONNECT, 73 bytes */
    0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xc0, 0x00, 0xb4, /* MQTT level 4, user+password, keepalive 180 */
    0x00, 0x04, 'd', 'e', 'v', '1',                          /* client id */
    0x00, 0x2a, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't', '/', 'd', 'e', 'v', '1', '/', '?', 'a', 'p', 'i', '-',
    'v', 'e', 'r', 's', 'i', 'o', 'n', '=', '2', '0', '2', '1', '-', '0', '4', '-', '1', '2', '&', 'x', '=', 'y',
    0x00, 0x0b, 'S', 'h', 'a', 'r', 'e', 'd', 'A', 'c', 'c', 'e', 's'};

static int feed_all(mqtt_parser *p, const uint8_t *data, size_t len, mqtt_packet *pkt)
{
	return mqtt_parser_next(p, &data, &len, pkt);
}

static void test_mqtt_codec__parses_node_connect_byte_by_byte(void **state)
{
	mqtt_parser p;
	mqtt_packet pkt;
	int rc = 0;

	(void)state;
	mqtt_parser_init(&p);
	for (size_t i = 0; i < sizeof(node_connect); i++) {
		const uint8_t *d = node_connect + i;
		size_t n = 1;
		rc = mqtt_parser_next(&p, &d, &n, &pkt);
		assert_int_equal(n, 0);
		if (i + 1 < sizeof(node_connect))
			assert_int_equal(rc, 0);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(pkt.type, MQTT_CONNECT);
	assert_int_equal(pkt.protocol_level, 4);
	assert_int_equal(pkt.keepalive, 180);
	assert_true(pkt.has_username && pkt.has_password && !pkt.clean_session);
	assert_int_equal(pkt.client_id.len, 4);
	assert_memory_equal(pkt.client_id.p, "dev1", 4);
	assert_int_equal(pkt.username.len, 42);
	assert_memory_equal(pkt.password.p, "SharedAcces", 11);
	mqtt_parser_release(&p);
}

static void test_mqtt_codec__two_packets_in_one_chunk(void **state)
{
	/* PUBLISH QoS 1 id 7 "a/b" payload "hi", then PINGREQ. */
	const uint8_t bytes[] = {0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i', 0xc0, 0x00};
	const uint8_t *d = bytes;
	size_t n = sizeof(bytes);
	mqtt_parser p;
	mqtt_packet pkt;

	(void)state;
	mqtt_parser_init(&p);
	assert_int_equal(mqtt_parser_next(&p, &d, &n, &pkt), 1);
	assert_int_equal(pkt.type, MQTT_PUBLISH);
	assert_int_equal(pkt.qos, 1);
	assert_int_equal(pkt.packet_id, 7);
	assert_int_equal(pkt.topic.len, 3);
	assert_memory_equal(pkt.payload.p, "hi", 2);
	assert_int_equal(n, 2);
	assert_int_equal(mqtt_parser_next(&p, &d, &n, &pkt), 1);
	assert_int_equal(pkt.type, MQTT_PINGREQ);
	assert_int_equal(mqtt_parser_next(&p, &d, &n, &pkt), 0);
	mqtt_parser_release(&p);
}

static void test_mqtt_codec__subscribe_filters(void **state)
{
	const uint8_t bytes[] = {0x82, 0x0d, 0x00, 0x02, 0x00, 0x03, 'a', '/', '#', 0x01, 0x00, 0x02, 'x', 'y', 0x02};
	mqtt_parser p;
	mqtt_packet pkt;

	(void)state;
	mqtt_parser_init(&p);
	assert_int_equal(feed_all(&p, bytes, sizeof(bytes), &pkt), 1);
	assert_int_equal(pkt.type, MQTT_SUBSCRIBE);
	assert_int_equal(pkt.packet_id, 2);
	assert_int_equal(pkt.nfilters, 2);
	assert_memory_equal(pkt.filters[0].p, "a/#", 3);
	assert_int_equal(pkt.filter_qos[0], 1);
	assert_int_equal(pkt.filter_qos[1], 2);
	mqtt_parser_release(&p);
}

static void expect_malformed(const uint8_t *bytes, size_t len, const char *want)
{
	mqtt_parser p;
	mqtt_packet pkt;

	mqtt_parser_init(&p);
	err_clear();
	assert_int_equal(feed_all(&p, bytes, len, &pkt), -1);
	if (!strstr(err_message(), want))
		fail_msg("message '%s' lacks '%s'", err_message(), want);
	/* A failed stream stays failed. */
	assert_int_equal(feed_all(&p, (const uint8_t *)"\xc0\x00", 2, &pkt), -1);
	mqtt_parser_release(&p);
}

static void test_mqtt_codec__rejects_malformed(void **state)
{
	(void)state;
	expect_malformed((const uint8_t *)"\xf0\x00", 2, "reserved packet type");
	expect_malformed((const uint8_t *)"\x00\x00", 2, "reserved packet type");
	expect_malformed((const uint8_t *)"\x10\xff\xff\xff\xff\x01", 6, "longer than 4 bytes");
	expect_malformed((const uint8_t *)"\x10\xff\xff\xff\x7f", 5, "exceeds");
	expect_malformed((const uint8_t *)"\x10\x80\x00", 3, "minimally encoded");
	expect_malformed((const uint8_t *)"\xc1\x00", 2, "fixed-header flags");
	expect_malformed((const uint8_t *)"\x80\x05\x00\x01\x00\x01\x61", 7, "fixed-header flags");
	expect_malformed((const uint8_t *)"\xc0\x01\x00", 3, "has a body");
	expect_malformed((const uint8_t *)"\x36\x05\x00\x01\x61\x00\x01", 7, "QoS 3");
	expect_malformed((const uint8_t *)"\x30\x03\x00\x01\x2b", 5, "wildcard");
	expect_malformed((const uint8_t *)"\x30\x03\x00\x01\x00", 5, "UTF-8");
	expect_malformed((const uint8_t *)"\x30\x04\x00\x02\xc0\x80", 6, "UTF-8"); /* overlong NUL */
	expect_malformed((const uint8_t *)"\x32\x03\x00\x01\x61", 5, "ends early");
	expect_malformed((const uint8_t *)"\x82\x02\x00\x01", 4, "without a topic filter");
	expect_malformed((const uint8_t *)"\x82\x06\x00\x01\x00\x01\x61\x03", 8, "requested QoS");
	expect_malformed((const uint8_t *)"\x20\x02\x00\x00", 4, "may not send");
	/* CONNECT: password flag without user name; reserved flag; trailing bytes. */
	expect_malformed((const uint8_t *)"\x10\x0c\x00\x04MQTT\x04\x40\x00\x3c\x00\x00", 14, "password");
	expect_malformed((const uint8_t *)"\x10\x0c\x00\x04MQTT\x04\x01\x00\x3c\x00\x00", 14, "reserved flag");
	expect_malformed((const uint8_t *)"\x10\x0d\x00\x04MQTT\x04\x00\x00\x3c\x00\x00\x00", 15, "trailing");
}

static void test_mqtt_codec__encoders_round_trip(void **state)
{
	buf out = BUF_INIT;
	char payload[300];
	mqtt_parser p;
	mqtt_packet pkt;
	const uint8_t connack[] = {0x20, 0x02, 0x00, 0x05}, puback[] = {0x40, 0x02, 0x12, 0x34},
		      suback[] = {0x90, 0x04, 0x00, 0x09, 0x01, 0x80}, pingresp[] = {0xd0, 0x00},
		      unsuback[] = {0xb0, 0x02, 0x00, 0x03};
	const uint8_t codes[] = {1, 0x80};

	(void)state;
	mqtt_encode_connack(&out, 0, MQTT_CONNACK_NOT_AUTHORIZED);
	mqtt_encode_puback(&out, 0x1234);
	mqtt_encode_suback(&out, 9, codes, 2);
	mqtt_encode_pingresp(&out);
	mqtt_encode_unsuback(&out, 3);
	assert_int_equal(out.len, 4 + 4 + 6 + 2 + 4);
	assert_memory_equal(out.data, connack, 4);
	assert_memory_equal(out.data + 4, puback, 4);
	assert_memory_equal(out.data + 8, suback, 6);
	assert_memory_equal(out.data + 14, pingresp, 2);
	assert_memory_equal(out.data + 16, unsuback, 4);
	buf_release(&out);

	/* A PUBLISH over 127 bytes takes a two-byte remaining length and parses back. */
	memset(payload, 'x', sizeof(payload));
	mqtt_encode_publish(&out, "$iothub/twin/res/200/?$rid=1", 28, payload, sizeof(payload), 0, 0);
	assert_int_equal((uint8_t)out.data[0], 0x30);
	assert_int_equal(out.len, 1 + 2 + 2 + 28 + sizeof(payload));
	mqtt_parser_init(&p);
	assert_int_equal(feed_all(&p, (const uint8_t *)out.data, out.len, &pkt), 1);
	assert_int_equal(pkt.topic.len, 28);
	assert_int_equal(pkt.payload.len, sizeof(payload));
	assert_int_equal(pkt.qos, 0);
	mqtt_parser_release(&p);
	buf_release(&out);
}

static void test_mqtt_codec__type_names(void **state)
{
	(void)state;
	assert_string_equal(mqtt_type_name(MQTT_CONNECT), "CONNECT");
	assert_string_equal(mqtt_type_name(MQTT_DISCONNECT), "DISCONNECT");
	assert_string_equal(mqtt_type_name(15), "?");
	assert_string_equal(mqtt_type_name(-1), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mqtt_codec__parses_node_connect_byte_by_byte),
	    cmocka_unit_test(test_mqtt_codec__two_packets_in_one_chunk),
	    cmocka_unit_test(test_mqtt_codec__subscribe_filters),
	    cmocka_unit_test(test_mqtt_codec__rejects_malformed),
	    cmocka_unit_test(test_mqtt_codec__encoders_round_trip),
	    cmocka_unit_test(test_mqtt_codec__type_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
