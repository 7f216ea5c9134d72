/*
 * rollout: the policy of a rollout (a job with phases, rates, gates and context rules), parsed from its
 * JSON and evaluated as pure functions. The job engine (job.c) owns state, time and I/O; it asks this
 * module what the policy allows. Nothing here touches the store, sockets or the clock: `now` is passed in
 * (so tests and the injectable hub clock drive it).
 */
#ifndef DH_ROLLOUT_H
#define DH_ROLLOUT_H

#include <jansson.h>
#include <stdint.h>

#define ROLLOUT_MAX_PHASES 16

typedef struct rollout_policy rollout_policy;

/* Parses and validates a policy object (see docs/rollouts.md). Every member is optional; an absent
 * policy means one phase of 100%, no rate limit, unlimited concurrency, no retries, no gates.
 * OUT: *out (rollout_policy_free). DH_EINVAL with a message naming the member on bad input. */
int rollout_policy_parse(const json_t *policy, rollout_policy **out);
void rollout_policy_free(rollout_policy *p);
/* The policy with defaults filled in, as the REST resource shows it. New reference. */
json_t *rollout_policy_json(const rollout_policy *p);

/* ---- phases ---- */
int rollout_phase_count(const rollout_policy *p);
/* An explicit phase's target condition (a WHERE clause over devices), or NULL for percentage phases. */
const char *rollout_phase_condition(const rollout_policy *p, int phase);
/* For percentage phases: how many of `total` targets belong to phases 0..phase together (cumulative,
 * rounded up so a 1% canary of 50 devices is 1 device; the last phase is always total). */
int64_t rollout_phase_cumulative(const rollout_policy *p, int phase, int64_t total);

/* ---- pacing ---- */
/* A token bucket the engine keeps per rollout; zero-initialise it when the rollout (or phase) starts. */
typedef struct rollout_pacer {
	double tokens;
	int64_t last_ms;      /* 0 = not started */
	int64_t started_ms;
} rollout_pacer;
/* How many devices may start now: the rate (constant per second, or exponential: base per second
 * multiplied by `factor` every `everySeconds`), capped by maxConcurrency - running. Consumes the tokens
 * it grants, so call it once per scheduling step. */
int64_t rollout_allowance(const rollout_policy *p, rollout_pacer *pacer, int64_t running, int64_t now_ms);
/* A random extra delay for one device in [0, jitterMs]. */
int64_t rollout_jitter_ms(const rollout_policy *p);
/* Per-device limit: how long one attempt may take before it counts as failed (method response plus the
 * health check), seconds. */
int rollout_device_timeout_s(const rollout_policy *p);
/* Retries: whether a device that failed `attempts` times may be tried again, and after what delay. */
int rollout_may_retry(const rollout_policy *p, int attempts);
int64_t rollout_retry_delay_ms(const rollout_policy *p, int attempts);

/* ---- gates ---- */
typedef struct rollout_counts {
	int64_t targets;      /* devices in the phase (or the whole rollout, for the abort check) */
	int64_t succeeded;
	int64_t failed;       /* failed for good (no retry left) */
	int64_t in_progress;  /* running, verifying, or waiting for a retry */
} rollout_counts;

/* 1 when the failure threshold (percent or count of finished devices, once at least minDevices have
 * finished) is crossed: the engine aborts, leaving untouched devices untouched. */
int rollout_should_abort(const rollout_policy *p, const rollout_counts *all);

typedef enum rollout_gate {
	ROLLOUT_GATE_WAIT,       /* the phase is not finished */
	ROLLOUT_GATE_ADVANCE,    /* finished and the success criterion holds: start the next phase */
	ROLLOUT_GATE_APPROVAL,   /* finished and good, but an operator must approve the next phase */
	ROLLOUT_GATE_FAIL,       /* finished below the success criterion: the rollout fails */
} rollout_gate;
rollout_gate rollout_phase_gate(const rollout_policy *p, int phase, const rollout_counts *phase_counts);

/* ---- health and context ---- */
/* The post-update condition (WHERE clause over devices) a device must meet to count as succeeded, and the
 * seconds it has to meet it; NULL / 0 when there is no health gate. */
const char *rollout_health_condition(const rollout_policy *p);
int rollout_health_timeout_s(const rollout_policy *p);
/* The context condition checked right before each device (NULL for none). */
const char *rollout_context_condition(const rollout_policy *p);
/* The twin path holding a device's IANA time zone (e.g. "tags.timezone"), or NULL (UTC). */
const char *rollout_timezone_path(const rollout_policy *p);
/* 1 when now_ms falls in a maintenance window in time zone tz (NULL or unknown = UTC); with no windows,
 * always 1. OUT: *next_open_ms, when not inside, the next moment a window opens (for deferral). */
int rollout_in_window(const rollout_policy *p, const char *tz, int64_t now_ms, int64_t *next_open_ms);
/* 1 when devices that start matching the target condition after the start join the rollout. */
int rollout_dynamic_targets(const rollout_policy *p);

#endif
