/*
 * enrollment: enrollment groups, individual enrollments and registration. One transaction per operation
 * on the calling thread's store. Must never speak HTTP or hold SQL.
 */
#include "enrollment.h"

#include "auth.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "registry.h"
#include "registry_int.h"
#include "twin.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define INITIAL_TWIN_MAX_BYTES (8 * 1024)

int enrollment_derive_key(const char *group_key, const char *registration_id, char out[45])
{
	uint8_t raw[96], mac[32];
	size_t n = 0;

	out[0] = '\0';
	if (crypto_base64_decode(group_key, strlen(group_key), raw, sizeof(raw), &n) != 0 || n == 0)
		return err_set(DH_EINVAL, "the group key is not base64");
	crypto_hmac_sha256(raw, n, registration_id, strlen(registration_id), mac);
	return crypto_base64_encode(mac, sizeof(mac), out, 45);
}

/* A key given by the caller must be base64 of 16 to 64 bytes. An absent or empty one keeps the key the
 * enrollment has (a PUT that only disables a group must not re-key its devices), else is generated. */
static int key_member(const json_t *sym, const char *name, char *dst, size_t n)
{
	const json_t *v = json_object_get(sym, name);
	const char *s = json_string_value(v);
	uint8_t raw[96];
	size_t len = 0;

	if (!v || json_is_null(v) || (s && !*s))
		return dst[0] ? 0 : crypto_new_key(dst);
	if (!s || strlen(s) >= n || crypto_base64_decode(s, strlen(s), raw, sizeof(raw), &len) != 0 || len < 16 ||
	    len > 64)
		return err_set(DH_EINVAL, "attestation.symmetricKey.%s must be base64 of 16 to 64 bytes", name);
	snprintf(dst, n, "%s", s);
	return 0;
}

/* initialTwin: {tags:{..}, properties:{desired:{..}}}, each part optional, checked by the twin rules. */
static int parse_initial_twin(const json_t *v, json_t **out)
{
	const json_t *tags = json_object_get(v, "tags");
	const json_t *desired = json_object_get(json_object_get(v, "properties"), "desired");
	int rc;

	*out = NULL;
	if (v && !json_is_null(v) && !json_is_object(v))
		return err_set(DH_EINVAL, "initialTwin must be an object");
	if ((tags && !json_is_object(tags)) || (desired && !json_is_object(desired)))
		return err_set(DH_EINVAL, "initialTwin.tags and initialTwin.properties.desired must be objects");
	if ((tags && (rc = twin_validate_section(tags, "tags", INITIAL_TWIN_MAX_BYTES)) != 0) ||
	    (desired && (rc = twin_validate_section(desired, "desired", INITIAL_TWIN_MAX_BYTES)) != 0))
		return rc;
	*out = json_pack("{s:o, s:{s:o}}", "tags", tags ? json_deep_copy(tags) : json_object(), "properties", "desired",
			 desired ? json_deep_copy(desired) : json_object());
	return *out ? 0 : DH_ENOMEM;
}

int enrollment__parse(const json_t *body, store_enrollment *e)
{
	const json_t *att = json_object_get(body, "attestation");
	const json_t *sym = json_object_get(att, "symmetricKey");
	const char *status = json_util_str(body, "provisioningStatus");
	const char *type = json_util_str(att, "type");
	json_t *twin = NULL;
	int rc;

	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the body must be a JSON object");
	if ((att && !json_is_object(att)) || (sym && !json_is_object(sym)))
		return err_set(DH_EINVAL, "attestation.symmetricKey must be an object");
	if (type && strcmp(type, "symmetricKey") != 0)
		return err_set(DH_EINVAL, "attestation.type must be symmetricKey (the only one devicehub supports)");
	if (json_object_get(body, "provisioningStatus") && !json_is_null(json_object_get(body, "provisioningStatus")) &&
	    (!status || (strcmp(status, "enabled") && strcmp(status, "disabled"))))
		return err_set(DH_EINVAL, "provisioningStatus must be 'enabled' or 'disabled'");
	if ((rc = key_member(sym, "primaryKey", e->primary_key, sizeof(e->primary_key))) != 0 ||
	    (rc = key_member(sym, "secondaryKey", e->secondary_key, sizeof(e->secondary_key))) != 0 ||
	    (rc = parse_initial_twin(json_object_get(body, "initialTwin"), &twin)) != 0)
		return rc;
	e->enabled = !status || strcmp(status, "enabled") == 0;
	json_decref(e->initial_twin);
	e->initial_twin = twin;
	return 0;
}

static json_t *render(const store_enrollment *e)
{
	int group = strcmp(e->kind, STORE_ENROLL_GROUP) == 0;
	json_t *o = json_object();

	json_object_set_new(o, group ? "enrollmentGroupId" : "registrationId", json_string(e->id));
	if (!group)
		json_object_set_new(o, "deviceId", json_string(e->id));
	json_object_set_new(o, "attestation",
			    json_pack("{s:s, s:{s:s, s:s}}", "type", "symmetricKey", "symmetricKey", "primaryKey",
				      e->primary_key, "secondaryKey", e->secondary_key));
	json_object_set_new(o, "provisioningStatus", json_string(e->enabled ? "enabled" : "disabled"));
	json_object_set_new(o, "initialTwin", e->initial_twin ? json_incref(e->initial_twin) : json_object());
	json_object_set_new(o, "createdDateTimeUtc", json_string(e->created_time));
	json_object_set_new(o, "lastUpdatedDateTimeUtc", json_string(e->updated_time));
	return o;
}

int enrollment_put(const char *kind, const char *id, const json_t *body, json_t **out)
{
	store *s = store_thread();
	store_enrollment e;
	char now[CLOCK_ISO_LEN];
	int rc;

	*out = NULL;
	memset(&e, 0, sizeof(e));
	if (!s)
		return DH_EIO;
	if (!registry_id_valid(id))
		return err_set(DH_EINVAL, "'%s' is not a valid id (the device id rules apply)", id);
	clock_iso_now(now);
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	rc = store_enrollment_get(s, kind, id, &e);
	if (rc == DH_ENOROUTE) {
		snprintf(e.kind, sizeof(e.kind), "%s", kind);
		snprintf(e.id, sizeof(e.id), "%s", id);
		snprintf(e.created_time, sizeof(e.created_time), "%s", now);
		rc = 0;
	}
	snprintf(e.updated_time, sizeof(e.updated_time), "%s", now);
	if (rc || (rc = enrollment__parse(body, &e)) != 0 || (rc = store_enrollment_put(s, &e)) != 0 ||
	    (rc = store_commit(s)) != 0)
		store_rollback(s);
	else
		*out = render(&e);
	store_enrollment_release(&e);
	return rc;
}

int enrollment_get(const char *kind, const char *id, json_t **out)
{
	store *s = store_thread();
	store_enrollment e;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_enrollment_get(s, kind, id, &e)) == 0)
		*out = render(&e);
	store_enrollment_release(&e);
	return rc;
}

int enrollment_delete(const char *kind, const char *id)
{
	store *s = store_thread();
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_enrollment_delete(s, kind, id)) != 0 || (rc = store_commit(s)) != 0)
		store_rollback(s);
	return rc;
}

static int append_rendered(const store_enrollment *e, void *ctx)
{
	json_array_append_new((json_t *)ctx, render(e));
	return 0;
}

int enrollment_list(const char *kind, json_t **out)
{
	store *s = store_thread();
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	*out = json_array();
	if ((rc = store_enrollment_each(s, kind, 0, append_rendered, *out)) != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return rc;
}

int enrollment_registrations(const char *group, json_t **out)
{
	store *s = store_thread();

	*out = NULL;
	return s ? store_registration_list(s, group, out) : DH_EIO;
}

/* Which enrollment vouches for a token, and with which device keys. */
typedef struct vouch {
	const sas_token *t;
	const char *registration_id;
	int64_t now;
	int found;
	char group_id[STORE_ID_MAX + 1]; /* "" for an individual enrollment */
	char primary_key[STORE_KEY_MAX];
	char secondary_key[STORE_KEY_MAX];
	json_t *initial_twin; /* owned */
	int created;          /* provisioning created the identity (it may exist from an earlier registration) */
	const char *status;   /* the created identity's status: "enabled" or "disabled" (literals) */
} vouch;

static int verifies(const sas_token *t, const char *key, int64_t now)
{
	return key[0] && sas_verify(t, key, now) == 0;
}

/* store_enrollment_each callback over enabled groups: the first whose derived key signs the token. */
static int try_group(const store_enrollment *g, void *ctx)
{
	vouch *v = ctx;
	char k1[45], k2[45];

	if (enrollment_derive_key(g->primary_key, v->registration_id, k1) != 0 ||
	    enrollment_derive_key(g->secondary_key, v->registration_id, k2) != 0)
		return 0;
	if (!verifies(v->t, k1, v->now) && !verifies(v->t, k2, v->now))
		return 0;
	v->found = 1;
	snprintf(v->group_id, sizeof(v->group_id), "%s", g->id);
	snprintf(v->primary_key, sizeof(v->primary_key), "%s", k1);
	snprintf(v->secondary_key, sizeof(v->secondary_key), "%s", k2);
	v->initial_twin = json_incref(g->initial_twin);
	return 1;
}

/* Finds the enabled enrollment whose key signs t: the individual enrollment first, then the groups.
 * Disabled enrollments vouch for nothing. Inside the caller's transaction. */
static int find_vouch(store *s, vouch *v)
{
	store_enrollment e;
	int rc;

	v->now = clock_unix_now();
	rc = store_enrollment_get(s, STORE_ENROLL_INDIVIDUAL, v->registration_id, &e);
	if (rc == 0 && e.enabled &&
	    (verifies(v->t, e.primary_key, v->now) || verifies(v->t, e.secondary_key, v->now))) {
		v->found = 1;
		snprintf(v->primary_key, sizeof(v->primary_key), "%s", e.primary_key);
		snprintf(v->secondary_key, sizeof(v->secondary_key), "%s", e.secondary_key);
		v->initial_twin = json_incref(e.initial_twin);
	}
	store_enrollment_release(&e);
	if (rc != 0 && rc != DH_ENOROUTE)
		return rc;
	if (!v->found && (rc = store_enrollment_each(s, STORE_ENROLL_GROUP, 1, try_group, v)) < 0)
		return rc;
	return v->found ? 0 : err_set(DH_EUNAUTH, "no enabled enrollment vouches for this registration");
}

/* Creates the identity for a vouched registration unless it exists, and records the registration. */
static int provision_locked(store *s, vouch *v, const char *source_address)
{
	char now[CLOCK_ISO_LEN];
	store_identity id;
	json_t *body;
	int revoke = 0, rc;

	if ((rc = store_archive_exists(s, v->registration_id)) != 0)
		return rc < 0 ? rc : err_set(DH_EUNAUTH, "the device '%s' is retired", v->registration_id);
	if ((rc = store_device_exists(s, v->registration_id, "")) == DH_ENODEVICE) {
		body = json_pack("{s:{s:s, s:{s:s, s:s}}, s:O, s:{s:O}}", "authentication", "type", "sas",
				 "symmetricKey", "primaryKey", v->primary_key, "secondaryKey", v->secondary_key, "tags",
				 json_object_get(v->initial_twin, "tags"), "properties", "desired",
				 json_object_get(json_object_get(v->initial_twin, "properties"), "desired"));
		if (!body)
			return DH_ENOMEM;
		rc = registry__put_locked(s, v->registration_id, "", body, NULL, REGISTRY_BULK_TWIN, &id, &v->created,
					  &revoke);
		json_decref(body);
		v->status = id.enabled ? "enabled" : "disabled";
	}
	if (rc)
		return rc;
	clock_iso_now(now);
	return store_registration_add(s, v->registration_id, v->registration_id, v->group_id[0] ? v->group_id : NULL,
				      now, source_address);
}

/* One transaction: find who vouches, provision. */
static int provision(const sas_token *t, const char *registration_id, const char *source_address)
{
	store *s = store_thread();
	vouch v;
	int rc;

	memset(&v, 0, sizeof(v));
	v.t = t;
	v.registration_id = registration_id;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = find_vouch(s, &v)) != 0 || (rc = provision_locked(s, &v, source_address)) != 0 ||
	    (rc = store_commit(s)) != 0)
		store_rollback(s);
	else if (v.created)
		registry__publish_identity("device.created", registration_id, NULL, v.status,
					   json_pack("{s:s, s:s*}", "source", "enrollment", "enrollmentGroup",
						     v.group_id[0] ? v.group_id : NULL));
	json_decref(v.initial_twin);
	return rc;
}

int enrollment_register(const char *authorization, size_t len, const char *registration_id, const char *source_address,
			json_t **out)
{
	const char *hostname = auth_hub_hostname();
	char resource[600];
	sas_token t;
	int rc;

	*out = NULL;
	if (!registry_id_valid(registration_id))
		return err_set(DH_EINVAL, "'%s' is not a valid registration id", registration_id);
	if (!authorization || len == 0)
		return err_set(DH_EUNAUTH, "the request has no Authorization header");
	if ((rc = sas_parse(authorization, len, &t)) != 0)
		return rc;
	snprintf(resource, sizeof(resource), "%s/registrations/%s", hostname, registration_id);
	if (t.skn[0] || strcasecmp(t.sr, resource) != 0)
		return err_set(DH_EUNAUTH, "the token must be a registration token for '%s'", resource);
	if ((rc = provision(&t, registration_id, source_address)) != 0)
		return rc;
	*out = json_pack("{s:s, s:s, s:s, s:s}", "registrationId", registration_id, "deviceId", registration_id,
			 "status", "assigned", "assignedHub", hostname);
	return 0;
}

int enrollment_self_register(const sas_token *t, const char *device_id, const char *hostname)
{
	char resource[600];
	int rc;

	snprintf(resource, sizeof(resource), "%s/devices/%s", hostname, device_id);
	if (t->skn[0] || strcasecmp(t->sr, resource) != 0 || !registry_id_valid(device_id))
		return err_set(DH_EUNAUTH, "unknown identity or wrong credentials");
	rc = provision(t, device_id, "device-channel");
	/* A lost race with another first connect: the identity exists now, which is all the caller needs. */
	if (rc == DH_EEXISTS)
		rc = 0;
	return rc == 0 ? 0 : err_set(DH_EUNAUTH, "unknown identity or wrong credentials");
}
