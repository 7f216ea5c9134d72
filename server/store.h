/*
 * store: the database handle, its pragmas, migrations, transactions and the prepared-statement cache.
 *
 * The store layer is the only place that holds SQL and a database handle. One `store` is one SQLite
 * connection; each HTTP worker thread gets its own (store_thread), so readers run side by side under WAL
 * while SQLite serialises writers. Statements are prepared once per connection and reset after each use.
 */
#ifndef DH_STORE_H
#define DH_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store;

/* Opens (creating if needed) the database at path, sets WAL, foreign_keys, busy_timeout and
 * synchronous=NORMAL, and applies pending migrations from the embedded migrations/ files in order.
 * OUT: *out, owned by the caller (store_close). Returns 0 or DH_EIO with err_message(). */
int store_open(const char *path, store **out);

/* Closes the connection and finalises its cached statements. NULL is a no-op. */
void store_close(store *s);

/* Process-wide: remembers path so that store_thread() can open one connection per thread. The path is
 * copied. store_global_init opens the first connection itself (migrating) and returns its result. */
int store_global_init(const char *path);
void store_global_shutdown(void);

/* The calling thread's connection, opened on first use and closed by store_global_shutdown. NULL (with
 * err_message) if it cannot be opened. The caller must not close it. */
store *store_thread(void);

/* Transactions: one per API operation. begin_write takes the write lock at once (BEGIN IMMEDIATE) so a
 * read-modify-write never fails half-way on a busy database. rollback is safe to call when none is open. */
int store_begin_read(store *s);
int store_begin_write(store *s);
int store_commit(store *s);
void store_rollback(store *s);

/* Returns the cached prepared statement for sql (a string literal: the cache keys on its address first and
 * its text second), reset and with bindings cleared. NULL with err_message on a prepare error. The
 * statement stays owned by the store. */
sqlite3_stmt *store_stmt(store *s, const char *sql);

/* Prepares sql for one use (dynamic SQL such as compiled queries). Caller finalises it. */
int store_prepare(store *s, const char *sql, sqlite3_stmt **out);

/* The SQLite handle, for store_* modules only. */
sqlite3 *store_db(store *s);

/* Maps the last SQLite failure to DH_EBUSY or DH_EIO and records the message; returns that code. */
int store_fail(store *s, const char *what);

/* Runs the cached statement sql (a DELETE or UPDATE ... WHERE <key> = ?1) with key bound as ?1.
 * Returns 0 when it changed a row; DH_ENOROUTE without a message when it changed none (the caller says
 * what was not found, with its own code); or a storage error naming what. */
int store_change_by_key(store *s, const char *sql, const char *key, const char *what);

/* 0 when the connection answers a trivial query (SELECT 1), else DH_EIO or DH_EBUSY (readiness). */
int store_ping(store *s);

/* Makes the statement running on s (from another thread) stop soon with an error, for a shutdown that
 * must not wait for a long scan. Thread-safe; a no-op when nothing runs. s must stay open meanwhile. */
void store_interrupt(store *s);

/* Schema version after migrations (the highest applied migration number). */
int store_schema_version(store *s);

/* Hub-wide named settings (owner key, hostname of first start): get copies into out (size n). */
int store_setting_get(store *s, const char *name, char *out, size_t n);
int store_setting_put(store *s, const char *name, const char *value);
/* Removes a setting; DH_ENOROUTE when there was none. */
int store_setting_delete(store *s, const char *name);



/* Called by edges after each request they served on this thread: a transaction left open or a cached
 * statement left mid-step would pin an old read snapshot on this connection, so the next request here
 * would read stale data. Both are bugs; they are logged and undone. NULL (no store yet) is a no-op. */
void store_end_request(store *s);

/* The calling thread's connection if it has one, without opening it. */
store *store_thread_if_open(void);

/* Column readers shared by the store_* modules. store_col_text copies a text column into dst[n] ("" for
 * NULL); store_col_object parses a JSON object column (a new reference; anything else, which this store
 * never writes, reads as {} rather than failing every query that touches the row). */
void store_col_text(sqlite3_stmt *st, int col, char *dst, size_t n);
json_t *store_col_object(sqlite3_stmt *st, int col);

/* Binds params[0..n) to parameters 1..n of st (text bound without copying: it must outlive the step). */
struct store_param;
int store_bind_params(sqlite3_stmt *st, const struct store_param *params, size_t n);

/* A new connection to the process's database (store_global_init's path), not this thread's and not
 * closed by store_global_shutdown: for a long read (a streamed export) that must not pin a worker's
 * connection. OUT: *out, owned by the caller (store_close). */
int store_open_extra(store **out);

/* Savepoints inside a transaction, so one entry of a bulk call can fail without undoing the others. */
int store_savepoint(store *s);
int store_savepoint_release(store *s);
void store_savepoint_rollback(store *s);
#endif
