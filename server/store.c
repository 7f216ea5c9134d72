/*
 * store: SQLite connection lifecycle, pragmas, migrations, transactions and the statement cache.
 * Owns every sqlite3 handle of the process. Must never interpret twin or registry rules.
 */
#include "store.h"

#include "buf.h"
#include "embed.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "store_dialect.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_STMT_CACHE 64

struct store {
	sqlite3 *db;
	struct {
		const char *sql;          /* the caller's literal: compared by address, then by text */
		sqlite3_stmt *stmt;
	} cache[STORE_STMT_CACHE];
	int ncached;
	int holds_write_lock;             /* between store_begin_write and the commit or rollback */
	double tx_started;                /* metrics_now() at BEGIN; 0 outside a transaction */
	const char *tx_kind;              /* "read" or "write" */
	struct store *next_open;          /* registry of per-thread connections, for shutdown */
};

static char *store_path;
static pthread_mutex_t store_open_lock = PTHREAD_MUTEX_INITIALIZER;
/* Writers of this process queue here rather than in SQLite's busy handler, which polls with sleeps of
 * 1 to 100 ms: with two HTTP threads writing, those sleeps put PATCH /twins p99 at ~300 ms and idled a
 * core during bulk creates (bench/run.sh). busy_timeout still covers other processes. */
static pthread_mutex_t store_write_lock = PTHREAD_MUTEX_INITIALIZER;
static store *store_all;
static _Thread_local store *store_mine;

int store_fail(store *s, const char *what)
{
	int rc = sqlite3_errcode(s->db);
	int code = (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) ? DH_EBUSY : DH_EIO;

	if (code == DH_EBUSY)
		metrics_count(METRIC_STORE_BUSY, 1);
	log_error("store: %s: %s", what, sqlite3_errmsg(s->db));
	return err_set(code, "storage error while %s", what);
}

static int store_exec(store *s, const char *sql, const char *what)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_error("store: %s: %s", what, msg ? msg : "?");
		sqlite3_free(msg);
		return err_set(DH_EIO, "storage error while %s", what);
	}
	return 0;
}

/* Pragmas: WAL so readers never wait for the writer; NORMAL sync is durable across a process crash
 * (what SIGKILL tests) and loses at most the last commits on power loss; busy_timeout queues writers. */
static int store_configure(store *s)
{
	sqlite3_busy_timeout(s->db, 5000);
	return store_exec(s,
			  "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
			  "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536; PRAGMA mmap_size=1073741824;",
			  "configuring the database");
}

int store_schema_version(store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT coalesce(max(version), 0) FROM schema_migrations");
	int v = 0;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	if (st)
		sqlite3_reset(st);
	return v;
}

static int migration_applied(store *s, int number)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1 FROM schema_migrations WHERE version = ?1");
	int found;

	if (!st)
		return 0;
	sqlite3_bind_int(st, 1, number);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	return found;
}

/* Applies the embedded migrations not yet recorded, in order, each in its own transaction. */
static int store_migrate(store *s)
{
	int rc = store_exec(s,
			    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
			    " name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ')))",
			    "creating schema_migrations");
	if (rc)
		return rc;
	/* Each migration runs once, by its own number, in order: one that lands later with a lower number than
	 * a database has already seen (work merged out of order) still runs. */
	for (const embed_file *m = embed_migrations; m->name; m++) {
		int number = atoi(m->name);
		if (migration_applied(s, number))
			continue;
		if ((rc = store_begin_write(s)) != 0)
			return rc;
		if ((rc = store_exec(s, (const char *)m->data, m->name)) != 0)
			goto fail;
		sqlite3_stmt *st = store_stmt(s, "INSERT INTO schema_migrations (version, name) VALUES (?1, ?2)");
		if (!st) {
			rc = store_fail(s, "recording a migration");
			goto fail;
		}
		sqlite3_bind_int(st, 1, number);
		sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rc = store_fail(s, "recording a migration");
			goto fail;
		}
		if ((rc = store_commit(s)) != 0)
			return rc;
		log_info("store: applied migration %s", m->name);
	}
	return 0;
fail:
	store_rollback(s);
	return rc;
}

int store_open(const char *path, store **out)
{
	store *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rc = err_set(DH_EIO, "cannot open database %s: %s", path, sqlite3_errmsg(s->db));
		goto fail;
	}
	if ((rc = store_configure(s)) != 0 || (rc = store_migrate(s)) != 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_close(s);
	return rc;
}

void store_close(store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->ncached; i++)
		sqlite3_finalize(s->cache[i].stmt);
	sqlite3_close(s->db);
	free(s);
}

sqlite3 *store_db(store *s)
{
	return s->db;
}

sqlite3_stmt *store_stmt(store *s, const char *sql)
{
	int i;

	for (i = 0; i < s->ncached; i++)
		if (s->cache[i].sql == sql || strcmp(s->cache[i].sql, sql) == 0)
			break;
	if (i < s->ncached) {
		sqlite3_reset(s->cache[i].stmt);
		sqlite3_clear_bindings(s->cache[i].stmt);
		return s->cache[i].stmt;
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		store_fail(s, "preparing a statement");
		return NULL;
	}
	/* A full cache keeps working, just without caching: the statement set is small and fixed. */
	if (s->ncached == STORE_STMT_CACHE) {
		log_warn("store: statement cache full; finalising the oldest");
		sqlite3_finalize(s->cache[0].stmt);
		memmove(&s->cache[0], &s->cache[1], sizeof(s->cache[0]) * (STORE_STMT_CACHE - 1));
		s->ncached--;
	}
	s->cache[s->ncached].sql = sql;
	s->cache[s->ncached].stmt = st;
	s->ncached++;
	return st;
}

int store_prepare(store *s, const char *sql, sqlite3_stmt **out)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
		return store_fail(s, "preparing a query");
	return 0;
}

/* Runs a cached statement that returns no rows: bulk calls start thousands of savepoints a second, so
 * they are not re-parsed each time as sqlite3_exec would. */
static int store_step_cached(store *s, const char *sql, const char *what)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int rc;

	if (!st)
		return DH_EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, what);
}

/* Transaction timing: BEGIN to COMMIT or ROLLBACK, by kind, into one histogram. */
static void store_tx_begun(store *s, const char *kind)
{
	s->tx_started = metrics_now();
	s->tx_kind = kind;
}

static void store_tx_ended(store *s)
{
	if (s->tx_started > 0)
		metrics_observe(METRIC_STORE_TX_DURATION, metrics_now() - s->tx_started, s->tx_kind);
	s->tx_started = 0;
}

int store_begin_read(store *s)
{
	int rc = store_step_cached(s, "BEGIN", "starting a transaction");

	if (rc == 0)
		store_tx_begun(s, "read");
	return rc;
}

/* Releases the process write lock if this connection holds it. */
static void store_write_unlock(store *s)
{
	if (s->holds_write_lock) {
		s->holds_write_lock = 0;
		pthread_mutex_unlock(&store_write_lock);
	}
}

int store_begin_write(store *s)
{
	/* A nested begin (a bug) fails in SQLite as before instead of deadlocking on the mutex. */
	int took = !s->holds_write_lock, rc;

	if (took) {
		pthread_mutex_lock(&store_write_lock);
		s->holds_write_lock = 1;
	}
	rc = store_step_cached(s, "BEGIN IMMEDIATE", "starting a write transaction");
	if (rc && took)
		store_write_unlock(s);
	if (rc == 0)
		store_tx_begun(s, "write");
	return rc;
}

int store_commit(store *s)
{
	int rc = store_step_cached(s, "COMMIT", "committing");

	if (rc)
		store_rollback(s);
	else if (sqlite3_get_autocommit(s->db))
		store_write_unlock(s);
	if (sqlite3_get_autocommit(s->db))
		store_tx_ended(s);
	return rc;
}

void store_rollback(store *s)
{
	if (!sqlite3_get_autocommit(s->db))
		store_step_cached(s, "ROLLBACK", "rolling back");
	store_write_unlock(s);
	store_tx_ended(s);
}

int store_ping(store *s)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT 1");
	int rc;

	if (!st)
		return DH_EIO;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : store_fail(s, "answering a trivial query");
}

void store_interrupt(store *s)
{
	if (s)
		sqlite3_interrupt(store_db(s));
}

/* Opens the calling thread's connection and records it for store_global_shutdown. */
static int store_open_mine(void)
{
	store *s = NULL;
	int rc = store_open(store_path, &s);

	if (rc)
		return rc;
	pthread_mutex_lock(&store_open_lock);
	s->next_open = store_all;
	store_all = s;
	pthread_mutex_unlock(&store_open_lock);
	store_mine = s;
	return 0;
}

int store_open_extra(store **out)
{
	*out = NULL;
	if (!store_path)
		return err_set(DH_EIO, "the store is not initialised");
	return store_open(store_path, out);
}

int store_global_init(const char *path)
{
	free(store_path);
	store_path = xstrdup(path);
	return store_open_mine();
}

store *store_thread(void)
{
	if (store_mine)
		return store_mine;
	if (!store_path) {
		err_set(DH_EIO, "the store is not initialised");
		return NULL;
	}
	return store_open_mine() == 0 ? store_mine : NULL;
}

/* Closes every thread's connection. Call only once the threads that used them have stopped. */
void store_global_shutdown(void)
{
	pthread_mutex_lock(&store_open_lock);
	while (store_all) {
		store *next = store_all->next_open;
		store_close(store_all);
		store_all = next;
	}
	pthread_mutex_unlock(&store_open_lock);
	store_mine = NULL;
	free(store_path);
	store_path = NULL;
}

int store_setting_get(store *s, const char *name, char *out, size_t n)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT value FROM hub_settings WHERE name = ?1");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
		return 0;
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return DH_ENOROUTE;
	return store_fail(s, "reading a setting");
}

int store_setting_put(store *s, const char *name, const char *value)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO hub_settings (name, value) VALUES (?1, ?2)"
					 " ON CONFLICT (name) DO UPDATE SET value = excluded.value");
	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "writing a setting");
}

int store_change_by_key(store *s, const char *sql, const char *key, const char *what)
{
	sqlite3_stmt *st = store_stmt(s, sql);
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	if (step != SQLITE_DONE)
		return store_fail(s, what);
	return sqlite3_changes(store_db(s)) ? 0 : DH_ENOROUTE;
}

int store_setting_delete(store *s, const char *name)
{
	return store_change_by_key(s, "DELETE FROM hub_settings WHERE name = ?1", name, "deleting a setting");
}

int store_savepoint(store *s)
{
	return store_step_cached(s, "SAVEPOINT entry", "starting a savepoint");
}

int store_savepoint_release(store *s)
{
	return store_step_cached(s, "RELEASE entry", "releasing a savepoint");
}

void store_savepoint_rollback(store *s)
{
	store_step_cached(s, "ROLLBACK TO entry", "rolling back a savepoint");
	store_step_cached(s, "RELEASE entry", "releasing a savepoint");
}

int store_bind_params(sqlite3_stmt *st, const store_param *params, size_t n)
{
	int rc = SQLITE_OK;

	for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
		const store_param *p = &params[i];
		int at = (int)i + 1;
		switch (p->kind) {
		case STORE_PARAM_INT: rc = sqlite3_bind_int64(st, at, p->i); break;
		case STORE_PARAM_REAL: rc = sqlite3_bind_double(st, at, p->r); break;
		case STORE_PARAM_TEXT: rc = sqlite3_bind_text(st, at, p->text, -1, SQLITE_STATIC); break;
		case STORE_PARAM_NULL: rc = sqlite3_bind_null(st, at); break;
		}
	}
	return rc == SQLITE_OK ? 0 : err_set(DH_EINTERNAL, "binding query parameters failed");
}

void store_col_text(sqlite3_stmt *st, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, n, "%s", t ? (const char *)t : "");
}

json_t *store_col_object(sqlite3_stmt *st, int col)
{
	const char *t = (const char *)sqlite3_column_text(st, col);
	json_t *v = t ? json_loadb(t, (size_t)sqlite3_column_bytes(st, col), 0, NULL) : NULL;

	if (json_is_object(v))
		return v;
	json_decref(v);
	return json_object();
}

store *store_thread_if_open(void)
{
	return store_mine;
}

void store_end_request(store *s)
{
	if (!s)
		return;
	for (int i = 0; i < s->ncached; i++) {
		if (sqlite3_stmt_busy(s->cache[i].stmt)) {
			log_warn("store: a statement was left mid-step: %.60s", s->cache[i].sql);
			sqlite3_reset(s->cache[i].stmt);
		}
	}
	if (!sqlite3_get_autocommit(s->db)) {
		log_warn("store: a request left its transaction open; rolling back");
		store_rollback(s);
	}
}
