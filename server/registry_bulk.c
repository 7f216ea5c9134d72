/*
 * registry_bulk: POST /devices, IoT Hub's bulk registry operation (reference §1.3). Every entry runs in
 * its own savepoint inside one transaction: a failing entry is reported and undone, the others apply.
 */
#include "registry.h"

#include "clock.h"
#include "err.h"
#include "events.h"
#include "json_util.h"
#include "registry_int.h"
#include "session.h"
#include "twin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef enum bulk_mode {
	BULK_CREATE, BULK_UPDATE, BULK_UPDATE_IF_MATCH, BULK_DELETE, BULK_DELETE_IF_MATCH, BULK_UPDATE_TWIN,
	BULK_UPDATE_TWIN_IF_MATCH,
} bulk_mode;

/* The SDK sends mixed case ("Update", "DeleteIfMatchETag"), so names match case-insensitively. */
static const struct {
	const char *name;
	bulk_mode mode;
} bulk_modes[] = {
	{"create", BULK_CREATE},
	{"update", BULK_UPDATE},
	{"createOrUpdate", BULK_UPDATE},
	{"updateIfMatchETag", BULK_UPDATE_IF_MATCH},
	{"delete", BULK_DELETE},
	{"deleteIfMatchETag", BULK_DELETE_IF_MATCH},
	{"updateTwin", BULK_UPDATE_TWIN},
	{"updateTwinIfMatchETag", BULK_UPDATE_TWIN_IF_MATCH},
};

static int bulk_mode_parse(const char *name, bulk_mode *out)
{
	for (size_t i = 0; i < sizeof(bulk_modes) / sizeof(bulk_modes[0]); i++) {
		if (strcasecmp(name, bulk_modes[i].name) == 0) {
			*out = bulk_modes[i].mode;
			return 0;
		}
	}
	return err_set(DH_EINVAL, "importMode '%s' is not one of create, update, updateIfMatchETag, delete,"
				  " deleteIfMatchETag, updateTwin, updateTwinIfMatchETag", name);
}

static const char *entry_id(const json_t *e)
{
	const char *id = json_util_str(e, "id");

	return id ? id : json_util_str(e, "deviceId");
}

static const char *entry_etag(const json_t *e, const char *key_a, const char *key_b)
{
	const char *t = json_util_str(e, key_a);

	t = t ? t : json_util_str(e, key_b);
	return t && *t ? t : "*";
}

int registry__twin_from_entry(store_twin *tw, const json_t *e, const char *now)
{
	const json_t *props = json_object_get(e, "properties");
	const json_t *reported = json_object_get(props, "reported");
	json_t *patch;
	int rc;

	if (!json_object_get(e, "tags") && !json_object_get(props, "desired") && !reported)
		return 0;
	patch = json_pack("{s:O*, s:{s:O*}}", "tags", json_object_get(e, "tags"), "properties", "desired",
			  json_object_get(props, "desired"));
	rc = twin_apply_patch(tw, patch, now);
	json_decref(patch);
	if (rc == 0 && json_is_object(reported) && json_object_size(reported))
		rc = twin_apply_reported(tw, reported, now);
	return rc;
}

/* Merges the entry's tags / desired / reported into the stored twin of an existing device. */
static int bulk_twin(store *s, const char *device_id, const json_t *e, const char *if_match)
{
	const json_t *props = json_object_get(e, "properties");
	char now[CLOCK_ISO_LEN], etag[32];
	store_identity id;
	store_twin tw = {0};
	int rc;

	if (!json_object_get(e, "tags") && !json_object_get(props, "desired") && !json_object_get(props, "reported"))
		return 0;
	if ((rc = store_device_get(s, device_id, "", &id, &tw)) != 0)
		return rc;
	clock_iso_now(now);
	if (if_match && strcmp(if_match, "*") && strcmp(if_match, twin_etag_text(tw.etag, etag))) {
		rc = err_set(DH_EETAG, "twin etag mismatch");
		goto out;
	}
	if ((rc = registry__twin_from_entry(&tw, e, now)) == 0)
		rc = store_device_update_twin(s, device_id, "", &tw);
out:
	store_twin_release(&tw);
	return rc;
}

/* Runs one entry inside the caller's transaction. OUT: *revoke when the device's connection must end. */
static int bulk_entry(store *s, const json_t *e, bulk_mode mode, const char *device_id, int *revoke)
{
	store_identity id;
	int created = 0, rc; /* registry__put_locked sets created only when it inserts */

	*revoke = 0;
	switch (mode) {
	/* A created device got the entry's twin with its insert; a replaced one gets it now. */
	case BULK_CREATE:
		return registry__put_locked(s, device_id, "", e, NULL, REGISTRY_BULK_TWIN, &id, &created, revoke);
	case BULK_UPDATE:
		rc = registry__put_locked(s, device_id, "", e, NULL, REGISTRY_UPSERT | REGISTRY_BULK_TWIN, &id, &created, revoke);
		return rc || created ? rc : bulk_twin(s, device_id, e, NULL);
	case BULK_UPDATE_IF_MATCH:
		rc = registry__put_locked(s, device_id, "", e, entry_etag(e, "eTag", "etag"), REGISTRY_BULK_TWIN, &id,
					  &created, revoke);
		return rc || created ? rc : bulk_twin(s, device_id, e, NULL);
	case BULK_DELETE:
		*revoke = 1;
		return registry__delete_locked(s, device_id, "", NULL);
	case BULK_DELETE_IF_MATCH:
		*revoke = 1;
		return registry__delete_locked(s, device_id, "", entry_etag(e, "eTag", "etag"));
	case BULK_UPDATE_TWIN:
		return bulk_twin(s, device_id, e, NULL);
	case BULK_UPDATE_TWIN_IF_MATCH:
		return bulk_twin(s, device_id, e, entry_etag(e, "twinETag", "twinEtag"));
	}
	return err_set(DH_EINTERNAL, "unhandled import mode");
}

static void bulk_error(json_t *errors, const char *device_id, int code, const char *operation)
{
	json_array_append_new(errors, json_pack("{s:s, s:s, s:s, s:n, s:s}", "deviceId", device_id ? device_id : "",
						"errorCode", err_http(code).name, "errorStatus", err_message(),
						"moduleId", "operation", operation ? operation : ""));
}

/* Checks the request as a whole: an array of 1..100 objects, each id once. */
static int bulk_validate(const json_t *body)
{
	json_t *seen;
	size_t i;
	json_t *e;
	int rc = 0;

	if (!json_is_array(body) || json_array_size(body) == 0)
		return err_set(DH_EINVAL, "the body must be a non-empty JSON array of devices");
	if (json_array_size(body) > REGISTRY_BULK_MAX)
		return err_set(DH_EINVAL, "at most %d devices per bulk call, not %zu", REGISTRY_BULK_MAX,
			       json_array_size(body));
	seen = json_object();
	json_array_foreach(body, i, e) {
		const char *id = entry_id(e);
		if (!json_is_object(e) || !id) {
			rc = err_set(DH_EINVAL, "entry %zu is not an object with an id", i);
			break;
		}
		if (json_object_get(seen, id)) {
			rc = err_set(DH_EDUPLICATE, "device '%s' appears more than once", id);
			break;
		}
		json_object_set_new(seen, id, json_true());
	}
	json_decref(seen);
	return rc;
}

/* Runs every entry in its savepoint, collecting errors and the devices whose connections must end. */
static void bulk_run(store *s, const json_t *body, json_t *errors, json_t *revoked)
{
	size_t i;
	json_t *e;

	json_array_foreach(body, i, e) {
		int revoke = 0;
		int rc = registry_bulk_apply(s, e, &revoke);
		if (rc == 0 && revoke)
			json_array_append_new(revoked, json_string(entry_id(e)));
		if (rc)
			bulk_error(errors, entry_id(e), rc, json_util_str(e, "importMode"));
	}
}

int registry_bulk_apply(store *s, const json_t *e, int *revoke)
{
	const char *id = entry_id(e);
	const char *mode_name = json_util_str(e, "importMode");
	bulk_mode mode = BULK_UPDATE;
	int rc = mode_name ? bulk_mode_parse(mode_name, &mode) : 0;

	*revoke = 0;
	if (rc == 0)
		rc = registry__check_ids(id, "");
	if (rc == 0 && (rc = store_savepoint(s)) == 0) {
		rc = bulk_entry(s, e, mode, id, revoke);
		if (rc)
			store_savepoint_rollback(s);
		else
			rc = store_savepoint_release(s);
	}
	if (rc)
		*revoke = 0;
	return rc;
}

int registry_bulk(const json_t *body, json_t **out)
{
	store *s = store_thread();
	json_t *errors, *revoked, *v;
	size_t i;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = bulk_validate(body)) != 0 || (rc = store_begin_write(s)) != 0)
		return rc;
	errors = json_array();
	revoked = json_array();
	bulk_run(s, body, errors, revoked);
	rc = store_commit(s);
	json_array_foreach(revoked, i, v) {
		if (rc == 0)
			session_kick(json_string_value(v), NULL, SESSION_CLOSE_REVOKED, "credentials revoked");
	}
	json_decref(revoked);
	if (rc) {
		json_decref(errors);
		return rc;
	}
	/* One summary, not an event per device: a bulk call may carry thousands of them. */
	events_publish("registry.bulk", json_pack("{s:s, s:I, s:I}", "source", "bulk", "entries",
						  (json_int_t)json_array_size(body), "failed",
						  (json_int_t)json_array_size(errors)));
	*out = json_pack("{s:b, s:O, s:[]}", "isSuccessful", json_array_size(errors) == 0, "errors", errors,
			 "warnings");
	json_decref(errors);
	return json_array_size(json_object_get(*out, "errors")) ? err_set(DH_EBULK, "some bulk entries failed") : 0;
}
