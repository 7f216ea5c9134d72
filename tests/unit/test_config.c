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
#include "test_util.h"

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

/* Writes text to DIR/devicehubd.conf; path gets the file's name. */
static void write_conf(const char *dir, const char *text, char path[300])
{
	FILE *f;

	snprintf(path, 300, "%s/devicehubd.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Loads with errors captured; returns config_load's result and the message in msg[512]. */
static int load_capturing(config *cfg, int argc, char **argv, char msg[512])
{
	FILE *err = tmpfile();
	size_t n;
	int rc = config_load(cfg, argc, argv, err);

	rewind(err);
	n = fread(msg, 1, 511, err);
	msg[n] = '\0';
	fclose(err);
	return rc;
}

static void test_config__file_then_environment_then_flags(void **state)
{
	char dir[256], path[300];
	config cfg;

	test_tmpdir(dir);
	write_conf(dir,
		   "# devicehubd settings\n\n  http-port = 8443\nhostname=hub.example  \n"
		   "log-format = \"json\"\nindex = tags.a\nindex = tags.b\n   # indented comment\n",
		   path);
	char *with_file[] = {"devicehubd", "--config", path};
	char *with_flag[] = {"devicehubd", "--config", path, "--http-port=9443"};
	unsetenv("DEVICEHUB_HTTP_PORT");
	assert_int_equal(load(&cfg, 3, with_file), 0);
	assert_int_equal(cfg.http_port, 8443);
	assert_string_equal(cfg.hostname, "hub.example");
	assert_string_equal(cfg.log_format, "json");
	assert_int_equal(cfg.nindexes, 2);
	config_release(&cfg);

	setenv("DEVICEHUB_HTTP_PORT", "7443", 1);
	assert_int_equal(load(&cfg, 3, with_file), 0);
	assert_int_equal(cfg.http_port, 7443);
	assert_string_equal(cfg.hostname, "hub.example");
	config_release(&cfg);
	assert_int_equal(load(&cfg, 4, with_flag), 0);
	assert_int_equal(cfg.http_port, 9443);
	config_release(&cfg);
	unsetenv("DEVICEHUB_HTTP_PORT");
	test_rmdir(dir);
}

static void test_config__file_named_by_environment(void **state)
{
	char dir[256], path[300];
	char *argv[] = {"devicehubd"};
	config cfg;

	test_tmpdir(dir);
	write_conf(dir, "metrics-public = 1\n", path);
	setenv("DEVICEHUB_CONFIG", path, 1);
	assert_int_equal(load(&cfg, 1, argv), 0);
	assert_int_equal(cfg.metrics_public, 1);
	config_release(&cfg);
	unsetenv("DEVICEHUB_CONFIG");
	test_rmdir(dir);
}

static void test_config__file_errors_name_file_and_line(void **state)
{
	static const struct {
		const char *text, *message;
	} cases[] = {
		{"http-port = 8080\nhttp-port = 99999\n", ".conf:2 must be a whole number"},
		{"# ok\nno equals sign here\n", ":2: expected `name = value`"},
		{"\n\nno-such-setting = 1\n", ":3: unknown setting 'no-such-setting'"},
		{"config = /etc/other.conf\n", ":1: a configuration file cannot name another"},
		{"log-format = xml\n", "log-format must be text or json"},
	};
	char dir[256], path[300], msg[512];
	config cfg;

	test_tmpdir(dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		write_conf(dir, cases[i].text, path);
		char *argv[] = {"devicehubd", "--config", path};
		assert_int_equal(load_capturing(&cfg, 3, argv, msg), -1);
		config_release(&cfg);
		if (!strstr(msg, cases[i].message))
			fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].message);
		if (i < 4 && !strstr(msg, path))
			fail_msg("case %zu: '%s' does not name the file", i, msg);
	}
	char *missing[] = {"devicehubd", "--config", "/nonexistent/devicehubd.conf"};
	assert_int_equal(load_capturing(&cfg, 3, missing, msg), -1);
	assert_non_null(strstr(msg, "/nonexistent/devicehubd.conf"));
	config_release(&cfg);
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config__defaults),
		cmocka_unit_test(test_config__flag_beats_environment),
		cmocka_unit_test(test_config__index_repeats_and_splits),
		cmocka_unit_test(test_config__bad_values_are_refused),
		cmocka_unit_test(test_config__file_then_environment_then_flags),
		cmocka_unit_test(test_config__file_named_by_environment),
		cmocka_unit_test(test_config__file_errors_name_file_and_line),
	};
	int rc;

	sink = fopen("/dev/null", "w");
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	fclose(sink);
	return rc;
}
