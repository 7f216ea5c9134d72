/* store_artifact: SQL for the artifacts table. Must never decide what an artifact may be (artifact.c does). */
#include "store_artifact.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

#define ARTIFACT_COLUMNS "artifact_id, version, compatible_model, sha256, size, content_type, created_time"

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t n)
{
	const unsigned char *v = sqlite3_column_text(st, col);

	snprintf(out, n, "%s", v ? (const char *)v : "");
}

static void read_row(sqlite3_stmt *st, store_artifact *a)
{
	memset(a, 0, sizeof(*a));
	copy_text(st, 0, a->id, sizeof(a->id));
	copy_text(st, 1, a->version, sizeof(a->version));
	copy_text(st, 2, a->compatible_model, sizeof(a->compatible_model));
	copy_text(st, 3, a->sha256, sizeof(a->sha256));
	a->size = sqlite3_column_int64(st, 4);
	copy_text(st, 5, a->content_type, sizeof(a->content_type));
	copy_text(st, 6, a->created_time, sizeof(a->created_time));
}

int store_artifact_insert(store *s, const store_artifact *a)
{
	sqlite3_stmt *st =
	    store_stmt(s, "INSERT INTO artifacts (" ARTIFACT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, a->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->version, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->compatible_model, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, a->size);
	sqlite3_bind_text(st, 6, a->content_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, a->created_time, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if ((rc & 0xff) == SQLITE_CONSTRAINT)
		return err_set(DH_EARTEXISTS, "artifact '%s' already exists", a->id);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "writing an artifact");
}

int store_artifact_get(store *s, const char *id, store_artifact *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " ARTIFACT_COLUMNS " FROM artifacts WHERE artifact_id = ?1");
	int rc, step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_row(st, out);
		rc = 0;
	} else if (step == SQLITE_DONE) {
		rc = err_set(DH_ENOARTIFACT, "artifact '%s' not found", id);
	} else {
		rc = store_fail(s, "reading an artifact");
	}
	sqlite3_reset(st);
	return rc;
}

int store_artifact_exists(store *s, const char *id)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM artifacts WHERE artifact_id = ?1");
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step == SQLITE_ROW)
		return 1;
	return step == SQLITE_DONE ? 0 : store_fail(s, "reading an artifact");
}

int store_artifact_delete(store *s, const char *id)
{
	int rc = store_change_by_key(s, "DELETE FROM artifacts WHERE artifact_id = ?1", id, "deleting an artifact");

	return rc == DH_ENOROUTE ? err_set(DH_ENOARTIFACT, "artifact '%s' not found", id) : rc;
}

int store_artifact_each(store *s, store_artifact_fn fn, void *ctx)
{
	sqlite3_stmt *st =
	    store_stmt(s, "SELECT " ARTIFACT_COLUMNS " FROM artifacts ORDER BY created_time, artifact_id");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_artifact a;
		read_row(st, &a);
		rc = fn(&a, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading artifacts");
	sqlite3_reset(st);
	return rc;
}
