/*
 * http_jobs: REST handlers for IoT Hub's jobs v2 and devicehub's rollouts. They translate between HTTP
 * and job.h only; the gate has checked auth, limits and JSON.
 */
#include "http_jobs.h"

#include "clock.h"
#include "err.h"
#include "job.h"
#include "json_util.h"

#include <stdlib.h>
#include <string.h>

static int clock_allowed;

void http_jobs_allow_clock(int allowed)
{
	clock_allowed = allowed;
}

int http_job_put(const http_request *req, http_response *res)
{
	return job_create(req->segs[2], req->body, NULL, &res->body);
}

int http_job_get(const http_request *req, http_response *res)
{
	/* /jobs/v2/{id} and /devicehub/rollouts/{id} */
	return job_get(req->segs[2], &res->body);
}

int http_job_cancel(const http_request *req, http_response *res)
{
	return job_cancel(req->segs[2], &res->body);
}

int http_job_query(const http_request *req, http_response *res)
{
	const char *max = http_header(req, "x-ms-max-item-count");

	res->item_type = "jobResponse";
	return job_query(http_query_arg(req, "jobType"), http_query_arg(req, "jobStatus"), max ? atoi(max) : 100,
			 http_header(req, "x-ms-continuation"), &res->body, &res->continuation);
}

/* A rollout body with "firmware" becomes the firmwareUpdate method job it stands for. OUT: owned
 * references to the body and policy to use. */
static int rollout_parts(const json_t *body, json_t **use_body, json_t **use_policy)
{
	const json_t *policy = json_object_get(body, "policy");

	if (json_object_get(body, "firmware"))
		return job_firmware_body(body, policy, use_body, use_policy);
	*use_body = json_incref((json_t *)body);
	/* A rollout always has a policy, if only the defaults: that is what makes it a rollout. */
	*use_policy = policy ? json_incref((json_t *)policy) : json_object();
	return 0;
}

/* A rollout is a jobs v2 body plus "policy" (or a firmware artifact instead of a method). */
int http_rollout_put(const http_request *req, http_response *res)
{
	json_t *body = NULL, *policy = NULL;
	int rc = rollout_parts(req->body, &body, &policy);

	if (rc == 0)
		rc = job_create(req->segs[2], body, policy, &res->body);
	json_decref(body);
	json_decref(policy);
	return rc;
}

int http_rollout_compliance(const http_request *req, http_response *res)
{
	return job_compliance(req->segs[2], &res->body);
}

int http_rollout_control(const http_request *req, http_response *res)
{
	return job_control(req->segs[2], req->segs[3], &res->body);
}

int http_rollout_dry_run(const http_request *req, http_response *res)
{
	json_t *body = NULL, *policy = NULL;
	int rc = rollout_parts(req->body, &body, &policy);

	if (rc == 0)
		rc = job_dry_run(body, policy, &res->body);
	json_decref(body);
	json_decref(policy);
	return rc;
}

int http_rollout_devices(const http_request *req, http_response *res)
{
	const char *top = http_query_arg(req, "top");
	const char *skip = http_query_arg(req, "skip");

	return job_device_rows(req->segs[2], NULL, top ? atoi(top) : 1000, skip ? atoll(skip) : 0, &res->body);
}

/* Tests move the hub clock ({"offsetMs": n} or {"now": "<ISO>"}), only with --test-clock. */
int http_clock_put(const http_request *req, http_response *res)
{
	const json_t *offset = json_object_get(req->body, "offsetMs");
	const char *now = json_util_str(req->body, "now");
	int64_t target;

	if (!clock_allowed)
		return err_set(DH_ENOROUTE, "the hub clock can be set only when devicehubd runs with --test-clock 1");
	if (json_is_integer(offset)) {
		clock_set_hub_offset_ms(json_integer_value(offset));
	} else if (now && clock_parse_iso(now, &target) == 0) {
		clock_set_hub_offset_ms(0);
		clock_set_hub_offset_ms(target - clock_hub_ms());
	} else {
		return err_set(DH_EINVAL, "the body must be {\"offsetMs\": n} or {\"now\": \"<ISO 8601>\"}");
	}
	res->body = json_pack("{s:I}", "offsetMs", (json_int_t)clock_hub_offset_ms());
	return 0;
}
