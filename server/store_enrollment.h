/*
 * store_enrollment: SQL for the device-lifecycle tables: enrollments (groups and individual), the
 * registrations they produced, and archived twins of retired devices. Must never decide who may register
 * or what a retirement means (enrollment and retire do). All functions run in the caller's transaction.
 */
#ifndef DH_STORE_ENROLLMENT_H
#define DH_STORE_ENROLLMENT_H

#include "store.h"
#include "store_device.h"

#include <jansson.h>
#include <stdint.h>

#define STORE_ENROLL_GROUP "group"
#define STORE_ENROLL_INDIVIDUAL "individual"

/* An enrollment group or individual enrollment. initial_twin is an owned reference
 * (store_enrollment_release drops it). */
typedef struct store_enrollment {
	char kind[16]; /* STORE_ENROLL_GROUP | STORE_ENROLL_INDIVIDUAL */
	char id[STORE_ID_MAX + 1];
	char primary_key[STORE_KEY_MAX];
	char secondary_key[STORE_KEY_MAX];
	int enabled;
	json_t *initial_twin; /* {"tags":{..},"properties":{"desired":{..}}} */
	char created_time[STORE_TIME_MAX];
	char updated_time[STORE_TIME_MAX];
} store_enrollment;

void store_enrollment_release(store_enrollment *e);

/* Looks up one enrollment. DH_ENOROUTE when absent. OUT: *out (its initial_twin owned by the caller). */
int store_enrollment_get(store *s, const char *kind, const char *id, store_enrollment *out);
/* Inserts or replaces. */
int store_enrollment_put(store *s, const store_enrollment *e);
/* DH_ENOROUTE when absent. */
int store_enrollment_delete(store *s, const char *kind, const char *id);
/* Calls fn for every enrollment of kind in id order (e is only valid during the call); enabled_only
 * skips disabled ones. Stops early returning fn's result when non-zero. */
typedef int (*store_enrollment_fn)(const store_enrollment *e, void *ctx);
int store_enrollment_each(store *s, const char *kind, int enabled_only, store_enrollment_fn fn, void *ctx);

/* Records a registration (group_id NULL for an individual enrollment). */
int store_registration_add(store *s, const char *registration_id, const char *device_id, const char *group_id,
			   const char *created_time, const char *source_address);
/* The registrations, newest first, of one group (group_id NULL: all). OUT: *out array (new reference) of
 * {registrationId, deviceId, enrollmentGroupId, createdTime, sourceAddress}. */
int store_registration_list(store *s, const char *group_id, json_t **out);

/* Archives a retired device's twin (JSON text taken as is). */
int store_archive_add(store *s, const char *device_id, const char *reason, const char *retired_time, int64_t retired_ms,
		      const char *replaced_by, const char *twin_json);
/* Archived twins in retirement order, filtered by device_id and/or reason when non-NULL, skipping skip
 * and returning at most top. OUT: *out array (new reference) of
 * {deviceId, reason, retiredTime, replacedBy, twin}. */
int store_archive_list(store *s, const char *device_id, const char *reason, int top, int skip, json_t **out);
/* 1 when device_id has an archived twin (a retired id), 0 when not, or a negative error. */
int store_archive_exists(store *s, const char *device_id);
/* Deletes archived twins retired before before_ms. OUT: *purged. */
int store_archive_purge(store *s, int64_t before_ms, int64_t *purged);

#endif
