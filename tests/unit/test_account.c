/* Unit tests for server/account.c: PBKDF2 hashing (RFC 7914's vector), verifying, the first admin,
 * logins and sessions against a real store, the last admin, and the failed-login limiter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "account.h"
#include "crypto.h"
#include "err.h"
#include "store.h"
#include "test_util.h"

#include <jansson.h>
#include <stdio.h>

static char test_dir[256];

static int store_setup(void **state)
{
	char path[300];

	test_tmpdir(test_dir);
	snprintf(path, sizeof(path), "%s/devicehub.db", test_dir);
	account_throttle_reset();
	return store_global_init(path);
}

static int store_teardown(void **state)
{
	store_global_shutdown();
	test_rmdir(test_dir);
	return 0;
}

static void test_account__pbkdf2_matches_rfc7914(void **state)
{
	static const uint8_t want[32] = {0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91,
					 0xc2, 0x25, 0x44, 0xb6, 0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde,
					 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57, 0xc2, 0x0d, 0xac, 0xbc};
	uint8_t got[32];

	assert_int_equal(account_hash_password("passwd", (const uint8_t *)"salt", 4, 1, got), 0);
	assert_memory_equal(got, want, 32);
}

static void test_account__verify_accepts_only_the_password(void **state)
{
	uint8_t hash[32];
	char hash_b64[64], salt_b64[32];

	assert_int_equal(account_hash_password("right password", (const uint8_t *)"0123456789abcdef", 16, 1000, hash),
			 0);
	assert_int_equal(crypto_base64_encode(hash, 32, hash_b64, sizeof(hash_b64)), 0);
	assert_int_equal(crypto_base64_encode("0123456789abcdef", 16, salt_b64, sizeof(salt_b64)), 0);
	assert_true(account_verify_password("right password", salt_b64, 1000, hash_b64));
	assert_false(account_verify_password("right passwore", salt_b64, 1000, hash_b64));
	assert_false(account_verify_password("", salt_b64, 1000, hash_b64));
	assert_false(account_verify_password("right password", salt_b64, 999, hash_b64));
	assert_false(account_verify_password("right password", "!!", 1000, hash_b64));
	assert_false(account_verify_password("right password", salt_b64, 1000, "c2hvcnQ="));
}

static void test_account__roles_parse_and_order(void **state)
{
	assert_int_equal(account_role_parse("viewer"), ACCOUNT_VIEWER);
	assert_int_equal(account_role_parse("operator"), ACCOUNT_OPERATOR);
	assert_int_equal(account_role_parse("admin"), ACCOUNT_ADMIN);
	assert_int_equal(account_role_parse("Admin"), ACCOUNT_NONE);
	assert_int_equal(account_role_parse(NULL), ACCOUNT_NONE);
	assert_true(ACCOUNT_VIEWER < ACCOUNT_OPERATOR && ACCOUNT_OPERATOR < ACCOUNT_ADMIN);
	assert_string_equal(account_role_name(ACCOUNT_OPERATOR), "operator");
}

static void test_account__first_admin_and_login(void **state)
{
	char generated[64], token[65], cookie[128];
	account_session s, again;
	int retry = 0;

	assert_int_equal(account_init("too-short", generated, sizeof(generated)), DH_EINVAL);
	assert_int_equal(account_init("correct horse battery", generated, sizeof(generated)), 0);
	assert_string_equal(generated, "");
	/* Only the first start makes one: a later start with another password changes nothing. */
	assert_int_equal(account_init("another password!", generated, sizeof(generated)), 0);
	assert_int_equal(account_login("admin", "another password!", "10.0.0.1", token, &s, &retry), DH_EUNAUTH);
	assert_int_equal(account_login("admin", "correct horse battery", "10.0.0.1", token, &s, &retry), 0);
	assert_string_equal(s.name, "admin");
	assert_int_equal(s.role, ACCOUNT_ADMIN);
	assert_int_equal(strlen(token), 64);
	assert_int_equal(strlen(s.csrf_token), 48);
	/* The store keeps the token's hash, not the token. */
	assert_string_not_equal(s.token_hash, token);

	snprintf(cookie, sizeof(cookie), "theme=dark; dh_session=%s; other=1", token);
	assert_int_equal(account_session_from_cookie(cookie, &again), 0);
	assert_string_equal(again.csrf_token, s.csrf_token);
	assert_true(account_csrf_ok(&again, s.csrf_token));
	assert_false(account_csrf_ok(&again, "nope"));
	assert_false(account_csrf_ok(&again, NULL));
	assert_int_equal(account_session_from_cookie("dh_session=abc", &again), DH_EUNAUTH);
	assert_int_equal(account_session_from_cookie(NULL, &again), DH_EUNAUTH);
	assert_int_equal(account_logout(&s), 0);
	assert_int_equal(account_session_from_cookie(cookie, &again), DH_EUNAUTH);
}

static void test_account__random_first_password(void **state)
{
	char generated[64], token[65];
	account_session s;
	int retry = 0;

	assert_int_equal(account_init("", generated, sizeof(generated)), 0);
	assert_true(strlen(generated) >= 12);
	assert_int_equal(account_login("admin", generated, "10.0.0.2", token, &s, &retry), 0);
}

static void test_account__wrong_name_and_password_look_alike(void **state)
{
	char generated[64], token[65], msg[256];
	account_session s;
	int retry = 0;

	assert_int_equal(account_init("correct horse battery", generated, sizeof(generated)), 0);
	assert_int_equal(account_login("admin", "wrong password", "10.0.0.3", token, &s, &retry), DH_EUNAUTH);
	snprintf(msg, sizeof(msg), "%s", err_message());
	assert_int_equal(account_login("nobody", "wrong password", "10.0.0.3", token, &s, &retry), DH_EUNAUTH);
	assert_string_equal(err_message(), msg);
}

static void test_account__last_admin_stays(void **state)
{
	char generated[64];
	json_t *out = NULL;
	int created = 0;

	assert_int_equal(account_init("correct horse battery", generated, sizeof(generated)), 0);
	assert_int_equal(account_delete("admin"), DH_ECONFLICT);
	assert_int_equal(account_put("admin", "operator", NULL, &out, &created), DH_ECONFLICT);
	assert_null(out);
	assert_int_equal(account_put("eve", "viewer", NULL, &out, &created), DH_EINVAL);
	assert_int_equal(account_put("eve", "admin", "eve's long password", &out, &created), 0);
	assert_int_equal(created, 1);
	json_decref(out);
	assert_int_equal(account_delete("admin"), 0);
	assert_int_equal(account_delete("eve"), DH_ECONFLICT);
	assert_int_equal(account_delete("admin"), DH_ENOROUTE);
}

static void test_account__throttle_by_name_and_address(void **state)
{
	const int64_t t0 = 1000000;
	int retry = 0;

	account_throttle_reset();
	for (int i = 0; i < ACCOUNT_THROTTLE_NAME; i++) {
		assert_int_equal(account_throttle_check("alice", "10.0.0.9", t0 + i, &retry), 0);
		account_throttle_fail("alice", "10.0.0.9", t0 + i);
	}
	assert_int_equal(account_throttle_check("alice", "10.0.0.8", t0 + 10, &retry), DH_ETHROTTLE);
	assert_int_equal(retry, 300);
	/* Another name from the same address is still allowed; the window ends after 5 minutes. */
	assert_int_equal(account_throttle_check("bob", "10.0.0.9", t0 + 10, &retry), 0);
	assert_int_equal(account_throttle_check("alice", "10.0.0.9", t0 + ACCOUNT_THROTTLE_WINDOW_MS, &retry), 0);

	/* A success forgets the name's failures (not the address's). */
	account_throttle_reset();
	for (int i = 0; i < ACCOUNT_THROTTLE_NAME - 1; i++)
		account_throttle_fail("carol", "10.0.0.7", t0);
	account_throttle_success("carol");
	account_throttle_fail("carol", "10.0.0.7", t0);
	assert_int_equal(account_throttle_check("carol", "10.0.0.6", t0, &retry), 0);

	/* Many names from one address: the address limit. */
	account_throttle_reset();
	for (int i = 0; i < ACCOUNT_THROTTLE_ADDRESS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "user%d", i);
		account_throttle_fail(name, "10.0.0.5", t0);
	}
	assert_int_equal(account_throttle_check("someone-new", "10.0.0.5", t0 + 60000, &retry), DH_ETHROTTLE);
	assert_int_equal(retry, 240);
	assert_int_equal(account_throttle_check("someone-new", "10.0.0.4", t0 + 60000, &retry), 0);
}

static void test_account__throttle_table_stays_bounded(void **state)
{
	int retry = 0;

	account_throttle_reset();
	account_throttle_fail("target", "10.1.0.1", 0);
	/* Far more distinct names than slots: old entries are evicted, nothing breaks. */
	for (int i = 0; i < 5000; i++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", i);
		account_throttle_fail(name, "10.1.0.2", 1 + i);
	}
	assert_int_equal(account_throttle_check("n4999", "10.1.0.3", 6000, &retry), 0);
	account_throttle_fail("n4999", "10.1.0.3", 6000);
	account_throttle_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_account__pbkdf2_matches_rfc7914),
	    cmocka_unit_test(test_account__verify_accepts_only_the_password),
	    cmocka_unit_test(test_account__roles_parse_and_order),
	    cmocka_unit_test_setup_teardown(test_account__first_admin_and_login, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_account__random_first_password, store_setup, store_teardown),
	    cmocka_unit_test_setup_teardown(test_account__wrong_name_and_password_look_alike, store_setup,
					    store_teardown),
	    cmocka_unit_test_setup_teardown(test_account__last_admin_stays, store_setup, store_teardown),
	    cmocka_unit_test(test_account__throttle_by_name_and_address),
	    cmocka_unit_test(test_account__throttle_table_stays_bounded),
	};

	crypto_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
