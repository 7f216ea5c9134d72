/*
 * job: the jobs REST operations (create, get, cancel, query, rollout controls) and what they show.
 * The engine that runs jobs is job_engine.c. Never speaks HTTP; never holds SQL (store_job does).
 */
#include "job.h"

#include "artifact.h"
#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "events.h"
#include "group.h"
#include "job_int.h"
#include "json_util.h"
#include "query.h"
#include "registry.h"
#include "rollout.h"
#include "store.h"
#include "store_job.h"
#include "twin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JOB_DEFAULT_MAX_EXECUTION 3600
#define JOB_MAX_EXECUTION_LIMIT (7 * 24 * 3600)

static json_t *time_or_null(int64_t ms)
{
	char t[CLOCK_ISO_LEN];

	if (!ms)
		return json_null();
	clock_iso_from_ms(ms, t);
	return json_string(t);
}

/* deviceJobStatistics as IoT Hub reports them. */
static json_t *statistics_json(const store_job_counts *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "deviceCount", (json_int_t)c->total, "failedCount",
			 (json_int_t)c->failed, "succeededCount", (json_int_t)c->completed, "runningCount",
			 (json_int_t)(c->running + c->verifying), "pendingCount",
			 (json_int_t)(c->pending + c->scheduled));
}

void job__publish_progress(const store_job *j, const store_job_counts *c)
{
	/* jobType, not IoT Hub's "type": an event's type member is the event's own. */
	json_t *data = json_pack("{s:s, s:s, s:s, s:o}", "jobId", j->job_id, "jobType", j->type, "status", j->status,
				 "deviceJobStatistics", statistics_json(c));

	if (j->policy) {
		json_object_set_new(data, "rollout", json_true());
		json_object_set_new(data, "currentPhase", json_integer(j->phase));
		json_object_set_new(data, "paused", json_boolean(j->paused));
		json_object_set_new(data, "awaitingApproval", json_boolean(j->awaiting_approval));
	}
	events_publish("job.progress", data);
}

/* The rollout members: phases with their counts and failures grouped by error code. */
static void add_rollout_members(store *s, const store_job *j, json_t *o)
{
	rollout_policy *p = NULL;
	json_t *phases = json_array(), *failures = NULL;

	if (rollout_policy_parse(j->policy, &p) == 0) {
		json_object_set_new(o, "policy", rollout_policy_json(p));
		for (int i = 0; i < rollout_phase_count(p); i++) {
			store_job_counts c;
			if (store_job_counts_get(s, j->job_id, i, &c) != 0)
				break;
			json_t *ph = statistics_json(&c);
			json_object_set_new(ph, "phase", json_integer(i));
			json_object_set_new(ph, "verifyingCount", json_integer(c.verifying));
			json_object_set_new(ph, "retryingCount", json_integer(c.retrying));
			json_object_set_new(ph, "canceledCount", json_integer(c.canceled));
			json_array_append_new(phases, ph);
		}
		rollout_policy_free(p);
	}
	store_job_failures(s, j->job_id, &failures);
	json_object_set_new(o, "phases", phases);
	json_object_set_new(o, "currentPhase", json_integer(j->phase));
	json_object_set_new(o, "paused", json_boolean(j->paused));
	json_object_set_new(o, "awaitingApproval", json_boolean(j->awaiting_approval));
	json_object_set_new(o, "failures", failures ? failures : json_object());
}

/* The JobResponse (reference §1.6), plus the rollout members for jobs with a policy. */
json_t *job__render(store *s, const store_job *j)
{
	store_job_counts c;
	json_t *o;
	char etag[32];

	memset(&c, 0, sizeof(c));
	store_job_counts_get(s, j->job_id, -1, &c);
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:I, s:s, s:o, s:o, s:s, s:o, s:o, s:o}", "jobId", j->job_id,
		      "queryCondition", j->query_condition, "createdTime", time_or_null(j->created_ms), "startTime",
		      time_or_null(j->start_ms), "endTime", time_or_null(j->end_ms), "maxExecutionTimeInSeconds",
		      (json_int_t)j->max_execution_seconds, "type", j->type, "cloudToDeviceMethod",
		      json_incref(json_object_get(j->spec, "cloudToDeviceMethod")) ?: json_null(), "updateTwin",
		      json_incref(json_object_get(j->spec, "updateTwin")) ?: json_null(), "status", j->status,
		      "failureReason", *j->failure_reason ? json_string(j->failure_reason) : json_null(),
		      "statusMessage", *j->status_message ? json_string(j->status_message) : json_null(),
		      "deviceJobStatistics", statistics_json(&c));
	snprintf(etag, sizeof(etag), "%lld", (long long)j->etag);
	json_object_set_new(o, "etag", json_string(etag));
	if (j->policy)
		add_rollout_members(s, j, o);
	return o;
}

/* Checks a job id: IoT Hub's id characters, at most 128. */
static int check_job_id(const char *job_id)
{
	if (!registry_id_valid(job_id))
		return err_set(DH_EINVAL, "'%s' is not a valid job id: 1 to 128 letters, digits and - . %% _ * ? ! ( ) , : = @ $ '",
			       job_id);
	return 0;
}

/* The method of a scheduleDeviceMethod job: {methodName, payload, responseTimeoutInSeconds}. */
static int check_method(const json_t *m)
{
	const char *name = json_util_str(m, "methodName");
	const json_t *timeout = json_object_get(m, "responseTimeoutInSeconds");

	if (!json_is_object(m))
		return err_set(DH_EINVAL, "a scheduleDeviceMethod job needs cloudToDeviceMethod {methodName, payload}");
	if (!name || !*name || strlen(name) > 128 || strchr(name, '/'))
		return err_set(DH_EINVAL, "cloudToDeviceMethod.methodName must be 1 to 128 characters without '/'");
	if (timeout && !json_is_null(timeout) &&
	    (!json_is_integer(timeout) || json_integer_value(timeout) < 5 || json_integer_value(timeout) > 300))
		return err_set(DH_EINVAL, "cloudToDeviceMethod.responseTimeoutInSeconds must be 5 to 300");
	return 0;
}

/* The patch of a scheduleUpdateTwin job: {etag, tags, properties.desired}. Checked against a fresh twin so
 * a bad patch is refused now, not on every device. */
static int check_update_twin(const json_t *u)
{
	store_twin tw;
	char now[CLOCK_ISO_LEN];
	int rc;

	if (!json_is_object(u))
		return err_set(DH_EINVAL, "a scheduleUpdateTwin job needs updateTwin {tags, properties: {desired}}");
	if (json_object_get(json_object_get(u, "properties"), "reported"))
		return err_set(DH_EINVAL, "reported properties are read-only to the service");
	clock_iso_now(now);
	twin_init(&tw, now);
	rc = twin_apply_patch(&tw, u, now);
	store_twin_release(&tw);
	return rc;
}

static int check_condition(const char *cond)
{
	query *q = NULL;
	query_error qe;

	if (query_parse_condition(cond, strlen(cond), &q, &qe) != 0)
		return err_set(DH_EQUERY, "queryCondition: %s", qe.message);
	query_free(q);
	return 0;
}

/* Reads the body into j (spec, condition, times). */
static int parse_body(const char *job_id, const json_t *body, store_job *j)
{
	const char *type = json_util_str(body, "type");
	const char *cond = json_util_str(body, "queryCondition");
	char *group_cond = NULL;
	const json_t *start = json_object_get(body, "startTime");
	const json_t *max = json_object_get(body, "maxExecutionTimeInSeconds");
	const char *bid = json_util_str(body, "jobId");
	int rc;

	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the body must be a JSON object");
	if (bid && strcmp(bid, job_id) != 0)
		return err_set(DH_EINVAL, "jobId '%s' in the body does not match '%s' in the path", bid, job_id);
	if (!type || (strcmp(type, "scheduleDeviceMethod") && strcmp(type, "scheduleUpdateTwin")))
		return err_set(DH_EINVAL, "type must be scheduleDeviceMethod or scheduleUpdateTwin");
	/* "group": a device group's condition, copied now (docs/groups.md). */
	if ((rc = group_resolve_target(body, "queryCondition", &group_cond)) != 0)
		return rc;
	if (group_cond)
		cond = group_cond;
	if (!cond || !*cond)
		rc = err_set(DH_EINVAL, "queryCondition (or group) is required, e.g. \"deviceId IN ['dev1']\"");
	else
		rc = check_condition(cond);
	if (rc) {
		free(group_cond);
		return rc;
	}
	snprintf(j->type, sizeof(j->type), "%s", type);
	j->query_condition = group_cond ? group_cond : xstrdup(cond);
	if (strcmp(type, "scheduleDeviceMethod") == 0) {
		const json_t *m = json_object_get(body, "cloudToDeviceMethod");
		if ((rc = check_method(m)) != 0)
			return rc;
		j->spec = json_pack("{s:O}", "cloudToDeviceMethod", m);
	} else {
		const json_t *u = json_object_get(body, "updateTwin");
		if ((rc = check_update_twin(u)) != 0)
			return rc;
		j->spec = json_pack("{s:O}", "updateTwin", u);
	}
	j->created_ms = clock_hub_ms();
	j->start_ms = j->created_ms;
	if (start && !json_is_null(start) &&
	    (!json_is_string(start) || clock_parse_iso(json_string_value(start), &j->start_ms) != 0))
		return err_set(DH_EINVAL, "startTime must be an ISO 8601 UTC time or null");
	j->max_execution_seconds = JOB_DEFAULT_MAX_EXECUTION;
	if (max && !json_is_null(max)) {
		if (!json_is_integer(max) || json_integer_value(max) < 1 || json_integer_value(max) > JOB_MAX_EXECUTION_LIMIT)
			return err_set(DH_EINVAL, "maxExecutionTimeInSeconds must be 1 to %d", JOB_MAX_EXECUTION_LIMIT);
		j->max_execution_seconds = json_integer_value(max);
	}
	return 0;
}

int job_create(const char *job_id, const json_t *body, const json_t *policy, json_t **out)
{
	store *s = store_thread();
	store_job j;
	rollout_policy *p = NULL;
	int rc;

	*out = NULL;
	memset(&j, 0, sizeof(j));
	if (!s)
		return DH_EIO;
	if ((rc = check_job_id(job_id)) != 0 || (rc = parse_body(job_id, body, &j)) != 0)
		goto out;
	if (policy && (rc = rollout_policy_parse(policy, &p)) != 0)
		goto out;
	snprintf(j.job_id, sizeof(j.job_id), "%s", job_id);
	snprintf(j.status, sizeof(j.status), "queued");
	j.policy = p ? rollout_policy_json(p) : NULL;
	j.etag = 1;
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	if ((rc = store_job_insert(s, &j)) != 0) {
		store_rollback(s);
		goto out;
	}
	*out = job__render(s, &j);
	if ((rc = store_commit(s)) != 0) {
		json_decref(*out);
		*out = NULL;
		goto out;
	}
	{
		store_job_counts none;
		memset(&none, 0, sizeof(none));
		job__publish_progress(&j, &none);
	}
	job__wake();
out:
	rollout_policy_free(p);
	store_job_release(&j);
	return rc;
}

int job_get(const char *job_id, json_t **out)
{
	store *s = store_thread();
	store_job j;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_job_get(s, job_id, &j)) == 0) {
		*out = job__render(s, &j);
		store_job_release(&j);
	}
	store_rollback(s);
	return rc;
}

static int finished(const store_job *j)
{
	return !strcmp(j->status, "completed") || !strcmp(j->status, "failed") || !strcmp(j->status, "cancelled");
}

/* Applies a control action to the job in the caller's transaction. */
static int control_locked(store *s, store_job *j, const char *action)
{
	int64_t now = clock_hub_ms(), moved;
	int rc = 0;

	if (strcmp(action, "cancel") == 0) {
		if (finished(j))
			return 0; /* cancelling a finished job changes nothing, as IoT Hub does */
		snprintf(j->status, sizeof(j->status), "cancelled");
		j->end_ms = now;
		if ((rc = store_job_move(s, j->job_id, "pending", "canceled", now, NULL, NULL, &moved)) == 0)
			rc = store_job_move(s, j->job_id, "scheduled", "canceled", now, NULL, NULL, &moved);
	} else if (!j->policy) {
		return err_set(DH_EINVAL, "'%s' applies to rollouts (jobs with a policy) only", action);
	} else if (finished(j)) {
		return err_set(DH_EINVAL, "the rollout has finished (%s)", j->status);
	} else if (strcmp(action, "pause") == 0) {
		j->paused = 1;
	} else if (strcmp(action, "resume") == 0) {
		j->paused = 0;
	} else if (strcmp(action, "approve") == 0) {
		if (!j->awaiting_approval)
			return err_set(DH_EINVAL, "the rollout is not waiting for approval");
		j->awaiting_approval = 0;
		j->phase++;
	} else if (strcmp(action, "retry") == 0) {
		/* The engine dispatches the running phase only: failed devices of earlier phases join it, and a
		 * rollout waiting for approval runs its phase again (the gate is asked again when it finishes). */
		rc = store_job_move(s, j->job_id, "failed", "pending", now, NULL, NULL, &moved);
		if (rc == 0 && moved > 0) {
			rc = store_job_rephase_pending(s, j->job_id, j->phase, NULL);
			j->awaiting_approval = 0;
		}
	} else {
		return err_set(DH_EINVAL, "unknown action '%s': pause, resume, approve, retry or cancel", action);
	}
	j->etag++;
	return rc ? rc : store_job_update(s, j);
}

int job_control(const char *job_id, const char *action, json_t **out)
{
	store *s = store_thread();
	store_job_counts counts;
	store_job j;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_job_get(s, job_id, &j)) != 0) {
		store_rollback(s);
		return rc;
	}
	memset(&counts, 0, sizeof(counts));
	if ((rc = control_locked(s, &j, action)) == 0 && (rc = store_job_counts_get(s, job_id, -1, &counts)) == 0 &&
	    (rc = store_commit(s)) == 0) {
		job_get(job_id, out); /* leaves *out NULL if the job vanished meanwhile */
		job__publish_progress(&j, &counts);
		if (strcmp(action, "approve") == 0)
			events_publish("rollout.phase", json_pack("{s:s, s:i, s:s}", "jobId", j.job_id, "phase", j.phase,
								  "event", "started"));
		job__wake();
	} else {
		store_rollback(s);
	}
	store_job_release(&j);
	return rc;
}

int job_cancel(const char *job_id, json_t **out)
{
	return job_control(job_id, "cancel", out);
}

typedef struct page_ctx {
	store *s;
	json_t *items;
} page_ctx;

static int append_job(const store_job *j, void *ctx)
{
	page_ctx *pc = ctx;

	json_array_append_new(pc->items, job__render(pc->s, j));
	return 0;
}

int job_query(const char *type, const char *status, int max_items, const char *continuation, json_t **items,
	      char **next)
{
	store *s = store_thread();
	int64_t offset = continuation ? strtoll(continuation, NULL, 10) : 0;
	int limit = max_items > 0 && max_items <= 1000 ? max_items : 100;
	page_ctx pc;
	int rc;

	*items = NULL;
	*next = NULL;
	if (!s)
		return DH_EIO;
	if (offset < 0)
		return err_set(DH_EINVAL, "invalid continuation token");
	pc.s = s;
	pc.items = json_array();
	if ((rc = store_begin_read(s)) == 0) {
		rc = store_job_each(s, type, status, limit + 1, offset, append_job, &pc);
		store_rollback(s);
	}
	if (rc) {
		json_decref(pc.items);
		return rc;
	}
	if (json_array_size(pc.items) > (size_t)limit) {
		json_array_remove(pc.items, (size_t)limit);
		buf b = BUF_INIT;
		buf_printf(&b, "%lld", (long long)(offset + limit));
		*next = buf_detach(&b);
	}
	*items = pc.items;
	return 0;
}

static int append_row(json_t *row, void *ctx)
{
	json_array_append_new((json_t *)ctx, row);
	return 0;
}

int job_device_rows(const char *job_id, const char *device_id, int limit, int64_t offset, json_t **items)
{
	store *s = store_thread();
	int rc;

	*items = json_array();
	if (!s)
		return DH_EIO;
	rc = store_job_rows(s, job_id, device_id, limit, offset, append_row, *items);
	if (rc) {
		json_decref(*items);
		*items = NULL;
	}
	return rc;
}

/* Counts of the dry run: targets, phase sizes, firmware versions, offline devices. */
static int dry_run_counts(store *s, const char *cond, const rollout_policy *p, json_t *out)
{
	buf text = BUF_INIT;
	json_t *items = NULL, *phases = json_array();
	char *next = NULL;
	const char *type;
	int64_t total = 0, offline = 0;
	int rc;

	buf_printf(&text, "SELECT COUNT() AS n FROM devices WHERE (%s)", cond);
	if ((rc = query_run(text.data, text.len, 1, NULL, &items, &next, &type)) != 0)
		goto out;
	total = json_integer_value(json_object_get(json_array_get(items, 0), "n"));
	json_decref(items);
	buf_release(&text);
	buf_printf(&text, "SELECT COUNT() AS n FROM devices WHERE (%s) AND connectionState <> 'Connected'", cond);
	if ((rc = query_run(text.data, text.len, 1, NULL, &items, &next, &type)) != 0)
		goto out;
	offline = json_integer_value(json_object_get(json_array_get(items, 0), "n"));
	json_decref(items);
	buf_release(&text);
	buf_printf(&text, "SELECT properties.reported.firmware.version AS version, COUNT() AS devices FROM devices"
			  " WHERE (%s) GROUP BY properties.reported.firmware.version", cond);
	if ((rc = query_run(text.data, text.len, 1000, NULL, &items, &next, &type)) != 0)
		goto out;
	json_object_set_new(out, "versions", items);
	for (int i = 0, prev = 0; p && i < rollout_phase_count(p); i++) {
		int64_t upto = rollout_phase_condition(p, i) ? -1 : rollout_phase_cumulative(p, i, total);
		json_array_append_new(phases, json_pack("{s:i, s:I}", "phase", i, "devices",
							 (json_int_t)(upto < 0 ? -1 : upto - prev)));
		prev = (int)(upto < 0 ? prev : upto);
	}
	json_object_set_new(out, "targets", json_integer(total));
	json_object_set_new(out, "offline", json_integer(offline));
out:
	json_object_set_new(out, "phases", phases);
	free(next);
	buf_release(&text);
	return rc;
}

int job_dry_run(const json_t *body, const json_t *policy, json_t **out)
{
	store *s = store_thread();
	store_job j;
	rollout_policy *p = NULL;
	int rc;

	*out = NULL;
	memset(&j, 0, sizeof(j));
	if (!s)
		return DH_EIO;
	if ((rc = parse_body("dry-run", body, &j)) != 0 || (policy && (rc = rollout_policy_parse(policy, &p)) != 0))
		goto out;
	*out = json_object();
	if ((rc = dry_run_counts(s, j.query_condition, p, *out)) != 0) {
		json_decref(*out);
		*out = NULL;
	} else if (p) {
		json_object_set_new(*out, "policy", rollout_policy_json(p));
	}
out:
	rollout_policy_free(p);
	store_job_release(&j);
	return rc;
}

static char job_public_url[256];

void job_set_public_url(const char *url)
{
	snprintf(job_public_url, sizeof(job_public_url), "%s", url);
}

/* The default health gate of a firmware rollout: the device reports the target version as current. */
static json_t *firmware_policy(const json_t *policy, const char *version)
{
	json_t *p = policy ? json_deep_copy(policy) : json_object();
	buf cond = BUF_INIT;

	if (!json_object_get(p, "health")) {
		buf_puts(&cond, "properties.reported.firmware.version = '");
		for (const char *c = version; *c; c++) {
			if (*c == '\'' || *c == '\\')
				buf_putc(&cond, '\\');
			buf_putc(&cond, *c);
		}
		buf_puts(&cond, "' AND properties.reported.firmware.status = 'current'");
		json_object_set_new(p, "health", json_pack("{s:s, s:i}", "condition", buf_cstr(&cond), "timeoutSeconds", 600));
	}
	buf_release(&cond);
	return p;
}

int job_firmware_body(const json_t *body, const json_t *policy, json_t **body_out, json_t **policy_out)
{
	const json_t *fw = json_object_get(body, "firmware");
	const char *artifact_id = json_util_str(fw, "artifactId");
	const json_t *timeout = json_object_get(fw, "responseTimeoutInSeconds");
	artifact_ref ref;
	buf url = BUF_INIT;
	int rc;

	*body_out = *policy_out = NULL;
	if (!json_is_object(fw) || !artifact_id)
		return err_set(DH_EINVAL, "firmware must be {\"artifactId\": \"..\"}");
	if ((rc = artifact_ref_get(artifact_id, &ref)) != 0)
		return rc;
	buf_printf(&url, "%s%s", job_public_url, ref.download_path);
	*body_out = json_deep_copy(body);
	json_object_del(*body_out, "firmware");
	json_object_del(*body_out, "policy");
	json_object_set_new(*body_out, "type", json_string("scheduleDeviceMethod"));
	json_object_set_new(*body_out, "cloudToDeviceMethod",
			    json_pack("{s:s, s:{s:s, s:s, s:I, s:s}, s:I}", "methodName", "firmwareUpdate", "payload", "url",
				      buf_cstr(&url), "sha256", ref.sha256, "size", (json_int_t)ref.size, "version",
				      ref.version, "responseTimeoutInSeconds",
				      (json_int_t)(json_is_integer(timeout) ? json_integer_value(timeout) : 60)));
	*policy_out = firmware_policy(policy, ref.version);
	buf_release(&url);
	return 0;
}

int job_compliance(const char *job_id, json_t **out)
{
	store *s = store_thread();
	store_job j;
	const char *version;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_job_get(s, job_id, &j)) == 0) {
		version = json_util_str(json_object_get(json_object_get(j.spec, "cloudToDeviceMethod"), "payload"), "version");
		if (!version)
			rc = err_set(DH_EINVAL, "job '%s' is not a firmware rollout", job_id);
		else
			rc = store_job_compliance(s, job_id, version, out);
		store_job_release(&j);
	}
	store_rollback(s);
	return rc;
}
