/*
 * registry: the identity registry: devices and modules, their keys, status and the rules IoT Hub applies
 * to them (id syntax, generated keys, etags, generation ids). REST and the device channel both call it.
 * Never speaks HTTP; never holds SQL.
 */
#ifndef DH_REGISTRY_H
#define DH_REGISTRY_H

#include "store_device.h"

#include <jansson.h>

#define REGISTRY_BULK_MAX 100
#define REGISTRY_LIST_MAX 1000

/* 1 when id follows IoT Hub's rules: 1..128 ASCII alphanumerics or - . % _ * ? ! ( ) , : = @ $ ' */
int registry_id_valid(const char *id);

/* The identity as the REST API shows it (reference §1.2). New reference. */
json_t *registry_render(const store_identity *id);

/* PUT /devices/{id} and PUT /devices/{id}/modules/{mid} (module_id "" for a device). With if_match NULL
 * the identity must not exist (DH_EEXISTS / DH_EMODEXISTS); with "*" or an etag it must, and an etag
 * must match (DH_EETAG). OUT: *out the stored identity (new reference), *created. */
int registry_put(const char *device_id, const char *module_id, const json_t *body, const char *if_match,
		 json_t **out, int *created);

/* GET of one identity. OUT: *out (new reference). */
int registry_get(const char *device_id, const char *module_id, json_t **out);

/* DELETE; if_match as for registry_put (NULL or "*" = unconditional). A device takes its modules along. */
int registry_delete(const char *device_id, const char *module_id, const char *if_match);

/* GET /devices?top=N (devices only) and GET /devices/{id}/modules. OUT: *out array (new reference). */
int registry_list(int top, json_t **out);
int registry_list_modules(const char *device_id, json_t **out);

/* POST /devices: IoT Hub's bulk registry operation. OUT: *out the {isSuccessful, errors, warnings}
 * answer (new reference) and returns 0 when all entries succeeded, DH_EBULK when some failed (their
 * errors are in *out and the others are applied), or another code when the request as a whole is bad. */
int registry_bulk(const json_t *body, json_t **out);

/* One bulk/import entry (IoT Hub's import shape: id or deviceId, importMode, eTag, status,
 * authentication, tags, properties) applied in its own savepoint inside the caller's write transaction
 * on s: on failure nothing of it stays and the transaction goes on. Returns 0 or the entry's error code
 * (message in err_message()). OUT: *revoke when the device's live connection must end once committed
 * (session_kick after the commit). */
int registry_bulk_apply(store *s, const json_t *entry, int *revoke);

/* GET /statistics/devices and /statistics/service. OUT: *out (new reference). */
int registry_stats_devices(json_t **out);
int registry_stats_service(json_t **out);

#endif
