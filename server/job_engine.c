/*
 * job_engine: the one thread that runs jobs. Each step, per active job: start it when its time comes
 * (resolve targets, assign phases), apply finished device attempts, check abort and phase gates, release
 * offline and verifying devices, dispatch what the policy allows, and finish it. Every state change is
 * committed before it is acted on (see job.h for the at-most-once rule). Never speaks HTTP or SQL.
 */
#include "job.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "events.h"
#include "job_int.h"
#include "json_util.h"
#include "log.h"
#include "method.h"
#include "query.h"
#include "rollout.h"
#include "session.h"
#include "store.h"
#include "store_device.h"
#include "store_job.h"
#include "twin.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ENGINE_TICK_MS 50
#define ENGINE_MAX_ACTIVE 64
#define DISPATCH_MAX 1000           /* devices started per job per step (each step also counts every row) */
#define SWEEP_EVERY_MS 1000         /* offline and verifying devices are re-checked this often */
#define DYNAMIC_EVERY_MS 5000
#define PROGRESS_EVERY_MS 1000      /* job.progress at most this often per job, besides status changes */
#define EVENTS_PENDING_MAX 10000    /* live events gathered in one transaction; more are dropped */

/* A finished device attempt, handed from a method completion (any thread) to the engine. */
typedef struct attempt_done {
	struct attempt_done *next;
	char job_id[STORE_JOB_ID_MAX + 1];
	store_job_device device;
	int code;           /* 0 = the device answered */
	int status;
	int rollout;        /* the job has a policy, even if its runtime is gone when the answer comes */
	json_t *payload;
} attempt_done;

/* What the engine keeps in memory per running job; rebuilt from the store after a restart. */
typedef struct job_runtime {
	char job_id[STORE_JOB_ID_MAX + 1];
	rollout_policy *policy;
	rollout_pacer pacer;
	int pacer_phase;
	int64_t last_sweep_ms, last_dynamic_ms;
	int seen;
	/* What the last job.progress event said, and when (monotonic ms). */
	int64_t last_progress_ms;
	store_job_counts last_counts;
	char last_status[16];
	int last_phase, last_paused, last_awaiting;
} job_runtime;

static pthread_t engine_thread;
static pthread_mutex_t engine_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t engine_cond = PTHREAD_COND_INITIALIZER;
static attempt_done *engine_done;       /* guarded by engine_lock */
static int engine_wakeups, engine_stopping, engine_running;
static job_runtime engine_jobs[ENGINE_MAX_ACTIVE];

/* ---- live events (events.md) ---- */

/* Events that a transaction's changes imply, published only once it commits: [[type, data], ...].
 * Engine thread only. */
static json_t *engine_events;

static void event_after_commit(const char *type, json_t *data_take)
{
	if (!engine_events)
		engine_events = json_array();
	if (json_array_size(engine_events) < EVENTS_PENDING_MAX)
		json_array_append_new(engine_events, json_pack("[s,o]", type, data_take));
	else
		json_decref(data_take);
}

/* The transaction ended: publish what it gathered (committed) or forget it. */
static void events_settle(int committed)
{
	size_t i;
	json_t *e;

	if (!engine_events)
		return;
	if (committed)
		json_array_foreach(engine_events, i, e)
			events_publish(json_string_value(json_array_get(e, 0)), json_incref(json_array_get(e, 1)));
	json_array_clear(engine_events);
}

static void rollout_phase_event(const store_job *j, int phase, const char *what)
{
	event_after_commit("rollout.phase", json_pack("{s:s, s:i, s:s}", "jobId", j->job_id, "phase", phase, "event", what));
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void job__wake(void)
{
	pthread_mutex_lock(&engine_lock);
	engine_wakeups++;
	pthread_cond_signal(&engine_cond);
	pthread_mutex_unlock(&engine_lock);
}

/* ---- conditions ---- */

/* Compiles `SELECT * FROM devices WHERE (cond)`, narrowed to one device when device_id is given. The id
 * is a string literal of the query language (quotes escaped), so it is bound like any literal. */
static int compile_condition(const char *cond, const char *device_id, query_sql *out)
{
	buf text = BUF_INIT;
	query *q = NULL;
	query_error qe;
	int rc;

	buf_printf(&text, "SELECT * FROM devices WHERE (%s)", cond);
	if (device_id) {
		buf_puts(&text, " AND deviceId = '");
		for (const char *p = device_id; *p; p++) {
			if (*p == '\'' || *p == '\\')
				buf_putc(&text, '\\');
			buf_putc(&text, *p);
		}
		buf_putc(&text, '\'');
	}
	rc = query_parse(text.data, text.len, &q, &qe);
	if (rc == 0)
		rc = query_compile(q, store_dialect_sqlite(), NULL, out, &qe);
	if (rc)
		err_set(DH_EQUERY, "%s", qe.message);
	query_free(q);
	buf_release(&text);
	return rc;
}

/* 1 when the device matches cond now, 0 when not, negative on error. */
static int device_matches(store *s, const char *cond, const char *device_id)
{
	query_sql sql;
	int rc = compile_condition(cond, device_id, &sql);

	if (rc)
		return rc;
	rc = store_job_sql_has_row(s, sql.sql, sql.params, sql.nparams);
	query_sql_release(&sql);
	return rc;
}

/* ---- starting a job ---- */

static int add_targets(store *s, const store_job *j, int phase, int shuffle, int64_t now, int64_t *added)
{
	query_sql sql;
	int rc = compile_condition(j->query_condition, NULL, &sql);

	if (rc)
		return rc;
	rc = store_job_add_targets(s, j->job_id, sql.sql, sql.params, sql.nparams, phase, shuffle, now, added);
	query_sql_release(&sql);
	return rc;
}

/* Splits the targets into the policy's phases: by cumulative percentage over a random order, or by each
 * phase's own condition (devices matching none go to the last phase). */
static int assign_phases(store *s, const store_job *j, const rollout_policy *p, int64_t total)
{
	int n = rollout_phase_count(p), rc = 0;
	int64_t done = 0;

	if (n <= 1)
		return 0;
	if (!rollout_phase_condition(p, 0)) {
		for (int i = 0; i < n && rc == 0; i++) {
			int64_t upto = rollout_phase_cumulative(p, i, total);
			rc = store_job_assign_rank(s, j->job_id, done, upto - done, i);
			done = upto;
		}
		return rc;
	}
	/* Everything starts in the last phase; earlier phases claim their devices in order. */
	rc = store_job_assign_rank(s, j->job_id, 0, total, n - 1);
	for (int i = 0; i < n - 1 && rc == 0; i++) {
		query_sql sql;
		if ((rc = compile_condition(rollout_phase_condition(p, i), NULL, &sql)) != 0)
			break;
		rc = store_job_assign_where(s, j->job_id, n - 1, i, sql.sql, sql.params, sql.nparams);
		query_sql_release(&sql);
	}
	return rc;
}

static int start_job(store *s, store_job *j, const rollout_policy *p, int64_t now)
{
	int64_t added = 0;
	int rc = add_targets(s, j, 0, p != NULL, now, &added);

	if (rc == 0 && p)
		rc = assign_phases(s, j, p, added);
	if (rc) {
		snprintf(j->status, sizeof(j->status), "failed");
		snprintf(j->failure_reason, sizeof(j->failure_reason), "%s", err_message());
		j->end_ms = now;
		return 0;
	}
	snprintf(j->status, sizeof(j->status), "running");
	if (p)
		rollout_phase_event(j, 0, "started");
	snprintf(j->status_message, sizeof(j->status_message), "%lld devices targeted", (long long)added);
	log_info("job %s: started with %lld devices", j->job_id, (long long)added);
	return 0;
}

/* ---- finished attempts ---- */

static attempt_done *take_done(void)
{
	attempt_done *list, *rev = NULL;

	pthread_mutex_lock(&engine_lock);
	list = engine_done;
	engine_done = NULL;
	pthread_mutex_unlock(&engine_lock);
	while (list) { /* oldest first */
		attempt_done *next = list->next;
		list->next = rev;
		rev = list;
		list = next;
	}
	return rev;
}

static void method_finished(void *ctx, int code, int status, json_t *payload)
{
	attempt_done *d = ctx;

	d->code = code;
	d->status = status;
	d->payload = payload;
	pthread_mutex_lock(&engine_lock);
	if (!engine_running || engine_stopping) {
		/* Stopped: the device stays running in the store and recover() settles it at the next start. */
		pthread_mutex_unlock(&engine_lock);
		json_decref(payload);
		free(d);
		return;
	}
	d->next = engine_done;
	engine_done = d;
	engine_wakeups++;
	pthread_cond_signal(&engine_cond);
	pthread_mutex_unlock(&engine_lock);
}

/* The device failed this attempt: retry later when the policy allows, else fail it for good. */
static int fail_device(store *s, const char *job_id, store_job_device *d, const rollout_policy *p, int64_t now,
		       const json_t *outcome, const char *code, const char *description)
{
	if (p && rollout_may_retry(p, d->attempts)) {
		snprintf(d->status, sizeof(d->status), "pending");
		d->not_before_ms = now + rollout_retry_delay_ms(p, d->attempts);
	} else {
		json_t *data = json_pack("{s:s, s:s, s:s}", "jobId", job_id, "deviceId", d->device_id, "errorCode", code);
		if (*d->module_id)
			json_object_set_new(data, "moduleId", json_string(d->module_id));
		snprintf(d->status, sizeof(d->status), "failed");
		event_after_commit("device.failed", data);
	}
	return store_job_device_set(s, job_id, d, now, outcome, code, description);
}

/* Records one device's answer. A rollout counts a device status of 400 or more as a failure, and with a
 * health condition a good answer only moves the device to verifying. */
static int apply_done(store *s, attempt_done *a, const rollout_policy *p, int64_t now)
{
	store_job_device *d = &a->device;
	json_t *outcome;
	char code[32];
	char now_status[16];
	int rc;

	/* An answer for a device no longer running (its rollout timed it out, aborted or was cancelled)
	 * changes nothing: the row already says how the attempt ended. */
	if ((rc = store_job_device_status(s, a->job_id, d->device_id, d->module_id, now_status)) != 0)
		return rc;
	if (strcmp(now_status, "running") != 0)
		return 0;
	if (a->code == DH_EOFFLINE) {
		/* Not invoked: it goes back to waiting for its connection, and the attempt does not count. */
		snprintf(d->status, sizeof(d->status), "scheduled");
		d->attempts--;
		return store_job_device_set(s, a->job_id, d, now, NULL, NULL, NULL);
	}
	if (a->code) {
		err_http_info info = err_http(a->code);
		return fail_device(s, a->job_id, d, p, now, NULL, info.name, err_message());
	}
	outcome = json_pack("{s:{s:i, s:O}}", "deviceMethodResponse", "status", a->status, "payload",
			    a->payload ? a->payload : json_null());
	/* p is NULL too for a rollout that ended (aborted, cancelled) while this call was in flight: its error
	 * answer is still a failure, just without a retry. */
	if ((p || a->rollout) && a->status >= 400) {
		snprintf(code, sizeof(code), "MethodStatus%d", a->status);
		rc = fail_device(s, a->job_id, d, p, now, outcome, code, "the device answered with an error status");
	} else {
		snprintf(d->status, sizeof(d->status), p && rollout_health_condition(p) ? "verifying" : "completed");
		rc = store_job_device_set(s, a->job_id, d, now, outcome, NULL, NULL);
	}
	json_decref(outcome);
	return rc;
}

/* ---- dispatching ---- */

/* Whether the device may start now under the policy's window and context condition; when not, when to
 * look again. */
static int device_ready(store *s, const rollout_policy *p, const store_job_device *d, int64_t now, int64_t *again)
{
	const char *tz_path = rollout_timezone_path(p);
	const char *context = rollout_context_condition(p);
	char tz[64] = "";
	int64_t next_open = 0;
	int rc;

	if (tz_path && strncmp(tz_path, "tags.", 5) == 0) {
		store_identity id;
		store_twin tw = {0};
		if (store_device_get(s, d->device_id, d->module_id, &id, &tw) == 0)
			snprintf(tz, sizeof(tz), "%s", json_util_str(tw.tags, tz_path + 5) ? json_util_str(tw.tags, tz_path + 5) : "");
		store_twin_release(&tw);
	}
	if (!rollout_in_window(p, *tz ? tz : NULL, now, &next_open)) {
		*again = next_open > now ? next_open : now + SWEEP_EVERY_MS;
		return 0;
	}
	if (context && (rc = device_matches(s, context, d->device_id)) <= 0) {
		*again = now + SWEEP_EVERY_MS;
		return rc < 0 ? rc : 0;
	}
	return 1;
}

/* Desired changes made by a twin job's step, pushed to connected devices once the step commits. */
typedef struct push_list {
	struct {
		char device_id[129];
		char module_id[129];
		int64_t version;
	} items[DISPATCH_MAX];
	int n;
} push_list;

/* A twin update inside the step's transaction, re-checked against the job's condition and the patch's
 * ETag at write time; conflicts are counted as failures, not written blindly. */
static int run_twin_update(store *s, const store_job *j, store_job_device *d, const rollout_policy *p, int64_t now,
			   push_list *pushes)
{
	const json_t *u = json_object_get(j->spec, "updateTwin");
	const char *etag = json_util_str(u, "etag");
	char iso[CLOCK_ISO_LEN];
	int64_t version = 0;
	int rc = device_matches(s, j->query_condition, d->device_id);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return fail_device(s, j->job_id, d, NULL, now, NULL, "ConditionNotMet",
				   "the device no longer matches the job's query condition");
	clock_iso_now(iso);
	if ((rc = store_savepoint(s)) != 0)
		return rc;
	rc = twin_patch_locked(s, d->device_id, d->module_id, u, etag && *etag && strcmp(etag, "*") ? etag : NULL, iso,
			       &version);
	if (rc) {
		err_http_info info = err_http(rc);
		store_savepoint_rollback(s);
		return fail_device(s, j->job_id, d, p, now, NULL, rc == DH_EETAG ? "PreconditionFailed" : info.name,
				   err_message());
	}
	if ((rc = store_savepoint_release(s)) != 0)
		return rc;
	if (version && pushes->n < DISPATCH_MAX) {
		snprintf(pushes->items[pushes->n].device_id, 129, "%s", d->device_id);
		snprintf(pushes->items[pushes->n].module_id, 129, "%s", d->module_id);
		pushes->items[pushes->n++].version = version;
	}
	snprintf(d->status, sizeof(d->status), p && rollout_health_condition(p) ? "verifying" : "completed");
	return store_job_device_set(s, j->job_id, d, now, NULL, NULL, NULL);
}

/* Hands a method to the device's session. The attempt is already committed as running. */
static void run_method(const store_job *j, const store_job_device *d)
{
	const json_t *m = json_object_get(j->spec, "cloudToDeviceMethod");
	attempt_done *a = xcalloc(1, sizeof(*a));
	json_t *request = json_pack("{s:O, s:O*, s:O*}", "methodName", json_object_get(m, "methodName"), "payload",
				    json_object_get(m, "payload"), "responseTimeoutInSeconds",
				    json_object_get(m, "responseTimeoutInSeconds"));
	int rc;

	snprintf(a->job_id, sizeof(a->job_id), "%s", j->job_id);
	a->device = *d;
	a->rollout = j->policy != NULL;
	rc = method_invoke(d->device_id, d->module_id, request, method_finished, a);
	if (rc)
		method_finished(a, rc, 0, NULL);
	json_decref(request);
}

/* Starts what the policy allows in the current phase. OUT: methods[0..*nm) to send after the commit. */
static int dispatch(store *s, store_job *j, job_runtime *rt, int64_t now, store_job_device *methods, int *nm,
		    push_list *pushes)
{
	static store_job_device due[DISPATCH_MAX];
	store_job_counts c;
	int64_t allow = DISPATCH_MAX, again;
	int n = 0, rc, is_method = strcmp(j->type, "scheduleDeviceMethod") == 0;

	*nm = 0;
	if (rt->policy) {
		if ((rc = store_job_counts_get(s, j->job_id, -1, &c)) != 0)
			return rc;
		/* Outcomes applied this step may have crossed the abort threshold: start nothing, gates() aborts. */
		rollout_counts finished = {c.total, c.completed, c.failed, c.running + c.verifying + c.pending};
		if (rollout_should_abort(rt->policy, &finished))
			return 0;
		if (rt->pacer_phase != j->phase) {
			memset(&rt->pacer, 0, sizeof(rt->pacer));
			rt->pacer_phase = j->phase;
		}
		allow = rollout_allowance(rt->policy, &rt->pacer, c.running + c.verifying, now);
		if (allow > DISPATCH_MAX)
			allow = DISPATCH_MAX;
	}
	if (allow <= 0)
		return 0;
	/* A plain job's devices are all in phase 0 (only a policy assigns or advances phases) and j->phase stays
	 * 0, so asking for j->phase selects the same rows as "any phase", through the index in order. */
	if ((rc = store_job_due(s, j->job_id, "pending", j->phase, now, (int)allow, due, &n)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		store_job_device *d = &due[i];
		if (rt->policy && (rc = device_ready(s, rt->policy, d, now, &again)) <= 0) {
			if (rc == 0) {
				d->not_before_ms = again;
				rc = store_job_device_set(s, j->job_id, d, now, NULL, NULL, NULL);
			}
			continue;
		}
		/* A first attempt is spread over the policy's jitter: deferred once by a random delay. */
		if (rt->policy && d->attempts == 0 && d->not_before_ms == 0 && rollout_jitter_ms(rt->policy) > 0) {
			d->not_before_ms = now + rollout_jitter_ms(rt->policy);
			if (d->not_before_ms > now) {
				rc = store_job_device_set(s, j->job_id, d, now, NULL, NULL, NULL);
				continue;
			}
		}
		d->attempts++;
		d->start_ms = now;
		d->not_before_ms = 0;
		snprintf(d->status, sizeof(d->status), "running");
		if (is_method) {
			rc = store_job_device_set(s, j->job_id, d, now, NULL, NULL, NULL);
			methods[(*nm)++] = *d;
		} else {
			rc = run_twin_update(s, j, d, rt->policy, now, pushes);
		}
	}
	return rc;
}

/* Offline devices of a method job that are connected now go back to pending; verifying devices that meet
 * the health condition complete, and those past its time limit fail. */
static int sweep(store *s, store_job *j, job_runtime *rt, int64_t now)
{
	static store_job_device rows[1000];
	int n = 0, rc;

	if ((rc = store_job_due(s, j->job_id, "scheduled", -1, INT64_MAX, 1000, rows, &n)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		if (!session_connected(rows[i].device_id, rows[i].module_id))
			continue;
		snprintf(rows[i].status, sizeof(rows[i].status), "pending");
		rc = store_job_device_set(s, j->job_id, &rows[i], now, NULL, NULL, NULL);
	}
	if (rc || !rt->policy)
		return rc;
	/* A rollout's per-device limit covers the whole attempt: method, download, reboot, health check. */
	if ((rc = store_job_due(s, j->job_id, "running", -1, INT64_MAX, 1000, rows, &n)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++)
		if (now - rows[i].start_ms > (int64_t)rollout_device_timeout_s(rt->policy) * 1000)
			rc = fail_device(s, j->job_id, &rows[i], rt->policy, now, NULL, "DeviceTimeout",
					 "the attempt took longer than deviceTimeoutSeconds");
	if (rc || !rollout_health_condition(rt->policy))
		return rc;
	if ((rc = store_job_due(s, j->job_id, "verifying", -1, INT64_MAX, 1000, rows, &n)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		store_job_device *d = &rows[i];
		int ok = device_matches(s, rollout_health_condition(rt->policy), d->device_id);
		if (ok < 0)
			return ok;
		if (ok) {
			snprintf(d->status, sizeof(d->status), "completed");
			rc = store_job_device_set(s, j->job_id, d, now, NULL, NULL, NULL);
		} else if (now - d->start_ms > (int64_t)rollout_health_timeout_s(rt->policy) * 1000) {
			rc = fail_device(s, j->job_id, d, rt->policy, now, NULL, "HealthCheckTimeout",
					 "the post-update condition did not hold in time");
		}
	}
	return rc;
}

/* Ends the job: devices never reached fail (offline ones with DeviceNotOnline). */
static int finish(store *s, store_job *j, int64_t now, const char *status, const char *reason)
{
	int64_t moved;
	int rc;

	if (strcmp(status, "completed") != 0) {
		/* An aborted rollout leaves untouched devices untouched: they are canceled, not failed. */
		if ((rc = store_job_move(s, j->job_id, "pending", "canceled", now, NULL, NULL, &moved)) ||
		    (rc = store_job_move(s, j->job_id, "scheduled", "canceled", now, NULL, NULL, &moved)))
			return rc;
	}
	snprintf(j->status, sizeof(j->status), "%s", status);
	snprintf(j->failure_reason, sizeof(j->failure_reason), "%s", reason ? reason : "");
	j->end_ms = now;
	log_info("job %s: %s%s%s", j->job_id, status, reason ? ": " : "", reason ? reason : "");
	return 0;
}

/* The job's deadline passed: nothing new starts; waiting devices fail. */
static int time_out(store *s, store_job *j, int64_t now)
{
	int64_t moved;
	int rc;

	if ((rc = store_job_move(s, j->job_id, "pending", "failed", now, "JobTimeout",
				 "maxExecutionTimeInSeconds passed before the device was reached", &moved)) ||
	    (rc = store_job_move(s, j->job_id, "scheduled", "failed", now, "DeviceNotOnline",
				 "the device did not connect within the job's window", &moved)) ||
	    (rc = store_job_move(s, j->job_id, "verifying", "failed", now, "HealthCheckTimeout",
				 "the job ended before the post-update condition held", &moved)))
		return rc;
	return 0;
}

/* Abort, phase gates and completion, from the counts. */
static int gates(store *s, store_job *j, job_runtime *rt, int64_t now)
{
	store_job_counts all, ph;
	int rc, last;

	if (!rt->policy) {
		/* A plain job only needs to know whether anything is left: counting every row at every step made
		 * a step O(devices) (docs/performance.md, "Jobs"). */
		if ((rc = store_job_unfinished(s, j->job_id)) < 0)
			return rc;
		return rc ? 0 : finish(s, j, now, "completed", NULL);
	}
	if ((rc = store_job_counts_get(s, j->job_id, -1, &all)) != 0)
		return rc;
	if (rt->policy) {
		rollout_counts rc_all = {all.total, all.completed, all.failed, all.running + all.verifying + all.pending};
		if (rollout_should_abort(rt->policy, &rc_all)) {
			rollout_phase_event(j, j->phase, "aborted");
			return finish(s, j, now, "failed", "aborted: the failure threshold was crossed");
		}
		if ((rc = store_job_counts_get(s, j->job_id, j->phase, &ph)) != 0)
			return rc;
		last = j->phase >= rollout_phase_count(rt->policy) - 1;
		if (!j->awaiting_approval && ph.pending + ph.scheduled + ph.running + ph.verifying == 0 && !last) {
			rollout_counts pc = {ph.total, ph.completed, ph.failed, 0};
			switch (rollout_phase_gate(rt->policy, j->phase, &pc)) {
			case ROLLOUT_GATE_ADVANCE:
				rollout_phase_event(j, j->phase, "completed");
				j->phase++;
				rollout_phase_event(j, j->phase, "started");
				break;
			case ROLLOUT_GATE_APPROVAL:
				rollout_phase_event(j, j->phase, "completed");
				rollout_phase_event(j, j->phase, "awaiting-approval");
				j->awaiting_approval = 1;
				break;
			case ROLLOUT_GATE_FAIL:
				rollout_phase_event(j, j->phase, "aborted");
				return finish(s, j, now, "failed", "aborted: a phase finished below its success criterion");
			case ROLLOUT_GATE_WAIT:
				break;
			}
			return 0;
		}
		if (!last)
			return 0;
	}
	if (all.pending + all.scheduled + all.running + all.verifying == 0) {
		if (rt->policy)
			rollout_phase_event(j, j->phase, "completed");
		return finish(s, j, now, "completed", NULL);
	}
	return 0;
}

static job_runtime *runtime_for(const store_job *j)
{
	job_runtime *free_slot = NULL;

	for (int i = 0; i < ENGINE_MAX_ACTIVE; i++) {
		if (engine_jobs[i].job_id[0] && strcmp(engine_jobs[i].job_id, j->job_id) == 0)
			return &engine_jobs[i];
		if (!engine_jobs[i].job_id[0] && !free_slot)
			free_slot = &engine_jobs[i];
	}
	if (!free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	snprintf(free_slot->job_id, sizeof(free_slot->job_id), "%s", j->job_id);
	if (j->policy && rollout_policy_parse(j->policy, &free_slot->policy) != 0)
		free_slot->policy = NULL;
	free_slot->pacer_phase = -1;
	return free_slot;
}

static void runtime_drop(job_runtime *rt)
{
	rollout_policy_free(rt->policy);
	memset(rt, 0, sizeof(*rt));
}

/* In the step's transaction: 1 with *c read when a job.progress is due (a status, phase, pause or
 * approval change; or, at most once a second, changed counts), else 0. */
static int progress_due(store *s, job_runtime *rt, const store_job *j, store_job_counts *c)
{
	int changed = strcmp(rt->last_status, j->status) || rt->last_phase != j->phase ||
		      rt->last_paused != j->paused || rt->last_awaiting != j->awaiting_approval;
	int64_t now = mono_ms();

	if (!changed && now - rt->last_progress_ms < PROGRESS_EVERY_MS)
		return 0;
	if (!strcmp(j->status, "queued") || !strcmp(j->status, "scheduled")) {
		if (!changed)
			return 0;
		memset(c, 0, sizeof(*c));
	} else if (store_job_counts_get(s, j->job_id, -1, c) != 0) {
		return 0;
	}
	if (!changed && memcmp(c, &rt->last_counts, sizeof(*c)) == 0)
		return 0;
	rt->last_progress_ms = now;
	return 1;
}

/* After the commit: the event, and what it said. */
static void progress_publish(job_runtime *rt, const store_job *j, const store_job_counts *c)
{
	job__publish_progress(j, c);
	rt->last_counts = *c;
	snprintf(rt->last_status, sizeof(rt->last_status), "%s", j->status);
	rt->last_phase = j->phase;
	rt->last_paused = j->paused;
	rt->last_awaiting = j->awaiting_approval;
}

/* One step of one job, in one write transaction; methods are sent and pushes made after the commit. */
static void step_job(store *s, const char *job_id, int64_t now)
{
	store_job_counts counts;
	int progress = 0;
	static store_job_device methods[DISPATCH_MAX];
	static push_list pushes;
	store_job j;
	job_runtime *rt;
	int nm = 0, rc;

	pushes.n = 0;
	if (store_begin_write(s) != 0)
		return;
	if ((rc = store_job_get(s, job_id, &j)) != 0)
		goto fail;
	if (!(rt = runtime_for(&j))) {
		store_job_release(&j);
		goto fail;
	}
	rt->seen = 1;
	if (!strcmp(j.status, "queued") || !strcmp(j.status, "scheduled")) {
		if (now < j.start_ms)
			goto done;
		rc = start_job(s, &j, rt->policy, now);
	} else if (now >= j.start_ms + j.max_execution_seconds * 1000) {
		if ((rc = time_out(s, &j, now)) == 0)
			rc = gates(s, &j, rt, now);
	} else {
		if (now - rt->last_sweep_ms >= SWEEP_EVERY_MS) {
			rt->last_sweep_ms = now;
			rc = sweep(s, &j, rt, now);
		}
		if (rc == 0 && rt->policy && rollout_dynamic_targets(rt->policy) &&
		    now - rt->last_dynamic_ms >= DYNAMIC_EVERY_MS) {
			int64_t added = 0;
			rt->last_dynamic_ms = now;
			rc = add_targets(s, &j, j.phase, 0, now, &added); /* they join the phase running now */
		}
		if (rc == 0 && !j.paused && !j.awaiting_approval)
			rc = dispatch(s, &j, rt, now, methods, &nm, &pushes);
		if (rc == 0)
			rc = gates(s, &j, rt, now);
	}
	if (rc == 0)
		progress = progress_due(s, rt, &j, &counts);
	if (rc == 0 && (rc = store_job_update(s, &j)) == 0 && (rc = store_commit(s)) == 0) {
		const json_t *desired = json_object_get(json_object_get(json_object_get(j.spec, "updateTwin"), "properties"),
							"desired");
		events_settle(1);
		for (int i = 0; i < pushes.n; i++) {
			session_push_desired(pushes.items[i].device_id, pushes.items[i].module_id, desired,
					     pushes.items[i].version);
			twin_publish_updated(pushes.items[i].device_id, pushes.items[i].module_id, "desired",
					     pushes.items[i].version);
		}
		/* After the step's device events, so that a final status comes after everything it counts. */
		if (progress)
			progress_publish(rt, &j, &counts);
		for (int i = 0; i < nm; i++)
			run_method(&j, &methods[i]);
		store_job_release(&j);
		return;
	}
done:
	if (rc == 0) {
		events_settle(store_commit(s) == 0);
		store_job_release(&j);
		return;
	}
	store_job_release(&j);
fail:
	log_warn("job %s: step failed: %s", job_id, err_message());
	store_rollback(s);
	events_settle(0);
}

/* Records finished attempts, grouped in one transaction. */
static void apply_finished(store *s, int64_t now)
{
	attempt_done *a = take_done();

	if (!a)
		return;
	if (store_begin_write(s) != 0) {
		/* Put them back for the next step rather than lose them. */
		pthread_mutex_lock(&engine_lock);
		for (attempt_done *t = a; t;) {
			attempt_done *next = t->next;
			t->next = engine_done;
			engine_done = t;
			t = next;
		}
		pthread_mutex_unlock(&engine_lock);
		return;
	}
	while (a) {
		attempt_done *next = a->next;
		job_runtime *rt = NULL;
		for (int i = 0; i < ENGINE_MAX_ACTIVE; i++)
			if (strcmp(engine_jobs[i].job_id, a->job_id) == 0)
				rt = &engine_jobs[i];
		if (apply_done(s, a, rt ? rt->policy : NULL, now) != 0)
			log_warn("job %s: cannot record %s: %s", a->job_id, a->device.device_id, err_message());
		json_decref(a->payload);
		free(a);
		a = next;
	}
	if (store_commit(s) != 0) {
		store_rollback(s);
		events_settle(0);
	} else {
		events_settle(1);
	}
}

static void step_all(store *s)
{
	static char ids[ENGINE_MAX_ACTIVE][STORE_JOB_ID_MAX + 1];
	int n = 0;
	int64_t now = clock_hub_ms();

	apply_finished(s, now);
	if (store_job_active(s, ids, ENGINE_MAX_ACTIVE, &n) != 0)
		return;
	for (int i = 0; i < ENGINE_MAX_ACTIVE; i++)
		engine_jobs[i].seen = 0;
	for (int i = 0; i < n; i++)
		step_job(s, ids[i], now);
	for (int i = 0; i < ENGINE_MAX_ACTIVE; i++)
		if (engine_jobs[i].job_id[0] && !engine_jobs[i].seen)
			runtime_drop(&engine_jobs[i]);
}

#define INTERRUPTED_TEXT "the server restarted while the method was in flight; it is not sent again"

/* Settles one job's devices that were running when the server stopped. In a rollout each goes through
 * fail_device, so one with a retry left waits for its next attempt (docs/jobs.md); the rest fail. */
static int recover_job(store *s, const char *job_id, int64_t now, int64_t *settled)
{
	static store_job_device rows[DISPATCH_MAX];
	rollout_policy *p = NULL;
	store_job j;
	int64_t moved = 0;
	int n = 0, rc;

	*settled = 0;
	if ((rc = store_job_get(s, job_id, &j)) != 0)
		return rc;
	if (j.policy && rollout_policy_parse(j.policy, &p) != 0)
		p = NULL;
	/* fail_device moves every row out of "running", so each batch is new rows. */
	while (p && (rc = store_job_due(s, job_id, "running", -1, INT64_MAX, DISPATCH_MAX, rows, &n)) == 0 && n > 0) {
		for (int i = 0; i < n && rc == 0; i++)
			rc = fail_device(s, job_id, &rows[i], p, now, NULL, "Interrupted", INTERRUPTED_TEXT);
		if (rc)
			break;
		*settled += n;
	}
	if (rc == 0 && (rc = store_job_move(s, job_id, "running", "failed", now, "Interrupted", INTERRUPTED_TEXT,
					    &moved)) == 0)
		*settled += moved;
	rollout_policy_free(p);
	store_job_release(&j);
	return rc;
}

/* After a restart: method attempts that were running may or may not have reached their device, so they
 * are not sent again (at most once); they fail, or wait for a retry when the policy allows one. Twin
 * attempts were written in the same transaction that recorded them, so none can be left running. */
static void recover(store *s)
{
	static char ids[ENGINE_MAX_ACTIVE][STORE_JOB_ID_MAX + 1];
	int n = 0;
	int64_t now = clock_hub_ms(), settled = 0;

	if (store_begin_write(s) != 0)
		return;
	if (store_job_active(s, ids, ENGINE_MAX_ACTIVE, &n) == 0) {
		for (int i = 0; i < n; i++) {
			if (recover_job(s, ids[i], now, &settled) != 0)
				log_warn("job %s: cannot settle in-flight devices: %s", ids[i], err_message());
			else if (settled)
				log_info("job %s: %lld in-flight devices marked Interrupted after a restart", ids[i],
					 (long long)settled);
		}
	}
	if (store_commit(s) != 0) {
		store_rollback(s);
		events_settle(0);
	} else {
		events_settle(1);
	}
}

static void *engine_main(void *arg)
{
	store *s = store_thread();

	if (!s)
		return NULL;
	recover(s);
	pthread_mutex_lock(&engine_lock);
	while (!engine_stopping) {
		int seen = engine_wakeups;
		pthread_mutex_unlock(&engine_lock);
		step_all(s);
		pthread_mutex_lock(&engine_lock);
		if (engine_wakeups == seen && !engine_stopping) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += ENGINE_TICK_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&engine_cond, &engine_lock, &until);
		}
	}
	pthread_mutex_unlock(&engine_lock);
	return NULL;
}

int job_engine_start(void)
{
	engine_stopping = 0;
	if (pthread_create(&engine_thread, NULL, engine_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the job engine");
	engine_running = 1;
	return 0;
}

/* Stops stepping. Method calls still in flight complete through method_shutdown (called before this) and
 * their results are dropped here: the devices stay running in the store and recover() settles them. */
void job_engine_stop(void)
{
	attempt_done *a;

	if (!engine_running)
		return;
	pthread_mutex_lock(&engine_lock);
	engine_stopping = 1;
	pthread_cond_signal(&engine_cond);
	pthread_mutex_unlock(&engine_lock);
	pthread_join(engine_thread, NULL);
	pthread_mutex_lock(&engine_lock);
	engine_running = 0;
	pthread_mutex_unlock(&engine_lock);
	a = take_done();
	while (a) {
		attempt_done *next = a->next;
		json_decref(a->payload);
		free(a);
		a = next;
	}
	for (int i = 0; i < ENGINE_MAX_ACTIVE; i++)
		if (engine_jobs[i].job_id[0])
			runtime_drop(&engine_jobs[i]);
	json_decref(engine_events);
	engine_events = NULL;
}
