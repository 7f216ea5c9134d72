/*
 * retire: retirement, replacement and the archive of retired twins. One transaction per operation on the
 * calling thread's store; live connections are closed only after the commit. Must never speak HTTP or
 * hold SQL.
 */
#include "retire.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "json_util.h"
#include "registry.h"
#include "registry_int.h"
#include "session.h"
#include "store_enrollment.h"
#include "twin.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)

static atomic_int retention_days;

void retire_set_retention_days(int days)
{
	atomic_store(&retention_days, days < 0 ? 0 : days);
}

static int reason_of(const json_t *body, char out[RETIRE_REASON_MAX])
{
	const json_t *v = json_object_get(body, "reason");

	if (!v || json_is_null(v)) {
		snprintf(out, RETIRE_REASON_MAX, "retired");
		return 0;
	}
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= RETIRE_REASON_MAX)
		return err_set(DH_EINVAL, "reason must be a string of 1 to %d bytes", RETIRE_REASON_MAX - 1);
	snprintf(out, RETIRE_REASON_MAX, "%s", json_string_value(v));
	return 0;
}

/* The archived form: the twin as the API shows it plus the identity without any key or thumbprint. */
static json_t *archived_twin(const store_identity *id, const store_twin *tw)
{
	json_t *twin = twin_render(id, tw);
	json_t *identity = registry_render(id);

	json_object_del(identity, "authentication");
	json_object_set_new(twin, "identity", identity);
	return twin;
}

/* Archives and deletes device_id inside the caller's transaction. OUT: *entry (new reference) and, when
 * carry is non-NULL, the old tags and desired as {tags, properties:{desired}}. */
static int retire_locked(store *s, const char *device_id, const char *reason, const char *replaced_by, json_t **entry,
			 json_t **carry)
{
	char now[CLOCK_ISO_LEN];
	store_identity id;
	store_twin tw = {0};
	json_t *twin = NULL;
	char *text = NULL;
	int rc;

	if ((rc = store_device_get_twin(s, device_id, "", &id, &tw)) != 0)
		return rc;
	clock_iso_now(now);
	twin = archived_twin(&id, &tw);
	if (!(text = json_dumps(twin, JSON_COMPACT))) {
		rc = DH_ENOMEM;
		goto out;
	}
	if ((rc = store_archive_add(s, device_id, reason, now, clock_hub_ms(), replaced_by, text)) != 0 ||
	    (rc = store_device_delete(s, device_id, "")) != 0)
		goto out;
	*entry = json_pack("{s:s, s:s, s:s, s:s?, s:O}", "deviceId", device_id, "reason", reason, "retiredTime", now,
			   "replacedBy", replaced_by, "twin", twin);
	if (carry)
		*carry = json_pack("{s:O, s:{s:O}}", "tags", tw.tags, "properties", "desired", tw.desired);
out:
	free(text);
	json_decref(twin);
	store_twin_release(&tw);
	return rc;
}

/* After the commit: closes the retired device's connections, tells the event stream (a device.deleted
 * that says why, so clients that follow deletions need nothing new) and applies the retention period. */
static void after_retire(const char *device_id, const char *reason, const char *replaced_by)
{
	session_kick(device_id, NULL, SESSION_CLOSE_REVOKED, "device retired");
	registry__publish_identity("device.deleted", device_id, NULL, NULL,
				   json_pack("{s:b, s:s, s:s*}", "retired", 1, "reason", reason, "replacedBy", replaced_by));
	retire_purge_expired();
}

int retire_device(const char *device_id, const json_t *body, json_t **out)
{
	char reason[RETIRE_REASON_MAX];
	store *s = store_thread();
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = reason_of(body, reason)) != 0 || (rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = retire_locked(s, device_id, reason, NULL, out, NULL)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		json_decref(*out);
		*out = NULL;
		return rc;
	}
	after_retire(device_id, reason, NULL);
	return 0;
}

int retire_replace(const char *device_id, const json_t *body, json_t **out)
{
	const char *new_id = json_util_str(body, "newDeviceId");
	char reason[RETIRE_REASON_MAX];
	store *s = store_thread();
	json_t *entry = NULL, *carry = NULL;
	store_identity id;
	int created = 0, revoke = 0, rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if (!new_id || !registry_id_valid(new_id) || strcmp(new_id, device_id) == 0)
		return err_set(DH_EINVAL, "newDeviceId must be a valid device id other than '%s'", device_id);
	if ((rc = reason_of(body, reason)) != 0 || (rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = retire_locked(s, device_id, reason, new_id, &entry, &carry)) != 0 ||
	    (rc = registry__put_locked(s, new_id, "", carry, NULL, REGISTRY_BULK_TWIN, &id, &created, &revoke)) != 0 ||
	    (rc = store_commit(s)) != 0) {
		store_rollback(s);
		goto out;
	}
	after_retire(device_id, reason, new_id);
	*out = json_pack("{s:o, s:O}", "device", registry_render(&id), "archived", entry);
	if (created)
		registry__publish_identity("device.created", new_id, NULL,
					   json_string_value(json_object_get(json_object_get(*out, "device"), "status")),
					   json_pack("{s:s}", "replaces", device_id));
out:
	json_decref(entry);
	json_decref(carry);
	return rc;
}

int retire_archive_list(const char *device_id, const char *reason, int top, int skip, json_t **out)
{
	store *s = store_thread();

	*out = NULL;
	if (top < 1 || top > 1000)
		top = 1000;
	if (skip < 0)
		skip = 0;
	return s ? store_archive_list(s, device_id, reason, top, skip, out) : DH_EIO;
}

int retire_archive_export(char **out, size_t *len)
{
	json_t *page = NULL, *e;
	buf b = BUF_INIT;
	size_t i, n = 0;
	int skip = 0, rc;

	*out = NULL;
	*len = 0;
	/* Page by page, so an export of any size never holds more than one page of twins. */
	do {
		if ((rc = retire_archive_list(NULL, NULL, 1000, skip, &page)) != 0) {
			buf_release(&b);
			return rc;
		}
		json_array_foreach(page, i, e)
		{
			char *line = json_dumps(e, JSON_COMPACT);
			if (line)
				buf_printf(&b, "%s\n", line);
			free(line);
		}
		n = json_array_size(page);
		skip += (int)n;
		json_decref(page);
	} while (n == 1000);
	*len = b.len;
	*out = buf_detach(&b);
	return 0;
}

int retire_archive_purge(int days, int64_t *purged)
{
	store *s = store_thread();
	int rc;

	*purged = 0;
	if (!s)
		return DH_EIO;
	if (days < 0)
		return err_set(DH_EINVAL, "olderThanDays must be 0 or more");
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	/* olderThanDays=0 takes everything retired up to now, this millisecond included. */
	if ((rc = store_archive_purge(s, clock_hub_ms() + 1 - days * DAY_MS, purged)) != 0 ||
	    (rc = store_commit(s)) != 0)
		store_rollback(s);
	return rc;
}

int retire_purge_expired(void)
{
	int days = atomic_load(&retention_days);
	int64_t purged = 0;

	return days > 0 ? retire_archive_purge(days, &purged) : 0;
}
