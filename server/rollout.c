/*
 * rollout: parses and validates a rollout policy (docs/rollouts.md) and answers the job engine's questions
 * about it as pure functions of the policy and the `now` the engine passes in. Owns the policy's
 * representation and the maintenance-window arithmetic (wall-clock time in a device's zone, through ICU).
 * Never touches the store, sockets, threads or the clock; the only outside state it reads is the random
 * generator (jitter) and ICU's time-zone data.
 */
#include "rollout.h"

#include "buf.h"
#include "crypto.h"
#include "err.h"
#include "query.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>

#define RATE_MIN 0.001 /* devices per second: one every ~17 minutes */
#define RATE_MAX 100000.0
#define FACTOR_MIN 1.1 /* keeps the number of rate steps up to the cap small (< 200) */
#define FACTOR_MAX 10.0
#define EVERY_MAX_S 86400
#define CONCURRENCY_MAX 1000000
#define JITTER_MAX_MS 3600000
#define TIMEOUT_MAX_S 604800  /* a week */
#define TIMEOUT_DEFAULT_S 300 /* IoT Hub's longest direct-method response timeout */
#define HEALTH_TIMEOUT_DEFAULT_S 600
#define HEALTH_TIMEOUT_MAX_S 86400
#define RETRIES_MAX 10
#define RETRY_DELAY_DEFAULT_S 30
#define RETRY_DELAY_MAX_S 86400
#define BACKOFF_MAX 10.0
#define COUNT_MAX 1000000000LL /* abort thresholds in devices */
#define NAME_MAX_LEN 128
#define PATH_MAX_LEN 256
#define TZ_MAX_LEN 64
#define MAX_WINDOWS 32
#define UNLIMITED 2147483647 /* allowance when no rate is set: "as many as you have" */
#define DAY_MS 86400000LL
#define SEARCH_DAYS 15               /* windows repeat weekly; two weeks covers a DST-swallowed opening */
#define NOW_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z: beyond it ICU and the pacer are not asked */

enum rate_kind { RATE_NONE, RATE_CONSTANT, RATE_EXPONENTIAL };

typedef struct gate_rule {
	int min_success_bp; /* hundredths of a percent, 0..10000 */
	int manual;
} gate_rule;

typedef struct phase_def {
	int percent_bp; /* cumulative hundredths of a percent; 0 for a condition phase */
	char *condition;
	char *name;
	int has_gate; /* the phase overrides the policy's successGate */
	gate_rule gate;
} phase_def;

typedef struct window_def {
	unsigned days; /* bit (d - 1) for ICU's UCAL_SUNDAY(1)..UCAL_SATURDAY(7) */
	int start_min; /* minutes after local midnight, 0..1439 */
	int end_min;   /* 1..1440; below start_min means the window wraps past midnight */
} window_def;

struct rollout_policy {
	int nphases;
	phase_def phases[ROLLOUT_MAX_PHASES];
	enum rate_kind rate;
	double per_second;                   /* RATE_CONSTANT */
	double base, factor, max_per_second; /* RATE_EXPONENTIAL */
	int64_t every_ms;
	int64_t max_concurrency; /* 0 = unlimited */
	int64_t jitter_ms;
	int device_timeout_s; /* -1 while parsing = not given */
	int retry_count;
	int retry_delay_s;
	double backoff;
	gate_rule gate;
	int has_abort;
	int abort_bp;        /* 0 = no percent criterion */
	int64_t abort_count; /* 0 = no count criterion */
	int64_t abort_min;
	char *health;
	int health_timeout_s;
	char *context;
	int nwindows;
	window_def windows[MAX_WINDOWS];
	char *tz_path;
	int dynamic;
};

static const char *const day_names[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

/* ---- validation helpers: each names the member by its path, e.g. "rate.exponential.factor" ---- */

static const char *join(char *out, size_t n, const char *path, const char *key)
{
	snprintf(out, n, "%s%s%s", path, *path ? "." : "", key);
	return out;
}

static int check_members(const json_t *obj, const char *path, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		const char *const *a = allowed;
		while (*a && strcmp(*a, key) != 0)
			a++;
		if (!*a)
			return err_set(DH_EINVAL, "rollout policy has an unknown member '%s%s%.64s'", path,
				       *path ? "." : "", key);
	}
	return 0;
}

/* A JSON integer in [lo, hi] named path, into *out. */
static int int_value(const json_t *v, const char *path, int64_t lo, int64_t hi, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(DH_EINVAL, "rollout policy member '%s' must be an integer from %lld to %lld", path,
			       (long long)lo, (long long)hi);
	*out = json_integer_value(v);
	return 0;
}

/* Absent and null members leave *out alone (the caller preset the default). */
static int int_member(const json_t *obj, const char *path, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];

	if (!v || json_is_null(v))
		return 0;
	return int_value(v, join(p, sizeof(p), path, key), lo, hi, out);
}

static int int32_member(const json_t *obj, const char *path, const char *key, int lo, int hi, int *out)
{
	int64_t v = *out;
	int rc = int_member(obj, path, key, lo, hi, &v);

	*out = (int)v;
	return rc;
}

static int num_member(const json_t *obj, const char *path, const char *key, double lo, double hi, double *out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || !(json_number_value(v) >= lo && json_number_value(v) <= hi))
		return err_set(DH_EINVAL, "rollout policy member '%s' must be a number from %g to %g",
			       join(p, sizeof(p), path, key), lo, hi);
	*out = json_number_value(v);
	return 0;
}

/* A percentage with at most two decimals, as hundredths of a percent in [lo_bp, 10000]. */
static int percent_member(const json_t *obj, const char *path, const char *key, int lo_bp, int *out_bp)
{
	double pct = -1;
	char p[PATH_MAX_LEN];
	int rc = num_member(obj, path, key, lo_bp / 100.0, 100, &pct);

	if (rc || pct < 0)
		return rc;
	if (fabs(pct * 100 - round(pct * 100)) > 1e-6)
		return err_set(DH_EINVAL, "rollout policy member '%s' may have at most two decimals",
			       join(p, sizeof(p), path, key));
	*out_bp = (int)round(pct * 100);
	return 0;
}

static int str_member(const json_t *obj, const char *path, const char *key, size_t maxlen, const char **out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > maxlen ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return err_set(DH_EINVAL, "rollout policy member '%s' must be a string of 1 to %zu characters",
			       join(p, sizeof(p), path, key), maxlen);
	*out = json_string_value(v);
	return 0;
}

static int object_member(const json_t *obj, const char *path, const char *key, const json_t **out)
{
	json_t *v = json_object_get(obj, key);
	char p[PATH_MAX_LEN];

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member '%s' must be an object",
			       join(p, sizeof(p), path, key));
	*out = v;
	return 0;
}

/* A WHERE condition of the query language; OUT: *out (a copy), or untouched when absent and optional. */
static int condition_member(const json_t *obj, const char *path, const char *key, int required, char **out)
{
	const char *text = NULL;
	char p[PATH_MAX_LEN];
	query *q = NULL;
	query_error qe;
	int rc = str_member(obj, path, key, QUERY_MAX_LENGTH, &text);

	if (rc)
		return rc;
	if (!text)
		return required
			   ? err_set(DH_EINVAL, "rollout policy member '%s' is required", join(p, sizeof(p), path, key))
			   : 0;
	if (query_parse_condition(text, strlen(text), &q, &qe) != 0)
		return err_set(DH_EINVAL, "rollout policy member '%s' is not a valid condition: %s (at %zu)",
			       join(p, sizeof(p), path, key), qe.message, qe.position);
	query_free(q);
	*out = xstrdup(text);
	return 0;
}

/* ---- sections ---- */

static int parse_gate(const json_t *obj, const char *path, gate_rule *g)
{
	static const char *const members[] = {"minSuccessPercent", "approval", NULL};
	const char *approval = NULL;
	int rc;

	if ((rc = check_members(obj, path, members)) ||
	    (rc = percent_member(obj, path, "minSuccessPercent", 0, &g->min_success_bp)) ||
	    (rc = str_member(obj, path, "approval", 16, &approval)))
		return rc;
	if (approval && strcmp(approval, "auto") != 0 && strcmp(approval, "manual") != 0)
		return err_set(DH_EINVAL, "rollout policy member '%s.approval' must be \"auto\" or \"manual\"", path);
	if (approval)
		g->manual = strcmp(approval, "manual") == 0;
	return 0;
}

static int parse_phase(rollout_policy *p, const json_t *obj, int i)
{
	static const char *const members[] = {"percent", "condition", "name", "successGate", NULL};
	phase_def *ph = &p->phases[i];
	const json_t *gate = NULL;
	const char *name = NULL;
	char path[32];
	int rc;

	snprintf(path, sizeof(path), "phases[%d]", i);
	if (!json_is_object(obj))
		return err_set(DH_EINVAL, "rollout policy member '%s' must be an object", path);
	if ((rc = check_members(obj, path, members)) ||
	    (rc = percent_member(obj, path, "percent", 1, &ph->percent_bp)) ||
	    (rc = condition_member(obj, path, "condition", 0, &ph->condition)) ||
	    (rc = str_member(obj, path, "name", NAME_MAX_LEN, &name)) ||
	    (rc = object_member(obj, path, "successGate", &gate)))
		return rc;
	if (name)
		ph->name = xstrdup(name);
	if (gate) {
		char gpath[48];
		ph->has_gate = 1;
		ph->gate = p->gate;
		snprintf(gpath, sizeof(gpath), "%s.successGate", path);
		if ((rc = parse_gate(gate, gpath, &ph->gate)))
			return rc;
	}
	if ((ph->percent_bp > 0) == (ph->condition != NULL))
		return err_set(DH_EINVAL, "rollout policy member '%s' needs exactly one of percent and condition",
			       path);
	return 0;
}

/* Phases are all percentages (strictly ascending, the last 100) or all conditions. */
static int parse_phases(rollout_policy *p, const json_t *v)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	int rc;

	if (n < 1 || n > ROLLOUT_MAX_PHASES)
		return err_set(DH_EINVAL, "rollout policy member 'phases' must be an array of 1 to %d phases",
			       ROLLOUT_MAX_PHASES);
	p->nphases = (int)n;
	memset(p->phases, 0, sizeof(p->phases)); /* drops the default phase of 100% */
	for (int i = 0; i < p->nphases; i++)
		if ((rc = parse_phase(p, json_array_get(v, (size_t)i), i)))
			return rc;
	for (int i = 1; i < p->nphases; i++)
		if ((p->phases[i].condition != NULL) != (p->phases[0].condition != NULL))
			return err_set(DH_EINVAL, "rollout policy member 'phases' mixes percent and condition phases");
	if (p->phases[0].condition)
		return 0;
	for (int i = 1; i < p->nphases; i++)
		if (p->phases[i].percent_bp <= p->phases[i - 1].percent_bp)
			return err_set(
			    DH_EINVAL,
			    "rollout policy member 'phases[%d].percent' must be greater than the phase before", i);
	if (p->phases[p->nphases - 1].percent_bp != 10000)
		return err_set(DH_EINVAL, "rollout policy member 'phases[%d].percent' must be 100 (the last phase)",
			       p->nphases - 1);
	return 0;
}

static int parse_rate(rollout_policy *p, const json_t *v)
{
	static const char *const members[] = {"perSecond", "exponential", NULL};
	static const char *const exp_members[] = {"basePerSecond", "factor", "everySeconds", "maxPerSecond", NULL};
	const json_t *e = NULL;
	int64_t every = 0;
	int rc;

	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'rate' must be an object");
	p->per_second = 0;
	if ((rc = check_members(v, "rate", members)) ||
	    (rc = num_member(v, "rate", "perSecond", RATE_MIN, RATE_MAX, &p->per_second)) ||
	    (rc = object_member(v, "rate", "exponential", &e)))
		return rc;
	if ((p->per_second > 0) == (e != NULL))
		return err_set(DH_EINVAL,
			       "rollout policy member 'rate' needs exactly one of perSecond and exponential");
	if (!e) {
		p->rate = RATE_CONSTANT;
		return 0;
	}
	p->rate = RATE_EXPONENTIAL;
	p->base = p->factor = 0;
	p->max_per_second = RATE_MAX;
	if ((rc = check_members(e, "rate.exponential", exp_members)) ||
	    (rc = num_member(e, "rate.exponential", "basePerSecond", RATE_MIN, RATE_MAX, &p->base)) ||
	    (rc = num_member(e, "rate.exponential", "factor", FACTOR_MIN, FACTOR_MAX, &p->factor)) ||
	    (rc = int_member(e, "rate.exponential", "everySeconds", 1, EVERY_MAX_S, &every)) ||
	    (rc = num_member(e, "rate.exponential", "maxPerSecond", RATE_MIN, RATE_MAX, &p->max_per_second)))
		return rc;
	if (p->base == 0 || p->factor == 0 || every == 0)
		return err_set(DH_EINVAL, "rollout policy member 'rate.exponential' needs basePerSecond, factor and "
					  "everySeconds");
	if (p->max_per_second < p->base)
		return err_set(DH_EINVAL, "rollout policy member 'rate.exponential.maxPerSecond' must be at least "
					  "basePerSecond");
	p->every_ms = every * 1000;
	return 0;
}

static int parse_max_concurrency(rollout_policy *p, const json_t *v)
{
	return int_value(v, "maxConcurrency", 1, CONCURRENCY_MAX, &p->max_concurrency);
}

static int parse_retries(rollout_policy *p, const json_t *v)
{
	static const char *const members[] = {"count", "delaySeconds", "backoffFactor", NULL};
	int rc;

	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'retries' must be an object");
	if ((rc = check_members(v, "retries", members)) ||
	    (rc = int32_member(v, "retries", "count", 0, RETRIES_MAX, &p->retry_count)) ||
	    (rc = int32_member(v, "retries", "delaySeconds", 0, RETRY_DELAY_MAX_S, &p->retry_delay_s)) ||
	    (rc = num_member(v, "retries", "backoffFactor", 1, BACKOFF_MAX, &p->backoff)))
		return rc;
	return 0;
}

static int parse_success_gate(rollout_policy *p, const json_t *v)
{
	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'successGate' must be an object");
	return parse_gate(v, "successGate", &p->gate);
}

static int parse_abort(rollout_policy *p, const json_t *v)
{
	static const char *const members[] = {"failurePercent", "failureCount", "minDevices", NULL};
	int rc;

	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'abort' must be an object");
	if ((rc = check_members(v, "abort", members)) ||
	    (rc = percent_member(v, "abort", "failurePercent", 1, &p->abort_bp)) ||
	    (rc = int_member(v, "abort", "failureCount", 1, COUNT_MAX, &p->abort_count)) ||
	    (rc = int_member(v, "abort", "minDevices", 1, COUNT_MAX, &p->abort_min)))
		return rc;
	if (!p->abort_bp && !p->abort_count)
		return err_set(DH_EINVAL, "rollout policy member 'abort' needs failurePercent or failureCount");
	p->has_abort = 1;
	return 0;
}

static int parse_health(rollout_policy *p, const json_t *v)
{
	static const char *const members[] = {"condition", "timeoutSeconds", NULL};
	int rc;

	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'health' must be an object");
	if ((rc = check_members(v, "health", members)) ||
	    (rc = int32_member(v, "health", "timeoutSeconds", 1, HEALTH_TIMEOUT_MAX_S, &p->health_timeout_s)))
		return rc;
	return condition_member(v, "health", "condition", 1, &p->health);
}

static int parse_context(rollout_policy *p, const json_t *v)
{
	static const char *const members[] = {"condition", NULL};
	int rc;

	if (!json_is_object(v))
		return err_set(DH_EINVAL, "rollout policy member 'context' must be an object");
	if ((rc = check_members(v, "context", members)))
		return rc;
	return condition_member(v, "context", "condition", 1, &p->context);
}

/* "HH:MM", 00:00..23:59, or 24:00 where an end of day is allowed. -1 when malformed. */
static int parse_clock(const char *s, int allow_24)
{
	int h, m;

	if (strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return -1;
	return h * 60 + m;
}

static int parse_days(const json_t *v, const char *path, unsigned *mask)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;

	if (n < 1 || n > 7)
		return err_set(DH_EINVAL,
			       "rollout policy member '%s.days' must be an array of 1 to 7 days (omit it "
			       "for every day)",
			       path);
	*mask = 0;
	for (size_t i = 0; i < n; i++) {
		const char *d = json_string_value(json_array_get(v, i));
		int k = 0;
		while (d && k < 7 && strcmp(d, day_names[k]) != 0)
			k++;
		if (!d || k == 7 || (*mask & (1u << k)))
			return err_set(DH_EINVAL,
				       "rollout policy member '%s.days[%zu]' must be one of \"mon\" .. \"sun\", "
				       "each at most once",
				       path, i);
		*mask |= 1u << k;
	}
	return 0;
}

static int parse_window(window_def *w, const json_t *obj, int i)
{
	static const char *const members[] = {"days", "start", "end", NULL};
	const char *start = NULL, *end = NULL;
	json_t *days;
	char path[40];
	int rc;

	snprintf(path, sizeof(path), "maintenanceWindows[%d]", i);
	if (!json_is_object(obj))
		return err_set(DH_EINVAL, "rollout policy member '%s' must be an object", path);
	if ((rc = check_members(obj, path, members)) || (rc = str_member(obj, path, "start", 16, &start)) ||
	    (rc = str_member(obj, path, "end", 16, &end)))
		return rc;
	if (!start || (w->start_min = parse_clock(start, 0)) < 0)
		return err_set(DH_EINVAL, "rollout policy member '%s.start' must be a time \"HH:MM\" (00:00 to 23:59)",
			       path);
	if (!end || (w->end_min = parse_clock(end, 1)) < 0)
		return err_set(DH_EINVAL, "rollout policy member '%s.end' must be a time \"HH:MM\" (00:00 to 24:00)",
			       path);
	if (w->start_min == w->end_min)
		return err_set(DH_EINVAL,
			       "rollout policy member '%s' opens and closes at the same time (a whole day "
			       "is 00:00 to 24:00)",
			       path);
	w->days = 0x7f;
	days = json_object_get(obj, "days");
	if (days && !json_is_null(days))
		return parse_days(days, path, &w->days);
	return 0;
}

static int parse_windows(rollout_policy *p, const json_t *v)
{
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	int rc;

	if (!json_is_array(v) || n > MAX_WINDOWS)
		return err_set(DH_EINVAL,
			       "rollout policy member 'maintenanceWindows' must be an array of at most %d "
			       "windows",
			       MAX_WINDOWS);
	p->nwindows = (int)n;
	for (int i = 0; i < p->nwindows; i++)
		if ((rc = parse_window(&p->windows[i], json_array_get(v, (size_t)i), i)))
			return rc;
	return 0;
}

/* A twin path: "tags." or "properties.desired." / "properties.reported." then dot-separated names. */
static int parse_tz_path(rollout_policy *p, const json_t *v)
{
	static const char *const roots[] = {"tags.", "properties.desired.", "properties.reported."};
	const char *s = json_string_value(v), *rest = NULL;
	size_t len = s ? strlen(s) : 0;

	for (size_t i = 0; s && i < 3 && !rest; i++)
		if (strncmp(s, roots[i], strlen(roots[i])) == 0)
			rest = s + strlen(roots[i]);
	if (!rest || len > PATH_MAX_LEN || len != json_string_length(v) || !*rest || *rest == '.' ||
	    rest[strlen(rest) - 1] == '.')
		goto bad;
	for (const char *c = rest; *c; c++)
		if (!(*c == '_' || *c == '-' || *c == '$' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= 'A' && *c <= 'Z') || (*c == '.' && c[1] != '.')))
			goto bad;
	p->tz_path = xstrdup(s);
	return 0;
bad:
	return err_set(DH_EINVAL, "rollout policy member 'timezonePath' must be a twin path under tags, "
				  "properties.desired or properties.reported (e.g. \"tags.timezone\")");
}

static int parse_jitter(rollout_policy *p, const json_t *v)
{
	return int_value(v, "jitterMs", 0, JITTER_MAX_MS, &p->jitter_ms);
}

static int parse_device_timeout(rollout_policy *p, const json_t *v)
{
	int64_t t = 0;
	int rc = int_value(v, "deviceTimeoutSeconds", 1, TIMEOUT_MAX_S, &t);

	p->device_timeout_s = rc ? -1 : (int)t;
	return rc;
}

static int parse_dynamic(rollout_policy *p, const json_t *v)
{
	if (!json_is_boolean(v))
		return err_set(DH_EINVAL, "rollout policy member 'dynamicTargets' must be true or false");
	p->dynamic = json_is_true(v);
	return 0;
}

/* The top level as data: one row per member, so the unknown-member check and the parsers cannot drift. */
static const struct policy_member {
	const char *name;
	int (*parse)(rollout_policy *p, const json_t *value);
} policy_members[] = {
    {"phases", parse_phases},
    {"rate", parse_rate},
    {"maxConcurrency", parse_max_concurrency},
    {"jitterMs", parse_jitter},
    {"deviceTimeoutSeconds", parse_device_timeout},
    {"retries", parse_retries},
    {"successGate", parse_success_gate},
    {"abort", parse_abort},
    {"health", parse_health},
    {"context", parse_context},
    {"maintenanceWindows", parse_windows},
    {"timezonePath", parse_tz_path},
    {"dynamicTargets", parse_dynamic},
};

#define NMEMBERS (sizeof(policy_members) / sizeof(policy_members[0]))

static void policy_defaults(rollout_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->nphases = 1;
	p->phases[0].percent_bp = 10000;
	p->device_timeout_s = -1;
	p->retry_delay_s = RETRY_DELAY_DEFAULT_S;
	p->backoff = 1;
	p->abort_min = 1;
	p->health_timeout_s = HEALTH_TIMEOUT_DEFAULT_S;
}

/* Applies each member of the policy object through its row of policy_members. */
static int parse_members(rollout_policy *p, const json_t *policy)
{
	const json_t *gate = json_object_get(policy, "successGate");
	const char *key;
	json_t *v;
	int rc;

	/* successGate first: phases start their own overrides from it. */
	if (gate && !json_is_null(gate) && (rc = parse_success_gate(p, gate)))
		return rc;
	json_object_foreach((json_t *)policy, key, v)
	{
		size_t i = 0;
		while (i < NMEMBERS && strcmp(policy_members[i].name, key) != 0)
			i++;
		if (i == NMEMBERS)
			return err_set(DH_EINVAL, "rollout policy has an unknown member '%.64s'", key);
		if (json_is_null(v) || policy_members[i].parse == parse_success_gate)
			continue;
		if ((rc = policy_members[i].parse(p, v)))
			return rc;
	}
	return 0;
}

int rollout_policy_parse(const json_t *policy, rollout_policy **out)
{
	rollout_policy *p = xmalloc(sizeof(*p));
	int rc = 0;

	*out = NULL;
	policy_defaults(p);
	if (policy && !json_is_null(policy) && !json_is_object(policy))
		rc = err_set(DH_EINVAL, "rollout policy must be an object");
	else if (policy && json_is_object(policy))
		rc = parse_members(p, policy);
	if (rc)
		goto out;
	/* The attempt covers the method's answer and the health check, so it must leave room for the latter. */
	if (p->device_timeout_s < 0)
		p->device_timeout_s = TIMEOUT_DEFAULT_S + (p->health ? p->health_timeout_s : 0);
	else if (p->health && p->device_timeout_s < p->health_timeout_s)
		rc = err_set(DH_EINVAL,
			     "rollout policy member 'deviceTimeoutSeconds' must be at least health.timeoutSeconds (%d)",
			     p->health_timeout_s);
out:
	if (rc)
		rollout_policy_free(p);
	else
		*out = p;
	return rc;
}

void rollout_policy_free(rollout_policy *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nphases; i++) {
		free(p->phases[i].condition);
		free(p->phases[i].name);
	}
	free(p->health);
	free(p->context);
	free(p->tz_path);
	free(p);
}

/* ---- the effective policy as JSON; parsing it again yields the same policy ---- */

static json_t *percent_json(int bp)
{
	return bp % 100 == 0 ? json_integer(bp / 100) : json_real(bp / 100.0);
}

static json_t *gate_json(const gate_rule *g)
{
	return json_pack("{soss}", "minSuccessPercent", percent_json(g->min_success_bp), "approval",
			 g->manual ? "manual" : "auto");
}

static json_t *phases_json(const rollout_policy *p)
{
	json_t *a = json_array();

	for (int i = 0; i < p->nphases; i++) {
		const phase_def *ph = &p->phases[i];
		json_t *o = ph->condition ? json_pack("{ss}", "condition", ph->condition)
					  : json_pack("{so}", "percent", percent_json(ph->percent_bp));
		if (ph->name)
			json_object_set_new(o, "name", json_string(ph->name));
		if (ph->has_gate)
			json_object_set_new(o, "successGate", gate_json(&ph->gate));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *rate_json(const rollout_policy *p)
{
	if (p->rate == RATE_CONSTANT)
		return json_pack("{sf}", "perSecond", p->per_second);
	if (p->rate == RATE_EXPONENTIAL)
		return json_pack("{s{sfsfsIsf}}", "exponential", "basePerSecond", p->base, "factor", p->factor,
				 "everySeconds", (json_int_t)(p->every_ms / 1000), "maxPerSecond", p->max_per_second);
	return json_null();
}

static json_t *windows_json(const rollout_policy *p)
{
	json_t *a = json_array();

	for (int i = 0; i < p->nwindows; i++) {
		const window_def *w = &p->windows[i];
		char start[24], end[24]; /* sized for any int, though minutes stay under 1441 */
		json_t *days = json_array();
		snprintf(start, sizeof(start), "%02d:%02d", w->start_min / 60, w->start_min % 60);
		snprintf(end, sizeof(end), "%02d:%02d", w->end_min / 60, w->end_min % 60);
		for (int k = 1; k <= 7; k++) /* Monday first, as people write weeks */
			if (w->days & (1u << (k % 7)))
				json_array_append_new(days, json_string(day_names[k % 7]));
		json_array_append_new(a, json_pack("{sossss}", "days", days, "start", start, "end", end));
	}
	return a;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *rollout_policy_json(const rollout_policy *p)
{
	json_t *o = json_object();

	json_object_set_new(o, "phases", phases_json(p));
	json_object_set_new(o, "rate", rate_json(p));
	json_object_set_new(o, "maxConcurrency", p->max_concurrency ? json_integer(p->max_concurrency) : json_null());
	json_object_set_new(o, "jitterMs", json_integer(p->jitter_ms));
	json_object_set_new(o, "deviceTimeoutSeconds", json_integer(p->device_timeout_s));
	json_object_set_new(o, "retries",
			    json_pack("{sisisf}", "count", p->retry_count, "delaySeconds", p->retry_delay_s,
				      "backoffFactor", p->backoff));
	json_object_set_new(o, "successGate", gate_json(&p->gate));
	json_object_set_new(o, "abort",
			    !p->has_abort
				? json_null()
				: json_pack("{sososI}", "failurePercent",
					    p->abort_bp ? percent_json(p->abort_bp) : json_null(), "failureCount",
					    p->abort_count ? json_integer(p->abort_count) : json_null(), "minDevices",
					    (json_int_t)p->abort_min));
	json_object_set_new(o, "health",
			    !p->health
				? json_null()
				: json_pack("{sssi}", "condition", p->health, "timeoutSeconds", p->health_timeout_s));
	json_object_set_new(o, "context", !p->context ? json_null() : json_pack("{ss}", "condition", p->context));
	json_object_set_new(o, "maintenanceWindows", windows_json(p));
	json_object_set_new(o, "timezonePath", str_or_null(p->tz_path));
	json_object_set_new(o, "dynamicTargets", json_boolean(p->dynamic));
	return o;
}

/* ---- phases ---- */

int rollout_phase_count(const rollout_policy *p)
{
	return p->nphases;
}

const char *rollout_phase_condition(const rollout_policy *p, int phase)
{
	return phase >= 0 && phase < p->nphases ? p->phases[phase].condition : NULL;
}

/* ceil(total * bp / 10000) without overflow for any total: split total into 10000s and the rest. Condition
 * phases have no share of a total; they answer total (each phase's own query selects its devices). */
int64_t rollout_phase_cumulative(const rollout_policy *p, int phase, int64_t total)
{
	int64_t bp;

	if (total <= 0 || phase < 0)
		return 0;
	if (phase >= p->nphases - 1 || p->phases[phase].condition)
		return total;
	bp = p->phases[phase].percent_bp;
	return total / 10000 * bp + ((total % 10000) * bp + 9999) / 10000;
}

/* ---- pacing ---- */

static double rate_at(const rollout_policy *p, int64_t started, int64_t t)
{
	int64_t steps;

	if (p->rate == RATE_CONSTANT)
		return p->per_second;
	steps = t > started ? (t - started) / p->every_ms : 0;
	/* pow overflows to infinity for absurd step counts, which the cap turns back into maxPerSecond. */
	return fmin(p->base * pow(p->factor, (double)steps), p->max_per_second);
}

/* Tokens earned over [from, to): piecewise, because an exponential rate steps up inside the interval. The
 * loop ends at the cap, which the rate reaches within log(max/base)/log(factor) < 200 steps. */
static double tokens_between(const rollout_policy *p, int64_t started, int64_t from, int64_t to, double cap)
{
	double sum = 0;

	if (p->rate == RATE_CONSTANT)
		return p->per_second * (double)(to - from) / 1000.0;
	while (from < to && sum < cap) {
		double r = rate_at(p, started, from);
		int64_t steps = from > started ? (from - started) / p->every_ms : 0;
		int64_t seg_end = r >= p->max_per_second ? to : started + (steps + 1) * p->every_ms;
		if (seg_end > to)
			seg_end = to;
		sum += r * (double)(seg_end - from) / 1000.0;
		from = seg_end;
	}
	return sum;
}

int64_t rollout_allowance(const rollout_policy *p, rollout_pacer *pacer, int64_t running, int64_t now_ms)
{
	int64_t granted = UNLIMITED;

	if (now_ms <= 0 || now_ms > NOW_MAX_MS)
		return 0;
	if (pacer->started_ms <= 0)
		pacer->started_ms = now_ms;
	if (p->rate != RATE_NONE) {
		/* The bucket holds one second's worth, and at least one token so slow rates still start. */
		double cap = fmax(1.0, rate_at(p, pacer->started_ms, now_ms));
		if (pacer->last_ms <= 0)
			pacer->tokens = cap;
		else if (now_ms > pacer->last_ms)
			pacer->tokens += tokens_between(p, pacer->started_ms, pacer->last_ms, now_ms, cap);
		if (!(pacer->tokens >= 0))
			pacer->tokens = 0;
		pacer->tokens = fmin(pacer->tokens, cap);
		/* Sums of fractions (0.9995 + 0.0005) may land a hair below a whole token. */
		granted = (int64_t)floor(pacer->tokens + 1e-9);
	}
	/* A clock that went back earns nothing but does not stall the bucket until it catches up. */
	pacer->last_ms = now_ms;
	if (p->max_concurrency > 0) {
		int64_t room = p->max_concurrency - (running > 0 ? running : 0);
		if (granted > room)
			granted = room > 0 ? room : 0;
	}
	if (p->rate != RATE_NONE)
		pacer->tokens -= (double)granted;
	return granted;
}

int64_t rollout_jitter_ms(const rollout_policy *p)
{
	uint64_t r;

	if (p->jitter_ms <= 0 || crypto_random(&r, sizeof(r)) != 0)
		return 0;
	return (int64_t)(r % (uint64_t)(p->jitter_ms + 1));
}

int rollout_device_timeout_s(const rollout_policy *p)
{
	return p->device_timeout_s;
}

/* attempts counts the failed attempts so far; retries.count is how many may follow the first. */
int rollout_may_retry(const rollout_policy *p, int attempts)
{
	return attempts <= p->retry_count;
}

/* delaySeconds * backoffFactor^(attempts - 1), capped at RETRY_DELAY_MAX_S. */
int64_t rollout_retry_delay_ms(const rollout_policy *p, int attempts)
{
	double s = p->retry_delay_s * pow(p->backoff, attempts > 1 ? attempts - 1 : 0);

	return (int64_t)(fmin(s, RETRY_DELAY_MAX_S) * 1000.0);
}

/* ---- gates ---- */

/* num / den >= bp / 10000, exactly while the products fit in 64 bits. */
static int ratio_at_least(int64_t num, int64_t den, int64_t bp)
{
	int64_t a, b;

	if (!__builtin_mul_overflow(num, (int64_t)10000, &a) && !__builtin_mul_overflow(bp, den, &b))
		return a >= b;
	return (long double)num * 10000 >= (long double)bp * (long double)den;
}

/* Counts from the engine are never negative, but a bad one must not turn into overflow here. */
static int64_t count_of(int64_t n)
{
	return n > 0 ? n : 0;
}

int rollout_should_abort(const rollout_policy *p, const rollout_counts *all)
{
	int64_t failed = count_of(all->failed), succeeded = count_of(all->succeeded);
	int64_t finished = succeeded > INT64_MAX - failed ? INT64_MAX : failed + succeeded;

	if (!p->has_abort || finished < p->abort_min || failed == 0)
		return 0;
	if (p->abort_count && failed >= p->abort_count)
		return 1;
	return p->abort_bp && ratio_at_least(failed, finished, p->abort_bp);
}

/* The last phase has no next phase to approve: finishing it well is ADVANCE (the rollout completes). */
rollout_gate rollout_phase_gate(const rollout_policy *p, int phase, const rollout_counts *c)
{
	const gate_rule *g =
	    phase >= 0 && phase < p->nphases && p->phases[phase].has_gate ? &p->phases[phase].gate : &p->gate;
	int64_t succeeded = count_of(c->succeeded), failed = count_of(c->failed), targets = count_of(c->targets);

	if (c->in_progress > 0 || succeeded < targets - failed)
		return ROLLOUT_GATE_WAIT;
	if (targets > 0 && !ratio_at_least(succeeded, targets, g->min_success_bp))
		return ROLLOUT_GATE_FAIL;
	return g->manual && phase < p->nphases - 1 ? ROLLOUT_GATE_APPROVAL : ROLLOUT_GATE_ADVANCE;
}

/* ---- health and context ---- */

const char *rollout_health_condition(const rollout_policy *p)
{
	return p->health;
}

int rollout_health_timeout_s(const rollout_policy *p)
{
	return p->health ? p->health_timeout_s : 0;
}

const char *rollout_context_condition(const rollout_policy *p)
{
	return p->context;
}

const char *rollout_timezone_path(const rollout_policy *p)
{
	return p->tz_path;
}

int rollout_dynamic_targets(const rollout_policy *p)
{
	return p->dynamic;
}

/* ---- maintenance windows: wall-clock arithmetic is ICU's, never ours ---- */

/* A calendar in zone tz, or in UTC when tz is NULL, malformed or unknown to ICU. Skipped wall times (the
 * spring-forward gap) resolve to the first valid instant after them, so a window opening inside a gap opens
 * when the gap ends. NULL only if ICU itself fails. */
static UCalendar *zone_calendar(const char *tz)
{
	UChar id[TZ_MAX_LEN + 1], canon[128];
	UBool system_id = 0;
	UErrorCode st = U_ZERO_ERROR;
	int32_t len = 0;
	UCalendar *cal;

	for (; tz && tz[len] && len <= TZ_MAX_LEN; len++) {
		char c = tz[len];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
		      c == '_' || c == '-' || c == '+' || c == ':'))
			break;
		id[len] = (UChar)c;
	}
	if (!tz || len == 0 || len > TZ_MAX_LEN || tz[len] ||
	    (ucal_getCanonicalTimeZoneID(id, len, canon, 128, &system_id, &st), U_FAILURE(st))) {
		static const UChar utc[] = {'U', 'T', 'C'};
		memcpy(id, utc, sizeof(utc));
		len = 3;
	}
	st = U_ZERO_ERROR;
	cal = ucal_open(id, len, "en_US_POSIX", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st)) {
		ucal_close(cal);
		return NULL;
	}
	ucal_setAttribute(cal, UCAL_SKIPPED_WALL_TIME, UCAL_WALLTIME_NEXT_VALID);
	return cal;
}

/* Local day of week (1 = Sunday) and minute of the day at t. */
static int local_time(UCalendar *cal, int64_t t, int *dow, int *minute)
{
	UErrorCode st = U_ZERO_ERROR;

	ucal_setMillis(cal, (UDate)t, &st);
	*dow = ucal_get(cal, UCAL_DAY_OF_WEEK, &st);
	*minute = ucal_get(cal, UCAL_HOUR_OF_DAY, &st) * 60 + ucal_get(cal, UCAL_MINUTE, &st);
	return U_FAILURE(st) ? -1 : 0;
}

static int inside_at(const rollout_policy *p, int dow, int minute)
{
	unsigned today = 1u << (dow - 1), yesterday = 1u << ((dow + 5) % 7);

	for (int i = 0; i < p->nwindows; i++) {
		const window_def *w = &p->windows[i];
		if (w->start_min < w->end_min) {
			if ((w->days & today) && minute >= w->start_min && minute < w->end_min)
				return 1;
		} else if (((w->days & today) && minute >= w->start_min) ||
			   ((w->days & yesterday) && minute < w->end_min)) {
			return 1;
		}
	}
	return 0;
}

static int inside(const rollout_policy *p, UCalendar *cal, int64_t t)
{
	int dow, minute;

	return local_time(cal, t, &dow, &minute) == 0 && inside_at(p, dow, minute);
}

/* The instant of local date (y, m, d + k) at minute, with repeated wall times (the fall-back hour) taken
 * at their first or last occurrence. -1 on failure. */
static int64_t local_instant(UCalendar *cal, int y, int m, int d, int minute, int last, int *dow)
{
	UErrorCode st = U_ZERO_ERROR;
	UDate t;

	ucal_clear(cal);
	ucal_setAttribute(cal, UCAL_REPEATED_WALL_TIME, last ? UCAL_WALLTIME_LAST : UCAL_WALLTIME_FIRST);
	ucal_setDateTime(cal, y, m, d, 12, 0, 0, &st);
	*dow = ucal_get(cal, UCAL_DAY_OF_WEEK, &st);
	ucal_clear(cal);
	ucal_setDateTime(cal, y, m, d, minute / 60, minute % 60, 0, &st);
	t = ucal_getMillis(cal, &st);
	return U_FAILURE(st) ? -1 : (int64_t)t;
}

/* A window opens when the wall clock reaches its start on one of its days (first or second occurrence of a
 * repeated hour; the end of a gap for a skipped one), or when a zone transition moves the wall clock into
 * it. The earliest such candidate after now that is really inside is the answer. */
static int64_t next_open(const rollout_policy *p, UCalendar *cal, int64_t now)
{
	UErrorCode st = U_ZERO_ERROR;
	int64_t best = -1, horizon = now + (SEARCH_DAYS + 1) * DAY_MS;
	int y, m, d;
	UDate tr;

	ucal_setMillis(cal, (UDate)now, &st);
	y = ucal_get(cal, UCAL_YEAR, &st);
	m = ucal_get(cal, UCAL_MONTH, &st);
	d = ucal_get(cal, UCAL_DATE, &st);
	if (U_FAILURE(st))
		return -1;
	for (int k = -1; k <= SEARCH_DAYS; k++)
		for (int i = 0; i < p->nwindows; i++)
			for (int last = 0; last < 2; last++) {
				int dow;
				int64_t c = local_instant(cal, y, m, d + k, p->windows[i].start_min, last, &dow);
				if (c > now && (best < 0 || c < best) && (p->windows[i].days & (1u << (dow - 1))) &&
				    inside(p, cal, c))
					best = c;
			}
	st = U_ZERO_ERROR;
	ucal_setMillis(cal, (UDate)now, &st);
	while (U_SUCCESS(st) && ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &tr, &st) &&
	       U_SUCCESS(st) && (int64_t)tr <= horizon && (best < 0 || (int64_t)tr < best)) {
		if (inside(p, cal, (int64_t)tr)) /* leaves the calendar at tr for the next lookup */
			best = (int64_t)tr;
	}
	return best;
}

int rollout_in_window(const rollout_policy *p, const char *tz, int64_t now_ms, int64_t *next_open_ms)
{
	UCalendar *cal = NULL;
	int in = 1;

	if (next_open_ms)
		*next_open_ms = now_ms;
	if (p->nwindows == 0 || now_ms < 0 || now_ms > NOW_MAX_MS)
		goto out; /* nothing to honour, or a time ICU is not asked about: do not defer */
	if (!(cal = zone_calendar(tz)))
		goto out;
	in = inside(p, cal, now_ms);
	if (!in && next_open_ms) {
		int64_t t = next_open(p, cal, now_ms);
		/* Only a window swallowed by DST gaps two weeks running gets here: look again in a day. */
		*next_open_ms = t > now_ms ? t : now_ms + DAY_MS;
	}
out:
	ucal_close(cal);
	return in;
}
