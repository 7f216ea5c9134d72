/* Unit tests for server/http_artifact.c: the Range header parser (RFC 9110 §14). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "http_artifact.h"

static void expect_range(const char *header, uint64_t size, int rc, uint64_t first, uint64_t last)
{
	uint64_t f = 77, l = 77;

	assert_int_equal(http_artifact__range(header, size, &f, &l), rc);
	if (rc == 1) {
		assert_int_equal(f, first);
		assert_int_equal(l, last);
	}
}

static void test_http_artifact__range_forms(void **state)
{
	expect_range("bytes=0-99", 1000, 1, 0, 99);
	expect_range("bytes=500-", 1000, 1, 500, 999);
	expect_range("bytes=500-5000", 1000, 1, 500, 999); /* clipped to the end */
	expect_range("bytes=-100", 1000, 1, 900, 999);     /* the last 100 */
	expect_range("bytes=-5000", 1000, 1, 0, 999);
	expect_range("Bytes=999-999", 1000, 1, 999, 999);
	expect_range("bytes= 1-2", 1000, 1, 1, 2);
}

static void test_http_artifact__range_unsatisfiable(void **state)
{
	expect_range("bytes=1000-", 1000, DH_ERANGE, 0, 0);
	expect_range("bytes=1000-2000", 1000, DH_ERANGE, 0, 0);
	expect_range("bytes=-0", 1000, DH_ERANGE, 0, 0);
}

/* Anything else is ignored: the whole file is sent (200). */
static void test_http_artifact__range_ignored(void **state)
{
	expect_range(NULL, 1000, 0, 0, 0);
	expect_range("", 1000, 0, 0, 0);
	expect_range("bytes=", 1000, 0, 0, 0);
	expect_range("bytes=5-1", 1000, 0, 0, 0);
	expect_range("bytes=0-1,5-6", 1000, 0, 0, 0);
	expect_range("items=0-1", 1000, 0, 0, 0);
	expect_range("bytes=a-b", 1000, 0, 0, 0);
	expect_range("bytes=1-2x", 1000, 0, 0, 0);
	expect_range("bytes=99999999999999999999-", 1000, 0, 0, 0); /* overflow */
	expect_range("bytes=-", 1000, 0, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_http_artifact__range_forms),
	    cmocka_unit_test(test_http_artifact__range_unsatisfiable),
	    cmocka_unit_test(test_http_artifact__range_ignored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
