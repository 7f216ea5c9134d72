/*
 * enrollment: device provisioning in the manner of IoT Hub's Device Provisioning Service. Enrollment
 * groups hold a symmetric key from which each device derives its own (HMAC-SHA256(group key, device id));
 * individual enrollments hold one device's keys. A device registers through the registration endpoint or
 * simply by connecting the first time; either way it gets an identity whose keys are the derived (or
 * enrolled) keys and the enrollment's initial tags and desired properties. Never speaks HTTP; never holds
 * SQL (store_enrollment does).
 */
#ifndef DH_ENROLLMENT_H
#define DH_ENROLLMENT_H

#include "sas.h"
#include "store_enrollment.h"

#include <jansson.h>

/* A device's key from its group's key: base64(HMAC-SHA256(base64-decoded group_key, registration_id))
 * into out[45]. Returns 0 or DH_EINVAL when group_key is not base64. */
int enrollment_derive_key(const char *group_key, const char *registration_id, char out[45]);

/* Validates a PUT body onto e (kind and id already set; absent or empty keys keep e's, else are generated).
 * Exposed for the unit tests. Returns 0 or DH_EINVAL. e->initial_twin is replaced (owned by e). */
int enrollment__parse(const json_t *body, store_enrollment *e);

/* PUT/GET/DELETE of an enrollment group (kind STORE_ENROLL_GROUP) or individual enrollment
 * (STORE_ENROLL_INDIVIDUAL). OUT: *out (new reference) as the API shows it. DH_ENOROUTE when absent. */
int enrollment_put(const char *kind, const char *id, const json_t *body, json_t **out);
int enrollment_get(const char *kind, const char *id, json_t **out);
int enrollment_delete(const char *kind, const char *id);
int enrollment_list(const char *kind, json_t **out);

/* GET /devicehub/registrations?group=: group NULL for all. OUT: *out array (new reference). */
int enrollment_registrations(const char *group, json_t **out);

/* The registration endpoint: authorization is a SAS token for "{hostname}/registrations/{registration_id}"
 * signed with the individual enrollment's key or a key derived from an enabled group's key. Creates the
 * identity with the enrollment's initial twin unless it exists, and records the registration with
 * source_address. OUT: *out {registrationId, deviceId, status:"assigned", assignedHub}. DH_EUNAUTH when
 * nothing vouches for the token (never saying which enrollment was tried). */
int enrollment_register(const char *authorization, size_t len, const char *registration_id, const char *source_address,
			json_t **out);

/* Self-registration on first connect, for auth: t is a device token for device_id that matched no
 * identity. When an enabled individual enrollment for device_id, or an enabled group whose derived key,
 * signs t, creates the identity (as enrollment_register does; source "device-channel"). Returns 0 when
 * the identity now exists (the caller then checks the token as usual), else DH_EUNAUTH. Retired device ids
 * never register again. */
int enrollment_self_register(const sas_token *t, const char *device_id, const char *hostname);

#endif
