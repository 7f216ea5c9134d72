/*
 * Unit tests for server/twin.c: merge patches, metadata and versions, limits, rendering, etags, and the
 * transactional operations against a real store in a temporary directory.
 */
#define _GNU_SOURCE /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "json_util.h"
#include "store.h"
#include "store_device.h"
#include "twin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#define T0 "2024-01-01T00:00:00.000Z"
#define T1 "2024-01-02T00:00:00.000Z"
#define T2 "2024-01-03T00:00:00.000Z"

/* ---- helpers -------------------------------------------------------------------------------------- */

/* Bodies in these tests are trusted text; scalars at the top are allowed (json_util_parse wants a
 * container) so that the "body must be an object" paths can be reached. */
static json_t *parse(const char *text)
{
	json_t *v = NULL;

	if (text[0] != '{' && text[0] != '[')
		v = json_loads(text, JSON_DECODE_ANY, NULL);
	else if (json_util_parse(text, strlen(text), JSON_UTIL_MAX_DEPTH, &v) != 0)
		v = NULL;
	if (!v)
		fail_msg("test JSON does not parse: %s (%s)", err_message(), text);
	return v;
}

/* Asserts that v serialises exactly as the compact JSON text want (re-dumped, so spacing does not matter). */
static void assert_json(const json_t *v, const char *want)
{
	json_t *w = parse(want);
	char *got_text = json_util_dump(v);
	char *want_text = json_util_dump(w);

	if (!json_equal((json_t *)v, w))
		fail_msg("JSON differs\n got:  %s\n want: %s", got_text, want_text);
	free(got_text);
	free(want_text);
	json_decref(w);
}

static char *twin_dump(const store_twin *tw)
{
	json_t *all = json_pack("{s:I,s:I,s:O,s:O,s:O,s:I,s:O,s:O,s:I}", "v", (json_int_t)tw->version, "e",
				(json_int_t)tw->etag, "t", tw->tags, "d", tw->desired, "dm", tw->desired_meta, "dv",
				(json_int_t)tw->desired_version, "r", tw->reported, "rm", tw->reported_meta, "rv",
				(json_int_t)tw->reported_version);
	char *s = json_util_dump(all);

	json_decref(all);
	return s;
}

/* Applies a service PATCH given as text; returns its result code. */
static int patch(store_twin *tw, const char *body, const char *now)
{
	json_t *b = parse(body);
	int rc = twin_apply_patch(tw, b, now);

	json_decref(b);
	return rc;
}

static int replace(store_twin *tw, const char *body, const char *now)
{
	json_t *b = parse(body);
	int rc = twin_apply_replace(tw, b, now);

	json_decref(b);
	return rc;
}

static int reported(store_twin *tw, const char *body, const char *now)
{
	json_t *b = parse(body);
	int rc = twin_apply_reported(tw, b, now);

	json_decref(b);
	return rc;
}

/* Expects the PATCH to fail with DH_EINVAL and a message containing needle, and the twin to be unchanged. */
static void expect_patch_rejected(const char *body, const char *needle)
{
	store_twin tw;
	char *before, *after;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"keep\":1},\"properties\":{\"desired\":{\"x\":1}}}", T0), 0);
	before = twin_dump(&tw);
	assert_int_equal(patch(&tw, body, T1), DH_EINVAL);
	if (!strstr(err_message(), needle))
		fail_msg("message '%s' lacks '%s'", err_message(), needle);
	after = twin_dump(&tw);
	assert_string_equal(before, after);
	free(before);
	free(after);
	store_twin_release(&tw);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* {"tags":{"k":"<n x's>"}} */
static char *tags_with_string(const char *key, size_t n)
{
	char *value = repeat('x', n);
	size_t len = n + strlen(key) + 32;
	char *body = malloc(len);

	snprintf(body, len, "{\"tags\":{\"%s\":\"%s\"}}", key, value);
	free(value);
	return body;
}

/* ---- init and etags ------------------------------------------------------------------------------- */

static void test_twin__init_fresh_twin(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(tw.version, 1);
	assert_int_equal(tw.etag, 1);
	assert_int_equal(tw.desired_version, 1);
	assert_int_equal(tw.reported_version, 1);
	assert_json(tw.tags, "{}");
	assert_json(tw.desired, "{}");
	assert_json(tw.reported, "{}");
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T0 "\",\"$lastUpdatedVersion\":1}");
	assert_json(tw.reported_meta, "{\"$lastUpdated\":\"" T0 "\"}");
	store_twin_release(&tw);
}

static void test_twin__etag_text_is_base64_of_big_endian_counter(void **state)
{
	char out[32];

	assert_string_equal(twin_etag_text(1, out), "AAAAAAAAAAE=");
	assert_string_equal(twin_etag_text(0, out), "AAAAAAAAAAA=");
	assert_string_equal(twin_etag_text(0x0102030405060708LL, out), "AQIDBAUGBwg=");
	assert_string_equal(twin_etag_text(-1, out), "//////////8=");
}

static void test_twin__identity_etag_text_is_base64_of_decimal(void **state)
{
	char out[32];

	assert_string_equal(twin_identity_etag_text(0, out), "MA==");
	assert_string_equal(twin_identity_etag_text(12, out), "MTI=");
	assert_string_equal(twin_identity_etag_text(INT64_MIN, out), "LTkyMjMzNzIwMzY4NTQ3NzU4MDg=");
}

/* ---- merge patch ---------------------------------------------------------------------------------- */

static void test_twin__patch_merges_tags_and_null_deletes(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"loc\":{\"region\":\"US\",\"city\":\"NYC\"},\"a\":1}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"loc\":{\"city\":null,\"zip\":\"10001\"},\"a\":null}}", T1), 0);
	assert_json(tw.tags, "{\"loc\":{\"region\":\"US\",\"zip\":\"10001\"}}");
	assert_int_equal(tw.version, 3);
	assert_int_equal(tw.etag, 3);
	assert_int_equal(tw.desired_version, 1); /* tags do not touch desired */
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T0 "\",\"$lastUpdatedVersion\":1}");
	store_twin_release(&tw);
}

static void test_twin__patch_desired_bumps_versions_and_stamps_metadata(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"fw\":\"1.0\",\"cfg\":{\"rate\":5}}}}", T1),
			 0);
	assert_int_equal(tw.version, 2);
	assert_int_equal(tw.etag, 2);
	assert_int_equal(tw.desired_version, 2);
	assert_int_equal(tw.reported_version, 1);
	assert_json(tw.desired, "{\"fw\":\"1.0\",\"cfg\":{\"rate\":5}}");
	assert_json(tw.desired_meta,
		    "{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
		    "\"fw\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2},"
		    "\"cfg\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
		    "\"rate\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2}}}");

	/* A later patch touches only what it writes, plus every object level on the way down. */
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"cfg\":{\"mode\":\"x\"}}}}", T2), 0);
	assert_int_equal(tw.desired_version, 3);
	assert_json(tw.desired_meta,
		    "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
		    "\"fw\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2},"
		    "\"cfg\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
		    "\"rate\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2},"
		    "\"mode\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3}}}");
	store_twin_release(&tw);
}

static void test_twin__patch_delete_removes_metadata(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":{\"b\":1},\"c\":2}}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":null,\"nothere\":null}}}", T2), 0);
	assert_json(tw.desired, "{\"c\":2}");
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
				     "\"c\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2}}");
	store_twin_release(&tw);
}

static void test_twin__patch_object_replaces_leaf_with_fresh_metadata(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":{\"b\":1}}}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":7}}}", T2), 0);
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
				     "\"a\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3}}");
	/* ...and back: a nested null in a new object is dropped (RFC 7386), leaving {} */
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":{\"x\":null,\"y\":{}}}}}", T2), 0);
	assert_json(tw.desired, "{\"a\":{\"y\":{}}}");
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":4,"
				     "\"a\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":4,"
				     "\"y\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":4}}}");
	store_twin_release(&tw);
}

static void test_twin__patch_arrays_are_values_replaced_whole(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"list\":[1,{\"k\":null},[true]]}}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"list\":[\"only\"]}}}", T1), 0);
	assert_json(tw.desired, "{\"list\":[\"only\"]}");
	assert_json(json_object_get(tw.desired_meta, "list"),
		    "{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":3}");
	store_twin_release(&tw);
}

static void test_twin__patch_same_value_still_bumps(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":1}}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"a\":1}}}", T2), 0);
	assert_int_equal(tw.version, 3);
	assert_int_equal(tw.desired_version, 3);
	store_twin_release(&tw);
}

static void test_twin__patch_without_keys_changes_nothing(void **state)
{
	store_twin tw;
	char *before, *after;

	twin_init(&tw, T0);
	before = twin_dump(&tw);
	assert_int_equal(patch(&tw, "{}", T1), 0);
	assert_int_equal(patch(&tw, "{\"tags\":{},\"properties\":{\"desired\":{}}}", T1), 0);
	assert_int_equal(patch(&tw, "{\"deviceId\":\"d\",\"etag\":\"AAAAAAAAAAE=\",\"version\":9}", T1), 0);
	after = twin_dump(&tw);
	assert_string_equal(before, after);
	free(before);
	free(after);
	store_twin_release(&tw);
}

static void test_twin__patch_ignores_echoed_members_and_metadata(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw,
			       "{\"deviceId\":\"other\",\"etag\":\"x\",\"version\":99,\"status\":\"disabled\","
			       "\"properties\":{\"desired\":{\"a\":1,\"$metadata\":{\"$lastUpdated\":\"z\"},"
			       "\"$version\":42}}}",
			       T1),
			 0);
	assert_json(tw.desired, "{\"a\":1}");
	assert_int_equal(tw.desired_version, 2);
	assert_int_equal(tw.version, 2);
	store_twin_release(&tw);
}

static void test_twin__patch_rejects_reported(void **state)
{
	expect_patch_rejected("{\"properties\":{\"reported\":{\"a\":1}}}",
			      "reported properties are read-only to the service");
	expect_patch_rejected("{\"properties\":{\"desired\":{\"a\":2},\"reported\":{}}}", "read-only");
}

static void test_twin__patch_rejects_non_objects(void **state)
{
	expect_patch_rejected("[]", "twin body must be a JSON object");
	expect_patch_rejected("\"x\"", "twin body must be a JSON object");
	expect_patch_rejected("{\"tags\":null}", "'tags' must be a JSON object");
	expect_patch_rejected("{\"tags\":[1]}", "'tags' must be a JSON object");
	expect_patch_rejected("{\"properties\":null}", "'properties' must be a JSON object");
	expect_patch_rejected("{\"properties\":{\"desired\":5}}", "'desired' must be a JSON object");
	expect_patch_rejected("{\"properties\":{\"desired\":null}}", "'desired' must be a JSON object");
}

static void test_twin__patch_rejects_bad_keys(void **state)
{
	char *long_key = repeat('k', TWIN_KEY_MAX_BYTES + 1);
	char *body = tags_with_string(long_key, 1);

	expect_patch_rejected("{\"tags\":{\"a.b\":1}}", "twin key 'a.b' in tags contains '.'");
	expect_patch_rejected("{\"tags\":{\"a\":{\"x$\":1}}}", "twin key 'x$' in tags contains '$'");
	expect_patch_rejected("{\"properties\":{\"desired\":{\"a b\":1}}}",
			      "twin key 'a b' in desired properties contains ' '");
	expect_patch_rejected("{\"tags\":{\"a\\u0001\":1}}", "contains a control character");
	expect_patch_rejected("{\"tags\":{\"a\\u0085\":1}}", "contains a control character");
	expect_patch_rejected("{\"tags\":{\"\":1}}", "twin key in tags is empty");
	/* a bad key is refused even when it only deletes */
	expect_patch_rejected("{\"tags\":{\"a.b\":null}}", "contains '.'");
	/* keys inside objects inside arrays follow the same rules */
	expect_patch_rejected("{\"tags\":{\"l\":[{\"a.b\":1}]}}", "contains '.'");
	expect_patch_rejected(body, "is 1025 bytes, over 1024");
	free(body);
	free(long_key);
}

static void test_twin__patch_accepts_limit_sized_key_and_string(void **state)
{
	store_twin tw;
	char *key = repeat('k', TWIN_KEY_MAX_BYTES);
	char *body = tags_with_string(key, TWIN_STRING_MAX_BYTES);

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, body, T1), 0);
	/* non-ASCII UTF-8 keys are fine */
	assert_int_equal(patch(&tw, "{\"tags\":{\"caf\\u00e9\":1}}", T1), 0);
	free(body);
	free(key);
	store_twin_release(&tw);
}

static void test_twin__patch_rejects_long_string(void **state)
{
	char *body = tags_with_string("s", TWIN_STRING_MAX_BYTES + 1);

	expect_patch_rejected(body, "string value of 's' in tags is 4097 bytes, over 4096");
	free(body);
}

static void test_twin__patch_integer_range(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"lo\":-4503599627370496,\"hi\":4503599627370495,\"r\":1e300}}",
			       T1),
			 0);
	store_twin_release(&tw);
	expect_patch_rejected("{\"tags\":{\"big\":4503599627370496}}", "integer value of 'big' in tags is outside");
	expect_patch_rejected("{\"tags\":{\"small\":[-4503599627370497]}}", "outside");
}

/* IoT Hub's docs show tags one..ten with a leaf inside "ten" as the deepest valid twin. */
static void test_twin__depth_ten_levels_accepted_eleven_rejected(void **state)
{
	const char *ten = "{\"tags\":{\"one\":{\"two\":{\"three\":{\"four\":{\"five\":{\"six\":{\"seven\":"
			  "{\"eight\":{\"nine\":{\"ten\":{\"property\":\"value\"}}}}}}}}}}}}";
	const char *eleven = "{\"tags\":{\"one\":{\"two\":{\"three\":{\"four\":{\"five\":{\"six\":{\"seven\":"
			     "{\"eight\":{\"nine\":{\"ten\":{\"eleven\":{\"p\":1}}}}}}}}}}}}}";
	const char *array_eleven = "{\"properties\":{\"desired\":{\"a\":[[[[[[[[[[[1]]]]]]]]]]]}}}";
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, ten, T1), 0);
	store_twin_release(&tw);
	expect_patch_rejected(eleven, "tags nest deeper than 10 levels at key 'eleven'");
	expect_patch_rejected(array_eleven, "desired properties nest deeper than 10 levels at key 'a'");
}

/* Two keys of one byte with strings of 4096 and n bytes: 4097 + 1 + n bytes of tags. */
static char *tags_of_size(size_t total)
{
	char *a = repeat('x', TWIN_STRING_MAX_BYTES);
	char *b = repeat('y', total - (TWIN_STRING_MAX_BYTES + 2));
	size_t len = total + 64;
	char *body = malloc(len);

	snprintf(body, len, "{\"tags\":{\"a\":\"%s\",\"b\":\"%s\"}}", a, b);
	free(a);
	free(b);
	return body;
}

static void test_twin__tags_size_limit(void **state)
{
	store_twin tw;
	char *fits = tags_of_size(TWIN_TAGS_MAX_BYTES);
	char *over = tags_of_size(TWIN_TAGS_MAX_BYTES + 1);

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, fits, T1), 0);
	/* one more byte anywhere tips it over, and the message names limit and size */
	assert_int_equal(patch(&tw, "{\"tags\":{\"c\":true}}", T1), DH_EINVAL);
	assert_string_equal(err_message(), "tags exceed 8192 bytes (8197)");
	/* deleting makes room again */
	assert_int_equal(patch(&tw, "{\"tags\":{\"a\":null,\"c\":true}}", T1), 0);
	store_twin_release(&tw);
	/* 12 more bytes from the "keep":1 that expect_patch_rejected starts with */
	expect_patch_rejected(over, "tags exceed 8192 bytes (8205)");
	free(fits);
	free(over);
}

static void test_twin__size_counts_numbers_8_booleans_4_null_4(void **state)
{
	/* key "a" 1 + 8; "bb" 2 + 4; "l" 1 + (8 + 4 + 4 + 3); "o" 1 + ("k" 1 + 8) = 45 */
	json_t *v = parse("{\"a\":1.5,\"bb\":false,\"l\":[7,true,null,\"abc\"],\"o\":{\"k\":3}}");

	assert_int_equal(twin_validate_section(v, "tags", 45), 0);
	assert_int_equal(twin_validate_section(v, "tags", 44), DH_EINVAL);
	assert_string_equal(err_message(), "tags exceed 44 bytes (45)");
	json_decref(v);
}

static void test_twin__validate_section_requires_object(void **state)
{
	json_t *v = parse("[1]");

	assert_int_equal(twin_validate_section(v, "tags", 100), DH_EINVAL);
	assert_string_equal(err_message(), "tags must be a JSON object");
	json_decref(v);
}

static void test_twin__desired_size_limit(void **state)
{
	store_twin tw;
	char key[16];

	twin_init(&tw, T0);
	/* 8 keys of 2 bytes with 4094-byte strings = 32768 exactly */
	for (int i = 0; i < 8; i++) {
		char *value = repeat('v', 4094);
		json_t *body;
		snprintf(key, sizeof(key), "k%d", i);
		body = json_pack("{s:{s:{s:s}}}", "properties", "desired", key, value);
		assert_int_equal(twin_apply_patch(&tw, body, T1), 0);
		json_decref(body);
		free(value);
	}
	assert_int_equal(patch(&tw, "{\"properties\":{\"desired\":{\"z\":\"\"}}}", T1), DH_EINVAL);
	assert_string_equal(err_message(), "desired properties exceed 32768 bytes (32769)");
	assert_int_equal(tw.desired_version, 9);
	store_twin_release(&tw);
}

/* ---- replace -------------------------------------------------------------------------------------- */

static void test_twin__replace_replaces_tags_and_desired(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"old\":1},\"properties\":{\"desired\":{\"old\":1}}}", T1), 0);
	assert_int_equal(reported(&tw, "{\"r\":1}", T1), 0);
	assert_int_equal(replace(&tw, "{\"tags\":{\"new\":{\"n\":null,\"m\":2}},\"properties\":{\"desired\":{\"d\":3}}}",
				 T2),
			 0);
	assert_json(tw.tags, "{\"new\":{\"m\":2}}");
	assert_json(tw.desired, "{\"d\":3}");
	assert_json(tw.desired_meta, "{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3,"
				     "\"d\":{\"$lastUpdated\":\"" T2 "\",\"$lastUpdatedVersion\":3}}");
	assert_json(tw.reported, "{\"r\":1}"); /* untouched */
	assert_int_equal(tw.version, 4);
	assert_int_equal(tw.desired_version, 3);
	assert_int_equal(tw.reported_version, 2);

	/* absent sections become empty */
	assert_int_equal(replace(&tw, "{}", T2), 0);
	assert_json(tw.tags, "{}");
	assert_json(tw.desired, "{}");
	assert_int_equal(tw.desired_version, 4);
	store_twin_release(&tw);
}

static void test_twin__replace_failure_leaves_twin_unchanged(void **state)
{
	store_twin tw;
	char *before, *after;
	char *big = tags_with_string("a", TWIN_STRING_MAX_BYTES);
	json_t *body = parse(big);

	/* 3 x 4097 bytes of tags: over 8 KB */
	json_object_set(json_object_get(body, "tags"), "b", json_object_get(json_object_get(body, "tags"), "a"));
	json_object_set(json_object_get(body, "tags"), "c", json_object_get(json_object_get(body, "tags"), "a"));
	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"keep\":1},\"properties\":{\"desired\":{\"keep\":1}}}", T1), 0);
	before = twin_dump(&tw);
	assert_int_equal(twin_apply_replace(&tw, body, T2), DH_EINVAL);
	assert_string_equal(err_message(), "tags exceed 8192 bytes (12291)");
	assert_int_equal(replace(&tw, "{\"properties\":{\"reported\":{}}}", T2), DH_EINVAL);
	assert_int_equal(replace(&tw, "{\"properties\":{\"desired\":{\"$x\":1}}}", T2), DH_EINVAL);
	after = twin_dump(&tw);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(big);
	json_decref(body);
	store_twin_release(&tw);
}

/* ---- reported ------------------------------------------------------------------------------------- */

static void test_twin__reported_merges_and_bumps_reported_version(void **state)
{
	store_twin tw;

	twin_init(&tw, T0);
	assert_int_equal(reported(&tw, "{\"fw\":\"1.0\",\"net\":{\"type\":\"wifi\"}}", T1), 0);
	assert_int_equal(reported(&tw, "{\"net\":{\"type\":null,\"rssi\":-40}}", T2), 0);
	assert_json(tw.reported, "{\"fw\":\"1.0\",\"net\":{\"rssi\":-40}}");
	assert_json(tw.reported_meta, "{\"$lastUpdated\":\"" T2 "\","
				      "\"fw\":{\"$lastUpdated\":\"" T1 "\"},"
				      "\"net\":{\"$lastUpdated\":\"" T2 "\",\"rssi\":{\"$lastUpdated\":\"" T2 "\"}}}");
	assert_int_equal(tw.reported_version, 3);
	assert_int_equal(tw.desired_version, 1);
	assert_int_equal(tw.version, 3);
	assert_int_equal(tw.etag, 3);
	/* an empty patch writes nothing */
	assert_int_equal(reported(&tw, "{}", T2), 0);
	assert_int_equal(tw.reported_version, 3);
	store_twin_release(&tw);
}

static void test_twin__reported_rejects_dollar_keys_and_non_objects(void **state)
{
	store_twin tw;
	char *before, *after;

	twin_init(&tw, T0);
	before = twin_dump(&tw);
	assert_int_equal(reported(&tw, "{\"$version\":3}", T1), DH_EINVAL);
	assert_non_null(strstr(err_message(), "reported property '$version' is reserved"));
	assert_int_equal(reported(&tw, "{\"ok\":1,\"x\":{\"$y\":1}}", T1), DH_EINVAL);
	assert_non_null(strstr(err_message(), "contains '$'"));
	assert_int_equal(reported(&tw, "[1]", T1), DH_EINVAL);
	assert_string_equal(err_message(), "reported properties patch must be a JSON object");
	assert_int_equal(reported(&tw, "null", T1), DH_EINVAL);
	after = twin_dump(&tw);
	assert_string_equal(before, after);
	free(before);
	free(after);
	store_twin_release(&tw);
}

/* The in-place merge of the device channel gives exactly what the copying one gives. */
static void test_twin__reported_merge_in_place(void **state)
{
	const char *patches[] = {"{\"fw\":\"1.0\",\"net\":{\"type\":\"wifi\",\"rssi\":-50}}",
				 "{\"net\":{\"type\":null,\"ch\":6}}", "{\"net\":7,\"fw\":{\"v\":\"2.0\"}}", "{}"};
	store_twin a, b;
	char *da, *db;

	(void)state;
	twin_init(&a, T0);
	twin_init(&b, T0);
	for (size_t i = 0; i < sizeof(patches) / sizeof(patches[0]); i++) {
		json_t *p = parse(patches[i]);
		assert_int_equal(twin_apply_reported(&a, p, T1), 0);
		assert_int_equal(twin_merge_reported(&b, p, T1), 0);
		json_decref(p);
	}
	da = twin_dump(&a);
	db = twin_dump(&b);
	assert_string_equal(da, db);
	assert_int_equal(b.reported_version, 4); /* three changes; the empty patch changes nothing */
	free(da);
	free(db);
	store_twin_release(&a);
	store_twin_release(&b);
}

static void test_twin__reported_size_limit(void **state)
{
	store_twin tw;
	char key[16], *before, *after;

	twin_init(&tw, T0);
	for (int i = 0; i < 8; i++) {
		char *value = repeat('v', 4094);
		json_t *body;
		snprintf(key, sizeof(key), "k%d", i);
		body = json_pack("{s:s}", key, value);
		assert_int_equal(twin_apply_reported(&tw, body, T1), 0);
		json_decref(body);
		free(value);
	}
	before = twin_dump(&tw);
	assert_int_equal(reported(&tw, "{\"z\":1}", T1), DH_EINVAL);
	assert_string_equal(err_message(), "reported properties exceed 32768 bytes (32777)");
	after = twin_dump(&tw);
	assert_string_equal(before, after); /* refused after merging: the copy was dropped */
	free(before);
	free(after);
	/* replacing a big value with a smaller one in the same patch is judged on the result */
	assert_int_equal(reported(&tw, "{\"k0\":null,\"z\":1}", T1), 0);
	store_twin_release(&tw);
}

/* ---- rendering ------------------------------------------------------------------------------------ */

static void identity_fill(store_identity *id, const char *device_id, const char *module_id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->device_id, sizeof(id->device_id), "%s", device_id);
	snprintf(id->module_id, sizeof(id->module_id), "%s", module_id);
	snprintf(id->generation_id, sizeof(id->generation_id), "638000000000000000");
	id->enabled = 1;
	snprintf(id->status_updated_time, sizeof(id->status_updated_time), "0001-01-01T00:00:00Z");
	snprintf(id->connection_state_updated_time, sizeof(id->connection_state_updated_time),
		 "0001-01-01T00:00:00Z");
	snprintf(id->last_activity_time, sizeof(id->last_activity_time), "0001-01-01T00:00:00Z");
	snprintf(id->auth_type, sizeof(id->auth_type), "sas");
}

static void test_twin__render_device_matches_reference(void **state)
{
	store_identity id;
	store_twin tw;
	json_t *out;

	identity_fill(&id, "dev1", "");
	twin_init(&tw, T0);
	assert_int_equal(patch(&tw, "{\"tags\":{\"loc\":{\"region\":\"US\"}},\"properties\":{\"desired\":{\"fw\":\"1.0\"}}}",
			       T1),
			 0);
	out = twin_render(&id, &tw);
	assert_json(out,
		    "{\"deviceId\":\"dev1\",\"etag\":\"AAAAAAAAAAI=\",\"deviceEtag\":\"MA==\",\"version\":2,"
		    "\"status\":\"enabled\",\"statusUpdateTime\":\"0001-01-01T00:00:00Z\","
		    "\"connectionState\":\"Disconnected\",\"lastActivityTime\":\"0001-01-01T00:00:00Z\","
		    "\"cloudToDeviceMessageCount\":0,\"authenticationType\":\"sas\","
		    "\"x509Thumbprint\":{\"primaryThumbprint\":null,\"secondaryThumbprint\":null},\"modelId\":\"\","
		    "\"capabilities\":{\"iotEdge\":false},\"tags\":{\"loc\":{\"region\":\"US\"}},"
		    "\"properties\":{"
		    "\"desired\":{\"fw\":\"1.0\",\"$metadata\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2,"
		    "\"fw\":{\"$lastUpdated\":\"" T1 "\",\"$lastUpdatedVersion\":2}},\"$version\":2},"
		    "\"reported\":{\"$metadata\":{\"$lastUpdated\":\"" T0 "\"},\"$version\":1}}}");
	/* member order as in the reference: deviceId first, properties last */
	{
		char *text = json_util_dump(out);
		assert_true(strncmp(text, "{\"deviceId\":\"dev1\",\"etag\":", 26) == 0);
		assert_non_null(strstr(text, "\"tags\":{\"loc\":{\"region\":\"US\"}},\"properties\":"));
		free(text);
	}
	/* the rendered twin is a copy: editing it leaves the record alone */
	json_object_set_new(json_object_get(out, "tags"), "edited", json_true());
	assert_json(tw.tags, "{\"loc\":{\"region\":\"US\"}}");
	json_decref(out);
	store_twin_release(&tw);
}

static void test_twin__render_configurations_shows_lower_case_statuses(void **state)
{
	store_identity id;
	store_twin tw;
	json_t *out;

	identity_fill(&id, "dev1", "");
	twin_init(&tw, T0);
	tw.configurations = json_pack("{s:s, s:s}", "cfg-a", "Targeted", "cfg-b", "Applied");
	/* A patch works on a copy: the statuses must survive it (and be released once) with the twin. */
	assert_int_equal(patch(&tw, "{\"tags\":{\"a\":1}}", T1), 0);
	out = twin_render(&id, &tw);
	assert_json(json_object_get(out, "configurations"),
		    "{\"cfg-a\":{\"status\":\"targeted\"},\"cfg-b\":{\"status\":\"applied\"}}");
	json_decref(out);
	/* none targeting the device: no member at all, as for an empty object */
	json_decref(tw.configurations);
	tw.configurations = json_object();
	out = twin_render(&id, &tw);
	assert_null(json_object_get(out, "configurations"));
	json_decref(out);
	store_twin_release(&tw);
}

static void test_twin__render_module_and_optional_fields(void **state)
{
	store_identity id;
	store_twin tw;
	json_t *out;

	identity_fill(&id, "dev1", "mod1");
	id.etag = 12;
	id.enabled = 0;
	id.connected = 1;
	id.c2d_count = 3;
	snprintf(id.status_reason, sizeof(id.status_reason), "maintenance");
	snprintf(id.primary_thumbprint, sizeof(id.primary_thumbprint), "ABCD");
	snprintf(id.auth_type, sizeof(id.auth_type), "selfSigned");
	id.last_activity_time[0] = '\0';
	twin_init(&tw, T0);
	out = twin_render(&id, &tw);
	assert_string_equal(json_util_str(out, "moduleId"), "mod1");
	assert_null(json_object_get(out, "capabilities"));
	assert_string_equal(json_util_str(out, "deviceEtag"), "MTI=");
	assert_string_equal(json_util_str(out, "status"), "disabled");
	assert_string_equal(json_util_str(out, "statusReason"), "maintenance");
	assert_string_equal(json_util_str(out, "connectionState"), "Connected");
	assert_string_equal(json_util_str(out, "lastActivityTime"), "0001-01-01T00:00:00Z");
	assert_string_equal(json_util_str(out, "authenticationType"), "selfSigned");
	assert_int_equal(json_integer_value(json_object_get(out, "cloudToDeviceMessageCount")), 3);
	assert_json(json_object_get(out, "x509Thumbprint"),
		    "{\"primaryThumbprint\":\"ABCD\",\"secondaryThumbprint\":null}");
	assert_json(json_object_get(out, "tags"), "{}");
	json_decref(out);

	/* a device without a statusReason has no such member */
	identity_fill(&id, "dev1", "");
	id.iot_edge = 1;
	out = twin_render(&id, &tw);
	assert_null(json_object_get(out, "statusReason"));
	assert_null(json_object_get(out, "moduleId"));
	assert_json(json_object_get(out, "capabilities"), "{\"iotEdge\":true}");
	json_decref(out);
	store_twin_release(&tw);
}

/* ---- transactional operations on a real store ----------------------------------------------------- */

static char test_dir[512];

static int store_setup(void **state)
{
	const char *base = getenv("DH_TEST_TMP");
	char path[600];
	store_identity id;
	store_twin tw;
	store *s;

	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(test_dir, sizeof(test_dir), "%s/test_twin.XXXXXX", base);
	if (!mkdtemp(test_dir))
		return -1;
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	if (store_global_init(path) != 0)
		return -1;
	s = store_thread();
	if (!s || store_begin_write(s) != 0)
		return -1;
	identity_fill(&id, "dev1", "");
	twin_init(&tw, T0);
	if (store_device_insert(s, &id, &tw) != 0)
		return -1;
	identity_fill(&id, "dev1", "mod1");
	if (store_device_insert(s, &id, &tw) != 0)
		return -1;
	store_twin_release(&tw);
	return store_commit(s);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int store_teardown(void **state)
{
	store_global_shutdown();
	return nftw(test_dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void test_twin__get_renders_stored_twin(void **state)
{
	json_t *out = NULL;

	assert_int_equal(twin_get("dev1", NULL, &out), 0);
	assert_string_equal(json_util_str(out, "deviceId"), "dev1");
	assert_string_equal(json_util_str(out, "etag"), "AAAAAAAAAAE=");
	json_decref(out);
	assert_int_equal(twin_get("dev1", "mod1", &out), 0);
	assert_string_equal(json_util_str(out, "moduleId"), "mod1");
	json_decref(out);
}

static void test_twin__get_unknown_identity(void **state)
{
	json_t *out = NULL;

	assert_int_equal(twin_get("nope", "", &out), DH_ENODEVICE);
	assert_null(out);
	assert_int_equal(twin_get("dev1", "nomod", &out), DH_ENOMODULE);
	assert_null(out);
}

static void test_twin__update_patch_persists(void **state)
{
	json_t *body = parse("{\"tags\":{\"env\":\"prod\"},\"properties\":{\"desired\":{\"fw\":\"2\"}}}");
	json_t *out = NULL;

	assert_int_equal(twin_update("dev1", "", body, 0, "*", &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
	json_decref(out);
	assert_int_equal(twin_get("dev1", "", &out), 0);
	assert_json(json_object_get(out, "tags"), "{\"env\":\"prod\"}");
	assert_string_equal(json_util_str(json_object_get(json_object_get(out, "properties"), "desired"), "fw"),
			    "2");
	assert_string_equal(json_util_str(out, "etag"), "AAAAAAAAAAI=");
	json_decref(out);
	/* the module's twin is a separate record */
	assert_int_equal(twin_get("dev1", "mod1", &out), 0);
	assert_json(json_object_get(out, "tags"), "{}");
	json_decref(out);
	json_decref(body);
}

static void test_twin__update_rejects_stale_etag(void **state)
{
	json_t *body = parse("{\"tags\":{\"a\":1}}");
	json_t *out = NULL;

	assert_int_equal(twin_update("dev1", "", body, 0, "AAAAAAAAAAE=", &out), 0); /* current: 1 -> 2 */
	json_decref(out);
	assert_int_equal(twin_update("dev1", "", body, 0, "AAAAAAAAAAE=", &out), DH_EETAG);
	assert_null(out);
	assert_non_null(strstr(err_message(), "AAAAAAAAAAI="));
	/* an empty etag matches nothing; the current etag and the wildcard match (the edge strips quotes) */
	assert_int_equal(twin_update("dev1", "", body, 0, "", &out), DH_EETAG);
	assert_int_equal(twin_update("dev1", "", body, 1, "AAAAAAAAAAI=", &out), 0);
	json_decref(out);
	assert_int_equal(twin_update("dev1", "", body, 0, "*", &out), 0);
	json_decref(out);
	assert_int_equal(twin_get("dev1", "", &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "version")), 4);
	json_decref(out);
	json_decref(body);
}

static void test_twin__update_invalid_body_changes_nothing(void **state)
{
	json_t *body = parse("{\"properties\":{\"reported\":{\"a\":1}}}");
	json_t *out = NULL;

	assert_int_equal(twin_update("dev1", "", body, 0, NULL, &out), DH_EINVAL);
	assert_null(out);
	assert_int_equal(twin_update("nope", "", body, 0, NULL, &out), DH_ENODEVICE);
	assert_int_equal(twin_get("dev1", "", &out), 0);
	assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
	json_decref(out);
	json_decref(body);
}

static void test_twin__update_reported_returns_version(void **state)
{
	json_t *patch_body = parse("{\"battery\":55}");
	int64_t version = 0;
	json_t *out = NULL;

	assert_int_equal(twin_update_reported("dev1", "mod1", patch_body, &version), 0);
	assert_int_equal(version, 2);
	assert_int_equal(twin_update_reported("dev1", NULL, patch_body, &version), 0);
	assert_int_equal(version, 2);
	assert_int_equal(twin_update_reported("dev1", "mod1", patch_body, &version), 0);
	assert_int_equal(version, 3);
	assert_int_equal(twin_get("dev1", "mod1", &out), 0);
	assert_int_equal(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(out, "properties"), "reported"), "battery")),
		55);
	json_decref(out);
	json_decref(patch_body);
	patch_body = parse("{\"$version\":1}");
	assert_int_equal(twin_update_reported("dev1", "", patch_body, &version), DH_EINVAL);
	assert_int_equal(twin_update_reported("ghost", "", patch_body, &version), DH_ENODEVICE);
	json_decref(patch_body);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_twin__init_fresh_twin),
		cmocka_unit_test(test_twin__etag_text_is_base64_of_big_endian_counter),
		cmocka_unit_test(test_twin__identity_etag_text_is_base64_of_decimal),
		cmocka_unit_test(test_twin__patch_merges_tags_and_null_deletes),
		cmocka_unit_test(test_twin__patch_desired_bumps_versions_and_stamps_metadata),
		cmocka_unit_test(test_twin__patch_delete_removes_metadata),
		cmocka_unit_test(test_twin__patch_object_replaces_leaf_with_fresh_metadata),
		cmocka_unit_test(test_twin__patch_arrays_are_values_replaced_whole),
		cmocka_unit_test(test_twin__patch_same_value_still_bumps),
		cmocka_unit_test(test_twin__patch_without_keys_changes_nothing),
		cmocka_unit_test(test_twin__patch_ignores_echoed_members_and_metadata),
		cmocka_unit_test(test_twin__patch_rejects_reported),
		cmocka_unit_test(test_twin__patch_rejects_non_objects),
		cmocka_unit_test(test_twin__patch_rejects_bad_keys),
		cmocka_unit_test(test_twin__patch_accepts_limit_sized_key_and_string),
		cmocka_unit_test(test_twin__patch_rejects_long_string),
		cmocka_unit_test(test_twin__patch_integer_range),
		cmocka_unit_test(test_twin__depth_ten_levels_accepted_eleven_rejected),
		cmocka_unit_test(test_twin__tags_size_limit),
		cmocka_unit_test(test_twin__size_counts_numbers_8_booleans_4_null_4),
		cmocka_unit_test(test_twin__validate_section_requires_object),
		cmocka_unit_test(test_twin__desired_size_limit),
		cmocka_unit_test(test_twin__replace_replaces_tags_and_desired),
		cmocka_unit_test(test_twin__replace_failure_leaves_twin_unchanged),
		cmocka_unit_test(test_twin__reported_merges_and_bumps_reported_version),
		cmocka_unit_test(test_twin__reported_rejects_dollar_keys_and_non_objects),
		cmocka_unit_test(test_twin__reported_merge_in_place),
		cmocka_unit_test(test_twin__reported_size_limit),
		cmocka_unit_test(test_twin__render_device_matches_reference),
		cmocka_unit_test(test_twin__render_configurations_shows_lower_case_statuses),
		cmocka_unit_test(test_twin__render_module_and_optional_fields),
	};
	/* Each case gets a fresh database with dev1 and dev1/mod1. */
	const struct CMUnitTest stored[] = {
		cmocka_unit_test_setup_teardown(test_twin__get_renders_stored_twin, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_twin__get_unknown_identity, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_twin__update_patch_persists, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_twin__update_rejects_stale_etag, store_setup, store_teardown),
		cmocka_unit_test_setup_teardown(test_twin__update_invalid_body_changes_nothing, store_setup,
						store_teardown),
		cmocka_unit_test_setup_teardown(test_twin__update_reported_returns_version, store_setup,
						store_teardown),
	};
	int failed;

	json_util_init();
	failed = cmocka_run_group_tests_name("twin", pure, NULL, NULL);
	failed += cmocka_run_group_tests_name("twin_store", stored, NULL, NULL);
	return failed;
}
