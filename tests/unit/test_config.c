/* Unit tests for server/config.c: defaults, environment, flags and their bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static FILE *sink;

static int load(config *cfg, int argc, char **argv)
{
	return config_load(cfg, argc, argv, sink);
}

static void test_config__defaults(void **state)
{
	config cfg;
	char *argv[] = {"devicehubd"};

	unsetenv("DEVICEHUB_HTTP_PORT");
	assert_int_equal(load(&cfg, 1, argv), 0);
	assert_string_equal(cfg.data_dir, "./data");
	assert_int_equal(cfg.http_port, 8080);
	assert_int_equal(cfg.device_port, 8081);
	assert_string_equal(cfg.hostname, "localhost");
	assert_string_equal(cfg.owner_key, "");
	config_release(&cfg);
}

static void test_config__flag_beats_environment(void **state)
{
	config cfg;
	char *argv[] = {"devicehubd", "--http-port", "9000", "--hostname=hub.example"};
	char *env_only[] = {"devicehubd"};

	setenv("DEVICEHUB_HTTP_PORT", "7000", 1);
	assert_int_equal(load(&cfg, 1, env_only), 0);
	assert_int_equal(cfg.http_port, 7000);
	config_release(&cfg);
	assert_int_equal(load(&cfg, 4, argv), 0);
	assert_int_equal(cfg.http_port, 9000);
	assert_string_equal(cfg.hostname, "hub.example");
	config_release(&cfg);
	unsetenv("DEVICEHUB_HTTP_PORT");
}

static void test_config__index_repeats_and_splits(void **state)
{
	config cfg;
	char *argv[] = {"devicehubd", "--index", "tags.a", "--index=tags.b"};

	setenv("DEVICEHUB_INDEX", "tags.x,tags.y", 1);
	assert_int_equal(load(&cfg, 4, argv), 0);
	assert_int_equal(cfg.nindexes, 4);
	assert_string_equal(cfg.indexes[0], "tags.x");
	assert_string_equal(cfg.indexes[3], "tags.b");
	config_release(&cfg);
	unsetenv("DEVICEHUB_INDEX");
}

static void test_config__bad_values_are_refused(void **state)
{
	config cfg;
	char *port[] = {"devicehubd", "--http-port", "70000"};
	char *notnum[] = {"devicehubd", "--http-port", "80x"};
	char *unknown[] = {"devicehubd", "--no-such-thing", "1"};
	char *missing[] = {"devicehubd", "--hostname"};
	char *level[] = {"devicehubd", "--log-level", "loud"};

	assert_int_equal(load(&cfg, 3, port), -1);
	config_release(&cfg);
	assert_int_equal(load(&cfg, 3, notnum), -1);
	config_release(&cfg);
	assert_int_equal(load(&cfg, 3, unknown), -1);
	config_release(&cfg);
	assert_int_equal(load(&cfg, 2, missing), -1);
	config_release(&cfg);
	assert_int_equal(load(&cfg, 3, level), -1);
	config_release(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config__defaults),
		cmocka_unit_test(test_config__flag_beats_environment),
		cmocka_unit_test(test_config__index_repeats_and_splits),
		cmocka_unit_test(test_config__bad_values_are_refused),
	};
	int rc;

	sink = fopen("/dev/null", "w");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(sink);
	return rc;
}
