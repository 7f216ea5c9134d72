/*
 * store_device: rows of the identities table (devices and modules with their twins).
 *
 * The records below are the persisted shape of an identity and its twin; the domain modules (registry,
 * twin, query) work on them and never see SQL. All functions run inside the caller's transaction.
 */
#ifndef DH_STORE_DEVICE_H
#define DH_STORE_DEVICE_H

#include "store.h"

#include <jansson.h>
#include <stdint.h>

#define STORE_ID_MAX 128          /* device and module ids */
#define STORE_KEY_MAX 96          /* base64 of a key of up to 64 bytes */
#define STORE_THUMB_MAX 128
#define STORE_TEXT_MAX 1024       /* statusReason (128 characters), deviceScope, managedBy, modelId: UTF-8 */
#define STORE_TIME_MAX 32

/* An identity. Plain arrays, so copying is assignment and nothing needs freeing. Empty string = null. */
typedef struct store_identity {
	int64_t row;                              /* the row's key, 0 before insert */
	char device_id[STORE_ID_MAX + 1];
	char module_id[STORE_ID_MAX + 1];         /* "" for a device */
	char generation_id[24];
	int64_t etag;                             /* identity etag counter: shown as base64 of its decimal text */
	int enabled;
	char status_reason[STORE_TEXT_MAX];
	char status_updated_time[STORE_TIME_MAX];
	int connected;
	char connection_state_updated_time[STORE_TIME_MAX];
	char last_activity_time[STORE_TIME_MAX];
	int64_t c2d_count;
	char auth_type[24];                       /* sas | selfSigned | certificateAuthority | none */
	char primary_key[STORE_KEY_MAX];
	char secondary_key[STORE_KEY_MAX];
	char primary_thumbprint[STORE_THUMB_MAX];
	char secondary_thumbprint[STORE_THUMB_MAX];
	int iot_edge;
	char device_scope[STORE_TEXT_MAX];
	char managed_by[STORE_TEXT_MAX];
	char model_id[STORE_TEXT_MAX];
} store_identity;

/* A twin. The json_t members are owned references (store_twin_release drops them). */
typedef struct store_twin {
	int64_t version;            /* twin version: +1 on any change */
	int64_t etag;               /* twin etag counter: shown as base64 of 8 big-endian bytes */
	json_t *tags;               /* object */
	json_t *desired;            /* object, without $metadata / $version */
	json_t *desired_meta;       /* object mirroring desired: {"$lastUpdated":..,"$lastUpdatedVersion":..,k:{..}} */
	int64_t desired_version;
	json_t *reported;
	json_t *reported_meta;      /* mirroring reported: {"$lastUpdated":..,k:{..}} */
	int64_t reported_version;
	json_t *configurations;     /* {config id: "Targeted"|"Applied"} of the configurations targeting the
				     * device (configuration_devices); NULL when none or not read: only
				     * store_device_get_twin reads it, never written back */
} store_twin;

void store_twin_release(store_twin *tw);

/* The columns that store_device_read_row expects, in order, for SELECT lists built elsewhere (queries). */
#define STORE_DEVICE_COLUMNS                                                                              \
	"id, device_id, module_id, generation_id, etag, status, status_reason, status_updated_time, "     \
	"connection_state, connection_state_updated_time, last_activity_time, c2d_count, auth_type, "    \
	"primary_key, secondary_key, primary_thumbprint, secondary_thumbprint, iot_edge, device_scope, "  \
	"managed_by, model_id, twin_version, twin_etag, tags, desired, desired_meta, desired_version, "   \
	"reported, reported_meta, reported_version"
#define STORE_DEVICE_NCOLUMNS 30

/* Reads the STORE_DEVICE_COLUMNS starting at column `first` of the current row of st. tw may be NULL when
 * only the identity is wanted. OUT: *id, *tw (tw's references owned by the caller). */
int store_device_read_row(sqlite3_stmt *st, int first, store_identity *id, store_twin *tw);

/* Looks up one identity (module_id "" for a device). tw may be NULL. DH_ENODEVICE / DH_ENOMODULE when
 * absent. */
int store_device_get(store *s, const char *device_id, const char *module_id, store_identity *id,
		     store_twin *tw);

/* store_device_get plus tw->configurations, in the same statement (one index probe on
 * configuration_devices): the twin as the service reads it. tw must not be NULL. */
int store_device_get_twin(store *s, const char *device_id, const char *module_id, store_identity *id,
			  store_twin *tw);

/* 0 when the identity exists, else DH_ENODEVICE / DH_ENOMODULE: an index probe, no row read. */
int store_device_exists(store *s, const char *device_id, const char *module_id);

/* Inserts a new identity with its twin. DH_EEXISTS / DH_EMODEXISTS if the ids exist. Sets id->row. */
int store_device_insert(store *s, store_identity *id, const store_twin *tw);

/* Writes back every identity field of an existing row (found by ids). */
int store_device_update_identity(store *s, const store_identity *id);

/* Writes back the twin of an existing identity. */
int store_device_update_twin(store *s, const char *device_id, const char *module_id, const store_twin *tw);

/* A service write's columns only: version, etag, tags and the desired section (reported untouched). */
int store_device_update_desired(store *s, const char *device_id, const char *module_id, const store_twin *tw);

/* The device channel's hot path: reads only version, etag and the reported section (other members of
 * *tw stay NULL), and writes back only those. DH_ENODEVICE / DH_ENOMODULE when absent. */
int store_device_get_reported(store *s, const char *device_id, const char *module_id, store_twin *tw);
int store_device_update_reported(store *s, const char *device_id, const char *module_id, const store_twin *tw);

/* Deletes a device with its modules (module_id "") or one module. DH_ENODEVICE / DH_ENOMODULE if absent. */
int store_device_delete(store *s, const char *device_id, const char *module_id);

/* Calls fn for up to `top` devices in id order (modules of device_id when device_id is non-NULL).
 * Stops early, returning fn's result, when fn returns non-zero. */
typedef int (*store_device_fn)(const store_identity *id, void *ctx);
int store_device_list(store *s, const char *device_id, int top, store_device_fn fn, void *ctx);

/* Connection bookkeeping written by the device channel: connectionState with its time, and
 * lastActivityTime. Missing identities are not an error (the identity may have been deleted since). */
int store_device_set_connected(store *s, const char *device_id, const char *module_id, int connected,
			       const char *now);
int store_device_set_activity(store *s, const char *device_id, const char *module_id, const char *now);
/* At start-up nothing is connected, whatever the last run left behind. */
int store_device_reset_connections(store *s);

/* Device counts (devices, not modules) from the counter row that triggers keep (migration 010):
 * constant time at any fleet size. Connected identities are the sessions' business (session.h). */
typedef struct store_device_counts {
	int64_t total, enabled, disabled;
} store_device_counts;
int store_device_counts_get(store *s, store_device_counts *out);

#endif
