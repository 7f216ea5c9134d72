/*
 * registry: identity rules and operations. One transaction per operation on the calling thread's store.
 * Must never speak HTTP or hold SQL (store_device does).
 */
#include "registry.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "events.h"
#include "json_util.h"
#include "store.h"
#include "registry_int.h"
#include "session.h"
#include "twin.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int registry_id_valid(const char *id)
{
	static const char extra[] = "-.%_*?!(),:=@$'";
	size_t n = 0;

	for (const char *p = id; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;
		if (n >= STORE_ID_MAX || c >= 0x80 || (!isalnum(c) && !strchr(extra, c)))
			return 0;
	}
	return n > 0;
}

static json_t *str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

json_t *registry_render(const store_identity *id)
{
	char etag[32];
	json_t *o = json_object();
	int module = id->module_id[0] != '\0';

	json_object_set_new(o, "deviceId", json_string(id->device_id));
	if (module) {
		json_object_set_new(o, "moduleId", json_string(id->module_id));
		json_object_set_new(o, "managedBy", str_or_null(id->managed_by));
	}
	json_object_set_new(o, "generationId", json_string(id->generation_id));
	json_object_set_new(o, "etag", json_string(twin_identity_etag_text(id->etag, etag)));
	json_object_set_new(o, "connectionState", json_string(id->connected ? "Connected" : "Disconnected"));
	if (!module) {
		json_object_set_new(o, "status", json_string(id->enabled ? "enabled" : "disabled"));
		json_object_set_new(o, "statusReason", str_or_null(id->status_reason));
		json_object_set_new(o, "statusUpdatedTime", json_string(id->status_updated_time));
	}
	json_object_set_new(o, "connectionStateUpdatedTime", json_string(id->connection_state_updated_time));
	json_object_set_new(o, "lastActivityTime", json_string(id->last_activity_time));
	json_object_set_new(o, "cloudToDeviceMessageCount", json_integer(id->c2d_count));
	json_object_set_new(
		o, "authentication",
		json_pack("{s:{s:o, s:o}, s:{s:o, s:o}, s:s}", "symmetricKey", "primaryKey",
			  str_or_null(id->primary_key), "secondaryKey", str_or_null(id->secondary_key),
			  "x509Thumbprint", "primaryThumbprint", str_or_null(id->primary_thumbprint),
			  "secondaryThumbprint", str_or_null(id->secondary_thumbprint), "type", id->auth_type));
	if (!module) {
		json_object_set_new(o, "capabilities", json_pack("{s:b}", "iotEdge", id->iot_edge));
		json_object_set_new(o, "deviceScope", str_or_null(id->device_scope));
		json_object_set_new(o, "parentScopes", json_array());
	}
	return o;
}

/* A symmetric key given by a caller must be base64 of 16 to 64 bytes, as IoT Hub requires. */
static int key_field(const json_t *v, const char *name, char *dst, size_t n)
{
	const char *s;
	uint8_t raw[96];
	size_t len = 0;

	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return err_set(DH_EINVAL, "authentication.symmetricKey.%s must be a string", name);
	s = json_string_value(v);
	if (strlen(s) >= n || crypto_base64_decode(s, strlen(s), raw, sizeof(raw), &len) != 0 || len < 16 || len > 64)
		return err_set(DH_EINVAL, "authentication.symmetricKey.%s must be base64 of 16 to 64 bytes", name);
	snprintf(dst, n, "%s", s);
	return 0;
}

static int thumb_field(const json_t *v, const char *name, char *dst, size_t n)
{
	const char *s;

	if (!v || json_is_null(v) || (json_is_string(v) && json_string_length(v) == 0)) {
		dst[0] = '\0';
		return 0;
	}
	s = json_string_value(v);
	if (!s || (strlen(s) != 40 && strlen(s) != 64) || strspn(s, "0123456789abcdefABCDEF") != strlen(s))
		return err_set(DH_EINVAL, "authentication.x509Thumbprint.%s must be 40 or 64 hex digits", name);
	snprintf(dst, n, "%s", s);
	return 0;
}

/* Reads `authentication`; empty symmetric keys of a sas identity are generated (IoT Hub's rule). */
static int parse_auth(const json_t *auth, store_identity *id)
{
	const json_t *sym = json_object_get(auth, "symmetricKey");
	const json_t *x509 = json_object_get(auth, "x509Thumbprint");
	const char *type = json_util_str(auth, "type");
	int rc;

	if (auth && !json_is_object(auth))
		return err_set(DH_EINVAL, "authentication must be an object");
	if ((rc = key_field(json_object_get(sym, "primaryKey"), "primaryKey", id->primary_key, sizeof(id->primary_key))) ||
	    (rc = key_field(json_object_get(sym, "secondaryKey"), "secondaryKey", id->secondary_key, sizeof(id->secondary_key))) ||
	    (rc = thumb_field(json_object_get(x509, "primaryThumbprint"), "primaryThumbprint", id->primary_thumbprint, sizeof(id->primary_thumbprint))) ||
	    (rc = thumb_field(json_object_get(x509, "secondaryThumbprint"), "secondaryThumbprint", id->secondary_thumbprint, sizeof(id->secondary_thumbprint))))
		return rc;
	if (!type)
		type = (id->primary_thumbprint[0] && !id->primary_key[0]) ? "selfSigned" : "sas";
	if (strcmp(type, "sas") && strcmp(type, "selfSigned") && strcmp(type, "certificateAuthority") && strcmp(type, "none"))
		return err_set(DH_EINVAL, "authentication.type must be sas, selfSigned, certificateAuthority or none");
	snprintf(id->auth_type, sizeof(id->auth_type), "%s", type);
	if (strcmp(type, "sas") == 0) {
		char key[45];
		if (!id->primary_key[0] && ((rc = crypto_new_key(key)) != 0 || !memcpy(id->primary_key, key, sizeof(key))))
			return rc;
		if (!id->secondary_key[0] && ((rc = crypto_new_key(key)) != 0 || !memcpy(id->secondary_key, key, sizeof(key))))
			return rc;
	} else if (strcmp(type, "selfSigned") == 0 && !id->primary_thumbprint[0]) {
		return err_set(DH_EINVAL, "a selfSigned identity needs authentication.x509Thumbprint.primaryThumbprint");
	}
	return 0;
}

/* Code points in UTF-8 text (jansson has validated it): every byte that is not a continuation byte. */
static size_t utf8_chars(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

static int text_field(const json_t *body, const char *name, char *dst, size_t n, size_t max)
{
	const json_t *v = json_object_get(body, name);

	if (!v || json_is_null(v)) {
		dst[0] = '\0';
		return 0;
	}
	if (!json_is_string(v))
		return err_set(DH_EINVAL, "%s must be a string", name);
	/* IoT Hub's limits count characters, not UTF-8 bytes; the byte check guards dst. */
	if (utf8_chars(json_string_value(v), json_string_length(v)) > max)
		return err_set(DH_EINVAL, "%s is longer than %zu characters", name, max);
	if (json_string_length(v) >= n)
		return err_set(DH_EINVAL, "%s is longer than %zu bytes of UTF-8", name, n - 1);
	snprintf(dst, n, "%s", json_string_value(v));
	return 0;
}

/* Applies a device or module body onto id (defaults for a new identity, or the stored one). */
static int parse_identity(const json_t *body, store_identity *id, const char *now)
{
	const json_t *status = json_object_get(body, "status");
	const json_t *caps = json_object_get(body, "capabilities");
	int enabled = 1, rc;

	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the body must be a JSON object");
	if (status && !json_is_null(status)) {
		const char *s = json_string_value(status);
		if (!s || (strcasecmp(s, "enabled") && strcasecmp(s, "disabled")))
			return err_set(DH_EINVAL, "status must be 'enabled' or 'disabled'");
		enabled = strcasecmp(s, "enabled") == 0;
	}
	if (enabled != id->enabled)
		snprintf(id->status_updated_time, sizeof(id->status_updated_time), "%s", now);
	id->enabled = enabled;
	if ((rc = text_field(body, "statusReason", id->status_reason, sizeof(id->status_reason), 128)) ||
	    (rc = text_field(body, "deviceScope", id->device_scope, sizeof(id->device_scope), 255)) ||
	    (rc = text_field(body, "managedBy", id->managed_by, sizeof(id->managed_by), 255)))
		return rc;
	if (caps && !json_is_null(caps)) {
		const json_t *edge = json_object_get(caps, "iotEdge");
		if (!json_is_object(caps) || (edge && !json_is_boolean(edge)))
			return err_set(DH_EINVAL, "capabilities.iotEdge must be true or false");
		id->iot_edge = json_is_true(edge);
	}
	/* Replacing an identity without naming its authentication keeps its keys: disabling a device must
	 * not silently hand it new ones. Explicitly empty keys are still regenerated. */
	if (id->row && !json_object_get(body, "authentication"))
		return 0;
	return parse_auth(json_object_get(body, "authentication"), id);
}

/* A new identity's defaults. */
static void identity_defaults(store_identity *id, const char *device_id, const char *module_id)
{
	memset(id, 0, sizeof(*id));
	snprintf(id->device_id, sizeof(id->device_id), "%s", device_id);
	snprintf(id->module_id, sizeof(id->module_id), "%s", module_id ? module_id : "");
	snprintf(id->generation_id, sizeof(id->generation_id), "%lld", (long long)clock_ticks_now());
	id->enabled = 1;
	snprintf(id->status_updated_time, sizeof(id->status_updated_time), "%s", CLOCK_NEVER);
	snprintf(id->connection_state_updated_time, sizeof(id->connection_state_updated_time), "%s", CLOCK_NEVER);
	snprintf(id->last_activity_time, sizeof(id->last_activity_time), "%s", CLOCK_NEVER);
	snprintf(id->auth_type, sizeof(id->auth_type), "sas");
}

/* Checks that ids in the body, when present, agree with the path. */
static int check_body_ids(const json_t *body, const char *device_id, const char *module_id)
{
	const char *bd = json_util_str(body, "deviceId");
	const char *bm = json_util_str(body, "moduleId");

	if (bd && strcmp(bd, device_id) != 0)
		return err_set(DH_EINVAL, "deviceId '%s' in the body does not match '%s' in the path", bd, device_id);
	if (module_id && *module_id && bm && strcmp(bm, module_id) != 0)
		return err_set(DH_EINVAL, "moduleId '%s' in the body does not match '%s' in the path", bm, module_id);
	return 0;
}

int registry__check_ids(const char *device_id, const char *module_id)
{
	if (!registry_id_valid(device_id))
		return err_set(DH_EINVAL, "'%s' is not a valid device id: 1 to 128 characters of letters, digits and - . %% _ * ? ! ( ) , : = @ $ '", device_id);
	if (module_id && *module_id && !registry_id_valid(module_id))
		return err_set(DH_EINVAL, "'%s' is not a valid module id", module_id);
	return 0;
}

static int etag_matches(int64_t counter, const char *if_match)
{
	char etag[32];

	return !if_match || strcmp(if_match, "*") == 0 || strcmp(if_match, twin_identity_etag_text(counter, etag)) == 0;
}

/* 1 when the change must end the identity's live connection: disabled, or a key it may hold is gone. */
static int revokes(const store_identity *before, const store_identity *after)
{
	return (before->enabled && !after->enabled) || strcmp(before->primary_key, after->primary_key) ||
	       strcmp(before->secondary_key, after->secondary_key) ||
	       strcmp(before->primary_thumbprint, after->primary_thumbprint) ||
	       strcmp(before->secondary_thumbprint, after->secondary_thumbprint);
}

int registry__put_locked(store *s, const char *device_id, const char *module_id, const json_t *body,
			 const char *if_match, int flags, store_identity *id, int *created, int *revoke)
{
	int upsert = flags & REGISTRY_UPSERT;
	char now[CLOCK_ISO_LEN];
	store_twin tw = {0};
	store_identity before;
	int rc;

	*revoke = 0;
	clock_iso_now(now);
	rc = store_device_get(s, device_id, module_id, id, NULL);
	if (rc == 0 && !if_match && !upsert)
		return module_id && *module_id
			? err_set(DH_EMODEXISTS, "module '%s' already exists on device '%s'", module_id, device_id)
			: err_set(DH_EEXISTS, "device '%s' already exists", device_id);
	if (rc == DH_ENODEVICE || rc == DH_ENOMODULE) {
		if (if_match && !upsert)
			return rc;
		if (module_id && *module_id && store_device_get(s, device_id, "", id, NULL) != 0)
			return err_set(DH_ENODEVICE, "device '%s' not found", device_id);
		identity_defaults(id, device_id, module_id);
		if ((rc = parse_identity(body, id, now)) != 0)
			return rc;
		twin_init(&tw, now);
		if ((flags & REGISTRY_BULK_TWIN) && (rc = registry__twin_from_entry(&tw, body, now)) != 0) {
			store_twin_release(&tw);
			return rc;
		}
		rc = store_device_insert(s, id, &tw);
		store_twin_release(&tw);
		*created = rc == 0;
		return rc;
	}
	if (rc)
		return rc;
	if (!upsert && !etag_matches(id->etag, if_match))
		return err_set(DH_EETAG, "etag mismatch: the identity changed since it was read");
	before = *id;
	if ((rc = parse_identity(body, id, now)) != 0)
		return rc;
	*revoke = revokes(&before, id);
	id->etag++;
	return store_device_update_identity(s, id);
}

void registry__publish_identity(const char *type, const char *device_id, const char *module_id, const char *status,
				json_t *extra)
{
	json_t *data = extra ? extra : json_object();

	json_object_set_new(data, "deviceId", json_string(device_id));
	if (module_id && *module_id)
		json_object_set_new(data, "moduleId", json_string(module_id));
	if (status)
		json_object_set_new(data, "status", json_string(status));
	events_publish(type, data);
}

int registry_put(const char *device_id, const char *module_id, const json_t *body, const char *if_match,
		 json_t **out, int *created)
{
	store *s = store_thread();
	store_identity id;
	int revoke = 0, rc;

	*out = NULL;
	*created = 0;
	if (!s)
		return DH_EIO;
	if ((rc = registry__check_ids(device_id, module_id)) || (rc = check_body_ids(body, device_id, module_id)))
		return rc;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = registry__put_locked(s, device_id, module_id, body, if_match, 0, &id, created, &revoke)) != 0 ||
	    (rc = store_commit(s)) != 0) {
		store_rollback(s);
		return rc;
	}
	/* After the commit, so a reconnect already sees the new state. Disabling a device ends its modules'
	 * connections too. */
	if (revoke)
		session_kick(device_id, *module_id ? module_id : NULL, SESSION_CLOSE_REVOKED, "credentials revoked");
	*out = registry_render(&id);
	registry__publish_identity(*created ? "device.created" : "device.updated", device_id, module_id,
				   json_string_value(json_object_get(*out, "status")), NULL);
	return 0;
}

int registry_get(const char *device_id, const char *module_id, json_t **out)
{
	store *s = store_thread();
	store_identity id;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_device_get(s, device_id, module_id, &id, NULL)) != 0)
		return rc;
	*out = registry_render(&id);
	return 0;
}

int registry__delete_locked(store *s, const char *device_id, const char *module_id, const char *if_match)
{
	store_identity id;
	int rc = store_device_get(s, device_id, module_id, &id, NULL);

	if (rc)
		return rc;
	if (!etag_matches(id.etag, if_match))
		return err_set(DH_EETAG, "etag mismatch: the identity changed since it was read");
	return store_device_delete(s, device_id, module_id);
}

int registry_delete(const char *device_id, const char *module_id, const char *if_match)
{
	store *s = store_thread();
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = registry__delete_locked(s, device_id, module_id, if_match)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		return rc;
	}
	session_kick(device_id, module_id && *module_id ? module_id : NULL, SESSION_CLOSE_REVOKED, "identity deleted");
	registry__publish_identity("device.deleted", device_id, module_id, NULL, NULL);
	return 0;
}

static int append_identity(const store_identity *id, void *ctx)
{
	json_array_append_new((json_t *)ctx, registry_render(id));
	return 0;
}

int registry_list(int top, json_t **out)
{
	store *s = store_thread();
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if (top < 1 || top > REGISTRY_LIST_MAX)
		top = REGISTRY_LIST_MAX;
	*out = json_array();
	if ((rc = store_device_list(s, NULL, top, append_identity, *out)) != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int registry_list_modules(const char *device_id, json_t **out)
{
	store *s = store_thread();
	store_identity dev;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_device_get(s, device_id, "", &dev, NULL)) == 0) {
		*out = json_array();
		rc = store_device_list(s, device_id, REGISTRY_LIST_MAX, append_identity, *out);
	}
	store_rollback(s); /* read-only: nothing to commit */
	if (rc) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

static int counts(store_device_counts *c)
{
	store *s = store_thread();

	return s ? store_device_counts_get(s, c) : DH_EIO;
}

int registry_stats_devices(json_t **out)
{
	store_device_counts c;
	int rc = counts(&c);

	*out = rc ? NULL
		  : json_pack("{s:I, s:I, s:I}", "totalDeviceCount", (json_int_t)c.total, "enabledDeviceCount",
			      (json_int_t)c.enabled, "disabledDeviceCount", (json_int_t)c.disabled);
	return rc;
}

/* Connected identities come from the live sessions, not the table: exact, and no scan. */
int registry_stats_service(json_t **out)
{
	*out = json_pack("{s:I}", "connectedDeviceCount", (json_int_t)session_connected_count());
	return 0;
}
