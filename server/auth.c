/*
 * auth: policies and service-token checks. Policy keys live in memory behind a read-write lock (read on
 * every request, written only by a rotation) and in the policies table. Must never parse HTTP.
 */
#include "auth.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "enrollment.h"
#include "err.h"
#include "sas.h"
#include "store_device.h"
#include "store_policy.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define AUTH_MAX_POLICIES 16

static const struct {
	const char *name;
	int rights;
} auth_defaults[] = {
	{"iothubowner", AUTH_REGISTRY_READ | AUTH_REGISTRY_WRITE | AUTH_SERVICE_CONNECT | AUTH_DEVICE_CONNECT | AUTH_OWNER},
	{"service", AUTH_SERVICE_CONNECT},
	{"device", AUTH_DEVICE_CONNECT},
	{"registryRead", AUTH_REGISTRY_READ},
	{"registryReadWrite", AUTH_REGISTRY_READ | AUTH_REGISTRY_WRITE},
};

static const struct {
	int bit;
	const char *name;
} auth_right_names[] = {
	{AUTH_REGISTRY_READ, "RegistryRead"},
	{AUTH_REGISTRY_WRITE, "RegistryWrite"},
	{AUTH_SERVICE_CONNECT, "ServiceConnect"},
	{AUTH_DEVICE_CONNECT, "DeviceConnect"},
};

static pthread_rwlock_t auth_lock = PTHREAD_RWLOCK_INITIALIZER;
static store_policy auth_policies[AUTH_MAX_POLICIES];
static int auth_npolicies;
static char auth_hostname[256];

static int auth_collect(const store_policy *p, void *ctx)
{
	(void)ctx;
	if (auth_npolicies < AUTH_MAX_POLICIES)
		auth_policies[auth_npolicies++] = *p;
	return 0;
}

/* Reloads the in-memory copy from the table. Caller holds the write lock. */
static int auth_reload(store *s)
{
	auth_npolicies = 0;
	return store_policy_each(s, auth_collect, NULL);
}

static int auth_make_defaults(store *s, const char *owner_key)
{
	for (size_t i = 0; i < sizeof(auth_defaults) / sizeof(auth_defaults[0]); i++) {
		store_policy p;
		int rc;
		memset(&p, 0, sizeof(p));
		snprintf(p.name, sizeof(p.name), "%s", auth_defaults[i].name);
		p.rights = auth_defaults[i].rights;
		if ((rc = crypto_new_key(p.primary_key)) != 0 || (rc = crypto_new_key(p.secondary_key)) != 0)
			return rc;
		if (i == 0 && owner_key && *owner_key)
			snprintf(p.primary_key, sizeof(p.primary_key), "%s", owner_key);
		if ((rc = store_policy_put(s, &p)) != 0)
			return rc;
	}
	return 0;
}

/* Applies --owner-key to an existing database: the flag is the operator's word for the owner key. */
static int auth_apply_owner_key(store *s, const char *owner_key)
{
	for (int i = 0; i < auth_npolicies; i++) {
		if (strcmp(auth_policies[i].name, "iothubowner") == 0 &&
		    strcmp(auth_policies[i].primary_key, owner_key) != 0) {
			snprintf(auth_policies[i].primary_key, sizeof(auth_policies[i].primary_key), "%s", owner_key);
			return store_policy_put(s, &auth_policies[i]);
		}
	}
	return 0;
}

static int auth_valid_key(const char *key)
{
	uint8_t raw[128];
	size_t n = 0;

	return crypto_base64_decode(key, strlen(key), raw, sizeof(raw), &n) == 0 && n >= 16 && n <= 64;
}

int auth_init(const char *hostname, const char *owner_key, int *created)
{
	store *s = store_thread();
	int rc;

	*created = 0;
	if (!s)
		return DH_EIO;
	if (owner_key && *owner_key && !auth_valid_key(owner_key))
		return err_set(DH_EINVAL, "owner-key must be base64 of 16 to 64 bytes");
	snprintf(auth_hostname, sizeof(auth_hostname), "%s", hostname);
	pthread_rwlock_wrlock(&auth_lock);
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	if ((rc = auth_reload(s)) != 0)
		goto fail;
	if (auth_npolicies == 0) {
		if ((rc = auth_make_defaults(s, owner_key)) != 0 || (rc = auth_reload(s)) != 0)
			goto fail;
		*created = 1;
	} else if (owner_key && *owner_key && (rc = auth_apply_owner_key(s, owner_key)) != 0) {
		goto fail;
	}
	rc = store_commit(s);
	goto out;
fail:
	store_rollback(s);
out:
	pthread_rwlock_unlock(&auth_lock);
	return rc;
}

void auth_shutdown(void)
{
	pthread_rwlock_wrlock(&auth_lock);
	memset(auth_policies, 0, sizeof(auth_policies));
	auth_npolicies = 0;
	pthread_rwlock_unlock(&auth_lock);
}

/* Finds a policy by name under the read lock; copies it out so the lock is held briefly. */
static int auth_find(const char *name, store_policy *out)
{
	int found = 0;

	pthread_rwlock_rdlock(&auth_lock);
	for (int i = 0; i < auth_npolicies && !found; i++) {
		if (strcmp(auth_policies[i].name, name) == 0) {
			*out = auth_policies[i];
			found = 1;
		}
	}
	pthread_rwlock_unlock(&auth_lock);
	return found;
}

int auth_check(const char *authorization, size_t len, int need)
{
	sas_token t;
	store_policy p;
	int rc;

	if (!authorization || len == 0)
		return err_set(DH_EUNAUTH, "the request has no Authorization header");
	if ((rc = sas_parse(authorization, len, &t)) != 0)
		return rc;
	if (!t.skn[0])
		return err_set(DH_EUNAUTH, "service calls need a token signed with a shared access policy (skn)");
	if (!sas_scope_covers(t.sr, auth_hostname) || strlen(t.sr) > strlen(auth_hostname) + 1)
		return err_set(DH_EUNAUTH, "the token's resource '%s' is not this hub (%s)", t.sr, auth_hostname);
	if (!auth_find(t.skn, &p))
		return err_set(DH_EUNAUTH, "unknown shared access policy '%s'", t.skn);
	int64_t now = clock_unix_now();
	rc = sas_verify(&t, p.primary_key, now);
	if (rc == DH_EUNAUTH)
		rc = sas_verify(&t, p.secondary_key, now);
	if (rc)
		return rc;
	if ((p.rights & need) != need)
		return err_set(DH_ERIGHT, "policy '%s' lacks the right this operation needs", p.name);
	return 0;
}

/* The resource a device token must cover: "host/devices/id" or "host/devices/id/modules/mid". */
static void device_resource(const char *device_id, const char *module_id, char *out, size_t n)
{
	if (module_id && *module_id)
		snprintf(out, n, "%s/devices/%s/modules/%s", auth_hostname, device_id, module_id);
	else
		snprintf(out, n, "%s/devices/%s", auth_hostname, device_id);
}

/* Looks the identity up on the calling thread's store; disabled identities are refused like unknown ones. */
static int enabled_identity(const char *device_id, const char *module_id, store_identity *id)
{
	store *s = store_thread();
	store_identity dev;

	if (!s)
		return DH_EIO;
	if (store_device_get(s, device_id, module_id, id, NULL) != 0)
		return err_set(DH_EUNAUTH, "unknown identity or wrong credentials");
	/* A module connects only while its device is enabled. */
	if (module_id && *module_id && (store_device_get(s, device_id, "", &dev, NULL) != 0 || !dev.enabled))
		return err_set(DH_EUNAUTH, "the device is disabled");
	if (!id->enabled && !(module_id && *module_id))
		return err_set(DH_EUNAUTH, "the device is disabled");
	return 0;
}

int auth_check_device(const char *authorization, size_t len, const char *device_id, const char *module_id)
{
	char resource[600];
	store_identity id;
	store_policy p;
	sas_token t;
	int64_t now = clock_unix_now();
	int rc;

	if (!authorization || len == 0)
		return err_set(DH_EUNAUTH, "the connection has no credentials");
	if ((rc = sas_parse(authorization, len, &t)) != 0)
		return rc;
	rc = enabled_identity(device_id, module_id, &id);
	/* An unknown device may be enrolled: its first connect registers it, then it is checked as usual. */
	if (rc == DH_EUNAUTH && !(module_id && *module_id) && !t.skn[0] &&
	    store_device_exists(store_thread(), device_id, "") == DH_ENODEVICE &&
	    enrollment_self_register(&t, device_id, auth_hostname) == 0)
		rc = enabled_identity(device_id, module_id, &id);
	if (rc != 0)
		return rc;
	if (t.skn[0]) {
		/* A policy token: scoped to the hub, signed by a policy with DeviceConnect. */
		if (!sas_scope_covers(t.sr, auth_hostname) || !auth_find(t.skn, &p))
			return err_set(DH_EUNAUTH, "unknown identity or wrong credentials");
		if ((rc = sas_verify(&t, p.primary_key, now)) == DH_EUNAUTH)
			rc = sas_verify(&t, p.secondary_key, now);
		if (rc == 0 && !(p.rights & AUTH_DEVICE_CONNECT))
			rc = err_set(DH_ERIGHT, "policy '%s' lacks DeviceConnect", p.name);
		return rc;
	}
	device_resource(device_id, module_id, resource, sizeof(resource));
	if (!sas_scope_covers(t.sr, resource) || strlen(t.sr) < strlen(auth_hostname) + sizeof("/devices/") - 1)
		return err_set(DH_EUNAUTH, "the token's resource '%s' does not cover %s", t.sr, resource);
	if (!id.primary_key[0])
		return err_set(DH_EUNAUTH, "the identity has no symmetric key");
	if ((rc = sas_verify(&t, id.primary_key, now)) == DH_EUNAUTH && id.secondary_key[0])
		rc = sas_verify(&t, id.secondary_key, now);
	return rc;
}

/* 1 when a registered thumbprint names the certificate (SHA-1 or SHA-256 hex, any case). */
static int thumbprint_matches(const char *registered, const char *sha1_hex, const char *sha256_hex)
{
	return registered[0] && ((sha1_hex && strcasecmp(registered, sha1_hex) == 0) ||
				 (sha256_hex && strcasecmp(registered, sha256_hex) == 0));
}

int auth_check_device_x509(const char *device_id, const char *module_id, const char *sha1_hex,
			   const char *sha256_hex)
{
	store_identity id;
	int rc;

	if ((rc = enabled_identity(device_id, module_id, &id)) != 0)
		return rc;
	/* One message whatever failed, as for tokens: a stranger learns nothing about the registry. */
	if (strcmp(id.auth_type, "selfSigned") != 0 ||
	    (!thumbprint_matches(id.primary_thumbprint, sha1_hex, sha256_hex) &&
	     !thumbprint_matches(id.secondary_thumbprint, sha1_hex, sha256_hex)))
		return err_set(DH_EUNAUTH, "unknown identity or wrong credentials");
	return 0;
}

/* Splits "{id}" or "{id}/modules/{mid}" (the part of a device token's sr after "{host}/devices/"). */
static int split_device_resource(const char *rest, char device_id[129], char module_id[129])
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	module_id[0] = '\0';
	if (n == 0 || n > 128)
		return err_set(DH_EUNAUTH, "the token does not name a device");
	snprintf(device_id, 129, "%.*s", (int)n, rest);
	if (!slash)
		return 0;
	if (strncmp(slash, "/modules/", 9) != 0 || !slash[9] || strchr(slash + 9, '/') || strlen(slash + 9) > 128)
		return err_set(DH_EUNAUTH, "the token does not name a device or module");
	snprintf(module_id, 129, "%s", slash + 9);
	return 0;
}

int auth_check_device_token(const char *authorization, size_t len, char device_id[129], char module_id[129])
{
	size_t hostlen = strlen(auth_hostname);
	sas_token t;
	int rc;

	device_id[0] = module_id[0] = '\0';
	if (!authorization || len == 0)
		return err_set(DH_EUNAUTH, "the request has no Authorization header");
	if ((rc = sas_parse(authorization, len, &t)) != 0)
		return rc;
	if (t.skn[0])
		return err_set(DH_EUNAUTH, "not a device token (it names a policy)");
	/* sas_scope_covers compares case-insensitively; so does this prefix test. */
	if (strncasecmp(t.sr, auth_hostname, hostlen) != 0 || strncasecmp(t.sr + hostlen, "/devices/", 9) != 0)
		return err_set(DH_EUNAUTH, "the token's resource '%s' is not a device of this hub", t.sr);
	if ((rc = split_device_resource(t.sr + hostlen + 9, device_id, module_id)) != 0)
		return rc;
	return auth_check_device(authorization, len, device_id, module_id);
}

const char *auth_hub_hostname(void)
{
	return auth_hostname;
}

char *auth_owner_connection_string(void)
{
	store_policy p;
	buf b = BUF_INIT;

	if (auth_find("iothubowner", &p))
		buf_printf(&b, "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s", auth_hostname,
			   p.primary_key);
	return buf_detach(&b);
}

char *auth_owner_token(int ttl)
{
	store_policy p;
	buf b = BUF_INIT;

	if (auth_find("iothubowner", &p))
		sas_build(auth_hostname, p.primary_key, "iothubowner", clock_unix_now() + ttl, &b);
	return buf_detach(&b);
}

static json_t *auth_policy_json(const store_policy *p)
{
	buf rights = BUF_INIT;
	json_t *o;

	for (size_t i = 0; i < sizeof(auth_right_names) / sizeof(auth_right_names[0]); i++) {
		if (p->rights & auth_right_names[i].bit)
			buf_printf(&rights, "%s%s", rights.len ? ", " : "", auth_right_names[i].name);
	}
	o = json_pack("{s:s, s:s, s:s, s:s}", "keyName", p->name, "rights", buf_cstr(&rights), "primaryKey",
		      p->primary_key, "secondaryKey", p->secondary_key);
	buf_release(&rights);
	return o;
}

int auth_policies_json(json_t **out)
{
	json_t *arr = json_array();

	pthread_rwlock_rdlock(&auth_lock);
	for (int i = 0; i < auth_npolicies; i++)
		json_array_append_new(arr, auth_policy_json(&auth_policies[i]));
	pthread_rwlock_unlock(&auth_lock);
	*out = arr;
	return 0;
}

/* New keys for policy p as `which` says. */
static int auth_new_keys(store_policy *p, const char *which)
{
	int both = strcmp(which, "both") == 0;
	int rc = 0;

	if (!both && strcmp(which, "primary") != 0 && strcmp(which, "secondary") != 0)
		return err_set(DH_EINVAL, "key must be primary, secondary or both, not '%s'", which);
	if (both || strcmp(which, "primary") == 0)
		rc = crypto_new_key(p->primary_key);
	if (rc == 0 && (both || strcmp(which, "secondary") == 0))
		rc = crypto_new_key(p->secondary_key);
	return rc;
}

int auth_policy_rotate(const char *name, const char *which, json_t **out)
{
	store *s = store_thread();
	store_policy p;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if (!auth_find(name, &p))
		return err_set(DH_ENOPOLICY, "no shared access policy named '%s'", name);
	if ((rc = auth_new_keys(&p, which)) != 0)
		return rc;
	pthread_rwlock_wrlock(&auth_lock);
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	if ((rc = store_policy_put(s, &p)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		goto out;
	}
	for (int i = 0; i < auth_npolicies; i++)
		if (strcmp(auth_policies[i].name, name) == 0)
			auth_policies[i] = p;
	*out = auth_policy_json(&p);
out:
	pthread_rwlock_unlock(&auth_lock);
	return rc;
}
