/*
 * http_routes: the REST route table and its handlers. A handler reads path segments, query arguments and
 * the parsed body, calls one domain function and fills the response. Auth, limits and error bodies are
 * the gate's (http_server.c). Must never hold SQL.
 */
#include "http.h"
#include "http_jobs.h"
#include "http_lifecycle.h"

#include "auth.h"
#include "buf.h"
#include "embed.h"
#include "err.h"
#include "http_accounts.h"
#include "http_artifact.h"
#include "http_backup.h"
#include "http_configurations.h"
#include "http_fleet.h"
#include "http_events.h"
#include "http_import.h"
#include "http_groups.h"
#include "http_observe.h"
#include "method.h"
#include "query.h"
#include "registry.h"
#include "telemetry.h"
#include "twin.h"

#include <stdlib.h>
#include <string.h>

#define KB 1024

/* The identity etag into the response's ETag header. */
static void set_etag_from(http_response *res, const json_t *entity)
{
	const char *etag = json_string_value(json_object_get(entity, "etag"));

	if (etag)
		snprintf(res->etag, sizeof(res->etag), "%s", etag);
}

static int h_healthz(const http_request *req, http_response *res)
{
	res->body = json_pack("{s:s}", "status", "ok");
	return 0;
}

static int h_device_put(const http_request *req, http_response *res)
{
	int created;
	const char *module = req->nsegs == 4 ? req->segs[3] : "";
	int rc = registry_put(req->segs[1], module, req->body, req->if_match, &res->body, &created);

	/* IoT Hub answers 200 for a new device but 201 for a new module. */
	if (rc == 0 && created && *module)
		res->status = 201;
	set_etag_from(res, res->body);
	return rc;
}

static int h_device_get(const http_request *req, http_response *res)
{
	int rc = registry_get(req->segs[1], req->nsegs == 4 ? req->segs[3] : "", &res->body);

	set_etag_from(res, res->body);
	return rc;
}

static int h_device_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return registry_delete(req->segs[1], req->nsegs == 4 ? req->segs[3] : "", req->if_match);
}

static int h_devices_list(const http_request *req, http_response *res)
{
	const char *top = http_query_arg(req, "top");

	return registry_list(top ? atoi(top) : REGISTRY_LIST_MAX, &res->body);
}

static int h_modules_list(const http_request *req, http_response *res)
{
	return registry_list_modules(req->segs[1], &res->body);
}

static int h_bulk(const http_request *req, http_response *res)
{
	return registry_bulk(req->body, &res->body);
}

static int h_stats_devices(const http_request *req, http_response *res)
{
	return registry_stats_devices(&res->body);
}

static int h_stats_service(const http_request *req, http_response *res)
{
	return registry_stats_service(&res->body);
}

/* The last device-to-cloud messages of a device (telemetry.h); 404 for an unknown device. */
static int h_device_messages(const http_request *req, http_response *res)
{
	json_t *identity = NULL;
	int rc = registry_get(req->segs[2], "", &identity);

	json_decref(identity);
	if (rc == 0)
		res->body = telemetry_list(req->segs[2]);
	return rc;
}

static int h_twin_get(const http_request *req, http_response *res)
{
	int rc = twin_get(req->segs[1], req->nsegs == 4 ? req->segs[3] : "", &res->body);

	set_etag_from(res, res->body);
	return rc;
}

static int twin_write(const http_request *req, http_response *res, int replace)
{
	int rc = twin_update(req->segs[1], req->nsegs == 4 ? req->segs[3] : "", req->body, replace, req->if_match,
			     &res->body);

	set_etag_from(res, res->body);
	return rc;
}

static int h_twin_patch(const http_request *req, http_response *res)
{
	return twin_write(req, res, 0);
}

static int h_twin_put(const http_request *req, http_response *res)
{
	return twin_write(req, res, 1);
}

/* Completion of a direct method: IoT Hub answers 200 {status, payload} whatever the device's status. */
static void method_done(void *ctx, int code, int status, json_t *payload)
{
	http_deferred *d = ctx;

	if (code) {
		json_decref(payload);
		http_deferred_finish(d, code, 0, NULL);
		return;
	}
	http_deferred_finish(d, 0, 200, json_pack("{s:i, s:o}", "status", status, "payload", payload ? payload : json_null()));
}

static int h_method(const http_request *req, http_response *res)
{
	http_deferred *d = http_defer(req);
	int rc = method_invoke(req->segs[1], req->nsegs == 5 ? req->segs[3] : "", req->body, method_done, d);

	if (rc)
		http_deferred_finish(d, rc, 0, NULL);
	return HTTP_DEFERRED;
}

static int h_query(const http_request *req, http_response *res)
{
	const json_t *q = json_object_get(req->body, "query");
	const char *max = http_header(req, "x-ms-max-item-count");

	if (!json_is_string(q))
		return err_set(DH_EINVAL, "the body must be {\"query\": \"SELECT ...\"}");
	return query_run(json_string_value(q), json_string_length(q), max ? atoi(max) : 100,
			 http_header(req, "x-ms-continuation"), &res->body, &res->continuation, &res->item_type);
}

static int h_policies(const http_request *req, http_response *res)
{
	return auth_policies_json(&res->body);
}

static int h_policy_rotate(const http_request *req, http_response *res)
{
	const char *which = http_query_arg(req, "key");

	return auth_policy_rotate(req->segs[2], which ? which : "primary", &res->body);
}

static int h_openapi(const http_request *req, http_response *res)
{
	res->body = http_openapi();
	return 0;
}

static const char *content_type_for(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (dot && strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (dot && strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (dot && strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (dot && strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return "application/octet-stream";
}

/* The dashboard runs no inline script or style, so a strict policy holds; the event socket is on the
 * device port (another origin), hence ws:/wss: in connect-src. Fits a response header value (160). */
#define DASHBOARD_CSP                                                                                  \
	"default-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "          \
	"form-action 'self'; frame-ancestors 'none'"
_Static_assert(sizeof(DASHBOARD_CSP) <= sizeof(((http_response *)0)->headers[0].value), "CSP too long");

/* A strong validator for a compiled-in file: FNV-1a over its bytes (they change only with the binary). */
static void asset_etag(const embed_file *f, char *out, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < f->size; i++)
		h = (h ^ f->data[i]) * 1099511628211ull;
	snprintf(out, n, "%016llx-%zx", (unsigned long long)h, f->size);
}

/* Dashboard assets are compiled in: a name either is in the table or is not, so nothing can traverse.
 * Browsers revalidate every load (no-cache) and get 304 while the ETag still matches. */
static int serve_asset(const http_request *req, const char *name, http_response *res)
{
	const char *if_none_match = http_header(req, "If-None-Match");

	for (const embed_file *f = embed_web; f->name; f++) {
		if (strcmp(f->name, name) != 0)
			continue;
		asset_etag(f, res->etag, sizeof(res->etag));
		http_response_header(res, "Cache-Control", "no-cache");
		http_response_header(res, "X-Content-Type-Options", "nosniff");
		if (strcmp(name, "index.html") == 0) {
			http_response_header(res, "Content-Security-Policy", "%s", DASHBOARD_CSP);
			http_response_header(res, "Referrer-Policy", "no-referrer");
		}
		if (if_none_match && strstr(if_none_match, res->etag)) {
			res->status = 304;
			return 0;
		}
		res->raw = f->data;
		res->raw_len = f->size;
		res->content_type = content_type_for(name);
		return 0;
	}
	return err_set(DH_ENOROUTE, "no dashboard file named '%s'", name);
}

static int h_index(const http_request *req, http_response *res)
{
	return serve_asset(req, "index.html", res);
}

static int h_asset(const http_request *req, http_response *res)
{
	return serve_asset(req, req->segs[1], res);
}

/* The one route table. Order matters only where patterns overlap: literal paths come first. */
const http_route http_routes[] = {
	{"GET", "/healthz", h_healthz, AUTH_NONE, 0, HTTP_PUBLIC, "Liveness: 200 while the server runs"},
	{"GET", "/readyz", http_readyz, AUTH_NONE, 0, HTTP_PUBLIC,
	 "Readiness: 200 when the database answers and the listeners are up, else 503"},
	{"GET", "/metrics", http_metrics, AUTH_SERVICE_CONNECT, 0, HTTP_OWN_AUTH,
	 "Prometheus text metrics (ServiceConnect, or no token with --metrics-public 1)"},
	{"GET", "/", h_index, AUTH_NONE, 0, HTTP_PUBLIC, "The dashboard"},
	{"GET", "/ui/{}", h_asset, AUTH_NONE, 0, HTTP_PUBLIC, "A dashboard asset"},
	{"GET", "/openapi.json", h_openapi, AUTH_NONE, 0, HTTP_PUBLIC, "This API as an OpenAPI 3 document"},
	{"POST", "/devicehub/login", http_login, AUTH_NONE, 4 * KB, HTTP_JSON_BODY | HTTP_PUBLIC,
	 "Sign in with {name, password}: sets the dh_session cookie; answers {name, role, csrfToken, expiresTime, hostName}"},
	{"POST", "/devicehub/logout", http_logout, AUTH_NONE, 0, HTTP_SESSION, "End this session (204)"},
	{"GET", "/devicehub/session", http_session_get, AUTH_NONE, 0, HTTP_SESSION,
	 "The signed-in account {name, role, csrfToken, expiresTime, hostName}; 401 when not signed in"},
	{"GET", "/devicehub/accounts", http_account_list, AUTH_OWNER, 0, HTTP_ADMIN, "List operator accounts"},
	{"PUT", "/devicehub/accounts/{}", http_account_put, AUTH_OWNER, 4 * KB, HTTP_JSON_BODY | HTTP_ADMIN,
	 "Create (password needed) or update an account {role, password?}"},
	{"DELETE", "/devicehub/accounts/{}", http_account_delete, AUTH_OWNER, 0, HTTP_ADMIN,
	 "Delete an account and its sessions (never the last admin)"},
	{"PUT", "/devicehub/accounts/{}/password", http_account_password, AUTH_OWNER, 4 * KB, HTTP_JSON_BODY | HTTP_SELF,
	 "Set a password {currentPassword, password}: one's own, or an admin for anyone; other sessions end"},
	{"GET", "/devicehub/audit", http_audit_list, AUTH_OWNER, 0, HTTP_ADMIN,
	 "The audit log, newest first (top, continuationToken, who, action, since, until)"},
	{"GET", "/jobs/v2/query", http_job_query, AUTH_SERVICE_CONNECT, 0, 0, "List jobs (jobType, jobStatus)"},
	{"PUT", "/jobs/v2/{}", http_job_put, AUTH_SERVICE_CONNECT, 160 * KB, HTTP_JSON_BODY,
	 "Create a scheduleDeviceMethod or scheduleUpdateTwin job"},
	{"GET", "/jobs/v2/{}", http_job_get, AUTH_SERVICE_CONNECT, 0, 0, "Get a job with its device statistics"},
	{"POST", "/jobs/v2/{}/cancel", http_job_cancel, AUTH_SERVICE_CONNECT, 0, 0, "Cancel a job"},
	{"POST", "/devicehub/rollouts/dryrun", http_rollout_dry_run, AUTH_SERVICE_CONNECT, 160 * KB,
	 HTTP_JSON_BODY | HTTP_READS,
	 "A rollout's targets, phase sizes, firmware versions and offline devices, without starting it"},
	{"PUT", "/devicehub/rollouts/{}", http_rollout_put, AUTH_SERVICE_CONNECT, 160 * KB, HTTP_JSON_BODY,
	 "Create a rollout: a job body plus a policy (phases, rate, gates, windows)"},
	{"GET", "/devicehub/rollouts/{}", http_job_get, AUTH_SERVICE_CONNECT, 0, 0,
	 "Get a rollout with per-phase counts and failures by error code"},
	{"GET", "/devicehub/rollouts/{}/compliance", http_rollout_compliance, AUTH_SERVICE_CONNECT, 0, 0,
	 "Firmware compliance of a firmware rollout's devices: on target, in progress, failed, not yet"},
	{"GET", "/devicehub/rollouts/{}/devices", http_rollout_devices, AUTH_SERVICE_CONNECT, 0, 0,
	 "Per-device outcomes of a rollout (top, skip)"},
	{"POST", "/devicehub/rollouts/{}/{}", http_rollout_control, AUTH_SERVICE_CONNECT, 0, 0,
	 "pause, resume, approve (the next phase), retry (the failed devices) or cancel"},
	{"PUT", "/devicehub/clock", http_clock_put, AUTH_OWNER, 1 * KB, HTTP_JSON_BODY,
	 "Set the hub clock's offset (only with --test-clock 1)"},
	{"GET", "/devicehub/enrollment-groups", http_enrollment_group_list, AUTH_REGISTRY_READ, 0, 0, "List enrollment groups"},
	{"PUT", "/devicehub/enrollment-groups/{}", http_enrollment_group_put, AUTH_REGISTRY_WRITE, 32 * KB, HTTP_JSON_BODY,
	 "Create or replace an enrollment group"},
	{"GET", "/devicehub/enrollment-groups/{}", http_enrollment_group_get, AUTH_REGISTRY_READ, 0, 0, "An enrollment group"},
	{"DELETE", "/devicehub/enrollment-groups/{}", http_enrollment_group_delete, AUTH_REGISTRY_WRITE, 0, 0,
	 "Delete an enrollment group"},
	{"GET", "/devicehub/enrollments", http_enrollment_list, AUTH_REGISTRY_READ, 0, 0, "List individual enrollments"},
	{"PUT", "/devicehub/enrollments/{}", http_enrollment_put, AUTH_REGISTRY_WRITE, 32 * KB, HTTP_JSON_BODY,
	 "Create or replace an individual enrollment"},
	{"GET", "/devicehub/enrollments/{}", http_enrollment_get, AUTH_REGISTRY_READ, 0, 0, "An individual enrollment"},
	{"DELETE", "/devicehub/enrollments/{}", http_enrollment_delete, AUTH_REGISTRY_WRITE, 0, 0,
	 "Delete an individual enrollment"},
	{"GET", "/devicehub/registrations", http_registrations_list, AUTH_REGISTRY_READ, 0, 0,
	 "Registrations made through enrollments (?group=)"},
	{"PUT", "/devicehub/registrations/{}/register", http_register, AUTH_NONE, 4 * KB, HTTP_OWN_AUTH,
	 "Register a device (registration SAS token signed with its enrollment key)"},
	{"POST", "/devicehub/devices/{}/retire", http_device_retire, AUTH_REGISTRY_WRITE, 4 * KB, HTTP_JSON_BODY,
	 "Retire a device: archive its twin, delete its identity, close its connection"},
	{"POST", "/devicehub/devices/{}/replace", http_device_replace, AUTH_REGISTRY_WRITE, 4 * KB, HTTP_JSON_BODY,
	 "Replace a device with a new identity that takes over its tags and desired properties"},
	{"GET", "/devicehub/archive", http_archive_list, AUTH_REGISTRY_READ, 0, 0, "Archived twins (?deviceId=&reason=&top=&skip=)"},
	{"DELETE", "/devicehub/archive", http_archive_purge, AUTH_REGISTRY_WRITE, 0, 0,
	 "Purge archived twins retired more than ?olderThanDays= days ago"},
	{"GET", "/devicehub/archive/export", http_archive_export, AUTH_REGISTRY_READ, 0, 0, "The archive as JSON lines"},
	{"GET", "/devicehub/archive/{}", http_archive_get, AUTH_REGISTRY_READ, 0, 0, "A retired device's archived twin"},
	{"POST", "/devices/query", h_query, AUTH_SERVICE_CONNECT, 16 * KB, HTTP_JSON_BODY | HTTP_READS,
	 "Query twins with IoT Hub's query language"},
	{"GET", "/devices", h_devices_list, AUTH_REGISTRY_READ, 0, 0, "List device identities (top=N, at most 1000)"},
	{"POST", "/devices", h_bulk, AUTH_REGISTRY_WRITE, 1024 * KB, HTTP_JSON_BODY,
	 "Bulk create, update or delete up to 100 identities"},
	{"PUT", "/devices/{}", h_device_put, AUTH_REGISTRY_WRITE, 8 * KB, HTTP_JSON_BODY,
	 "Create a device (no If-Match) or replace it (If-Match)"},
	{"GET", "/devices/{}", h_device_get, AUTH_REGISTRY_READ, 0, 0, "Get a device identity"},
	{"DELETE", "/devices/{}", h_device_delete, AUTH_REGISTRY_WRITE, 0, 0, "Delete a device and its modules"},
	{"GET", "/devices/{}/modules", h_modules_list, AUTH_REGISTRY_READ, 0, 0, "List a device's modules"},
	{"PUT", "/devices/{}/modules/{}", h_device_put, AUTH_REGISTRY_WRITE, 8 * KB, HTTP_JSON_BODY,
	 "Create (201) or replace (200) a module identity"},
	{"GET", "/devices/{}/modules/{}", h_device_get, AUTH_REGISTRY_READ, 0, 0, "Get a module identity"},
	{"DELETE", "/devices/{}/modules/{}", h_device_delete, AUTH_REGISTRY_WRITE, 0, 0, "Delete a module"},
	{"GET", "/statistics/devices", h_stats_devices, AUTH_REGISTRY_READ, 0, 0, "Device counts"},
	{"GET", "/statistics/service", h_stats_service, AUTH_SERVICE_CONNECT, 0, 0, "Connected device count"},
	{"GET", "/devicehub/devices/{}/messages", h_device_messages, AUTH_SERVICE_CONNECT, 0, 0,
	 "The last 10 device-to-cloud messages of a device (MQTT telemetry), oldest first"},
	{"GET", "/twins/{}", h_twin_get, AUTH_SERVICE_CONNECT, 0, 0, "Get a device twin"},
	{"PATCH", "/twins/{}", h_twin_patch, AUTH_SERVICE_CONNECT, 96 * KB, HTTP_JSON_BODY,
	 "Merge-patch tags and desired properties (null deletes)"},
	{"PUT", "/twins/{}", h_twin_put, AUTH_SERVICE_CONNECT, 96 * KB, HTTP_JSON_BODY,
	 "Replace tags and desired properties"},
	{"POST", "/twins/{}/methods", h_method, AUTH_SERVICE_CONNECT, 160 * KB, HTTP_JSON_BODY,
	 "Invoke a direct method on a connected device and wait for its answer"},
	{"POST", "/twins/{}/modules/{}/methods", h_method, AUTH_SERVICE_CONNECT, 160 * KB, HTTP_JSON_BODY,
	 "Invoke a direct method on a module"},
	{"GET", "/twins/{}/modules/{}", h_twin_get, AUTH_SERVICE_CONNECT, 0, 0, "Get a module twin"},
	{"PATCH", "/twins/{}/modules/{}", h_twin_patch, AUTH_SERVICE_CONNECT, 96 * KB, HTTP_JSON_BODY,
	 "Merge-patch a module twin"},
	{"PUT", "/twins/{}/modules/{}", h_twin_put, AUTH_SERVICE_CONNECT, 96 * KB, HTTP_JSON_BODY,
	 "Replace a module twin's tags and desired properties"},
	{"POST", "/configurations/testQueries", http_configuration_test_queries, AUTH_SERVICE_CONNECT, 64 * KB,
	 HTTP_JSON_BODY | HTTP_READS, "Validate a target condition and metric queries and count what they select"},
	{"GET", "/configurations", http_configuration_list, AUTH_SERVICE_CONNECT, 0, 0,
	 "List configurations (top=N, at most 100)"},
	{"PUT", "/configurations/{}", http_configuration_put, AUTH_SERVICE_CONNECT, 64 * KB, HTTP_JSON_BODY,
	 "Create a configuration (no If-Match) or update it (If-Match)"},
	{"GET", "/configurations/{}", http_configuration_get, AUTH_SERVICE_CONNECT, 0, 0,
	 "Get a configuration with its metrics"},
	{"GET", "/devicehub/configurations/{}/drift", http_configuration_drift, AUTH_SERVICE_CONNECT, 0, 0,
	 "Per desired path of a configuration: targeted devices reporting the desired value and drifting ones"},
	{"DELETE", "/configurations/{}", http_configuration_delete, AUTH_SERVICE_CONNECT, 0, 0,
	 "Delete a configuration; its settings are taken back from the devices"},
	{"GET", "/devicehub/groups", http_group_list, AUTH_SERVICE_CONNECT, 0, 0,
	 "List device groups with their live member counts"},
	{"PUT", "/devicehub/groups/{}", http_group_put, AUTH_SERVICE_CONNECT, 16 * KB, HTTP_JSON_BODY,
	 "Create (201) or replace (200; If-Match optional) a device group {condition, description}"},
	{"GET", "/devicehub/groups/{}", http_group_get, AUTH_SERVICE_CONNECT, 0, 0,
	 "Get a device group with its live member count"},
	{"DELETE", "/devicehub/groups/{}", http_group_delete, AUTH_SERVICE_CONNECT, 0, 0, "Delete a device group"},
	{"GET", "/devicehub/groups/{}/devices", http_group_devices, AUTH_SERVICE_CONNECT, 0, 0,
	 "The group's member twins, paged like /devices/query"},
	{"GET", "/devicehub/fleet", http_fleet_get, AUTH_SERVICE_CONNECT, 0, 0,
	 "Device counts now: total, enabled, disabled, connected"},
	{"GET", "/devicehub/fleet/history", http_fleet_history, AUTH_SERVICE_CONNECT, 0, 0,
	 "Sampled fleet counts (?since=&until= ISO 8601; at most 2000 points, averaged per bucket beyond)"},
	{"GET", "/devicehub/health", http_health_get, AUTH_SERVICE_CONNECT, 0, 0,
	 "The last evaluation of every health rule: count, breaking, up to 10 device ids"},
	{"GET", "/devicehub/health-rules", http_health_rule_list, AUTH_SERVICE_CONNECT, 0, 0, "List health rules"},
	{"PUT", "/devicehub/health-rules/{}", http_health_rule_put, AUTH_SERVICE_CONNECT, 16 * KB, HTTP_JSON_BODY,
	 "Create (201) or replace (200) a health rule {condition, threshold, severity, description}"},
	{"DELETE", "/devicehub/health-rules/{}", http_health_rule_delete, AUTH_SERVICE_CONNECT, 0, 0,
	 "Delete a health rule"},
	{"GET", "/devicehub/twin-paths", http_twin_paths, AUTH_SERVICE_CONNECT, 0, 0,
	 "Leaf twin paths in use (recently updated twins and the tag schema), for autocomplete; cached 60 s"},
	{"GET", "/devicehub/tag-schema/violations", http_tag_schema_violations, AUTH_SERVICE_CONNECT, 0, 0,
	 "Twins whose stored tags break the tag schema (at most 1000, with a count); changes nothing"},
	{"PUT", "/devicehub/tag-schema", http_tag_schema_put, AUTH_OWNER, 64 * KB, HTTP_JSON_BODY,
	 "Set the tag schema enforced on every twin write (owner only)"},
	{"GET", "/devicehub/tag-schema", http_tag_schema_get, AUTH_SERVICE_CONNECT, 0, 0, "The tag schema, 404 if none"},
	{"DELETE", "/devicehub/tag-schema", http_tag_schema_delete, AUTH_OWNER, 0, 0,
	 "Remove the tag schema (owner only)"},
	{"GET", "/devicehub/policies", h_policies, AUTH_OWNER, 0, 0,
	 "List shared access policies and their keys (owner only)"},
	{"POST", "/devicehub/policies/{}/rotate", h_policy_rotate, AUTH_OWNER, 0, 0,
	 "Replace a policy's key: key=primary|secondary|both (owner only)"},
	{"POST", "/devicehub/imports", http_import_start, AUTH_REGISTRY_WRITE, IMPORT_MAX_BYTES, HTTP_RAW_BODY,
	 "Start a bulk import: raw body of JSON lines (application/x-ndjson) or CSV (text/csv); 202"},
	{"GET", "/devicehub/imports/{}", http_import_get, AUTH_REGISTRY_READ, 0, 0, "A bulk import's progress"},
	{"GET", "/devicehub/imports/{}/errors", http_import_errors, AUTH_REGISTRY_READ, 0, 0,
	 "A bulk import's failed lines as JSON lines {line, deviceId, errorCode, message}"},
	{"GET", "/devicehub/exports", http_export, AUTH_REGISTRY_READ, 0, 0,
	 "Stream every device as JSON lines from one snapshot; keys=true needs RegistryWrite"},
	{"POST", "/devicehub/backup", http_backup_create, AUTH_OWNER, 1 * KB, HTTP_JSON_OPTIONAL,
	 "Online backup into <data-dir>/backups: body empty or {\"path\": \"name.db\"} (owner only)"},
	{"GET", "/devicehub/artifacts", http_artifact_list, AUTH_SERVICE_CONNECT, 0, 0, "List firmware artifacts"},
	{"POST", "/devicehub/artifacts", http_artifact_upload, AUTH_SERVICE_CONNECT, ARTIFACT_MAX_BYTES, HTTP_RAW_BODY,
	 "Upload a firmware package (raw body) with a generated id: version=, model=a[,b]"},
	{"PUT", "/devicehub/artifacts/{}", http_artifact_upload, AUTH_SERVICE_CONNECT, ARTIFACT_MAX_BYTES, HTTP_RAW_BODY,
	 "Upload a firmware package (raw body) under this id: version=, model=a[,b]; 409 if it exists"},
	{"GET", "/devicehub/artifacts/{}", http_artifact_get, AUTH_SERVICE_CONNECT, 0, 0, "An artifact's metadata"},
	{"DELETE", "/devicehub/artifacts/{}", http_artifact_delete, AUTH_SERVICE_CONNECT, 0, 0,
	 "Delete an artifact and its file"},
	{"POST", "/devicehub/events/ticket", http_events_ticket, AUTH_SERVICE_CONNECT, 0, HTTP_READS,
	 "A single-use ticket (60 s) for the live event socket, with its port, path and whether it is TLS"},
	{"GET", "/devicehub/events", http_events_list, AUTH_SERVICE_CONNECT, 0, 0,
	 "The latest events, newest first: top=N (1-1000, default 50), types=a,b"},
	{"GET", "/devicehub/artifacts/{}/content", http_artifact_content, AUTH_NONE, 0, HTTP_OWN_AUTH,
	 "Download the package (device token or ServiceConnect/DeviceConnect policy token); Range supported"},
	{NULL, NULL, NULL, 0, 0, 0, NULL},
};
