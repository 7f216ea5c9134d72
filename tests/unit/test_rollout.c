/*
 * Unit tests for server/rollout.c: policy parsing and validation, the effective policy, phase sizes,
 * pacing with an injected now, retries, the abort threshold, phase gates, and maintenance windows in
 * device time zones across DST changes. Expected instants were computed independently (Python zoneinfo).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "rollout.h"

#define DAY 86400000LL

/* Parses text as a policy; asserts success. */
static rollout_policy *policy(const char *text)
{
	json_t *doc = NULL;
	rollout_policy *p = NULL;

	assert_int_equal(json_util_parse(text, strlen(text), JSON_UTIL_MAX_DEPTH, &doc), 0);
	assert_int_equal(rollout_policy_parse(doc, &p), 0);
	assert_non_null(p);
	json_decref(doc);
	return p;
}

/* Asserts text is refused with DH_EINVAL and a message containing what. */
static void refused(const char *text, const char *what)
{
	json_t *doc = NULL;
	rollout_policy *p = (rollout_policy *)1;

	assert_int_equal(json_util_parse(text, strlen(text), JSON_UTIL_MAX_DEPTH, &doc), 0);
	err_clear();
	assert_int_equal(rollout_policy_parse(doc, &p), DH_EINVAL);
	assert_null(p);
	if (!strstr(err_message(), what))
		fail_msg("policy %s: message \"%s\" does not mention \"%s\"", text, err_message(), what);
	json_decref(doc);
}

static void test_rollout__absent_policy_is_one_unpaced_phase(void **state)
{
	static const char *const texts[] = {NULL, "{}", "null"};
	rollout_counts done = {10, 1, 9, 0};

	for (int i = 0; i < 3; i++) {
		rollout_policy *p = NULL;
		rollout_pacer pacer = {0};
		int64_t next = 0;
		if (i == 1) {
			p = policy(texts[i]);
		} else {
			json_t *v = i == 2 ? json_null() : NULL; /* json_util_parse wants an object or array */
			assert_int_equal(rollout_policy_parse(v, &p), 0);
		}
		assert_int_equal(rollout_phase_count(p), 1);
		assert_null(rollout_phase_condition(p, 0));
		assert_int_equal(rollout_phase_cumulative(p, 0, 50), 50);
		assert_true(rollout_allowance(p, &pacer, 1000, 1000) >= 1000000);
		assert_int_equal(rollout_jitter_ms(p), 0);
		assert_int_equal(rollout_device_timeout_s(p), 300);
		assert_true(rollout_may_retry(p, 0));
		assert_false(rollout_may_retry(p, 1));
		assert_false(rollout_should_abort(p, &done));
		assert_int_equal(rollout_phase_gate(p, 0, &done), ROLLOUT_GATE_ADVANCE);
		assert_null(rollout_health_condition(p));
		assert_int_equal(rollout_health_timeout_s(p), 0);
		assert_null(rollout_context_condition(p));
		assert_null(rollout_timezone_path(p));
		assert_false(rollout_dynamic_targets(p));
		assert_true(rollout_in_window(p, "Europe/Berlin", 1704673800000, &next));
		rollout_policy_free(p);
	}
	rollout_policy_free(NULL);
}

static void test_rollout__percent_phases_are_cumulative_and_round_up(void **state)
{
	rollout_policy *p =
	    policy("{\"phases\":[{\"percent\":1},{\"percent\":10},{\"percent\":50},{\"percent\":100}]}");
	rollout_policy *q = policy("{\"phases\":[{\"percent\":0.5},{\"percent\":12.25},{\"percent\":100}]}");

	assert_int_equal(rollout_phase_count(p), 4);
	assert_int_equal(rollout_phase_cumulative(p, 0, 50), 1); /* 1% of 50 is half a device: one */
	assert_int_equal(rollout_phase_cumulative(p, 1, 50), 5);
	assert_int_equal(rollout_phase_cumulative(p, 2, 50), 25);
	assert_int_equal(rollout_phase_cumulative(p, 3, 50), 50);
	assert_int_equal(rollout_phase_cumulative(p, 0, 1), 1);
	assert_int_equal(rollout_phase_cumulative(p, 2, 1), 1);
	assert_int_equal(rollout_phase_cumulative(p, 0, 0), 0);
	assert_int_equal(rollout_phase_cumulative(p, 0, -3), 0);
	assert_int_equal(rollout_phase_cumulative(p, 0, 100), 1);
	assert_int_equal(rollout_phase_cumulative(p, 0, 101), 2);
	assert_int_equal(rollout_phase_cumulative(p, 1, 1001), 101);
	assert_int_equal(rollout_phase_cumulative(p, -1, 50), 0);
	assert_int_equal(rollout_phase_cumulative(p, 9, 50), 50);
	assert_int_equal(rollout_phase_cumulative(p, 2, INT64_MAX), INT64_MAX / 2 + 1);
	assert_int_equal(rollout_phase_cumulative(p, 3, INT64_MAX), INT64_MAX);
	assert_int_equal(rollout_phase_cumulative(q, 0, 1000), 5);
	assert_int_equal(rollout_phase_cumulative(q, 0, 1001), 6);
	assert_int_equal(rollout_phase_cumulative(q, 1, 400), 49);
	assert_int_equal(rollout_phase_cumulative(q, 1, 401), 50);
	assert_int_equal(rollout_phase_cumulative(q, 2, 401), 401);
	assert_null(rollout_phase_condition(p, 0));
	rollout_policy_free(p);
	rollout_policy_free(q);
}

static void test_rollout__condition_phases_keep_their_queries(void **state)
{
	rollout_policy *p =
	    policy("{\"phases\":[{\"condition\":\"tags.ring = 'canary'\",\"name\":\"canary\"},"
		   "{\"condition\":\"tags.ring = 'early'\"},{\"condition\":\"NOT is_defined(tags.ring)\"}]}");

	assert_int_equal(rollout_phase_count(p), 3);
	assert_string_equal(rollout_phase_condition(p, 0), "tags.ring = 'canary'");
	assert_string_equal(rollout_phase_condition(p, 2), "NOT is_defined(tags.ring)");
	assert_null(rollout_phase_condition(p, 3));
	assert_null(rollout_phase_condition(p, -1));
	assert_int_equal(rollout_phase_cumulative(p, 0, 40), 40);
	rollout_policy_free(p);
}

static void test_rollout__phases_are_validated(void **state)
{
	refused("{\"phases\":[]}", "'phases'");
	refused("{\"phases\":{}}", "'phases'");
	refused("{\"phases\":[{\"percent\":50},{\"percent\":10},{\"percent\":100}]}", "phases[1].percent");
	refused("{\"phases\":[{\"percent\":10},{\"percent\":10},{\"percent\":100}]}", "phases[1].percent");
	refused("{\"phases\":[{\"percent\":10},{\"percent\":50}]}", "phases[1].percent' must be 100");
	refused("{\"phases\":[{\"percent\":0},{\"percent\":100}]}", "phases[0].percent");
	refused("{\"phases\":[{\"percent\":101}]}", "phases[0].percent");
	refused("{\"phases\":[{\"percent\":\"10\"},{\"percent\":100}]}", "phases[0].percent");
	refused("{\"phases\":[{\"percent\":0.125},{\"percent\":100}]}", "two decimals");
	refused("{\"phases\":[{\"percent\":10},{\"condition\":\"tags.a = 1\"}]}", "mixes");
	refused("{\"phases\":[{\"percent\":100,\"condition\":\"tags.a = 1\"}]}", "phases[0]' needs exactly one");
	refused("{\"phases\":[{\"name\":\"x\"}]}", "phases[0]' needs exactly one");
	refused("{\"phases\":[{\"condition\":\"tags.a = \"}]}", "phases[0].condition' is not a valid condition");
	refused("{\"phases\":[{\"condition\":\"\"}]}", "phases[0].condition");
	refused("{\"phases\":[1]}", "phases[0]");
	refused(
	    "{\"phases\":[{\"percent\":1},{\"percent\":2},{\"percent\":3},{\"percent\":4},{\"percent\":5},"
	    "{\"percent\":6},{\"percent\":7},{\"percent\":8},{\"percent\":9},{\"percent\":10},{\"percent\":11},"
	    "{\"percent\":12},{\"percent\":13},{\"percent\":14},{\"percent\":15},{\"percent\":16},{\"percent\":100}]}",
	    "1 to 16 phases");
}

static void test_rollout__unknown_members_are_named(void **state)
{
	refused("{\"phase\":[]}", "unknown member 'phase'");
	refused("{\"rate\":{\"perMinute\":3}}", "unknown member 'rate.perMinute'");
	refused("{\"rate\":{\"exponential\":{\"basePerSecond\":1,\"factor\":2,\"everySeconds\":5,\"x\":1}}}",
		"unknown member 'rate.exponential.x'");
	refused("{\"abort\":{\"failurePercent\":5,\"minNumberOfExecutedThings\":3}}",
		"unknown member 'abort.minNumberOfExecutedThings'");
	refused("{\"phases\":[{\"percent\":100,\"weight\":1}]}", "unknown member 'phases[0].weight'");
	refused("{\"phases\":[{\"percent\":100,\"successGate\":{\"auto\":true}}]}",
		"unknown member 'phases[0].successGate.auto'");
	refused("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"02:00\",\"zone\":\"UTC\"}]}",
		"unknown member 'maintenanceWindows[0].zone'");
	refused("{\"retries\":{\"count\":1,\"criteria\":[]}}", "unknown member 'retries.criteria'");
	refused("{\"health\":{\"condition\":\"tags.a = 1\",\"x\":1}}", "unknown member 'health.x'");
	refused("{\"context\":{\"condition\":\"tags.a = 1\",\"x\":1}}", "unknown member 'context.x'");
	refused("[]", "must be an object");
}

static void test_rollout__numbers_are_bounded_and_typed(void **state)
{
	refused("{\"maxConcurrency\":0}", "'maxConcurrency' must be an integer from 1");
	refused("{\"maxConcurrency\":1.5}", "'maxConcurrency'");
	refused("{\"maxConcurrency\":\"10\"}", "'maxConcurrency'");
	refused("{\"jitterMs\":-1}", "'jitterMs'");
	refused("{\"jitterMs\":3600001}", "'jitterMs'");
	refused("{\"deviceTimeoutSeconds\":0}", "'deviceTimeoutSeconds'");
	refused("{\"deviceTimeoutSeconds\":604801}", "'deviceTimeoutSeconds'");
	refused("{\"retries\":{\"count\":11}}", "'retries.count'");
	refused("{\"retries\":{\"delaySeconds\":-1}}", "'retries.delaySeconds'");
	refused("{\"retries\":{\"backoffFactor\":0.5}}", "'retries.backoffFactor'");
	refused("{\"retries\":3}", "'retries' must be an object");
	refused("{\"rate\":{\"perSecond\":0}}", "'rate.perSecond'");
	refused("{\"rate\":{\"perSecond\":100001}}", "'rate.perSecond'");
	refused("{\"rate\":{}}", "'rate' needs exactly one");
	refused("{\"rate\":{\"perSecond\":1,\"exponential\":{\"basePerSecond\":1,\"factor\":2,\"everySeconds\":1}}}",
		"'rate' needs exactly one");
	refused("{\"rate\":{\"exponential\":{\"basePerSecond\":1,\"factor\":1,\"everySeconds\":1}}}",
		"'rate.exponential.factor'");
	refused("{\"rate\":{\"exponential\":{\"basePerSecond\":1,\"factor\":2,\"everySeconds\":0}}}",
		"'rate.exponential.everySeconds'");
	refused("{\"rate\":{\"exponential\":{\"basePerSecond\":1,\"factor\":2,\"everySeconds\":1.5}}}",
		"'rate.exponential.everySeconds'");
	refused("{\"rate\":{\"exponential\":{\"factor\":2,\"everySeconds\":1}}}", "needs basePerSecond");
	refused(
	    "{\"rate\":{\"exponential\":{\"basePerSecond\":10,\"factor\":2,\"everySeconds\":1,\"maxPerSecond\":5}}}",
	    "'rate.exponential.maxPerSecond' must be at least");
	refused("{\"successGate\":{\"minSuccessPercent\":100.5}}", "'successGate.minSuccessPercent'");
	refused("{\"successGate\":{\"approval\":\"maybe\"}}", "'successGate.approval'");
	refused("{\"abort\":{\"failurePercent\":0}}", "'abort.failurePercent'");
	refused("{\"abort\":{\"minDevices\":5}}", "needs failurePercent or failureCount");
	refused("{\"abort\":{\"failureCount\":0}}", "'abort.failureCount'");
	refused("{\"health\":{\"timeoutSeconds\":60}}", "'health.condition' is required");
	refused("{\"health\":{\"condition\":\"tags.a = 1\",\"timeoutSeconds\":0}}", "'health.timeoutSeconds'");
	refused("{\"health\":{\"condition\":\"tags.a = 1\",\"timeoutSeconds\":600},\"deviceTimeoutSeconds\":300}",
		"'deviceTimeoutSeconds' must be at least health.timeoutSeconds");
	refused("{\"context\":{}}", "'context.condition' is required");
	refused("{\"context\":{\"condition\":\"SELECT * FROM devices\"}}", "'context.condition' is not a valid");
	refused("{\"dynamicTargets\":1}", "'dynamicTargets'");
	refused("{\"timezonePath\":\"timezone\"}", "'timezonePath'");
	refused("{\"timezonePath\":\"tags..tz\"}", "'timezonePath'");
	refused("{\"timezonePath\":\"tags.\"}", "'timezonePath'");
	refused("{\"timezonePath\":\"tags.tz'\"}", "'timezonePath'");
}

static void test_rollout__windows_are_validated(void **state)
{
	char many[2600] = "{\"maintenanceWindows\":[";

	refused("{\"maintenanceWindows\":{}}", "'maintenanceWindows'");
	refused("{\"maintenanceWindows\":[{\"end\":\"02:00\"}]}", "'maintenanceWindows[0].start'");
	refused("{\"maintenanceWindows\":[{\"start\":\"24:00\",\"end\":\"02:00\"}]}", "'maintenanceWindows[0].start'");
	refused("{\"maintenanceWindows\":[{\"start\":\"1:00\",\"end\":\"02:00\"}]}", "'maintenanceWindows[0].start'");
	refused("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"02:60\"}]}", "'maintenanceWindows[0].end'");
	refused("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"24:01\"}]}", "'maintenanceWindows[0].end'");
	refused("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"01:00\"}]}", "same time");
	refused("{\"maintenanceWindows\":[{\"days\":[],\"start\":\"01:00\",\"end\":\"02:00\"}]}", "omit it");
	refused("{\"maintenanceWindows\":[{\"days\":[\"Monday\"],\"start\":\"01:00\",\"end\":\"02:00\"}]}",
		"'maintenanceWindows[0].days[0]'");
	refused("{\"maintenanceWindows\":[{\"days\":[\"mon\",\"mon\"],\"start\":\"01:00\",\"end\":\"02:00\"}]}",
		"'maintenanceWindows[0].days[1]'");
	for (int i = 0; i < 33; i++)
		strcat(many,
		       i ? ",{\"start\":\"01:00\",\"end\":\"02:00\"}" : "{\"start\":\"01:00\",\"end\":\"02:00\"}");
	strcat(many, "]}");
	refused(many, "at most 32 windows");
}

static void test_rollout__effective_policy_roundtrips(void **state)
{
	rollout_policy *p =
	    policy("{\"phases\":[{\"percent\":1,\"name\":\"canary\",\"successGate\":{\"approval\":\"manual\"}},"
		   "{\"percent\":12.5},{\"percent\":100}],"
		   "\"rate\":{\"exponential\":{\"basePerSecond\":5,\"factor\":2,\"everySeconds\":30}},"
		   "\"maxConcurrency\":100,\"jitterMs\":250,\"retries\":{\"count\":2},"
		   "\"successGate\":{\"minSuccessPercent\":95},\"abort\":{\"failurePercent\":20,\"minDevices\":10},"
		   "\"health\":{\"condition\":\"properties.reported.fw = '2.0.0'\"},"
		   "\"context\":{\"condition\":\"properties.reported.power = 'mains'\"},"
		   "\"maintenanceWindows\":[{\"days\":[\"sun\",\"mon\"],\"start\":\"22:00\",\"end\":\"02:00\"}],"
		   "\"timezonePath\":\"tags.timezone\",\"dynamicTargets\":true}");
	json_t *shown = rollout_policy_json(p), *again;
	rollout_policy *p2 = NULL;
	char *text;

	assert_int_equal(rollout_policy_parse(shown, &p2), 0);
	again = rollout_policy_json(p2);
	assert_true(json_equal(shown, again));
	/* Defaults are shown filled in. */
	assert_int_equal(json_integer_value(json_object_get(shown, "deviceTimeoutSeconds")), 900);
	assert_int_equal(json_number_value(json_object_get(json_object_get(shown, "retries"), "delaySeconds")), 30);
	assert_string_equal(json_util_str(json_array_get(json_object_get(shown, "phases"), 0), "name"), "canary");
	text = json_util_dump(json_object_get(shown, "maintenanceWindows"));
	assert_string_equal(text, "[{\"days\":[\"mon\",\"sun\"],\"start\":\"22:00\",\"end\":\"02:00\"}]");
	free(text);
	text = json_util_dump(json_object_get(shown, "abort"));
	assert_string_equal(text, "{\"failurePercent\":20,\"failureCount\":null,\"minDevices\":10}");
	free(text);
	assert_float_equal(
	    json_number_value(json_object_get(json_array_get(json_object_get(shown, "phases"), 1), "percent")), 12.5,
	    0);
	assert_float_equal(json_number_value(json_object_get(
			       json_object_get(json_object_get(shown, "rate"), "exponential"), "maxPerSecond")),
			   100000, 0);
	json_decref(again);
	json_decref(shown);
	rollout_policy_free(p2);
	rollout_policy_free(p);
}

static void test_rollout__constant_rate_is_a_token_bucket(void **state)
{
	rollout_policy *p = policy("{\"rate\":{\"perSecond\":2}}");
	rollout_pacer pacer = {0};
	int64_t t0 = 1700000000000;

	assert_int_equal(rollout_allowance(p, &pacer, 0, t0), 2); /* a second's worth to start */
	assert_int_equal(pacer.started_ms, t0);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0), 0);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 250), 0);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 500), 1);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 1000), 1);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 60000), 2); /* idle time does not pile up */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 30000), 0); /* clock went back: nothing earned */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 30500), 1);
	assert_int_equal(rollout_allowance(p, &pacer, 0, 0), 0);
	rollout_policy_free(p);
}

static void test_rollout__slow_rate_still_starts(void **state)
{
	rollout_policy *p = policy("{\"rate\":{\"perSecond\":0.5}}");
	rollout_pacer pacer = {0};
	int64_t t0 = 1700000000000;

	assert_int_equal(rollout_allowance(p, &pacer, 0, t0), 1);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 1000), 0);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 2000), 1);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 3999), 0);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 4000), 1);
	assert_true(pacer.tokens >= 0);
	rollout_policy_free(p);
}

static void test_rollout__exponential_rate_grows_to_its_cap(void **state)
{
	rollout_policy *p = policy("{\"rate\":{\"exponential\":{\"basePerSecond\":5,\"factor\":2,\"everySeconds\":30,"
				   "\"maxPerSecond\":50}}}");
	rollout_pacer pacer = {0};
	int64_t t0 = 1700000000000;

	assert_int_equal(rollout_allowance(p, &pacer, 0, t0), 5);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 29500), 5); /* still 5/s, bucket of 5 */
	/* 29.5 s .. 30.5 s: half a second at 5/s, half at 10/s = 7.5 tokens. */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 30500), 7);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 59000), 10); /* 10/s, bucket of 10 */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 60000), 10); /* 20/s now: 1 s at 10 = 10 */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 61000), 20);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 91000), 40);
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 121000), 50); /* 80/s capped at 50 */
	assert_int_equal(rollout_allowance(p, &pacer, 0, t0 + 86400000LL * 365), 50);
	rollout_policy_free(p);
}

static void test_rollout__exponential_rate_counts_from_the_start(void **state)
{
	rollout_policy *p =
	    policy("{\"rate\":{\"exponential\":{\"basePerSecond\":1,\"factor\":3,\"everySeconds\":10}}}");
	int64_t t0 = 1700000000000;
	/* The engine may restore a rollout begun earlier: growth counts from started_ms. */
	rollout_pacer pacer = {0, 0, t0 - 20000};

	assert_int_equal(rollout_allowance(p, &pacer, 0, t0), 9);
	rollout_policy_free(p);
}

static void test_rollout__concurrency_caps_the_allowance(void **state)
{
	rollout_policy *unpaced = policy("{\"maxConcurrency\":10}");
	rollout_policy *paced = policy("{\"maxConcurrency\":10,\"rate\":{\"perSecond\":100}}");
	rollout_pacer a = {0}, b = {0};
	int64_t t0 = 1700000000000;

	assert_int_equal(rollout_allowance(unpaced, &a, 3, t0), 7);
	assert_int_equal(rollout_allowance(unpaced, &a, 10, t0), 0);
	assert_int_equal(rollout_allowance(unpaced, &a, 12, t0), 0);
	assert_int_equal(rollout_allowance(unpaced, &a, -1, t0), 10);
	assert_int_equal(rollout_allowance(paced, &b, 0, t0), 10);
	assert_int_equal(rollout_allowance(paced, &b, 0, t0), 10); /* tokens not granted stay in the bucket */
	assert_int_equal(rollout_allowance(paced, &b, 4, t0), 6);
	for (int i = 0; i < 7; i++)
		assert_int_equal(rollout_allowance(paced, &b, 0, t0), 10);
	assert_int_equal(rollout_allowance(paced, &b, 0, t0), 4); /* 100 granted in this second */
	assert_int_equal(rollout_allowance(paced, &b, 0, t0), 0);
	rollout_policy_free(unpaced);
	rollout_policy_free(paced);
}

static void test_rollout__jitter_stays_in_range(void **state)
{
	rollout_policy *none = policy("{\"jitterMs\":0}");
	rollout_policy *p = policy("{\"jitterMs\":5}");
	int seen[6] = {0};

	assert_int_equal(rollout_jitter_ms(none), 0);
	for (int i = 0; i < 600; i++) {
		int64_t j = rollout_jitter_ms(p);
		assert_in_range(j, 0, 5);
		seen[j]++;
	}
	for (int i = 0; i < 6; i++)
		assert_true(seen[i] > 0);
	rollout_policy_free(none);
	rollout_policy_free(p);
}

static void test_rollout__retries_count_and_back_off(void **state)
{
	rollout_policy *p = policy("{\"retries\":{\"count\":2,\"delaySeconds\":30,\"backoffFactor\":2}}");
	rollout_policy *flat = policy("{\"retries\":{\"count\":1}}");

	assert_true(rollout_may_retry(p, 1));
	assert_true(rollout_may_retry(p, 2));
	assert_false(rollout_may_retry(p, 3));
	assert_int_equal(rollout_retry_delay_ms(p, 1), 30000);
	assert_int_equal(rollout_retry_delay_ms(p, 2), 60000);
	assert_int_equal(rollout_retry_delay_ms(p, 3), 120000);
	assert_int_equal(rollout_retry_delay_ms(p, 1000), 86400000); /* capped at a day */
	assert_int_equal(rollout_retry_delay_ms(p, 0), 30000);
	assert_true(rollout_may_retry(flat, 1));
	assert_false(rollout_may_retry(flat, 2));
	assert_int_equal(rollout_retry_delay_ms(flat, 1), 30000);
	assert_int_equal(rollout_retry_delay_ms(flat, 5), 30000);
	rollout_policy_free(p);
	rollout_policy_free(flat);
}

static void test_rollout__abort_waits_for_min_devices(void **state)
{
	rollout_policy *pct = policy("{\"abort\":{\"failurePercent\":20,\"minDevices\":10}}");
	rollout_policy *cnt = policy("{\"abort\":{\"failureCount\":3}}");
	rollout_policy *both = policy("{\"abort\":{\"failurePercent\":50,\"failureCount\":5,\"minDevices\":4}}");
	rollout_counts early = {100, 1, 4, 10}, at_min = {100, 8, 2, 10}, below = {100, 9, 2, 0};
	rollout_counts two = {100, 0, 2, 0}, three = {100, 50, 3, 0}, huge = {INT64_MAX, INT64_MAX, INT64_MAX, 0};

	assert_false(rollout_should_abort(pct, &early)); /* 80% failed, but only 5 finished */
	assert_true(rollout_should_abort(pct, &at_min)); /* 20% of 10 */
	assert_false(rollout_should_abort(pct, &below)); /* 18% */
	assert_true(rollout_should_abort(pct, &huge));
	assert_false(rollout_should_abort(cnt, &two));
	assert_true(rollout_should_abort(cnt, &three));
	assert_false(rollout_should_abort(both, &two));   /* 2 finished < minDevices */
	assert_false(rollout_should_abort(both, &three)); /* 3 of 53: neither */
	assert_true(rollout_should_abort(both, &early));  /* 4 of 5 = 80% */
	rollout_policy_free(pct);
	rollout_policy_free(cnt);
	rollout_policy_free(both);
}

static void test_rollout__gate_outcomes(void **state)
{
	rollout_policy *p = policy("{\"phases\":[{\"percent\":10,\"successGate\":{\"approval\":\"manual\"}},"
				   "{\"percent\":50},{\"percent\":100}],\"successGate\":{\"minSuccessPercent\":95}}");
	rollout_policy *manual = policy("{\"phases\":[{\"percent\":50},{\"percent\":100}],"
					"\"successGate\":{\"approval\":\"manual\",\"minSuccessPercent\":99.5}}");
	rollout_counts running = {20, 10, 0, 10}, unstarted = {20, 10, 0, 0}, good = {20, 19, 1, 0};
	rollout_counts bad = {20, 18, 2, 0}, empty = {0, 0, 0, 0};
	rollout_counts c995 = {1000, 995, 5, 0}, c994 = {1000, 994, 6, 0};

	assert_int_equal(rollout_phase_gate(p, 1, &running), ROLLOUT_GATE_WAIT);
	assert_int_equal(rollout_phase_gate(p, 1, &unstarted), ROLLOUT_GATE_WAIT);
	assert_int_equal(rollout_phase_gate(p, 1, &good), ROLLOUT_GATE_ADVANCE); /* exactly 95% */
	assert_int_equal(rollout_phase_gate(p, 1, &bad), ROLLOUT_GATE_FAIL);
	assert_int_equal(rollout_phase_gate(p, 0, &good), ROLLOUT_GATE_APPROVAL); /* phase override */
	assert_int_equal(rollout_phase_gate(p, 0, &bad), ROLLOUT_GATE_FAIL);      /* inherits 95% */
	assert_int_equal(rollout_phase_gate(p, 2, &good), ROLLOUT_GATE_ADVANCE);
	assert_int_equal(rollout_phase_gate(p, 1, &empty), ROLLOUT_GATE_ADVANCE);
	assert_int_equal(rollout_phase_gate(manual, 0, &c995), ROLLOUT_GATE_APPROVAL);
	assert_int_equal(rollout_phase_gate(manual, 0, &c994), ROLLOUT_GATE_FAIL);
	assert_int_equal(rollout_phase_gate(manual, 1, &c995), ROLLOUT_GATE_ADVANCE); /* nothing left to approve */
	rollout_policy_free(p);
	rollout_policy_free(manual);
}

static void test_rollout__health_context_and_targets(void **state)
{
	rollout_policy *p = policy("{\"health\":{\"condition\":\"properties.reported.firmware.version = '2.0.0'\","
				   "\"timeoutSeconds\":120},\"context\":{\"condition\":\"properties.reported.power."
				   "source = 'mains'\"},\"timezonePath\":\"tags.timezone\",\"dynamicTargets\":true}");
	rollout_policy *explicit_timeout =
	    policy("{\"health\":{\"condition\":\"tags.a = 1\"},\"deviceTimeoutSeconds\":600}");

	assert_string_equal(rollout_health_condition(p), "properties.reported.firmware.version = '2.0.0'");
	assert_int_equal(rollout_health_timeout_s(p), 120);
	assert_int_equal(rollout_device_timeout_s(p), 420); /* 300 for the method plus the health time */
	assert_string_equal(rollout_context_condition(p), "properties.reported.power.source = 'mains'");
	assert_string_equal(rollout_timezone_path(p), "tags.timezone");
	assert_true(rollout_dynamic_targets(p));
	assert_int_equal(rollout_health_timeout_s(explicit_timeout), 600);
	assert_int_equal(rollout_device_timeout_s(explicit_timeout), 600);
	rollout_policy_free(p);
	rollout_policy_free(explicit_timeout);
}

/* Asserts the window answer at now, and the next opening when outside. */
static void window(const rollout_policy *p, const char *tz, int64_t now, int in, int64_t next)
{
	int64_t got = -1;
	int r = rollout_in_window(p, tz, now, &got);

	if (r != in || (!in && got != next))
		fail_msg("%s at %lld: in %d (want %d), next %lld (want %lld)", tz ? tz : "UTC", (long long)now, r, in,
			 (long long)got, (long long)next);
	assert_int_equal(rollout_in_window(p, tz, now, NULL), in);
}

static void test_rollout__window_weekdays_in_utc(void **state)
{
	rollout_policy *p = policy("{\"maintenanceWindows\":[{\"days\":[\"mon\",\"tue\",\"wed\",\"thu\",\"fri\"],"
				   "\"start\":\"01:00\",\"end\":\"05:00\"}]}");

	window(p, NULL, 1704673800000, 0, 1704675600000);                /* Mon 00:30 -> Mon 01:00 */
	window(p, NULL, 1704675600000, 1, 0);                            /* Mon 01:00 opens */
	window(p, NULL, 1704682800000, 1, 0);                            /* Mon 03:00 */
	window(p, NULL, 1704690000000 - 1, 1, 0);                        /* Mon 04:59:59.999 */
	window(p, NULL, 1704690000000, 0, 1704675600000 + DAY);          /* Mon 05:00 closes -> Tue 01:00 */
	window(p, NULL, 1705039200000, 0, 1705280400000);                /* Fri 06:00 -> next Mon 01:00 */
	window(p, NULL, 1705147200000, 0, 1705280400000);                /* Sat 12:00 -> Mon 01:00 */
	window(p, "Mars/Olympus_Mons", 1705147200000, 0, 1705280400000); /* unknown zone: UTC */
	window(p, "../../etc/passwd", 1705147200000, 0, 1705280400000);
	window(p, "", 1705147200000, 0, 1705280400000);
	rollout_policy_free(p);
}

static void test_rollout__window_wraps_midnight(void **state)
{
	rollout_policy *p =
	    policy("{\"maintenanceWindows\":[{\"days\":[\"fri\"],\"start\":\"22:00\",\"end\":\"02:00\"}]}");

	window(p, NULL, 1705100400000, 1, 0);                       /* Fri 23:00 */
	window(p, NULL, 1705107600000, 1, 0);                       /* Sat 01:00, Friday's window */
	window(p, NULL, 1705107600000 + 3600000, 0, 1705701600000); /* Sat 02:00 closes -> next Fri 22:00 */
	window(p, NULL, 1705185000000, 0, 1705701600000);           /* Sat 22:30 */
	window(p, NULL, 1705014000000, 0, 1705096800000);           /* Thu 23:00: Thursday is not listed */
	window(p, NULL, 1705021200000, 0, 1705096800000);           /* Fri 01:00: belongs to Thursday */
	rollout_policy_free(p);
}

static void test_rollout__window_follows_the_device_zone(void **state)
{
	rollout_policy *p = policy("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"05:00\"}]}");

	/* Sat 2024-03-30 12:00Z: Berlin opens at 01:00 CET (00:00Z), New York at 01:00 EDT (05:00Z). */
	window(p, "Europe/Berlin", 1711800000000, 0, 1711843200000);
	window(p, "America/New_York", 1711800000000, 0, 1711843200000 + 5 * 3600000);
	window(p, NULL, 1711800000000, 0, 1711843200000 + 3600000);
	/* After the change Berlin is UTC+2: Monday 01:00 CEST is Sunday 23:00Z. */
	window(p, "Europe/Berlin", 1711857600000, 0, 1711926000000);
	window(p, "Europe/Berlin", 1711926000000, 1, 0);
	window(p, "Europe/Berlin", 1711926000000 - 1, 0, 1711926000000);
	rollout_policy_free(p);
}

static void test_rollout__window_opening_in_a_spring_gap(void **state)
{
	/* Berlin skips 02:00-03:00 on 2024-03-31: a window from 02:30 opens when the gap ends (03:00 CEST). */
	rollout_policy *p = policy("{\"maintenanceWindows\":[{\"start\":\"02:30\",\"end\":\"04:00\"}]}");
	/* One inside the gap never opens that day: the next Sunday's is the next opening. */
	rollout_policy *lost =
	    policy("{\"maintenanceWindows\":[{\"days\":[\"sun\"],\"start\":\"02:00\",\"end\":\"02:30\"}]}");

	window(p, "Europe/Berlin", 1711845000000, 0, 1711846800000); /* 01:30 CET -> 03:00 CEST */
	window(p, "Europe/Berlin", 1711846800000, 1, 0);
	window(lost, "Europe/Berlin", 1711800000000, 0, 1712448000000);
	rollout_policy_free(p);
	rollout_policy_free(lost);
}

static void test_rollout__window_in_a_repeated_hour(void **state)
{
	/* New York repeats 01:00-02:00 on 2024-11-03 (EDT 05:00Z-06:00Z, then EST 06:00Z-07:00Z). */
	rollout_policy *p = policy("{\"maintenanceWindows\":[{\"start\":\"01:00\",\"end\":\"01:30\"}]}");
	/* Reopened by the change itself: the clock falls back from 02:00 EDT into 01:00 EST, inside. */
	rollout_policy *q = policy("{\"maintenanceWindows\":[{\"start\":\"00:30\",\"end\":\"01:30\"}]}");
	/* Berlin repeats 02:00-03:00 on 2024-10-27. */
	rollout_policy *b = policy("{\"maintenanceWindows\":[{\"start\":\"02:30\",\"end\":\"02:45\"}]}");

	window(p, "America/New_York", 1730610000000, 1, 0);             /* first 01:00 */
	window(p, "America/New_York", 1730612700000, 0, 1730613600000); /* 01:45 EDT -> 01:00 EST */
	window(q, "America/New_York", 1730612700000, 0, 1730613600000);
	window(q, "America/New_York", 1730615340000, 1, 0);                             /* 01:29 EST */
	window(q, "America/New_York", 1730615400000, 0, 1730608200000 + DAY + 3600000); /* -> Mon 00:30 EST */
	window(b, "Europe/Berlin", 1729989000000 + 20 * 60000, 0, 1729992600000);       /* 02:50 CEST -> 02:30 CET */
	rollout_policy_free(p);
	rollout_policy_free(q);
	rollout_policy_free(b);
}

static void test_rollout__whole_days_and_several_windows(void **state)
{
	rollout_policy *p = policy("{\"maintenanceWindows\":[{\"days\":[\"sat\",\"sun\"],\"start\":\"00:00\","
				   "\"end\":\"24:00\"},{\"days\":[\"wed\"],\"start\":\"12:00\",\"end\":\"13:00\"}]}");

	window(p, NULL, 1705147200000, 1, 0);                                      /* Sat 12:00 */
	window(p, NULL, 1705280400000, 0, 1705280400000 + 2 * DAY + 11 * 3600000); /* Mon 01:00 -> Wed 12:00 */
	window(p, NULL, 1705280400000 + 2 * DAY + 12 * 3600000, 0, 1705280400000 + 4 * DAY + 23 * 3600000);
	rollout_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rollout__absent_policy_is_one_unpaced_phase),
	    cmocka_unit_test(test_rollout__percent_phases_are_cumulative_and_round_up),
	    cmocka_unit_test(test_rollout__condition_phases_keep_their_queries),
	    cmocka_unit_test(test_rollout__phases_are_validated),
	    cmocka_unit_test(test_rollout__unknown_members_are_named),
	    cmocka_unit_test(test_rollout__numbers_are_bounded_and_typed),
	    cmocka_unit_test(test_rollout__windows_are_validated),
	    cmocka_unit_test(test_rollout__effective_policy_roundtrips),
	    cmocka_unit_test(test_rollout__constant_rate_is_a_token_bucket),
	    cmocka_unit_test(test_rollout__slow_rate_still_starts),
	    cmocka_unit_test(test_rollout__exponential_rate_grows_to_its_cap),
	    cmocka_unit_test(test_rollout__exponential_rate_counts_from_the_start),
	    cmocka_unit_test(test_rollout__concurrency_caps_the_allowance),
	    cmocka_unit_test(test_rollout__jitter_stays_in_range),
	    cmocka_unit_test(test_rollout__retries_count_and_back_off),
	    cmocka_unit_test(test_rollout__abort_waits_for_min_devices),
	    cmocka_unit_test(test_rollout__gate_outcomes),
	    cmocka_unit_test(test_rollout__health_context_and_targets),
	    cmocka_unit_test(test_rollout__window_weekdays_in_utc),
	    cmocka_unit_test(test_rollout__window_wraps_midnight),
	    cmocka_unit_test(test_rollout__window_follows_the_device_zone),
	    cmocka_unit_test(test_rollout__window_opening_in_a_spring_gap),
	    cmocka_unit_test(test_rollout__window_in_a_repeated_hour),
	    cmocka_unit_test(test_rollout__whole_days_and_several_windows),
	};

	json_util_init();
	crypto_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
