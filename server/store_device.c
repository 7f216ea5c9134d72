/*
 * store_device: the identities table (devices and modules with their twins). All SQL about identities
 * lives here; callers own the transaction. Must never apply twin or registry rules.
 */
#include "store_device.h"

#include "buf.h"
#include "err.h"
#include "json_util.h"
#include "store_configuration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_twin_release(store_twin *tw)
{
	if (!tw)
		return;
	json_decref(tw->tags);
	json_decref(tw->desired);
	json_decref(tw->desired_meta);
	json_decref(tw->reported);
	json_decref(tw->reported_meta);
	json_decref(tw->configurations);
	memset(tw, 0, sizeof(*tw));
}

int store_device_read_row(sqlite3_stmt *st, int c, store_identity *id, store_twin *tw)
{
	memset(id, 0, sizeof(*id));
	id->row = sqlite3_column_int64(st, c + 0);
	store_col_text(st, c + 1, id->device_id, sizeof(id->device_id));
	store_col_text(st, c + 2, id->module_id, sizeof(id->module_id));
	store_col_text(st, c + 3, id->generation_id, sizeof(id->generation_id));
	id->etag = sqlite3_column_int64(st, c + 4);
	id->enabled = strcmp((const char *)sqlite3_column_text(st, c + 5), "enabled") == 0;
	store_col_text(st, c + 6, id->status_reason, sizeof(id->status_reason));
	store_col_text(st, c + 7, id->status_updated_time, sizeof(id->status_updated_time));
	id->connected = strcmp((const char *)sqlite3_column_text(st, c + 8), "Connected") == 0;
	store_col_text(st, c + 9, id->connection_state_updated_time, sizeof(id->connection_state_updated_time));
	store_col_text(st, c + 10, id->last_activity_time, sizeof(id->last_activity_time));
	id->c2d_count = sqlite3_column_int64(st, c + 11);
	store_col_text(st, c + 12, id->auth_type, sizeof(id->auth_type));
	store_col_text(st, c + 13, id->primary_key, sizeof(id->primary_key));
	store_col_text(st, c + 14, id->secondary_key, sizeof(id->secondary_key));
	store_col_text(st, c + 15, id->primary_thumbprint, sizeof(id->primary_thumbprint));
	store_col_text(st, c + 16, id->secondary_thumbprint, sizeof(id->secondary_thumbprint));
	id->iot_edge = sqlite3_column_int(st, c + 17);
	store_col_text(st, c + 18, id->device_scope, sizeof(id->device_scope));
	store_col_text(st, c + 19, id->managed_by, sizeof(id->managed_by));
	store_col_text(st, c + 20, id->model_id, sizeof(id->model_id));
	if (!tw)
		return 0;
	tw->version = sqlite3_column_int64(st, c + 21);
	tw->etag = sqlite3_column_int64(st, c + 22);
	tw->tags = store_col_object(st, c + 23);
	tw->desired = store_col_object(st, c + 24);
	tw->desired_meta = store_col_object(st, c + 25);
	tw->desired_version = sqlite3_column_int64(st, c + 26);
	tw->reported = store_col_object(st, c + 27);
	tw->reported_meta = store_col_object(st, c + 28);
	tw->reported_version = sqlite3_column_int64(st, c + 29);
	return 0;
}

static int not_found(const char *device_id, const char *module_id)
{
	if (module_id && *module_id)
		return err_set(DH_ENOMODULE, "module '%s' of device '%s' not found", module_id, device_id);
	return err_set(DH_ENODEVICE, "device '%s' not found", device_id);
}

/* Steps st (bound to device_id, module_id) for the one identity row; a column after STORE_DEVICE_COLUMNS
 * is the configurations' statuses when with_configurations. */
static int get_row(store *s, sqlite3_stmt *st, const char *device_id, const char *module_id, store_identity *id,
		   store_twin *tw, int with_configurations)
{
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		rc = store_device_read_row(st, 0, id, tw);
		if (rc == 0 && with_configurations && sqlite3_column_type(st, STORE_DEVICE_NCOLUMNS) != SQLITE_NULL)
			tw->configurations = store_col_object(st, STORE_DEVICE_NCOLUMNS);
	} else if (rc == SQLITE_DONE) {
		rc = not_found(device_id, module_id);
	} else {
		rc = store_fail(s, "reading an identity");
	}
	sqlite3_reset(st);
	return rc;
}

int store_device_get(store *s, const char *device_id, const char *module_id, store_identity *id,
		     store_twin *tw)
{
	return get_row(s,
		       store_stmt(s, "SELECT " STORE_DEVICE_COLUMNS
				     " FROM identities WHERE device_id = ?1 AND module_id = ?2"),
		       device_id, module_id, id, tw, 0);
}

int store_device_get_twin(store *s, const char *device_id, const char *module_id, store_identity *id,
			  store_twin *tw)
{
	return get_row(s,
		       store_stmt(s, "SELECT " STORE_DEVICE_COLUMNS ", " STORE_CONFIGURATION_STATUSES_OF("identities.id")
				     " FROM identities WHERE device_id = ?1 AND module_id = ?2"),
		       device_id, module_id, id, tw, 1);
}

int store_device_exists(store *s, const char *device_id, const char *module_id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM identities WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? not_found(device_id, module_id) : store_fail(s, "reading an identity");
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *v)
{
	if (v && *v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

/* Binds identity fields to ?1..?20 in the order of the insert and update statements below. */
static void bind_identity(sqlite3_stmt *st, const store_identity *id)
{
	sqlite3_bind_text(st, 1, id->device_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, id->module_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, id->generation_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, id->etag);
	sqlite3_bind_text(st, 5, id->enabled ? "enabled" : "disabled", -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, id->status_reason);
	sqlite3_bind_text(st, 7, id->status_updated_time, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 8, id->connected ? "Connected" : "Disconnected", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, id->connection_state_updated_time, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, id->last_activity_time, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 11, id->c2d_count);
	sqlite3_bind_text(st, 12, id->auth_type, -1, SQLITE_TRANSIENT);
	bind_text_or_null(st, 13, id->primary_key);
	bind_text_or_null(st, 14, id->secondary_key);
	bind_text_or_null(st, 15, id->primary_thumbprint);
	bind_text_or_null(st, 16, id->secondary_thumbprint);
	sqlite3_bind_int(st, 17, id->iot_edge);
	bind_text_or_null(st, 18, id->device_scope);
	bind_text_or_null(st, 19, id->managed_by);
	sqlite3_bind_text(st, 20, id->model_id, -1, SQLITE_TRANSIENT);
}

/* Binds twin fields to ?21..?29. The dumps are freed by SQLite (bound with free as destructor). */
static void bind_twin(sqlite3_stmt *st, const store_twin *tw)
{
	sqlite3_bind_int64(st, 21, tw->version);
	sqlite3_bind_int64(st, 22, tw->etag);
	sqlite3_bind_text(st, 23, json_util_dump(tw->tags), -1, free);
	sqlite3_bind_text(st, 24, json_util_dump(tw->desired), -1, free);
	sqlite3_bind_text(st, 25, json_util_dump(tw->desired_meta), -1, free);
	sqlite3_bind_int64(st, 26, tw->desired_version);
	sqlite3_bind_text(st, 27, json_util_dump(tw->reported), -1, free);
	sqlite3_bind_text(st, 28, json_util_dump(tw->reported_meta), -1, free);
	sqlite3_bind_int64(st, 29, tw->reported_version);
}

int store_device_insert(store *s, store_identity *id, const store_twin *tw)
{
	sqlite3_stmt *st = store_stmt(
		s, "INSERT INTO identities (device_id, module_id, generation_id, etag, status, status_reason,"
		   " status_updated_time, connection_state, connection_state_updated_time, last_activity_time,"
		   " c2d_count, auth_type, primary_key, secondary_key, primary_thumbprint, secondary_thumbprint,"
		   " iot_edge, device_scope, managed_by, model_id, twin_version, twin_etag, tags, desired,"
		   " desired_meta, desired_version, reported, reported_meta, reported_version)"
		   " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22,"
		   "?23,?24,?25,?26,?27,?28,?29)");
	int rc;

	if (!st)
		return DH_EIO;
	bind_identity(st, id);
	bind_twin(st, tw);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		id->row = sqlite3_last_insert_rowid(store_db(s));
		return 0;
	}
	if (rc == SQLITE_CONSTRAINT) {
		if (id->module_id[0])
			return err_set(DH_EMODEXISTS, "module '%s' already exists on device '%s'", id->module_id,
				       id->device_id);
		return err_set(DH_EEXISTS, "device '%s' already exists", id->device_id);
	}
	return store_fail(s, "inserting an identity");
}

int store_device_update_identity(store *s, const store_identity *id)
{
	sqlite3_stmt *st = store_stmt(
		s, "UPDATE identities SET generation_id = ?3, etag = ?4, status = ?5, status_reason = ?6,"
		   " status_updated_time = ?7, connection_state = ?8, connection_state_updated_time = ?9,"
		   " last_activity_time = ?10, c2d_count = ?11, auth_type = ?12, primary_key = ?13,"
		   " secondary_key = ?14, primary_thumbprint = ?15, secondary_thumbprint = ?16, iot_edge = ?17,"
		   " device_scope = ?18, managed_by = ?19, model_id = ?20"
		   " WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	bind_identity(st, id);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "updating an identity");
	return sqlite3_changes(store_db(s)) ? 0 : not_found(id->device_id, id->module_id);
}

int store_device_update_twin(store *s, const char *device_id, const char *module_id, const store_twin *tw)
{
	sqlite3_stmt *st = store_stmt(
		s, "UPDATE identities SET twin_version = ?21, twin_etag = ?22, tags = ?23, desired = ?24,"
		   " desired_meta = ?25, desired_version = ?26, reported = ?27, reported_meta = ?28,"
		   " reported_version = ?29 WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	bind_twin(st, tw);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "updating a twin");
	return sqlite3_changes(store_db(s)) ? 0 : not_found(device_id, module_id);
}

int store_device_update_desired(store *s, const char *device_id, const char *module_id, const store_twin *tw)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE identities SET twin_version = ?3, twin_etag = ?4, tags = ?5, desired = ?6,"
					 " desired_meta = ?7, desired_version = ?8 WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tw->version);
	sqlite3_bind_int64(st, 4, tw->etag);
	sqlite3_bind_text(st, 5, json_util_dump(tw->tags), -1, free);
	sqlite3_bind_text(st, 6, json_util_dump(tw->desired), -1, free);
	sqlite3_bind_text(st, 7, json_util_dump(tw->desired_meta), -1, free);
	sqlite3_bind_int64(st, 8, tw->desired_version);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "updating a twin");
	return sqlite3_changes(store_db(s)) ? 0 : not_found(device_id, module_id);
}

int store_device_get_reported(store *s, const char *device_id, const char *module_id, store_twin *tw)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT twin_version, twin_etag, reported, reported_meta, reported_version"
					 " FROM identities WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	memset(tw, 0, sizeof(*tw));
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		tw->version = sqlite3_column_int64(st, 0);
		tw->etag = sqlite3_column_int64(st, 1);
		tw->reported = store_col_object(st, 2);
		tw->reported_meta = store_col_object(st, 3);
		tw->reported_version = sqlite3_column_int64(st, 4);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? not_found(device_id, module_id) : store_fail(s, "reading a twin");
	}
	sqlite3_reset(st);
	return rc;
}

int store_device_update_reported(store *s, const char *device_id, const char *module_id, const store_twin *tw)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE identities SET twin_version = ?3, twin_etag = ?4, reported = ?5,"
					 " reported_meta = ?6, reported_version = ?7 WHERE device_id = ?1 AND module_id = ?2");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, tw->version);
	sqlite3_bind_int64(st, 4, tw->etag);
	sqlite3_bind_text(st, 5, json_util_dump(tw->reported), -1, free);
	sqlite3_bind_text(st, 6, json_util_dump(tw->reported_meta), -1, free);
	sqlite3_bind_int64(st, 7, tw->reported_version);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "updating a twin");
	return sqlite3_changes(store_db(s)) ? 0 : not_found(device_id, module_id);
}

int store_device_delete(store *s, const char *device_id, const char *module_id)
{
	/* Deleting a device (module_id "") takes its modules with it. */
	sqlite3_stmt *st = module_id && *module_id
		? store_stmt(s, "DELETE FROM identities WHERE device_id = ?1 AND module_id = ?2")
		: store_stmt(s, "DELETE FROM identities WHERE device_id = ?1");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	if (module_id && *module_id)
		sqlite3_bind_text(st, 2, module_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store_fail(s, "deleting an identity");
	return sqlite3_changes(store_db(s)) ? 0 : not_found(device_id, module_id);
}

int store_device_list(store *s, const char *device_id, int top, store_device_fn fn, void *ctx)
{
	sqlite3_stmt *st = device_id
		? store_stmt(s, "SELECT " STORE_DEVICE_COLUMNS " FROM identities WHERE device_id = ?1"
				" AND module_id <> '' ORDER BY module_id LIMIT ?2")
		: store_stmt(s, "SELECT " STORE_DEVICE_COLUMNS " FROM identities WHERE module_id = ''"
				" ORDER BY id LIMIT ?2");
	int rc = 0, step;

	if (!st)
		return DH_EIO;
	if (device_id)
		sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, top);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_identity id;
		store_device_read_row(st, 0, &id, NULL);
		rc = fn(&id, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "listing identities");
	sqlite3_reset(st);
	return rc;
}

int store_device_counts_get(store *s, store_device_counts *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT total, enabled FROM fleet_counters WHERE id = 1");
	int rc;

	memset(out, 0, sizeof(*out));
	if (!st)
		return DH_EIO;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->total = sqlite3_column_int64(st, 0);
		out->enabled = sqlite3_column_int64(st, 1);
		out->disabled = out->total - out->enabled;
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "reading the device counters");
}

/* Runs one cached UPDATE binding device_id, module_id and then up to two texts. */
static int update_conn(store *s, const char *sql, const char *device_id, const char *module_id, const char *a,
		       const char *b, const char *what)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, device_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, module_id ? module_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 4, b, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, what);
}

int store_device_set_connected(store *s, const char *device_id, const char *module_id, int connected,
			       const char *now)
{
	return update_conn(s,
			   "UPDATE identities SET connection_state = ?3, connection_state_updated_time = ?4,"
			   " last_activity_time = ?4 WHERE device_id = ?1 AND module_id = ?2",
			   device_id, module_id, connected ? "Connected" : "Disconnected", now,
			   "recording a connection");
}

int store_device_set_activity(store *s, const char *device_id, const char *module_id, const char *now)
{
	return update_conn(s, "UPDATE identities SET last_activity_time = ?3 WHERE device_id = ?1 AND module_id = ?2",
			   device_id, module_id, now, NULL, "recording activity");
}

int store_device_reset_connections(store *s)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE identities SET connection_state = 'Disconnected'"
					 " WHERE connection_state = 'Connected'");
	int rc;

	if (!st)
		return DH_EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "resetting connection states");
}
