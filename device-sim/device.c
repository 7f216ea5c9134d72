/* device: one simulated device's behaviour (see device.h). */
#include "device.h"

#include "fleet.h"
#include "http_client.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#define FACTORY_FIRMWARE "1.0.0"

enum device_flag {
	DF_CAPS_REPORTED = 1, /* capabilities reported since start (or since a factory reset) */
	DF_TWIN_PENDING = 2,  /* twin.get sent, answer not yet in */
	DF_REBOOTING = 4,     /* report reboot done at the next connection */
	DF_RESETTING = 8,     /* report factory reset done at the next connection */
	DF_FW_DIRTY = 16,     /* a firmware report was lost offline: report the state at the next connection */
};

enum action_kind {
	ACT_ANSWER,             /* send the method.response in msg */
	ACT_ANSWER_THEN_REBOOT, /* send it, then close and come back after --reboot-ms */
	ACT_FW_STEP,            /* next firmware update stage; msg is the update's serial */
};

enum fw_stage { FW_DOWNLOADING, FW_VERIFYING, FW_APPLYING, FW_REBOOTING };

struct fw_update {
	uint32_t serial; /* tells this update's download and timers from an abandoned one's */
	uint8_t stage;
	uint8_t digest_ok;
	json_t *rid; /* the firmwareUpdate request's rid, answered after verification */
	char target[16];
	uint8_t expected[32];
	char reason[200]; /* why verification failed */
};

static uint32_t fw_serial;

/* Keys the device reports itself: a desired property of the same name is not mirrored over them. */
static const char *const owned_keys[] = {"model",    "serial", "battery", "location",    "powerSource",
					 "firmware", "config", "reboot",  "factoryReset"};

void device_init(sim_device *d, uint32_t index)
{
	d->index = index;
}

static void fw_free(sim_device *d)
{
	if (!d->fw)
		return;
	json_decref(d->fw->rid);
	free(d->fw);
	d->fw = NULL;
}

void device_release(sim_device *d)
{
	fw_free(d);
}

static void now_iso(char out[40])
{
	struct timeval tv;
	struct tm tm;
	size_t n;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

static json_t *json_now(void)
{
	char t[40];

	now_iso(t);
	return json_string(t);
}

/* ---- sending --------------------------------------------------------------------------------------- */

/* Sends a reported.patch with body (taken). Returns 0, or -1 when offline (the patch is lost). */
static int send_reported(sim_device *d, json_t *body)
{
	return fleet_send_take(
	    d, json_pack("{s:s, s:I, s:o}", "type", "reported.patch", "rid", (json_int_t)++d->next_rid, "body", body));
}

static json_t *firmware_object(const sim_device *d, const char *status, int progress, const char *reason)
{
	return json_pack("{s:s, s:i, s:s, s:s?, s:s?}", "status", status, "progress", progress, "version",
			 d->fw_version, "target", d->fw ? d->fw->target : NULL, "reason", reason);
}

static void report_firmware(sim_device *d, const char *status, int progress, const char *reason)
{
	if (send_reported(d, json_pack("{s:o}", "firmware", firmware_object(d, status, progress, reason))) < 0)
		d->flags |= DF_FW_DIRTY;
}

static void do_answer(sim_device *d, int kind, json_t *msg)
{
	if (fleet_send_take(d, msg) == 0) {
		fleet_stats()->methods++;
		if (kind == ACT_ANSWER_THEN_REBOOT)
			fleet_close(d, 1000, "reboot", (uint32_t)fleet_options()->reboot_ms);
	}
}

/* Answers request rid with status and payload (taken), after --latency-ms. */
static void answer(sim_device *d, const json_t *rid, int status, json_t *payload, int kind)
{
	json_t *msg = json_pack("{s:s, s:O, s:i, s:o}", "type", "method.response", "rid", rid, "status", status,
				"payload", payload);
	int latency = fleet_options()->latency_ms;

	if (latency > 0)
		fleet_after(d, (uint32_t)latency, kind, msg);
	else
		do_answer(d, kind, msg);
}

/* ---- twin ------------------------------------------------------------------------------------------ */

static int is_owned(const char *key)
{
	for (size_t i = 0; i < sizeof(owned_keys) / sizeof(owned_keys[0]); i++)
		if (strcmp(key, owned_keys[i]) == 0)
			return 1;
	return 0;
}

/* Applies desired properties (a patch or a whole section) at version: mirrors them into report and
 * acknowledges the version in report.config. */
static void apply_desired(sim_device *d, const json_t *desired, int64_t version, json_t *report)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)desired, key, value) if (key[0] != '$' && !is_owned(key))
	    json_object_set(report, key, value);
	json_object_set_new(report, "config", json_pack("{s:I, s:s}", "applied", (json_int_t)version, "status", "ok"));
	d->desired_applied = version;
	fleet_stats()->desired_applied++;
}

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* What the device is, fixed by its number so that a device looks the same in every run. */
static json_t *capabilities(const sim_device *d)
{
	static const char *const models[] = {"dh-thermostat-t100", "dh-power-meter-p200", "dh-gateway-g300",
					     "dh-tracker-k400"};
	static const double sites[][2] = {{47.6062, -122.3321}, {51.5072, -0.1276},   {52.5200, 13.4050},
					  {35.6762, 139.6503},  {-33.8688, 151.2093}, {40.7128, -74.0060},
					  {48.8566, 2.3522},    {1.3521, 103.8198}};
	uint64_t h = mix64((uint64_t)(fleet_options()->first + (int)d->index));
	const double *site = sites[(h >> 4) % (sizeof(sites) / sizeof(sites[0]))];
	int mains = (h >> 8) % 3 == 0;
	char serial[32];
	double lat = site[0] + ((double)((h >> 24) & 0xffff) / 65535.0 - 0.5) * 0.2;
	double lon = site[1] + ((double)((h >> 40) & 0xffff) / 65535.0 - 0.5) * 0.2;

	snprintf(serial, sizeof(serial), "SN-%010llX", (unsigned long long)(h & 0xffffffffffull));
	return json_pack("{s:s, s:s, s:s, s:i, s:{s:f, s:f}, s:o}", "model", models[h % 4], "serial", serial,
			 "powerSource", mains ? "mains" : "battery", "battery",
			 mains ? 100 : 15 + (int)((h >> 16) % 86), "location", "lat", lat, "lon", lon, "firmware",
			 firmware_object(d, "current", 100, NULL));
}

/* After hello (and the twin, when one was asked for): everything the device reports on connecting. */
static void finish_connect(sim_device *d, const json_t *twin)
{
	json_t *report = json_object(), *desired = json_object_get(twin, "desired");
	const char *fw = json_string_value(
	    json_object_get(json_object_get(json_object_get(twin, "reported"), "firmware"), "version"));
	json_int_t version = json_integer_value(json_object_get(desired, "$version"));

	/* A device that ran before (an earlier simulator run) keeps the firmware it had installed. */
	if (!d->fw_version[0] && fw && strlen(fw) < sizeof(d->fw_version))
		snprintf(d->fw_version, sizeof(d->fw_version), "%s", fw);
	if (!d->fw_version[0])
		snprintf(d->fw_version, sizeof(d->fw_version), "%s", FACTORY_FIRMWARE);
	if (!(d->flags & DF_CAPS_REPORTED)) {
		json_t *caps = capabilities(d);

		json_object_update(report, caps);
		json_decref(caps);
		d->flags |= DF_CAPS_REPORTED;
	}
	if (json_is_object(desired) && version > d->desired_applied)
		apply_desired(d, desired, version, report);
	if (d->flags & DF_REBOOTING)
		json_object_set_new(report, "reboot",
				    json_pack("{s:s, s:o}", "status", "done", "lastReboot", json_now()));
	if (d->flags & DF_RESETTING)
		json_object_set_new(report, "factoryReset",
				    json_pack("{s:s, s:o}", "status", "done", "completedAt", json_now()));
	if (d->fw && d->fw->stage == FW_REBOOTING) {
		snprintf(d->fw_version, sizeof(d->fw_version), "%s", d->fw->target);
		json_object_set_new(report, "firmware", firmware_object(d, "current", 100, NULL));
		fw_free(d);
		fleet_stats()->fw_ok++;
	} else if (d->flags & DF_FW_DIRTY) {
		static const char *const stage_names[] = {"downloading", "verifying", "applying", "rebooting"};
		static const int stage_progress[] = {0, 40, 60, 80};

		json_object_set_new(
		    report, "firmware",
		    d->fw ? firmware_object(d, stage_names[d->fw->stage], stage_progress[d->fw->stage], NULL)
			  : firmware_object(d, "current", 100, NULL));
	}
	d->flags &= (uint8_t) ~(DF_REBOOTING | DF_RESETTING | DF_FW_DIRTY);
	if (json_object_size(report) > 0)
		send_reported(d, report);
	else
		json_decref(report);
}

static void send_twin_get(sim_device *d, int64_t if_newer_than)
{
	json_t *msg = json_pack("{s:s, s:I}", "type", "twin.get", "rid", (json_int_t)++d->next_rid);

	if (if_newer_than > 0)
		json_object_set_new(msg, "ifNewerThan", json_integer(if_newer_than));
	if (fleet_send_take(d, msg) == 0)
		d->flags |= DF_TWIN_PENDING;
}

static void on_hello(sim_device *d, const json_t *msg)
{
	json_int_t desired_version = json_integer_value(json_object_get(msg, "desiredVersion"));

	/* The first connection reads the whole twin (capabilities may depend on what an earlier run left);
	 * later ones only when desired moved on while the device was away. */
	if (!(d->flags & DF_CAPS_REPORTED))
		send_twin_get(d, 0);
	else if (desired_version > d->desired_applied)
		send_twin_get(d, d->desired_applied);
	else
		finish_connect(d, NULL);
}

static void on_twin(sim_device *d, const json_t *msg)
{
	if (!(d->flags & DF_TWIN_PENDING))
		return;
	d->flags &= (uint8_t)~DF_TWIN_PENDING;
	finish_connect(d,
		       json_integer_value(json_object_get(msg, "status")) == 200 ? json_object_get(msg, "body") : NULL);
}

static void on_desired(sim_device *d, const json_t *msg)
{
	json_int_t version = json_integer_value(json_object_get(msg, "version"));
	const json_t *body = json_object_get(msg, "body");
	json_t *report;

	if (!json_is_object(body) || version <= d->desired_applied)
		return;
	report = json_object();
	apply_desired(d, body, version, report);
	send_reported(d, report);
}

static void on_ack(sim_device *d, const json_t *msg)
{
	(void)d;
	(void)msg;
	fleet_stats()->reported_acked++;
}

static void on_error(sim_device *d, const json_t *msg)
{
	char id[160];

	fleet_stats()->hub_errors++;
	if (fleet_options()->verbose) {
		options_device_id(fleet_options(), (int)d->index, id, sizeof(id));
		fprintf(stderr, "devicehub-sim: %s: hub error %lld %s\n", id,
			(long long)json_integer_value(json_object_get(msg, "status")),
			json_string_value(json_object_get(msg, "message")) ?: "");
	}
}

/* ---- methods --------------------------------------------------------------------------------------- */

static void m_reboot(sim_device *d, const json_t *rid, const json_t *payload)
{
	(void)payload;
	send_reported(d, json_pack("{s:{s:s, s:o}}", "reboot", "status", "rebooting", "requestedAt", json_now()));
	d->flags |= DF_REBOOTING;
	answer(d, rid, 200, json_pack("{s:s, s:i}", "status", "rebooting", "offlineMs", fleet_options()->reboot_ms),
	       ACT_ANSWER_THEN_REBOOT);
}

/* Back to the factory firmware and no applied configuration: the next connection reports capabilities
 * again and re-applies desired properties from the twin. */
static void m_factory_reset(sim_device *d, const json_t *rid, const json_t *payload)
{
	(void)payload;
	send_reported(d, json_pack("{s:{s:s, s:o}}", "factoryReset", "status", "resetting", "requestedAt", json_now()));
	fw_free(d);
	snprintf(d->fw_version, sizeof(d->fw_version), "%s", FACTORY_FIRMWARE);
	d->desired_applied = 0;
	d->flags = (uint8_t)((d->flags & ~DF_CAPS_REPORTED) | DF_RESETTING);
	answer(d, rid, 200, json_pack("{s:s}", "status", "resetting"), ACT_ANSWER_THEN_REBOOT);
}

static int parse_sha256(const char *hex, uint8_t out[32])
{
	if (!hex || strlen(hex) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;

		if (!isxdigit((unsigned char)hex[2 * i]) || !isxdigit((unsigned char)hex[2 * i + 1]) ||
		    sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static void hex32(const uint8_t in[32], char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
}

static void fw_fail(sim_device *d, const char *reason)
{
	report_firmware(d, "error", 0, reason);
	answer(d, d->fw->rid, 400, json_pack("{s:s, s:s}", "status", "error", "reason", reason), ACT_ANSWER);
	fw_free(d);
	fleet_stats()->fw_failed++;
}

/* The device's token for a package on the hub's REST API (--api-url), and for no other server: a token
 * sent elsewhere would let that server act as the device until it expires. Caller frees; NULL for none. */
static char *package_authorization(const sim_device *d, const char *url)
{
	char host[256], api_host[256];
	const char *path;
	int port, api_port;
	buf token = BUF_INIT;

	if (http_url_parse(url, host, sizeof(host), &port, &path) < 0 ||
	    http_url_parse(fleet_options()->api_url, api_host, sizeof(api_host), &api_port, &path) < 0 ||
	    strcasecmp(host, api_host) != 0 || port != api_port)
		return NULL;
	if (fleet_device_token(d, (int64_t)time(NULL) + fleet_options()->token_ttl_s, &token) != 0) {
		buf_release(&token);
		return NULL;
	}
	return buf_detach(&token);
}

/* payload {url, sha256, version}: downloading → verifying → applying → rebooting → current, answered
 * 200 once the package verified (400 when it did not). */
static void m_firmware_update(sim_device *d, const json_t *rid, const json_t *payload)
{
	const char *url = json_string_value(json_object_get(payload, "url"));
	const char *sha = json_string_value(json_object_get(payload, "sha256"));
	const char *version = json_string_value(json_object_get(payload, "version"));
	uint8_t expected[32];
	char *auth;

	if (!url || strncmp(url, "http://", 7) != 0 || parse_sha256(sha, expected) < 0 || !version || !*version ||
	    strlen(version) >= sizeof(d->fw->target)) {
		answer(d, rid, 400,
		       json_pack("{s:s, s:s}", "status", "error", "reason",
				 "payload needs url (http://), sha256 (64 hex digits) and version (1-15 characters)"),
		       ACT_ANSWER);
		return;
	}
	if (d->fw) {
		answer(d, rid, 409,
		       json_pack("{s:s, s:s, s:s}", "status", "error", "reason", "an update is in progress", "target",
				 d->fw->target),
		       ACT_ANSWER);
		return;
	}
	d->fw = calloc(1, sizeof(*d->fw));
	if (!d->fw)
		abort();
	d->fw->serial = ++fw_serial;
	d->fw->stage = FW_DOWNLOADING;
	d->fw->rid = json_deep_copy(rid);
	memcpy(d->fw->expected, expected, sizeof(expected));
	snprintf(d->fw->target, sizeof(d->fw->target), "%s", version);
	report_firmware(d, "downloading", 0, NULL);
	auth = package_authorization(d, url);
	firmware_submit(d->index, d->fw->serial, url, auth);
	free(auth);
}

void device_on_download(sim_device *d, const firmware_result *r)
{
	char want[65], got[65];

	if (!d->fw || d->fw->serial != r->update || d->fw->stage != FW_DOWNLOADING)
		return;
	if (!r->ok) {
		fw_fail(d, r->reason);
		return;
	}
	d->fw->digest_ok = memcmp(r->digest, d->fw->expected, 32) == 0;
	if (!d->fw->digest_ok) {
		hex32(d->fw->expected, want);
		hex32(r->digest, got);
		snprintf(d->fw->reason, sizeof(d->fw->reason), "sha256 mismatch: expected %s, got %s", want, got);
	}
	d->fw->stage = FW_VERIFYING;
	report_firmware(d, "verifying", 40, NULL);
	fleet_after(d, (uint32_t)fleet_options()->fw_step_ms, ACT_FW_STEP, json_integer(d->fw->serial));
}

static void fw_step(sim_device *d)
{
	switch (d->fw->stage) {
	case FW_VERIFYING:
		if (!d->fw->digest_ok) {
			fw_fail(d, d->fw->reason);
			return;
		}
		d->fw->stage = FW_APPLYING;
		report_firmware(d, "applying", 60, NULL);
		answer(d, d->fw->rid, 200, json_pack("{s:s, s:s}", "status", "applying", "version", d->fw->target),
		       ACT_ANSWER);
		fleet_after(d, (uint32_t)fleet_options()->fw_step_ms, ACT_FW_STEP, json_integer(d->fw->serial));
		return;
	case FW_APPLYING:
		/* The new image boots: offline for --reboot-ms, then "current" from finish_connect. */
		d->fw->stage = FW_REBOOTING;
		report_firmware(d, "rebooting", 80, NULL);
		fleet_close(d, 1000, "firmware update reboot", (uint32_t)fleet_options()->reboot_ms);
		return;
	default:
		return;
	}
}

typedef void (*method_fn)(sim_device *d, const json_t *rid, const json_t *payload);

static const struct {
	const char *name;
	method_fn fn;
} methods[] = {
    {"reboot", m_reboot},
    {"factoryReset", m_factory_reset},
    {"firmwareUpdate", m_firmware_update},
};

static void on_method(sim_device *d, const json_t *msg)
{
	const json_t *rid = json_object_get(msg, "rid");
	const char *name = json_string_value(json_object_get(msg, "name"));
	char text[200];

	if (!rid || !name)
		return;
	if (fleet_options()->fail_rate > 0 && fleet_random() < fleet_options()->fail_rate) {
		fleet_stats()->methods_failed++;
		answer(d, rid, 500, json_pack("{s:s, s:s}", "status", "error", "reason", "injected failure"),
		       ACT_ANSWER);
		return;
	}
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(name, methods[i].name) == 0) {
			methods[i].fn(d, rid, json_object_get(msg, "payload"));
			return;
		}
	snprintf(text, sizeof(text), "method '%.150s' is not implemented", name);
	answer(d, rid, 501, json_pack("{s:s, s:s}", "status", "error", "reason", text), ACT_ANSWER);
}

/* ---- dispatch -------------------------------------------------------------------------------------- */

typedef void (*message_fn)(sim_device *d, const json_t *msg);

static const struct {
	const char *type;
	message_fn fn;
} handlers[] = {
    {"hello", on_hello},           {"twin", on_twin},        {"desired.patch", on_desired},
    {"method.request", on_method}, {"reported.ack", on_ack}, {"error", on_error},
};

void device_on_message(sim_device *d, const json_t *msg)
{
	const char *type = json_string_value(json_object_get(msg, "type"));

	for (size_t i = 0; type && i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (strcmp(type, handlers[i].type) == 0) {
			handlers[i].fn(d, msg);
			return;
		}
}

void device_on_action(sim_device *d, int kind, json_t *msg)
{
	if (kind == ACT_FW_STEP) {
		if (d->fw && (json_int_t)d->fw->serial == json_integer_value(msg))
			fw_step(d);
		json_decref(msg);
		return;
	}
	do_answer(d, kind, msg);
}

void device_on_closed(sim_device *d)
{
	d->flags &= (uint8_t)~DF_TWIN_PENDING;
}
