/* Unit tests for server/sas.c: parsing, signing, verifying and scope rules of SAS tokens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "sas.h"
#include "url.h"

/* 32 bytes of key material, base64. */
static const char key[] = "q6sPBcJqexPqUHpVUH6lbxLm0HlZ1KLHhP1rQ1Q3z+8=";
static const char other_key[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

static void build(const char *sr, const char *k, const char *skn, int64_t se, buf *out)
{
	buf_init(out);
	assert_int_equal(sas_build(sr, k, skn, se, out), 0);
}

static void test_sas__roundtrip_verifies(void **state)
{
	buf t;
	sas_token tok;

	build("hub.local", key, "iothubowner", 2000000000, &t);
	assert_int_equal(sas_parse(t.data, t.len, &tok), 0);
	assert_string_equal(tok.sr, "hub.local");
	assert_string_equal(tok.skn, "iothubowner");
	assert_int_equal(tok.se, 2000000000);
	assert_int_equal(sas_verify(&tok, key, 1900000000), 0);
	buf_release(&t);
}

static void test_sas__wrong_key_is_unauthorized(void **state)
{
	buf t;
	sas_token tok;

	build("hub.local", key, "iothubowner", 2000000000, &t);
	assert_int_equal(sas_parse(t.data, t.len, &tok), 0);
	assert_int_equal(sas_verify(&tok, other_key, 1900000000), DH_EUNAUTH);
	buf_release(&t);
}

static void test_sas__expired_is_rejected(void **state)
{
	buf t;
	sas_token tok;

	build("hub.local", key, "iothubowner", 1000, &t);
	assert_int_equal(sas_parse(t.data, t.len, &tok), 0);
	assert_int_equal(sas_verify(&tok, key, 1001), DH_EEXPIRED);
	assert_int_equal(sas_verify(&tok, key, 1000), DH_EEXPIRED);
	buf_release(&t);
}

static void test_sas__tampered_expiry_breaks_signature(void **state)
{
	buf t;
	sas_token tok;

	build("hub.local", key, "iothubowner", 2000000000, &t);
	assert_int_equal(sas_parse(t.data, t.len, &tok), 0);
	tok.se = 2000000001;
	assert_int_equal(sas_verify(&tok, key, 1900000000), DH_EUNAUTH);
	buf_release(&t);
}

static void test_sas__field_order_is_free(void **state)
{
	buf t, reordered = BUF_INIT;
	sas_token tok;
	const char *sig, *amp;

	build("hub.local", key, NULL, 2000000000, &t);
	sig = strstr(t.data, "sig=");
	amp = strchr(sig, '&');
	buf_printf(&reordered, "SharedAccessSignature se=2000000000&skn=service&%.*s&sr=hub.local", (int)(amp - sig), sig);
	assert_int_equal(sas_parse(reordered.data, reordered.len, &tok), 0);
	assert_string_equal(tok.skn, "service");
	assert_int_equal(sas_verify(&tok, key, 1900000000), 0);
	buf_release(&t);
	buf_release(&reordered);
}

static void test_sas__device_resource_signed_as_sent(void **state)
{
	buf t;
	sas_token tok;

	/* Device tokens carry the encoded resource; the signature is over that text. */
	build("hub.local%2Fdevices%2Fdev1", key, NULL, 2000000000, &t);
	assert_int_equal(sas_parse(t.data, t.len, &tok), 0);
	assert_string_equal(tok.sr, "hub.local/devices/dev1");
	assert_string_equal(tok.skn, "");
	assert_int_equal(sas_verify(&tok, key, 1900000000), 0);
	buf_release(&t);
}

static void test_sas__malformed_tokens_are_refused(void **state)
{
	static const char *bad[] = {
		"",
		"Bearer abc",
		"SharedAccessSignature ",
		"SharedAccessSignature sr=hub&sig=abc",
		"SharedAccessSignature sr=hub&se=10",
		"SharedAccessSignature sr=hub&sig=abc&se=notanumber",
		"SharedAccessSignature sr=hub&sig=abc&se=-5",
		"SharedAccessSignature sr=hub&sig=%zz&se=10",
		"SharedAccessSignature srhub&sig=abc&se=10",
	};
	sas_token tok;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(sas_parse(bad[i], strlen(bad[i]), &tok), DH_EUNAUTH);
}

static void test_sas__scope_by_whole_segments(void **state)
{
	assert_true(sas_scope_covers("hub.local", "hub.local"));
	assert_true(sas_scope_covers("HUB.local", "hub.local/devices/d1"));
	assert_true(sas_scope_covers("hub.local/devices/d1", "hub.local/devices/d1"));
	assert_true(sas_scope_covers("hub.local/devices/d1/", "hub.local/devices/d1"));
	assert_false(sas_scope_covers("hub.local/devices/d", "hub.local/devices/d1"));
	assert_false(sas_scope_covers("hub.localx", "hub.local"));
	assert_false(sas_scope_covers("other", "hub.local"));
}

static void test_url__decode_and_encode(void **state)
{
	char out[64];
	buf b = BUF_INIT;

	assert_int_equal(url_decode("a%2Fb%20c+", 10, out, sizeof(out)), 6);
	assert_string_equal(out, "a/b c+");
	assert_int_equal(url_decode("bad%2", 5, out, sizeof(out)), -1);
	assert_int_equal(url_decode("bad%g0", 6, out, sizeof(out)), -1);
	assert_int_equal(url_decode("toolong", 7, out, 4), -1);
	url_encode("a/b c+=!", &b);
	assert_string_equal(buf_cstr(&b), "a%2Fb%20c%2B%3D%21");
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sas__roundtrip_verifies),
		cmocka_unit_test(test_sas__wrong_key_is_unauthorized),
		cmocka_unit_test(test_sas__expired_is_rejected),
		cmocka_unit_test(test_sas__tampered_expiry_breaks_signature),
		cmocka_unit_test(test_sas__field_order_is_free),
		cmocka_unit_test(test_sas__device_resource_signed_as_sent),
		cmocka_unit_test(test_sas__malformed_tokens_are_refused),
		cmocka_unit_test(test_sas__scope_by_whole_segments),
		cmocka_unit_test(test_url__decode_and_encode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
