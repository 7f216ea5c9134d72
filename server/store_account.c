/* store_account: SQL for accounts, operator_sessions and audit_log. Must never decide who may do what. */
#include "store_account.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

#define ACCOUNT_COLUMNS "name, role, password_hash, salt, iterations, created_time, last_login_time"

static void read_account(sqlite3_stmt *st, store_account *a)
{
	memset(a, 0, sizeof(*a));
	store_col_text(st, 0, a->name, sizeof(a->name));
	store_col_text(st, 1, a->role, sizeof(a->role));
	store_col_text(st, 2, a->password_hash, sizeof(a->password_hash));
	store_col_text(st, 3, a->salt, sizeof(a->salt));
	a->iterations = sqlite3_column_int(st, 4);
	store_col_text(st, 5, a->created_time, sizeof(a->created_time));
	store_col_text(st, 6, a->last_login_time, sizeof(a->last_login_time));
}

/* Steps a statement that returns no rows and resets it. */
static int step_done(store *s, sqlite3_stmt *st, const char *what)
{
	int step = sqlite3_step(st);

	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_fail(s, what);
}

int store_account_put(store *s, const store_account *a)
{
	sqlite3_stmt *st =
	    store_stmt(s, "INSERT INTO accounts (" ACCOUNT_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)"
			  " ON CONFLICT (name) DO UPDATE SET role = excluded.role,"
			  " password_hash = excluded.password_hash, salt = excluded.salt,"
			  " iterations = excluded.iterations");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, a->role, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, a->password_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, a->salt, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, a->iterations);
	sqlite3_bind_text(st, 6, a->created_time, -1, SQLITE_STATIC);
	return step_done(s, st, "writing an account");
}

int store_account_get(store *s, const char *name, store_account *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE name = ?1");
	int rc, step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		read_account(st, out);
		rc = 0;
	} else if (step == SQLITE_DONE) {
		rc = err_set(DH_ENOROUTE, "account '%s' not found", name);
	} else {
		rc = store_fail(s, "reading an account");
	}
	sqlite3_reset(st);
	return rc;
}

int store_account_delete(store *s, const char *name)
{
	int rc = store_change_by_key(s, "DELETE FROM accounts WHERE name = ?1", name, "deleting an account");

	return rc == DH_ENOROUTE ? err_set(DH_ENOROUTE, "account '%s' not found", name) : rc;
}

int store_account_touch_login(store *s, const char *name, const char *time)
{
	sqlite3_stmt *st = store_stmt(s, "UPDATE accounts SET last_login_time = ?2 WHERE name = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, time, -1, SQLITE_STATIC);
	return step_done(s, st, "recording a login");
}

int store_account_count(store *s, const char *role, int *count)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM accounts WHERE ?1 IS NULL OR role = ?1");
	int step;

	if (!st)
		return DH_EIO;
	if (role)
		sqlite3_bind_text(st, 1, role, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	*count = step == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);
	return step == SQLITE_ROW ? 0 : store_fail(s, "counting accounts");
}

int store_account_each(store *s, store_account_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " ACCOUNT_COLUMNS " FROM accounts ORDER BY name");
	int rc = 0, step = SQLITE_DONE;
	store_account a;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		read_account(st, &a);
		rc = fn(&a, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading accounts");
	sqlite3_reset(st);
	return rc;
}

int store_op_session_put(store *s, const store_op_session *se)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO operator_sessions (token_hash, account, csrf_token, created_time,"
					 " expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, se->token_hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, se->account, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, se->csrf_token, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, se->created_time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, se->expires_ms);
	return step_done(s, st, "writing a session");
}

int store_op_session_get(store *s, const char *token_hash, store_op_session *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT s.token_hash, s.account, a.role, s.csrf_token, s.created_time,"
					 " s.expires_ms FROM operator_sessions s JOIN accounts a ON a.name = s.account"
					 " WHERE s.token_hash = ?1");
	int rc, step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		store_col_text(st, 0, out->token_hash, sizeof(out->token_hash));
		store_col_text(st, 1, out->account, sizeof(out->account));
		store_col_text(st, 2, out->role, sizeof(out->role));
		store_col_text(st, 3, out->csrf_token, sizeof(out->csrf_token));
		store_col_text(st, 4, out->created_time, sizeof(out->created_time));
		out->expires_ms = sqlite3_column_int64(st, 5);
		rc = 0;
	} else if (step == SQLITE_DONE) {
		rc = err_set(DH_EUNAUTH, "not signed in (no such session)");
	} else {
		rc = store_fail(s, "reading a session");
	}
	sqlite3_reset(st);
	return rc;
}

int store_op_session_delete(store *s, const char *token_hash)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM operator_sessions WHERE token_hash = ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, token_hash, -1, SQLITE_STATIC);
	return step_done(s, st, "deleting a session");
}

int store_op_session_delete_account(store *s, const char *account, const char *keep)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM operator_sessions WHERE account = ?1"
					 " AND (?2 IS NULL OR token_hash <> ?2)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, account, -1, SQLITE_STATIC);
	if (keep)
		sqlite3_bind_text(st, 2, keep, -1, SQLITE_STATIC);
	return step_done(s, st, "ending sessions");
}

int store_op_session_purge(store *s, int64_t now_ms)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM operator_sessions WHERE expires_ms < ?1");

	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, now_ms);
	return step_done(s, st, "purging sessions");
}

int store_audit_insert(store *s, const store_audit *e)
{
	sqlite3_stmt *st =
	    store_stmt(s, "INSERT INTO audit_log (time, time_ms, who, action, path, status, from_address)"
			  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, e->time, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, e->time_ms);
	sqlite3_bind_text(st, 3, e->who, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, e->path, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, e->status);
	sqlite3_bind_text(st, 7, e->from, -1, SQLITE_STATIC);
	return step_done(s, st, "writing the audit log");
}

int store_audit_each(store *s, const store_audit_filter *f, store_audit_fn fn, void *ctx)
{
	sqlite3_stmt *st =
	    store_stmt(s, "SELECT id, time, time_ms, who, action, path, status, from_address FROM audit_log"
			  " WHERE (?1 IS NULL OR who = ?1) AND (?2 IS NULL OR action = ?2)"
			  " AND (?3 < 0 OR time_ms >= ?3) AND (?4 < 0 OR time_ms <= ?4)"
			  " AND (?5 <= 0 OR id < ?5) ORDER BY id DESC LIMIT ?6");
	int rc = 0, step = SQLITE_DONE;
	store_audit e;

	if (!st)
		return DH_EIO;
	if (f->who && *f->who)
		sqlite3_bind_text(st, 1, f->who, -1, SQLITE_STATIC);
	if (f->action && *f->action)
		sqlite3_bind_text(st, 2, f->action, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, f->since_ms);
	sqlite3_bind_int64(st, 4, f->until_ms);
	sqlite3_bind_int64(st, 5, f->before_id);
	sqlite3_bind_int(st, 6, f->limit);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&e, 0, sizeof(e));
		e.id = sqlite3_column_int64(st, 0);
		store_col_text(st, 1, e.time, sizeof(e.time));
		e.time_ms = sqlite3_column_int64(st, 2);
		store_col_text(st, 3, e.who, sizeof(e.who));
		store_col_text(st, 4, e.action, sizeof(e.action));
		store_col_text(st, 5, e.path, sizeof(e.path));
		e.status = sqlite3_column_int(st, 6);
		store_col_text(st, 7, e.from, sizeof(e.from));
		rc = fn(&e, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading the audit log");
	sqlite3_reset(st);
	return rc;
}
