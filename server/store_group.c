/* store_group: SQL for the device_groups table. Must never decide what a group may be (group.c does). */
#include "store_group.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

#define GROUP_COLUMNS "name, condition, description, etag, created_time, updated_time"

static void read_row(sqlite3_stmt *st, store_group *g)
{
	memset(g, 0, sizeof(*g));
	store_col_text(st, 0, g->name, sizeof(g->name));
	store_col_text(st, 1, g->condition, sizeof(g->condition));
	store_col_text(st, 2, g->description, sizeof(g->description));
	g->etag = sqlite3_column_int64(st, 3);
	store_col_text(st, 4, g->created_time, sizeof(g->created_time));
	store_col_text(st, 5, g->updated_time, sizeof(g->updated_time));
}

int store_group_put(store *s, const store_group *g)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO device_groups (" GROUP_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
					 " ON CONFLICT (name) DO UPDATE SET condition = excluded.condition,"
					 " description = excluded.description, etag = excluded.etag,"
					 " updated_time = excluded.updated_time");
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, g->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, g->condition, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, g->description, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, g->etag);
	sqlite3_bind_text(st, 5, g->created_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, g->updated_time, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_fail(s, "writing a device group");
}

int store_group_get(store *s, const char *name, store_group *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " GROUP_COLUMNS " FROM device_groups WHERE name = ?1");
	int rc, step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_row(st, out);
		rc = 0;
	} else if (step == SQLITE_DONE) {
		rc = err_set(DH_ENOROUTE, "group '%s' not found", name);
	} else {
		rc = store_fail(s, "reading a device group");
	}
	sqlite3_reset(st);
	return rc;
}

int store_group_delete(store *s, const char *name)
{
	int rc = store_change_by_key(s, "DELETE FROM device_groups WHERE name = ?1", name, "deleting a device group");

	return rc == DH_ENOROUTE ? err_set(DH_ENOROUTE, "group '%s' not found", name) : rc;
}

int store_group_each(store *s, store_group_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " GROUP_COLUMNS " FROM device_groups ORDER BY name");
	int rc = 0, step = SQLITE_DONE;
	store_group g;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, &g);
		rc = fn(&g, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading device groups");
	sqlite3_reset(st);
	return rc;
}

int store_group_each_tagged(store *s, store_group_tags_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT device_id, module_id, tags FROM identities WHERE tags <> '{}' ORDER BY id");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		char device_id[256], module_id[256];
		json_t *tags = store_col_object(st, 2);

		store_col_text(st, 0, device_id, sizeof(device_id));
		store_col_text(st, 1, module_id, sizeof(module_id));
		if (tags)
			rc = fn(device_id, module_id, tags, ctx);
		json_decref(tags);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading twin tags");
	sqlite3_reset(st);
	return rc;
}
