/*
 * retire: the end of a device's life. Retiring archives the device's twin (identity without its keys,
 * read-only, with the reason and time) and deletes the identity, so it leaves the counts, can no longer
 * authenticate or re-enroll, and its live connection is closed (4003). Replacing hands the old device's
 * tags and desired properties to a new identity and retires the old one pointing at it. Archived twins
 * are listed, exported and purged after the operator's retention period. Never speaks HTTP or holds SQL.
 */
#ifndef DH_RETIRE_H
#define DH_RETIRE_H

#include <jansson.h>
#include <stdint.h>

#define RETIRE_REASON_MAX 256

/* Sets the retention period in days (0 = keep forever) applied by retire_purge_expired. */
void retire_set_retention_days(int days);

/* POST /devicehub/devices/{id}/retire. body {reason} (optional; "retired" when absent).
 * OUT: *out the archive entry (new reference). DH_ENODEVICE when absent. */
int retire_device(const char *device_id, const json_t *body, json_t **out);

/* POST /devicehub/devices/{id}/replace. body {newDeviceId, reason}. The new identity gets generated keys.
 * OUT: *out {device: the new identity, archived: the archive entry} (new reference). */
int retire_replace(const char *device_id, const json_t *body, json_t **out);

/* Archived twins in retirement order; device_id / reason filter when non-NULL. OUT: *out array. */
int retire_archive_list(const char *device_id, const char *reason, int top, int skip, json_t **out);

/* The whole archive as JSON lines, one entry per line, read a page at a time. OUT: *out (caller frees;
 * NULL when the archive is empty), *len. */
int retire_archive_export(char **out, size_t *len);

/* Deletes entries retired more than days days ago (0: all). OUT: *purged. */
int retire_archive_purge(int days, int64_t *purged);

/* Applies the retention period (no-op when it is 0). Called at start-up and after every retirement. */
int retire_purge_expired(void);

#endif
