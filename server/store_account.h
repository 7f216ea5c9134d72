/*
 * store_account: rows of the accounts, operator_sessions and audit_log tables. All functions run inside
 * the caller's transaction or, alone, in SQLite's autocommit. Must never decide who may do what, nor
 * hash a password (account.c and audit.c do).
 */
#ifndef DH_STORE_ACCOUNT_H
#define DH_STORE_ACCOUNT_H

#include "store.h"

#include <stdint.h>

#define STORE_ACCOUNT_NAME_MAX 64

/* One account. Plain arrays: copying is assignment and nothing needs freeing. */
typedef struct store_account {
	char name[STORE_ACCOUNT_NAME_MAX + 1];
	char role[16];
	char password_hash[64]; /* base64 */
	char salt[32];          /* base64 */
	int iterations;
	char created_time[32];
	char last_login_time[32]; /* "" when never */
} store_account;

/* Inserts a, or replaces the row of the same name (created_time and last_login_time kept). */
int store_account_put(store *s, const store_account *a);
/* OUT: *out. DH_ENOROUTE "account '<name>' not found" when there is none. */
int store_account_get(store *s, const char *name, store_account *out);
/* Deletes the row (its sessions go with it); DH_ENOROUTE when there was none. */
int store_account_delete(store *s, const char *name);
int store_account_touch_login(store *s, const char *name, const char *time);
/* OUT: *count, the number of accounts (role NULL) or of accounts with that role. */
int store_account_count(store *s, const char *role, int *count);
/* Calls fn for every account by name; stops early with fn's non-zero result. */
typedef int (*store_account_fn)(const store_account *a, void *ctx);
int store_account_each(store *s, store_account_fn fn, void *ctx);

/* A session as stored, joined with its account's current role. */
typedef struct store_op_session {
	char token_hash[65];
	char account[STORE_ACCOUNT_NAME_MAX + 1];
	char role[16];
	char csrf_token[64];
	char created_time[32];
	int64_t expires_ms;
} store_op_session;

int store_op_session_put(store *s, const store_op_session *se);
/* OUT: *out; DH_EUNAUTH when no session has that hash. */
int store_op_session_get(store *s, const char *token_hash, store_op_session *out);
int store_op_session_delete(store *s, const char *token_hash);
/* Deletes every session of account except the one whose hash is keep (NULL: all of them). */
int store_op_session_delete_account(store *s, const char *account, const char *keep);
/* Deletes sessions that expired before now_ms. */
int store_op_session_purge(store *s, int64_t now_ms);

/* One audit entry. */
typedef struct store_audit {
	int64_t id;
	char time[32];
	int64_t time_ms;
	char who[160];
	char action[160];
	char path[512];
	int status;
	char from[64];
} store_audit;

int store_audit_insert(store *s, const store_audit *e);
/* Filters: NULL or empty fields match everything; since_ms/until_ms < 0 do not filter; before_id > 0
 * keeps ids below it (paging). Calls fn newest first for at most limit rows. */
typedef struct store_audit_filter {
	const char *who;
	const char *action;
	int64_t since_ms, until_ms;
	int64_t before_id;
	int limit;
} store_audit_filter;
typedef int (*store_audit_fn)(const store_audit *e, void *ctx);
int store_audit_each(store *s, const store_audit_filter *f, store_audit_fn fn, void *ctx);

#endif
