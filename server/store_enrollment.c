/* store_enrollment: SQL for enrollments, registrations and archived twins. Holds no lifecycle rules. */
#include "store_enrollment.h"

#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_enrollment_release(store_enrollment *e)
{
	json_decref(e->initial_twin);
	e->initial_twin = NULL;
}

#define ENROLLMENT_COLUMNS "kind, id, primary_key, secondary_key, enabled, initial_twin, created_time, updated_time"

static void read_enrollment(sqlite3_stmt *st, store_enrollment *e)
{
	memset(e, 0, sizeof(*e));
	store_col_text(st, 0, e->kind, sizeof(e->kind));
	store_col_text(st, 1, e->id, sizeof(e->id));
	store_col_text(st, 2, e->primary_key, sizeof(e->primary_key));
	store_col_text(st, 3, e->secondary_key, sizeof(e->secondary_key));
	e->enabled = sqlite3_column_int(st, 4);
	e->initial_twin = store_col_object(st, 5);
	store_col_text(st, 6, e->created_time, sizeof(e->created_time));
	store_col_text(st, 7, e->updated_time, sizeof(e->updated_time));
}

int store_enrollment_get(store *s, const char *kind, const char *id, store_enrollment *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " ENROLLMENT_COLUMNS " FROM enrollments WHERE kind = ?1 AND id = ?2");
	int step, rc = 0;

	memset(out, 0, sizeof(*out));
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		read_enrollment(st, out);
	else if (step == SQLITE_DONE)
		rc = err_set(DH_ENOROUTE, "no %s enrollment '%s'", kind, id);
	else
		rc = store_fail(s, "reading an enrollment");
	sqlite3_reset(st);
	return rc;
}

int store_enrollment_put(store *s, const store_enrollment *e)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT OR REPLACE INTO enrollments (" ENROLLMENT_COLUMNS ")"
					 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
	char *twin = NULL;
	int rc;

	if (!st)
		return DH_EIO;
	if (!(twin = e->initial_twin ? json_dumps(e->initial_twin, JSON_COMPACT) : strdup("{}")))
		return DH_ENOMEM;
	sqlite3_bind_text(st, 1, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, e->primary_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->secondary_key, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, e->enabled);
	sqlite3_bind_text(st, 6, twin, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, e->created_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, e->updated_time, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	free(twin);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "writing an enrollment");
}

int store_enrollment_delete(store *s, const char *kind, const char *id)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM enrollments WHERE kind = ?1 AND id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "deleting an enrollment");
	return sqlite3_changes(store_db(s)) ? 0 : err_set(DH_ENOROUTE, "no %s enrollment '%s'", kind, id);
}

int store_enrollment_each(store *s, const char *kind, int enabled_only, store_enrollment_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " ENROLLMENT_COLUMNS " FROM enrollments WHERE kind = ?1"
					 " AND (?2 = 0 OR enabled = 1) ORDER BY id");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, enabled_only);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_enrollment e;
		read_enrollment(st, &e);
		rc = fn(&e, ctx);
		store_enrollment_release(&e);
	}
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_fail(s, "reading enrollments");
	sqlite3_reset(st);
	return rc;
}

int store_registration_add(store *s, const char *registration_id, const char *device_id, const char *group_id,
			   const char *created_time, const char *source_address)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO registrations (registration_id, device_id, enrollment_group_id,"
					 " created_time, source_address) VALUES (?1, ?2, ?3, ?4, ?5)");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, registration_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, device_id, -1, SQLITE_STATIC);
	if (group_id)
		sqlite3_bind_text(st, 3, group_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, created_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, source_address, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "recording a registration");
}

static json_t *col_or_null(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
							   : json_string((const char *)sqlite3_column_text(st, col));
}

int store_registration_list(store *s, const char *group_id, json_t **out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT registration_id, device_id, enrollment_group_id, created_time,"
					 " source_address FROM registrations WHERE ?1 IS NULL OR"
					 " enrollment_group_id = ?1 ORDER BY id DESC LIMIT 1000");
	int step;

	*out = NULL;
	if (!st)
		return DH_EIO;
	if (group_id)
		sqlite3_bind_text(st, 1, group_id, -1, SQLITE_STATIC);
	*out = json_array();
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_pack("{s:o, s:o, s:o, s:o, s:o}", "registrationId", col_or_null(st, 0),
						      "deviceId", col_or_null(st, 1), "enrollmentGroupId",
						      col_or_null(st, 2), "createdTime", col_or_null(st, 3),
						      "sourceAddress", col_or_null(st, 4)));
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return store_fail(s, "reading registrations");
	}
	return 0;
}

int store_archive_add(store *s, const char *device_id, const char *reason, const char *retired_time, int64_t retired_ms,
		      const char *replaced_by, const char *twin_json)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO archived_twins (device_id, reason, retired_time, retired_ms,"
					 " replaced_by, twin) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, retired_time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, retired_ms);
	if (replaced_by && *replaced_by)
		sqlite3_bind_text(st, 5, replaced_by, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, twin_json, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "archiving a twin");
}

int store_archive_list(store *s, const char *device_id, const char *reason, int top, int skip, json_t **out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT device_id, reason, retired_time, replaced_by, twin FROM archived_twins"
					 " WHERE (?1 IS NULL OR device_id = ?1) AND (?2 IS NULL OR reason = ?2)"
					 " ORDER BY id LIMIT ?3 OFFSET ?4");
	int step;

	*out = NULL;
	if (!st)
		return DH_EIO;
	if (device_id)
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(st, 2, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, top);
	sqlite3_bind_int(st, 4, skip);
	*out = json_array();
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out,
				      json_pack("{s:o, s:o, s:o, s:o, s:o}", "deviceId", col_or_null(st, 0), "reason",
						col_or_null(st, 1), "retiredTime", col_or_null(st, 2), "replacedBy",
						col_or_null(st, 3), "twin", store_col_object(st, 4)));
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return store_fail(s, "reading archived twins");
	}
	return 0;
}

int store_archive_exists(store *s, const char *device_id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM archived_twins WHERE device_id = ?1 LIMIT 1");
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return store_fail(s, "reading archived twins");
	return step == SQLITE_ROW;
}

int store_archive_purge(store *s, int64_t before_ms, int64_t *purged)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM archived_twins WHERE retired_ms < ?1");
	int rc;

	*purged = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, before_ms);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "purging archived twins");
	*purged = sqlite3_changes(store_db(s));
	return 0;
}
