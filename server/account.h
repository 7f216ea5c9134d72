/*
 * account: operator accounts of the dashboard. Passwords (PBKDF2-HMAC-SHA256, random salt), roles
 * (viewer < operator < admin), sessions (a random cookie token of which only the SHA-256 is stored, with
 * a CSRF token; 12 hours fixed from login), the first admin at first start, and the in-memory limit on
 * failed logins. Knows nothing of HTTP: the edge passes the Cookie header text and the client address.
 * Must never store a password or a session token in clear.
 */
#ifndef DH_ACCOUNT_H
#define DH_ACCOUNT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum account_role {
	ACCOUNT_NONE = 0,
	ACCOUNT_VIEWER = 1,
	ACCOUNT_OPERATOR = 2,
	ACCOUNT_ADMIN = 3,
} account_role;

#define ACCOUNT_PBKDF2_ITERATIONS 210000
#define ACCOUNT_SALT_BYTES 16
#define ACCOUNT_HASH_BYTES 32
#define ACCOUNT_PASSWORD_MIN 12
#define ACCOUNT_PASSWORD_MAX 256
#define ACCOUNT_SESSION_TTL_MS (12LL * 3600 * 1000)
#define ACCOUNT_COOKIE "dh_session"
/* Failed logins allowed per account name and per client address within ACCOUNT_THROTTLE_WINDOW_MS. */
#define ACCOUNT_THROTTLE_NAME 5
#define ACCOUNT_THROTTLE_ADDRESS 20
#define ACCOUNT_THROTTLE_WINDOW_MS (5LL * 60 * 1000)

/* "viewer", "operator", "admin" ("none" for ACCOUNT_NONE). Static storage. */
const char *account_role_name(account_role role);
/* ACCOUNT_NONE for anything else. */
account_role account_role_parse(const char *text);

/* PBKDF2-HMAC-SHA256 of password with salt and iterations into out[32]. Returns 0 or DH_EINTERNAL. */
int account_hash_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
			  uint8_t out[ACCOUNT_HASH_BYTES]);
/* 1 when password hashes to hash_b64 with salt_b64 and iterations (constant-time compare), else 0. */
int account_verify_password(const char *password, const char *salt_b64, int iterations, const char *hash_b64);

/* A signed-in session, as the gate sees it. */
typedef struct account_session {
	char name[65];
	account_role role;
	char csrf_token[64];
	char expires_time[32]; /* ISO 8601 */
	char token_hash[65];   /* hex SHA-256 of the cookie token: which session this is */
} account_session;

/* First start: when there is no account at all, makes "admin" (role admin) with admin_password, or with
 * a random one when admin_password is empty. OUT: generated[n] gets that random password (to print
 * once), else "". Returns 0, DH_EINVAL (a given password shorter than 12 characters) or DH_EIO. */
int account_init(const char *admin_password, char *generated, size_t n);

/* Checks name and password and starts a session. from is the client's address (for the failure limit).
 * OUT: token[65] the cookie's token (hex; shown to the client only), *out the session.
 * Returns 0; DH_EUNAUTH (same message for an unknown name and a wrong password); DH_ETHROTTLE with
 * *retry_after (seconds) when too many logins failed for the name or from the address. */
int account_login(const char *name, const char *password, const char *from, char token[65], account_session *out,
		  int *retry_after);

/* The session a Cookie header's dh_session names. 0; DH_EUNAUTH when absent, unknown or expired. */
int account_session_from_cookie(const char *cookie, account_session *out);
/* The dh_session cookie's token of a Cookie header ("a=1; dh_session=<64 hex>; b=2") into out[65].
 * Returns 0, or -1 when there is none or it is not 64 lowercase hex digits. */
int account_cookie_token(const char *cookie, char out[65]);
/* 1 when the Cookie header carries a dh_session cookie at all. */
int account_cookie_present(const char *cookie);
/* 1 when csrf equals the session's CSRF token (constant-time). */
int account_csrf_ok(const account_session *s, const char *csrf);
/* Ends the session (idempotent). */
int account_logout(const account_session *s);

/* Accounts as [{name, role, createdTime, lastLoginTime}] (new reference). */
int account_list(json_t **out);
/* Creates (a password of >= 12 characters needed) or updates an account; role "viewer", "operator" or
 * "admin". Taking the admin role away from the last admin is refused (DH_ECONFLICT). A new password
 * ends the account's sessions. OUT: *out the account as JSON, *created. */
int account_put(const char *name, const char *role, const char *password, json_t **out, int *created);
/* Deletes an account and its sessions; never the last admin (DH_ECONFLICT). DH_ENOROUTE if none. */
int account_delete(const char *name);
/* Sets name's password. current is checked unless by_admin; the account's sessions end except keep_hash's
 * (the caller's own, NULL for none). DH_EUNAUTH on a wrong current password, DH_EINVAL for a short one. */
int account_set_password(const char *name, const char *current, const char *password, int by_admin,
			 const char *keep_hash);

/* The failed-login limiter, in memory (tests call it directly with their own clock). check returns 0 or
 * DH_ETHROTTLE with *retry_after; fail counts a failure for name and address; success forgets name's. */
int account_throttle_check(const char *name, const char *from, int64_t now_ms, int *retry_after);
void account_throttle_fail(const char *name, const char *from, int64_t now_ms);
void account_throttle_success(const char *name);
void account_throttle_reset(void);

#endif
