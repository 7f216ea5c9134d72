/*
 * auth: who may call the service API. Shared access policies with IoT Hub's rights, their keys (made at
 * first start, listed and rotated by the owner), and the check of a request's SAS token against them.
 * Knows nothing of HTTP: the edge passes the Authorization header text and the right a route needs.
 */
#ifndef DH_AUTH_H
#define DH_AUTH_H

#include <jansson.h>
#include <stddef.h>

typedef enum auth_right {
	AUTH_NONE = 0,
	AUTH_REGISTRY_READ = 1,
	AUTH_REGISTRY_WRITE = 2,
	AUTH_SERVICE_CONNECT = 4,
	AUTH_DEVICE_CONNECT = 8,
	AUTH_OWNER = 16,          /* devicehub's own: policy administration, held by iothubowner only */
} auth_right;

/* Makes sure the default policies exist (iothubowner, service, device, registryRead,
 * registryReadWrite), applying owner_key to iothubowner when non-empty, and loads them into memory.
 * hostname is the hub's HostName that service tokens must name. OUT: created is 1 when the policies were
 * made now (first start), so the caller prints the owner connection string once. */
int auth_init(const char *hostname, const char *owner_key, int *created);
void auth_shutdown(void);

/* Checks an Authorization header value (NULL when absent) for a service call needing rights `need`.
 * Returns 0, DH_EUNAUTH, DH_EEXPIRED or DH_ERIGHT with a message. Thread-safe. */
int auth_check(const char *authorization, size_t len, int need);

/* Checks a device's credentials for connecting as device_id (module_id "" for the device itself): a
 * device-scoped SAS token signed with the identity's primary or secondary key, or a policy token with
 * DeviceConnect. The identity must exist and be enabled. Returns 0, DH_EUNAUTH, DH_EEXPIRED or
 * DH_ERIGHT with a message; never says whether the identity exists (both are DH_EUNAUTH). A device that
 * does not exist yet but whose token an enabled enrollment vouches for is registered first
 * (enrollment_self_register). */
int auth_check_device(const char *authorization, size_t len, const char *device_id, const char *module_id);

/* Checks a client certificate presented on a TLS connection for connecting as device_id (module_id ""
 * for the device itself): the identity must exist, be enabled, have authentication type selfSigned,
 * and its primary or secondary thumbprint must equal sha1_hex (40 hex digits) or sha256_hex (64) of
 * the certificate's DER bytes, ignoring case. The chain is not checked against any CA: the registered
 * thumbprint is the trust. Returns 0 or DH_EUNAUTH with a message (never saying whether the identity
 * exists). Thread-safe. */
int auth_check_device_x509(const char *device_id, const char *module_id, const char *sha1_hex,
			   const char *sha256_hex);

/* For callers that learn the identity from the token (artifact downloads): takes the device and module
 * from a device-scoped token's sr ("{hostname}/devices/{id}[/modules/{mid}]") and checks it as
 * auth_check_device does. Policy tokens (skn) are refused here: check those with auth_check.
 * OUT: device_id and module_id ("" for a device), each STORE_ID_MAX + 1 (129) bytes. */
int auth_check_device_token(const char *authorization, size_t len, char device_id[129], char module_id[129]);

/* The hub's HostName as given to auth_init (static storage). */
const char *auth_hub_hostname(void);

/* The owner connection string "HostName=..;SharedAccessKeyName=iothubowner;SharedAccessKey=..".
 * Caller frees. */
char *auth_owner_connection_string(void);

/* A service SAS token signed with the owner policy, valid for ttl seconds (for scripts and curl).
 * Caller frees. */
char *auth_owner_token(int ttl);

/* The policies as JSON [{keyName, rights:"RegistryRead, ...", primaryKey, secondaryKey}] (new reference). */
int auth_policies_json(json_t **out);

/* Replaces a policy's primary or secondary key ("primary", "secondary", or "both") with new random keys,
 * at once for every later request. OUT: *out the policy as JSON. DH_ENOPOLICY / DH_EINVAL. */
int auth_policy_rotate(const char *name, const char *which, json_t **out);

#endif
