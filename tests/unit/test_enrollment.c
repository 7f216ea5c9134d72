/* Unit tests for server/enrollment.c: key derivation and the validation of enrollment bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "crypto.h"
#include "enrollment.h"
#include "err.h"

static const char group_key[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static int setup(void **state)
{
	(void)state;
	return crypto_init();
}

static void test_enrollment__derive_key_is_hmac_of_device_id(void **state)
{
	char key[45], again[45], other[45];

	(void)state;
	/* base64(HMAC-SHA256(bytes 0..31, "dev-1")), computed independently (Python's hmac). */
	assert_int_equal(enrollment_derive_key(group_key, "dev-1", key), 0);
	assert_string_equal(key, "uPrGCZtSCJ9Nt+iY0r7te47dbsu7OCYEU9tz7kQloUs=");
	assert_int_equal(enrollment_derive_key(group_key, "dev-1", again), 0);
	assert_string_equal(key, again);
	assert_int_equal(enrollment_derive_key(group_key, "dev-2", other), 0);
	assert_string_not_equal(key, other);
}

static void test_enrollment__derive_key_refuses_bad_group_key(void **state)
{
	char key[45];

	(void)state;
	assert_int_equal(enrollment_derive_key("not base64!", "dev-1", key), DH_EINVAL);
	assert_string_equal(key, "");
}

static int parse(const char *text, store_enrollment *e)
{
	json_t *body = json_loads(text, 0, NULL);
	int rc;

	assert_non_null(body);
	rc = enrollment__parse(body, e);
	json_decref(body);
	return rc;
}

static void test_enrollment__parse_generates_keys_and_defaults(void **state)
{
	store_enrollment e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(parse("{}", &e), 0);
	assert_int_equal(strlen(e.primary_key), 44);
	assert_int_equal(strlen(e.secondary_key), 44);
	assert_string_not_equal(e.primary_key, e.secondary_key);
	assert_int_equal(e.enabled, 1);
	assert_true(json_is_object(json_object_get(e.initial_twin, "tags")));
	assert_true(json_is_object(json_object_get(json_object_get(e.initial_twin, "properties"), "desired")));
	store_enrollment_release(&e);
}

static void test_enrollment__parse_keeps_existing_keys(void **state)
{
	store_enrollment e;
	char primary[sizeof(e.primary_key)];

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(parse("{}", &e), 0);
	memcpy(primary, e.primary_key, sizeof(primary));
	assert_int_equal(parse("{\"provisioningStatus\":\"disabled\",\"initialTwin\":{\"tags\":{\"a\":1}}}", &e), 0);
	assert_string_equal(e.primary_key, primary);
	assert_int_equal(e.enabled, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(e.initial_twin, "tags"), "a")), 1);
	store_enrollment_release(&e);
}

static void test_enrollment__parse_refuses_bad_bodies(void **state)
{
	static const char *bad[] = {
	    "[]",
	    "{\"provisioningStatus\":\"maybe\"}",
	    "{\"provisioningStatus\":1}",
	    "{\"attestation\":{\"type\":\"x509\"}}",
	    "{\"attestation\":{\"symmetricKey\":{\"primaryKey\":\"not base64!\"}}}",
	    "{\"attestation\":{\"symmetricKey\":{\"primaryKey\":\"AAAA\"}}}", /* 3 bytes: too short */
	    "{\"attestation\":\"x\"}",
	    "{\"initialTwin\":[]}",
	    "{\"initialTwin\":{\"tags\":1}}",
	    "{\"initialTwin\":{\"properties\":{\"desired\":\"x\"}}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		store_enrollment e;
		memset(&e, 0, sizeof(e));
		assert_int_equal(parse(bad[i], &e), DH_EINVAL);
		store_enrollment_release(&e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enrollment__derive_key_is_hmac_of_device_id),
	    cmocka_unit_test(test_enrollment__derive_key_refuses_bad_group_key),
	    cmocka_unit_test(test_enrollment__parse_generates_keys_and_defaults),
	    cmocka_unit_test(test_enrollment__parse_keeps_existing_keys),
	    cmocka_unit_test(test_enrollment__parse_refuses_bad_bodies),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
