/*
 * job: IoT Hub jobs v2 (scheduleDeviceMethod, scheduleUpdateTwin) and devicehub rollouts, which are jobs
 * with a policy (rollout.h). One engine thread drives every job: it resolves the query condition when a
 * job starts, dispatches devices as the policy allows, records every state change in SQLite before acting
 * on it, and finishes, aborts or times out jobs. Knows no HTTP.
 *
 * Guarantee (docs/jobs.md): a method is invoked at most once per device per attempt. A device is marked
 * running, with its attempt counted, in a committed transaction before its method is sent; a restart
 * finds such devices and fails them (or schedules a retry when the policy allows one) instead of invoking
 * them again. Twin updates are re-checked against the query condition and ETag when written.
 */
#ifndef DH_JOB_H
#define DH_JOB_H

#include <jansson.h>

/* Starts the engine thread; running jobs of an earlier run resume. */
int job_engine_start(void);
void job_engine_stop(void);

/* PUT /jobs/v2/{id}: body as the SDKs send it (reference §1.6). policy is a rollout policy or NULL.
 * OUT: *out the JobResponse (new reference). DH_EJOBEXISTS, DH_EINVAL, DH_EQUERY. */
int job_create(const char *job_id, const json_t *body, const json_t *policy, json_t **out);
int job_get(const char *job_id, json_t **out);
/* Cancels: devices not yet started are canceled; calls in flight finish. */
int job_cancel(const char *job_id, json_t **out);
/* GET /jobs/v2/query: filters may be NULL. OUT: *items (array), *next (NULL on the last page). */
int job_query(const char *type, const char *status, int max_items, const char *continuation, json_t **items,
	      char **next);

/* Rollout controls: "pause", "resume", "approve" (start the next phase), "retry" (failed devices go
 * again). OUT: *out the rollout (new reference). */
int job_control(const char *job_id, const char *action, json_t **out);

/* The REST API's base URL as devices reach it (for firmware download links). Copied. */
void job_set_public_url(const char *url);

/* A rollout body may name a firmware artifact instead of a method: {"firmware": {"artifactId": "..",
 * "responseTimeoutInSeconds": n}}. Rewrites body into the scheduleDeviceMethod job that invokes
 * firmwareUpdate {url, sha256, size, version} and returns in *policy_out the policy with a default health
 * condition (the device reports that version as current). Both new references. DH_ENOARTIFACT. */
int job_firmware_body(const json_t *body, const json_t *policy, json_t **body_out, json_t **policy_out);

/* Firmware compliance of a rollout's devices: onTarget / inProgress / failed / notYet. */
int job_compliance(const char *job_id, json_t **out);

/* A rollout's plan without starting it: resolved targets, phase sizes, the reported firmware versions
 * among them, and how many are offline. */
int job_dry_run(const json_t *body, const json_t *policy, json_t **out);

/* Per-device rows (SELECT * FROM devices.jobs): OUT: *items, with optional job and device filters. */
int job_device_rows(const char *job_id, const char *device_id, int limit, int64_t offset, json_t **items);

#endif
