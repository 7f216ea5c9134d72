/*
 * fuzz_rollout_policy: the rollout policy parser. Every input is parsed as JSON (json_util_parse, as the REST
 * gate does) and then as a policy; whatever parses has every query function asked about it, across a few
 * phases, counts, times and zones, and is freed (the sanitizers catch leaks, overflows and undefined
 * behaviour).
 *
 * Invariants (a violation aborts, which libFuzzer reports as a crash):
 * - the effective policy (rollout_policy_json) parses again into the same effective policy;
 * - phase cumulative counts never decrease, never exceed the total, and the last phase is the total;
 * - an allowance is never negative and never exceeds maxConcurrency - running;
 * - a window answer "not inside" comes with a next opening later than now, and the policy is inside then.
 */
#include "json_util.h"
#include "rollout.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

const char *fuzz_target_name = "fuzz_rollout_policy";

static void check_roundtrip(const rollout_policy *p)
{
	json_t *shown = rollout_policy_json(p), *again = NULL;
	rollout_policy *p2 = NULL;

	if (rollout_policy_parse(shown, &p2) != 0)
		abort();
	again = rollout_policy_json(p2);
	if (!json_equal(shown, again))
		abort();
	json_decref(again);
	json_decref(shown);
	rollout_policy_free(p2);
}

static void check_phases(const rollout_policy *p)
{
	static const int64_t totals[] = {0, 1, 7, 50, 99, 1000, 123456789, INT64_MAX};
	int n = rollout_phase_count(p);

	if (n < 1 || n > ROLLOUT_MAX_PHASES)
		abort();
	for (size_t t = 0; t < sizeof(totals) / sizeof(totals[0]); t++) {
		int64_t prev = 0;
		for (int i = -1; i <= n; i++) {
			int64_t c = rollout_phase_cumulative(p, i, totals[t]);
			(void)rollout_phase_condition(p, i);
			if (c < 0 || c > totals[t] || (i >= 0 && c < prev))
				abort();
			prev = c;
		}
		if (rollout_phase_cumulative(p, n - 1, totals[t]) != totals[t])
			abort();
	}
}

static void check_pacing(const rollout_policy *p)
{
	static const int64_t steps[] = {0, 1, 250, 1000, 30000, 3600000, 86400000};
	rollout_pacer pacer = {0};
	int64_t now = 1700000000000;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		int64_t running = (int64_t)i * 3 - 2;
		json_t *shown = rollout_policy_json(p);
		json_int_t cap = json_integer_value(json_object_get(shown, "maxConcurrency"));
		int64_t room = cap - (running > 0 ? running : 0), a;
		now += steps[i];
		a = rollout_allowance(p, &pacer, running, now);
		if (a < 0 || (cap > 0 && a > (room > 0 ? room : 0)))
			abort();
		json_decref(shown);
	}
	for (int attempts = -1; attempts < 14; attempts++) {
		(void)rollout_may_retry(p, attempts);
		if (rollout_retry_delay_ms(p, attempts) < 0)
			abort();
	}
	if (rollout_jitter_ms(p) < 0 || rollout_device_timeout_s(p) < 1)
		abort();
}

static void check_gates(const rollout_policy *p)
{
	static const rollout_counts counts[] = {
	    {0, 0, 0, 0},
	    {10, 9, 1, 0},
	    {10, 5, 5, 0},
	    {10, 3, 2, 5},
	    {100, 0, 100, 0},
	    {-5, -1, -1, -1},
	    {INT64_MAX, INT64_MAX, INT64_MAX, 0},
	};

	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		(void)rollout_should_abort(p, &counts[i]);
		for (int ph = -1; ph <= rollout_phase_count(p); ph++) {
			rollout_gate g = rollout_phase_gate(p, ph, &counts[i]);
			if (g < ROLLOUT_GATE_WAIT || g > ROLLOUT_GATE_FAIL)
				abort();
		}
	}
}

static void check_windows(const rollout_policy *p)
{
	static const char *const zones[] = {NULL, "Europe/Berlin", "America/New_York", "Not/AZone", "../etc"};
	/* 2024-03-31 00:30Z (Berlin springs forward that night) and 2024-11-03 05:30Z (New York falls back). */
	static const int64_t times[] = {1711845000000, 1730611800000};

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++)
		for (size_t t = 0; t < sizeof(times) / sizeof(times[0]); t++) {
			int64_t next = 0;
			if (!rollout_in_window(p, zones[z], times[t], &next)) {
				if (next <= times[t] || !rollout_in_window(p, zones[z], next, NULL))
					abort();
			}
		}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *doc = NULL;
	rollout_policy *p = NULL;

	if (json_util_parse((const char *)data, size, JSON_UTIL_MAX_DEPTH, &doc) != 0)
		return 0;
	if (rollout_policy_parse(doc, &p) == 0) {
		check_roundtrip(p);
		check_phases(p);
		check_pacing(p);
		check_gates(p);
		check_windows(p);
		(void)rollout_health_condition(p);
		(void)rollout_health_timeout_s(p);
		(void)rollout_context_condition(p);
		(void)rollout_timezone_path(p);
		(void)rollout_dynamic_targets(p);
		rollout_policy_free(p);
	}
	json_decref(doc);
	return 0;
}
