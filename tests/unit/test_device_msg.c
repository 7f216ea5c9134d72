/* Unit tests for server/device_msg.c: parsing device messages, the connect path, and encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "device_msg.h"
#include "err.h"
#include "json_util.h"

static int parse(const char *text, device_msg *msg)
{
	return device_msg_parse(text, strlen(text), msg);
}

/* Parses text and expects DH_EINVAL with a message containing want; returns nothing, releases msg. */
static void expect_invalid(const char *text, const char *want, const char *want_rid)
{
	device_msg msg;
	char rid[DEVICE_MSG_RID_MAX + 1];

	err_clear();
	assert_int_equal(parse(text, &msg), DH_EINVAL);
	if (!strstr(err_message(), want))
		fail_msg("'%s': message '%s' lacks '%s'", text, err_message(), want);
	if (want_rid) {
		assert_int_equal(device_msg_rid_text(&msg, rid), 0);
		assert_string_equal(rid, want_rid);
	} else {
		assert_null(msg.rid);
	}
	device_msg_release(&msg);
}

/* Encoded text as a parsed object, for comparisons that ignore whitespace. */
static json_t *as_json(buf *b)
{
	json_error_t jerr;
	json_t *v = json_loadb(b->data, b->len, 0, &jerr);

	assert_non_null(v);
	buf_release(b);
	return v;
}

static void assert_json_text(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);

	assert_non_null(want);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);
		print_error("got %s\nwant %s\n", g, want_text);
		free(g);
		fail();
	}
	json_decref(want);
	json_decref(got);
}

static void test_device_msg__twin_get(void **state)
{
	device_msg msg;
	char rid[DEVICE_MSG_RID_MAX + 1];

	assert_int_equal(parse("{\"type\":\"twin.get\",\"rid\":\"r1\"}", &msg), 0);
	assert_int_equal(msg.type, DEVICE_MSG_TWIN_GET);
	assert_int_equal(msg.if_newer_than, -1);
	assert_int_equal(device_msg_rid_text(&msg, rid), 0);
	assert_string_equal(rid, "r1");
	device_msg_release(&msg);

	assert_int_equal(parse("{\"rid\":42,\"ifNewerThan\":7,\"type\":\"twin.get\"}", &msg), 0);
	assert_int_equal(msg.if_newer_than, 7);
	assert_true(json_is_integer(msg.rid));
	assert_int_equal(device_msg_rid_text(&msg, rid), 0);
	assert_string_equal(rid, "42");
	device_msg_release(&msg);
}

static void test_device_msg__reported_patch(void **state)
{
	device_msg msg;

	assert_int_equal(parse("{\"type\":\"reported.patch\",\"rid\":\"p\",\"body\":{\"a\":1,\"b\":null}}", &msg), 0);
	assert_int_equal(msg.type, DEVICE_MSG_REPORTED_PATCH);
	assert_true(json_is_object(msg.body));
	assert_true(json_is_null(json_object_get(msg.body, "b")));
	device_msg_release(&msg);
}

static void test_device_msg__method_response(void **state)
{
	device_msg msg;

	assert_int_equal(parse("{\"type\":\"method.response\",\"rid\":\"9\",\"status\":500,\"payload\":[1]}", &msg), 0);
	assert_int_equal(msg.type, DEVICE_MSG_METHOD_RESPONSE);
	assert_int_equal(msg.status, 500);
	assert_true(json_is_array(msg.payload));
	device_msg_release(&msg);

	assert_int_equal(parse("{\"type\":\"method.response\",\"rid\":\"9\",\"status\":200}", &msg), 0);
	assert_null(msg.payload);
	device_msg_release(&msg);
}

static void test_device_msg__bad_frames_say_why(void **state)
{
	expect_invalid("", "malformed JSON", NULL);
	expect_invalid("{\"type\":", "malformed JSON", NULL);
	expect_invalid("[1,2]", "JSON object", NULL);
	expect_invalid("\"twin.get\"", "malformed JSON", NULL); /* only objects and arrays are documents */
	expect_invalid("{\"type\":\"twin.get\",\"rid\":\"a\",\"rid\":\"b\"}", "malformed JSON", NULL);
	expect_invalid("{\"rid\":\"r\"}", "no string 'type'", "r");
	expect_invalid("{\"type\":5,\"rid\":\"r\"}", "no string 'type'", "r");
	expect_invalid("{\"type\":\"teleport\",\"rid\":\"r\"}", "unknown message type 'teleport'", "r");
	expect_invalid("{\"type\":\"twin.get\"}", "rid is missing", NULL);
	expect_invalid("{\"type\":\"twin.get\",\"rid\":true}", "rid must be", NULL);
	expect_invalid("{\"type\":\"twin.get\",\"rid\":\"\"}", "rid must be", NULL);
	expect_invalid("{\"type\":\"twin.get\",\"rid\":\"r\",\"ifNewerThan\":\"3\"}", "ifNewerThan", "r");
	expect_invalid("{\"type\":\"twin.get\",\"rid\":\"r\",\"ifNewerThan\":-1}", "ifNewerThan", "r");
	expect_invalid("{\"type\":\"reported.patch\",\"rid\":\"r\"}", "body is missing", "r");
	expect_invalid("{\"type\":\"reported.patch\",\"rid\":\"r\",\"body\":[1]}", "body must be a JSON object", "r");
	expect_invalid("{\"type\":\"method.response\",\"rid\":\"r\"}", "status is missing", "r");
	expect_invalid("{\"type\":\"method.response\",\"rid\":\"r\",\"status\":\"200\"}", "status must be", "r");
	expect_invalid("{\"type\":\"method.response\",\"rid\":\"r\",\"status\":99999999999}", "status must be", "r");
}

static void test_device_msg__rid_limits(void **state)
{
	char text[400], rid[DEVICE_MSG_RID_MAX + 1];
	device_msg msg;

	snprintf(text, sizeof(text), "{\"type\":\"twin.get\",\"rid\":\"%0*d\"}", DEVICE_MSG_RID_MAX, 0);
	assert_int_equal(parse(text, &msg), 0);
	assert_int_equal(device_msg_rid_text(&msg, rid), 0);
	assert_int_equal(strlen(rid), DEVICE_MSG_RID_MAX);
	device_msg_release(&msg);

	snprintf(text, sizeof(text), "{\"type\":\"twin.get\",\"rid\":\"%0*d\"}", DEVICE_MSG_RID_MAX + 1, 0);
	expect_invalid(text, "rid must be", NULL);
	/* A NUL inside a rid would cut it short when passed on as C text. */
	expect_invalid("{\"type\":\"twin.get\",\"rid\":\"a\\u0000b\"}", "rid must be", NULL);
}

static void test_device_msg__deep_nesting_is_refused_before_parsing(void **state)
{
	buf b = BUF_INIT;
	device_msg msg;

	buf_puts(&b, "{\"type\":\"reported.patch\",\"rid\":\"r\",\"body\":");
	for (int i = 0; i < 5000; i++)
		buf_puts(&b, "{\"a\":");
	assert_int_equal(device_msg_parse(b.data, b.len, &msg), DH_EINVAL);
	assert_non_null(strstr(err_message(), "nesting"));
	device_msg_release(&msg);
	buf_release(&b);
}

static void test_device_msg__path(void **state)
{
	char dev[129], mod[129];
	char long_id[200];

	assert_int_equal(device_msg_parse_path("/devices/dev1", 13, 0, dev, mod), 0);
	assert_string_equal(dev, "dev1");
	assert_string_equal(mod, "");
	assert_int_equal(device_msg_parse_path("/devices/d/modules/m?authorization=x", 36, 0, dev, mod), 0);
	assert_string_equal(dev, "d");
	assert_string_equal(mod, "m");
	assert_int_equal(device_msg_parse_path("/devices/a%2541/modules/b%20c", 29, 1, dev, mod), 0);
	assert_string_equal(dev, "a%41");
	assert_string_equal(mod, "b c");

	assert_int_equal(device_msg_parse_path("/devices/", 9, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices", 8, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/things/d", 9, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/d/", 11, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/d/modules/", 19, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/d/modules/m/x", 22, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/d/twin", 15, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/%zz", 12, 1, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path("/devices/a%00b", 14, 1, dev, mod), DH_EINVAL);
	memcpy(long_id, "/devices/", 9);
	memset(long_id + 9, 'x', 129);
	assert_int_equal(device_msg_parse_path(long_id, 9 + 129, 0, dev, mod), DH_EINVAL);
	assert_int_equal(device_msg_parse_path(long_id, 9 + 128, 0, dev, mod), 0);
	assert_int_equal(strlen(dev), 128);
}

static void test_device_msg__encoders(void **state)
{
	buf b = BUF_INIT;
	json_t *rid = json_string("r1"), *num = json_integer(3);
	json_t *props = json_loads("{\"desired\":{\"$version\":2},\"reported\":{\"$version\":1}}", 0, NULL);
	json_t *patch = json_loads("{\"a\":{\"b\":null}}", 0, NULL);

	device_msg_encode_hello(&b, "dev1", "", 7, 3);
	assert_non_null(strstr(b.data, "{\"type\":\"hello\","));
	assert_json_text(as_json(&b), "{\"type\":\"hello\",\"protocol\":\"devicehub.v1\",\"deviceId\":\"dev1\","
				      "\"desiredVersion\":7,\"reportedVersion\":3}");
	device_msg_encode_hello(&b, "dev1", "m1", 1, 1);
	assert_json_text(as_json(&b), "{\"type\":\"hello\",\"protocol\":\"devicehub.v1\",\"deviceId\":\"dev1\","
				      "\"moduleId\":\"m1\",\"desiredVersion\":1,\"reportedVersion\":1}");
	device_msg_encode_twin(&b, rid, 200, props);
	assert_json_text(as_json(&b), "{\"type\":\"twin\",\"rid\":\"r1\",\"status\":200,"
				      "\"body\":{\"desired\":{\"$version\":2},\"reported\":{\"$version\":1}}}");
	device_msg_encode_twin(&b, num, 304, NULL);
	assert_json_text(as_json(&b), "{\"type\":\"twin\",\"rid\":3,\"status\":304}");
	device_msg_encode_reported_ack(&b, rid, 9);
	assert_json_text(as_json(&b), "{\"type\":\"reported.ack\",\"rid\":\"r1\",\"status\":204,\"version\":9}");
	device_msg_encode_desired_patch(&b, patch, 4);
	assert_json_text(as_json(&b), "{\"type\":\"desired.patch\",\"version\":4,\"body\":{\"a\":{\"b\":null}}}");
	device_msg_encode_method_request(&b, "17", "reboot", NULL);
	assert_json_text(as_json(&b), "{\"type\":\"method.request\",\"rid\":\"17\",\"name\":\"reboot\",\"payload\":null}");
	device_msg_encode_method_request(&b, "18", "go", patch);
	assert_json_text(as_json(&b), "{\"type\":\"method.request\",\"rid\":\"18\",\"name\":\"go\","
				      "\"payload\":{\"a\":{\"b\":null}}}");
	device_msg_encode_error(&b, rid, 400, 400004, "bad");
	assert_json_text(as_json(&b), "{\"type\":\"error\",\"rid\":\"r1\",\"status\":400,\"errorCode\":400004,"
				      "\"message\":\"bad\"}");
	device_msg_encode_error(&b, NULL, 400, 400004, "bad \xff utf-8");
	assert_json_text(as_json(&b), "{\"type\":\"error\",\"status\":400,\"errorCode\":400004,"
				      "\"message\":\"invalid message\"}");
	assert_int_equal(patch->refcount, 1);
	json_decref(rid);
	json_decref(num);
	json_decref(props);
	json_decref(patch);
}

static void test_device_msg__encoders_append_after_headroom(void **state)
{
	buf b = BUF_INIT;

	buf_append(&b, "\0\0\0\0", 4);
	device_msg_encode_reported_ack(&b, NULL, 2);
	assert_string_equal(b.data + 4, "{\"type\":\"reported.ack\",\"status\":204,\"version\":2}");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_device_msg__twin_get),
		cmocka_unit_test(test_device_msg__reported_patch),
		cmocka_unit_test(test_device_msg__method_response),
		cmocka_unit_test(test_device_msg__bad_frames_say_why),
		cmocka_unit_test(test_device_msg__rid_limits),
		cmocka_unit_test(test_device_msg__deep_nesting_is_refused_before_parsing),
		cmocka_unit_test(test_device_msg__path),
		cmocka_unit_test(test_device_msg__encoders),
		cmocka_unit_test(test_device_msg__encoders_append_after_headroom),
	};

	json_util_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
