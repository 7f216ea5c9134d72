/* Unit tests for server/metrics.c: exposition format, histogram buckets, label escaping, bounded series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"

static char *render(void)
{
	buf out = BUF_INIT;

	metrics_render(&out);
	return buf_detach(&out);
}

static void assert_has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing in the exposition: %s", line);
}

static int reset(void **state)
{
	metrics_reset();
	return 0;
}

static void test_metrics__counter_has_help_type_and_labels(void **state)
{
	char *text;

	metrics_count(METRIC_HTTP_REQUESTS, 1, "GET", "/twins/{}", "200");
	metrics_count(METRIC_HTTP_REQUESTS, 2, "GET", "/twins/{}", "200");
	metrics_count(METRIC_HTTP_REQUESTS, 1, "GET", "/twins/{}", "404");
	text = render();
	assert_has(text, "# HELP devicehub_http_requests_total ");
	assert_has(text, "# TYPE devicehub_http_requests_total counter\n");
	assert_has(text, "devicehub_http_requests_total{method=\"GET\",route=\"/twins/{}\",code=\"200\"} 3\n");
	assert_has(text, "devicehub_http_requests_total{method=\"GET\",route=\"/twins/{}\",code=\"404\"} 1\n");
	free(text);
}

static void test_metrics__unlabelled_metrics_start_at_zero(void **state)
{
	char *text = render();

	assert_has(text, "# TYPE devicehub_store_busy_errors_total counter\ndevicehub_store_busy_errors_total 0\n");
	assert_has(text, "# TYPE devicehub_devices_connected gauge\ndevicehub_devices_connected 0\n");
	free(text);
	metrics_count(METRIC_STORE_BUSY, 4);
	metrics_gauge_set(METRIC_DEVICES_CONNECTED, 12);
	text = render();
	assert_has(text, "\ndevicehub_store_busy_errors_total 4\n");
	assert_has(text, "\ndevicehub_devices_connected 12\n");
	free(text);
}

static void test_metrics__histogram_buckets_are_cumulative(void **state)
{
	char *text;

	metrics_observe(METRIC_HTTP_DURATION, 0.0001, "GET", "/devices");  /* first bucket */
	metrics_observe(METRIC_HTTP_DURATION, 0.0005, "GET", "/devices");  /* le is inclusive */
	metrics_observe(METRIC_HTTP_DURATION, 0.3, "GET", "/devices");
	metrics_observe(METRIC_HTTP_DURATION, 42, "GET", "/devices");      /* above every bound */
	text = render();
	assert_has(text, "# TYPE devicehub_http_request_duration_seconds histogram\n");
	assert_has(text, "devicehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/devices\",le=\"0.0005\"} 2\n");
	assert_has(text, "devicehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/devices\",le=\"0.25\"} 2\n");
	assert_has(text, "devicehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/devices\",le=\"0.5\"} 3\n");
	assert_has(text, "devicehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/devices\",le=\"10\"} 3\n");
	assert_has(text, "devicehub_http_request_duration_seconds_bucket{method=\"GET\",route=\"/devices\",le=\"+Inf\"} 4\n");
	assert_has(text, "devicehub_http_request_duration_seconds_count{method=\"GET\",route=\"/devices\"} 4\n");
	assert_has(text, "devicehub_http_request_duration_seconds_sum{method=\"GET\",route=\"/devices\"} 42.3006\n");
	free(text);
}

static void test_metrics__label_values_are_escaped(void **state)
{
	char *text;

	metrics_count(METRIC_DEVICE_RECEIVED, 1, "a\"b\\c\nd");
	text = render();
	assert_has(text, "devicehub_device_messages_received_total{type=\"a\\\"b\\\\c\\nd\"} 1\n");
	free(text);
}

static void test_metrics__gauge_zero_keeps_series(void **state)
{
	char *text;

	metrics_gauge_set(METRIC_JOBS, 3, "rollout", "running");
	metrics_gauge_zero(METRIC_JOBS);
	metrics_gauge_set(METRIC_JOBS, -1, "job", "failed");
	text = render();
	assert_has(text, "devicehub_jobs{kind=\"rollout\",status=\"running\"} 0\n");
	assert_has(text, "devicehub_jobs{kind=\"job\",status=\"failed\"} -1\n");
	free(text);
}

static void test_metrics__full_metric_drops_new_series(void **state)
{
	char label[16], *text;

	/* devicehub_method_calls_total has 8 slots: the ninth distinct value is dropped and counted. */
	for (int i = 0; i < 9; i++) {
		snprintf(label, sizeof(label), "o%d", i);
		metrics_count(METRIC_METHOD_CALLS, 1, label);
	}
	metrics_count(METRIC_METHOD_CALLS, 1, "o0");
	text = render();
	assert_has(text, "devicehub_method_calls_total{outcome=\"o0\"} 2\n");
	assert_has(text, "\ndevicehub_metrics_dropped_series_total 1\n");
	assert_null(strstr(text, "outcome=\"o8\""));
	free(text);
}

static void test_metrics__every_line_is_a_comment_or_a_sample(void **state)
{
	char *text, *save = NULL;

	metrics_count(METRIC_HTTP_REQUESTS, 1, "PUT", "/devices/{}", "200");
	metrics_observe(METRIC_STORE_TX_DURATION, 0.002, "write");
	text = render();
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		double v;
		if (line[0] == '#') {
			assert_true(strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0);
			continue;
		}
		assert_int_equal(sscanf(line, "%127[a-z_]", name), 1);
		assert_true(strncmp(name, "devicehub_", 10) == 0);
		assert_int_equal(sscanf(strrchr(line, ' ') + 1, "%lf", &v), 1);
	}
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_metrics__counter_has_help_type_and_labels, reset),
		cmocka_unit_test_setup(test_metrics__unlabelled_metrics_start_at_zero, reset),
		cmocka_unit_test_setup(test_metrics__histogram_buckets_are_cumulative, reset),
		cmocka_unit_test_setup(test_metrics__label_values_are_escaped, reset),
		cmocka_unit_test_setup(test_metrics__gauge_zero_keeps_series, reset),
		cmocka_unit_test_setup(test_metrics__full_metric_drops_new_series, reset),
		cmocka_unit_test_setup(test_metrics__every_line_is_a_comment_or_a_sample, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
