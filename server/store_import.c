/*
 * store_import: SQL of imports, import_errors and the export cursor. Must never apply registry rules.
 */
#include "store_import.h"

#include "buf.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *text)
{
	if (text && *text)
		sqlite3_bind_text(st, i, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int step_done(store *s, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, what);
}

int store_import_insert(store *s, const store_import *imp)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO imports (import_id, status, format, total_lines,"
					 " started_time) VALUES (?1, ?2, ?3, ?4, ?5)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, imp->import_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, imp->status, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, imp->format, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, imp->total_lines);
	sqlite3_bind_text(st, 5, imp->started_time, -1, SQLITE_STATIC);
	return step_done(s, st, "recording an import");
}

int store_import_update(store *s, const store_import *imp)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE imports SET processed_lines = ?2, succeeded = ?3, failed = ?4,"
					 " status = ?5, end_time = ?6, failure_reason = ?7 WHERE import_id = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, imp->import_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, imp->processed_lines);
	sqlite3_bind_int64(st, 3, imp->succeeded);
	sqlite3_bind_int64(st, 4, imp->failed);
	sqlite3_bind_text(st, 5, imp->status, -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, imp->end_time);
	bind_text_or_null(st, 7, imp->failure_reason);
	return step_done(s, st, "updating an import");
}

int store_import_get(store *s, const char *import_id, store_import *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT import_id, status, format, total_lines, processed_lines, succeeded,"
					 " failed, started_time, end_time, failure_reason FROM imports"
					 " WHERE import_id = ?1");
	int step, rc = 0;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, import_id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		store_col_text(st, 0, out->import_id, sizeof(out->import_id));
		store_col_text(st, 1, out->status, sizeof(out->status));
		store_col_text(st, 2, out->format, sizeof(out->format));
		out->total_lines = sqlite3_column_int64(st, 3);
		out->processed_lines = sqlite3_column_int64(st, 4);
		out->succeeded = sqlite3_column_int64(st, 5);
		out->failed = sqlite3_column_int64(st, 6);
		store_col_text(st, 7, out->started_time, sizeof(out->started_time));
		store_col_text(st, 8, out->end_time, sizeof(out->end_time));
		store_col_text(st, 9, out->failure_reason, sizeof(out->failure_reason));
	} else {
		rc = step == SQLITE_DONE ? err_set(DH_ENOJOB, "no import '%s'", import_id)
					 : store_fail(s, "reading an import");
	}
	sqlite3_reset(st);
	return rc;
}

int store_import_error_add(store *s, const char *import_id, int64_t line, const char *device_id, const char *error_code,
			   const char *message)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT OR REPLACE INTO import_errors (import_id, line, device_id,"
					 " error_code, message) VALUES (?1, ?2, ?3, ?4, ?5)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, import_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, line);
	sqlite3_bind_text(st, 3, device_id ? device_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, error_code, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, message, -1, SQLITE_STATIC);
	return step_done(s, st, "recording an import error");
}

int store_import_errors(store *s, const char *import_id, store_import_error_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT line, device_id, error_code, message FROM import_errors"
					 " WHERE import_id = ?1 ORDER BY line");
	int step, rc = 0;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, import_id, -1, SQLITE_STATIC);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = fn(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
			(const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3), ctx);
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading import errors");
	sqlite3_reset(st);
	return rc;
}

int store_import_fail_running(store *s, const char *reason, const char *now)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE imports SET status = 'failed', failure_reason = ?1, end_time = ?2"
					 " WHERE status = 'running'");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, reason, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	return step_done(s, st, "failing interrupted imports");
}

struct store_export {
	store *conn;
	sqlite3_stmt *st;
};

int store_export_begin(store_export **out)
{
	store_export *x = xcalloc(1, sizeof(*x));
	int rc;

	*out = NULL;
	/* One pass in key order: pages are read once, so a small cache (mmap serves the reads) keeps the
	 * export's memory from growing to the 64 MB every connection may otherwise fill. */
	if ((rc = store_open_extra(&x->conn)) == 0 &&
	    sqlite3_exec(store_db(x->conn), "PRAGMA cache_size=-2048", NULL, NULL, NULL) != SQLITE_OK)
		rc = store_fail(x->conn, "configuring the export connection");
	if (rc == 0 && (rc = store_begin_read(x->conn)) == 0)
		/* "+module_id": without it the planner takes the (module_id, status, ...) index and sorts every
		 * device in a temporary B-tree (memory growing with the hub); this walks the unique
		 * (device_id, module_id) index in order instead, and memory stays flat. */
		rc = store_prepare(x->conn,
				   "SELECT " STORE_DEVICE_COLUMNS " FROM identities WHERE +module_id = ''"
				   " ORDER BY device_id, module_id",
				   &x->st);
	if (rc) {
		store_export_end(x);
		return rc;
	}
	*out = x;
	return 0;
}

int store_export_next(store_export *x, store_identity *id, store_twin *tw)
{
	int step = sqlite3_step(x->st);

	if (step == SQLITE_DONE)
		return 0;
	if (step != SQLITE_ROW)
		return store_fail(x->conn, "exporting devices");
	store_device_read_row(x->st, 0, id, tw);
	return 1;
}

void store_export_end(store_export *x)
{
	if (!x)
		return;
	sqlite3_finalize(x->st);
	if (x->conn)
		store_rollback(x->conn);
	store_close(x->conn);
	free(x);
}
