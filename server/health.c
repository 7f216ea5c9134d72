/*
 * health: health rules (health.h). The evaluator thread sleeps on a condition variable: a rule change
 * (health_rule_put/delete) kicks it and fleet shutdown wakes it at once. The last evaluation is one JSON
 * document behind a mutex; readers get a copy.
 */
#include "health.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "events.h"
#include "json_util.h"
#include "log.h"
#include "query.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- rules --------------------------------------------------------------------------------------------- */

static int name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > STORE_HEALTH_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_' || c == ':'))
			return 0;
	}
	return 1;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* Parses and compiles the condition as the evaluator will run it; positions count from its first byte. */
static int check_condition(const char *condition, size_t len)
{
	query *q = NULL;
	query_sql qs = {0};
	query_error qe;
	int rc;

	if ((rc = query_parse_condition(condition, len, &q, &qe)) != 0)
		return err_set(DH_EQUERY, "condition: syntax error at position %zu: %s", qe.position, qe.message);
	rc = query_compile(q, store_dialect_sqlite(), NULL, &qs, &qe);
	if (rc)
		rc = err_set(DH_EQUERY, "condition: query error at position %zu: %s", qe.position, qe.message);
	query_sql_release(&qs);
	query_free(q);
	return rc;
}

int health_rule_check(const char *name, const json_t *body, store_health_rule *out)
{
	const char *bname = json_util_str(body, "name");
	const json_t *cond = json_object_get(body, "condition");
	const json_t *threshold = json_object_get(body, "threshold");
	const json_t *severity = json_object_get(body, "severity");
	const json_t *desc = json_object_get(body, "description");
	int rc;

	memset(out, 0, sizeof(*out));
	if (!name_valid(name))
		return err_set(DH_EINVAL, "'%.200s' is not a valid health rule name: 1 to %d letters, digits and - . _ :",
			       name ? name : "", STORE_HEALTH_NAME_MAX);
	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the body must be {\"condition\": \"...\", \"threshold\": 0, \"severity\": "
					  "\"warning\"|\"critical\", \"description\": \"...\"}");
	if (bname && strcmp(bname, name) != 0)
		return err_set(DH_EINVAL, "name '%.200s' in the body does not match '%s' in the path", bname, name);
	if (!json_is_string(cond) || json_string_length(cond) == 0)
		return err_set(DH_EINVAL, "condition is required, e.g. \"properties.reported.battery < 20\"");
	if (json_string_length(cond) > STORE_HEALTH_CONDITION_MAX)
		return err_set(DH_EINVAL, "condition exceeds %d bytes", STORE_HEALTH_CONDITION_MAX);
	if (threshold && (!json_is_integer(threshold) || json_integer_value(threshold) < 0))
		return err_set(DH_EINVAL, "threshold must be an integer >= 0");
	if (!json_is_string(severity) ||
	    (strcmp(json_string_value(severity), "warning") != 0 && strcmp(json_string_value(severity), "critical") != 0))
		return err_set(DH_EINVAL, "severity must be \"warning\" or \"critical\"");
	if (desc && !json_is_null(desc) &&
	    (!json_is_string(desc) || utf8_chars(json_string_value(desc)) > STORE_HEALTH_DESCRIPTION_MAX ||
	     json_string_length(desc) >= sizeof(out->description)))
		return err_set(DH_EINVAL, "description must be a string of at most %d characters",
			       STORE_HEALTH_DESCRIPTION_MAX);
	if ((rc = check_condition(json_string_value(cond), json_string_length(cond))) != 0)
		return rc;
	snprintf(out->name, sizeof(out->name), "%s", name);
	snprintf(out->condition, sizeof(out->condition), "%s", json_string_value(cond));
	out->threshold = threshold ? json_integer_value(threshold) : 0;
	snprintf(out->severity, sizeof(out->severity), "%s", json_string_value(severity));
	snprintf(out->description, sizeof(out->description), "%s", json_is_string(desc) ? json_string_value(desc) : "");
	return 0;
}

static json_t *render_rule(const store_health_rule *r)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "name", r->name, "condition", r->condition, "threshold",
			 (json_int_t)r->threshold, "severity", r->severity, "description", r->description, "createdTime",
			 r->created_time, "lastUpdatedTime", r->updated_time);
}

static int collect_rule(const store_health_rule *r, void *ctx)
{
	json_array_append_new(ctx, render_rule(r));
	return 0;
}

int health_rule_list(json_t **out)
{
	store *s = store_thread();
	json_t *list;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	list = json_array();
	if ((rc = store_health_rule_each(s, collect_rule, list)) != 0) {
		json_decref(list);
		return rc;
	}
	*out = list;
	return 0;
}

static void kick(void);

static int count_rule(const store_health_rule *r, void *ctx)
{
	(*(size_t *)ctx)++;
	return 0;
}

int health_rule_put(const char *name, const json_t *body, json_t **out, int *created)
{
	store *s = store_thread();
	store_health_rule r;
	size_t n = 0;
	int rc;

	*out = NULL;
	*created = 0;
	if (!s)
		return DH_EIO;
	if ((rc = health_rule_check(name, body, &r)) != 0)
		return rc;
	clock_iso_now(r.updated_time);
	snprintf(r.created_time, sizeof(r.created_time), "%s", r.updated_time);
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_health_rule_each(s, count_rule, &n)) != 0 || (rc = store_health_rule_put(s, &r, created)) != 0)
		goto out;
	if (*created && n >= HEALTH_RULES_MAX) {
		rc = err_set(DH_EQUOTA, "at most %d health rules", HEALTH_RULES_MAX);
		goto out;
	}
	rc = store_commit(s);
out:
	if (rc) {
		store_rollback(s);
		return rc;
	}
	/* The stored row keeps its createdTime on a replace: answer what a GET would show. */
	json_t *list = NULL;
	if (health_rule_list(&list) == 0) {
		size_t i;
		json_t *item;
		json_array_foreach(list, i, item)
			if (strcmp(json_string_value(json_object_get(item, "name")), name) == 0)
				*out = json_incref(item);
	}
	json_decref(list);
	if (!*out)
		*out = render_rule(&r);
	kick();
	return 0;
}

int health_rule_delete(const char *name)
{
	store *s = store_thread();
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_health_rule_delete(s, name)) == 0)
		kick();
	return rc;
}

/* ---- evaluation ---------------------------------------------------------------------------------------- */

static atomic_int evaluation_abandon; /* set by health_evaluator_stop: a shutdown skips the rules left */
static pthread_mutex_t last_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *last;                   /* the last evaluation, under last_lock */
static pthread_mutex_t evaluate_lock = PTHREAD_MUTEX_INITIALIZER;

/* Runs "<select> FROM devices WHERE <condition>" for up to max rows. OUT: *items. */
static int run(const char *select, const char *condition, int max, json_t **items)
{
	buf text = BUF_INIT;
	char *next = NULL;
	const char *type;
	int rc;

	buf_printf(&text, "%s FROM devices WHERE %s", select, condition);
	rc = query_run(buf_cstr(&text), strlen(buf_cstr(&text)), max, NULL, items, &next, &type);
	free(next);
	buf_release(&text);
	return rc;
}

/* One rule's evaluation: the rule plus count, breaking and devices (or error). */
static json_t *evaluate_rule(const store_health_rule *r)
{
	json_t *out = render_rule(r), *items = NULL, *devices = json_array(), *item;
	json_int_t count = 0;
	size_t i;
	int rc;

	json_object_del(out, "createdTime");
	json_object_del(out, "lastUpdatedTime");
	if ((rc = run("SELECT COUNT() AS n", r->condition, 1, &items)) == 0)
		count = json_integer_value(json_object_get(json_array_get(items, 0), "n"));
	json_decref(items);
	items = NULL;
	if (rc == 0 && count > 0 && (rc = run("SELECT deviceId", r->condition, HEALTH_DEVICES_MAX, &items)) == 0)
		json_array_foreach(items, i, item) {
			const json_t *id = json_object_get(item, "deviceId");
			if (json_is_string(id) && json_array_size(devices) < HEALTH_DEVICES_MAX)
				json_array_append(devices, (json_t *)id);
		}
	json_decref(items);
	if (rc) {
		json_object_set_new(out, "count", json_null());
		json_object_set_new(out, "breaking", json_false());
		json_object_set_new(out, "error", json_string(err_message()));
		err_clear();
	} else {
		json_object_set_new(out, "count", json_integer(count));
		json_object_set_new(out, "breaking", json_boolean(count > r->threshold));
	}
	json_object_set_new(out, "devices", devices);
	return out;
}

static int collect_stored(const store_health_rule *r, void *ctx)
{
	store_health_rule **rules = ctx;
	size_t n = 0;

	while ((*rules)[n].name[0])
		n++;
	*rules = xrealloc(*rules, (n + 2) * sizeof(**rules));
	(*rules)[n] = *r;
	(*rules)[n + 1].name[0] = '\0';
	return 0;
}

/* The published state of a rule in an evaluation: count (-1 when unknown) and breaking. */
static void state_of(const json_t *rule, json_int_t *count, int *breaking)
{
	const json_t *c = json_object_get(rule, "count");

	*count = json_is_integer(c) ? json_integer_value(c) : -1;
	*breaking = json_is_true(json_object_get(rule, "breaking"));
}

static const json_t *find_rule(const json_t *evaluation, const char *name)
{
	size_t i;
	json_t *rule;

	json_array_foreach(json_object_get(evaluation, "rules"), i, rule)
		if (strcmp(json_string_value(json_object_get(rule, "name")), name) == 0)
			return rule;
	return NULL;
}

static void publish(const char *name, int breaking, json_int_t count)
{
	events_publish("health.changed", json_pack("{s:s, s:b, s:I}", "name", name, "breaking", breaking, "count", count));
}

/* health.changed for every rule whose state differs from before (a rule not there before counts as
 * 0 devices, not breaking; a deleted rule that had devices goes back to that). Errors publish nothing. */
static void publish_changes(const json_t *before, const json_t *now)
{
	size_t i;
	json_t *rule;

	json_array_foreach(json_object_get(now, "rules"), i, rule) {
		const char *name = json_string_value(json_object_get(rule, "name"));
		const json_t *old = before ? find_rule(before, name) : NULL;
		json_int_t was = 0, count;
		int was_breaking = 0, breaking;
		state_of(rule, &count, &breaking);
		if (old)
			state_of(old, &was, &was_breaking);
		if (count >= 0 && (count != was || breaking != was_breaking))
			publish(name, breaking, count);
	}
	json_array_foreach(json_object_get(before, "rules"), i, rule) {
		const char *name = json_string_value(json_object_get(rule, "name"));
		json_int_t was;
		int was_breaking;
		state_of(rule, &was, &was_breaking);
		if (!find_rule(now, name) && (was > 0 || was_breaking))
			publish(name, 0, 0);
	}
}

int health_evaluate_now(void)
{
	store *s = store_thread();
	store_health_rule *rules = xcalloc(1, sizeof(*rules));
	json_t *evaluation = NULL, *list = json_array(), *before;
	char now[CLOCK_ISO_LEN];
	int rc;

	pthread_mutex_lock(&evaluate_lock);
	if (!s) {
		rc = DH_EIO;
		goto out;
	}
	/* Rules first, counts after: query_run opens its own read transaction. */
	if ((rc = store_health_rule_each(s, collect_stored, &rules)) != 0)
		goto out;
	for (size_t i = 0; rules[i].name[0]; i++) {
		/* Each rule may scan the whole fleet; a shutdown does not wait for the rest, nor keeps half. */
		if (atomic_load(&evaluation_abandon)) {
			rc = err_set(DH_EBUSY, "shutting down");
			goto out;
		}
		json_array_append_new(list, evaluate_rule(&rules[i]));
	}
	clock_iso_from_ms(clock_hub_ms(), now);
	evaluation = json_pack("{s:s, s:O}", "evaluatedTime", now, "rules", list);
	pthread_mutex_lock(&last_lock);
	before = last;
	last = json_incref(evaluation);
	pthread_mutex_unlock(&last_lock);
	publish_changes(before, evaluation);
	json_decref(before);
out:
	pthread_mutex_unlock(&evaluate_lock);
	json_decref(evaluation);
	json_decref(list);
	free(rules);
	return rc;
}

static json_t *unevaluated(void)
{
	json_t *rules = NULL, *rule;
	size_t i;

	if (health_rule_list(&rules) != 0)
		return NULL;
	json_array_foreach(rules, i, rule) {
		json_object_del(rule, "createdTime");
		json_object_del(rule, "lastUpdatedTime");
		json_object_set_new(rule, "count", json_null());
		json_object_set_new(rule, "breaking", json_false());
		json_object_set_new(rule, "devices", json_array());
	}
	return json_pack("{s:n, s:o}", "evaluatedTime", "rules", rules);
}

int health_get(json_t **out)
{
	pthread_mutex_lock(&last_lock);
	*out = last ? json_deep_copy(last) : NULL;
	pthread_mutex_unlock(&last_lock);
	if (!*out && !(*out = unevaluated()))
		return DH_EIO;
	return 0;
}

void health_reset(void)
{
	pthread_mutex_lock(&last_lock);
	json_decref(last);
	last = NULL;
	pthread_mutex_unlock(&last_lock);
}

/* ---- the evaluator thread ------------------------------------------------------------------------------ */

static pthread_mutex_t evaluator_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t evaluator_wake = PTHREAD_COND_INITIALIZER;
static pthread_t evaluator_thread;
static int evaluator_running;
static int evaluator_stopping;   /* under evaluator_lock */
static int evaluator_kicked;     /* under evaluator_lock */
static atomic_int evaluator_interval_s = 30;
#define EVALUATOR_COST_FACTOR 10
static store *_Atomic evaluator_store;  /* the thread's connection, for health_evaluator_stop to interrupt */

static void kick(void)
{
	pthread_mutex_lock(&evaluator_lock);
	evaluator_kicked = 1;
	pthread_cond_signal(&evaluator_wake);
	pthread_mutex_unlock(&evaluator_lock);
}

static void *evaluator_main(void *arg)
{
	(void)arg;
	atomic_store(&evaluator_store, store_thread());
	pthread_mutex_lock(&evaluator_lock);
	while (!evaluator_stopping) {
		struct timespec until, t0, t1;
		time_t pause;
		evaluator_kicked = 0;
		pthread_mutex_unlock(&evaluator_lock);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (health_evaluate_now() != 0 && !atomic_load(&evaluation_abandon))
			log_warn("health rules: evaluation failed: %s", err_message());
		store_end_request(store_thread_if_open());
		clock_gettime(CLOCK_MONOTONIC, &t1);
		/* Unindexed conditions scan the device table: at 1,000,000 devices one round costs seconds of
		 * CPU. Waiting at least EVALUATOR_COST_FACTOR times the last round's duration keeps the
		 * evaluator under a tenth of a core whatever the fleet size or the interval. */
		pause = atomic_load(&evaluator_interval_s);
		if ((t1.tv_sec - t0.tv_sec) * EVALUATOR_COST_FACTOR > pause)
			pause = (t1.tv_sec - t0.tv_sec) * EVALUATOR_COST_FACTOR;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += pause;
		pthread_mutex_lock(&evaluator_lock);
		while (!evaluator_stopping && !evaluator_kicked)
			if (pthread_cond_timedwait(&evaluator_wake, &evaluator_lock, &until) != 0)
				break;
	}
	pthread_mutex_unlock(&evaluator_lock);
	return NULL;
}

int health_evaluator_start(int interval_s)
{
	if (evaluator_running)
		return 0;
	atomic_store(&evaluator_interval_s, interval_s > 0 ? interval_s : 30);
	atomic_store(&evaluation_abandon, 0);
	evaluator_stopping = 0;
	if (pthread_create(&evaluator_thread, NULL, evaluator_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the health rule evaluator");
	evaluator_running = 1;
	return 0;
}

void health_evaluator_stop(void)
{
	if (!evaluator_running)
		return;
	atomic_store(&evaluation_abandon, 1);
	/* A rule's count may be scanning a million twins: stop it rather than wait (the connection stays
	 * open until store_global_shutdown, after the join). */
	store_interrupt(atomic_load(&evaluator_store));
	pthread_mutex_lock(&evaluator_lock);
	evaluator_stopping = 1;
	pthread_cond_signal(&evaluator_wake);
	pthread_mutex_unlock(&evaluator_lock);
	pthread_join(evaluator_thread, NULL);
	atomic_store(&evaluator_store, NULL);
	evaluator_running = 0;
}
