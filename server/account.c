/*
 * account: operator accounts, password hashing, sessions and the failed-login limiter. Must never store
 * a password or a session token in clear, nor know an HTTP type.
 */
#include "account.h"

#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "store_account.h"

#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const char *const role_names[] = {"none", "viewer", "operator", "admin"};

const char *account_role_name(account_role role)
{
	return role >= ACCOUNT_NONE && role <= ACCOUNT_ADMIN ? role_names[role] : "none";
}

account_role account_role_parse(const char *text)
{
	for (int r = ACCOUNT_VIEWER; text && r <= ACCOUNT_ADMIN; r++)
		if (strcmp(text, role_names[r]) == 0)
			return (account_role)r;
	return ACCOUNT_NONE;
}

static int64_t now_ms(void)
{
	return clock_unix_now() * 1000;
}

static void hex(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A fresh random secret as hex: n bytes into out[2n + 1]. */
static int random_hex(size_t n, char *out)
{
	uint8_t bytes[32];
	int rc;

	if (n > sizeof(bytes))
		return err_set(DH_EINTERNAL, "random secret too long");
	if ((rc = crypto_random(bytes, n)) != 0)
		return rc;
	hex(bytes, n, out);
	return 0;
}

int account_hash_password(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
			  uint8_t out[ACCOUNT_HASH_BYTES])
{
	mbedtls_md_context_t md;
	int rc = 0;

	mbedtls_md_init(&md);
	if (mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1) != 0 ||
	    mbedtls_pkcs5_pbkdf2_hmac(&md, (const unsigned char *)password, strlen(password), salt, salt_len,
				      (unsigned)iterations, ACCOUNT_HASH_BYTES, out) != 0)
		rc = err_set(DH_EINTERNAL, "password hashing failed");
	mbedtls_md_free(&md);
	return rc;
}

int account_verify_password(const char *password, const char *salt_b64, int iterations, const char *hash_b64)
{
	uint8_t salt[64], want[64], got[ACCOUNT_HASH_BYTES];
	size_t salt_len = 0, want_len = 0;

	if (iterations < 1 || iterations > 10000000 ||
	    crypto_base64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt), &salt_len) != 0 ||
	    crypto_base64_decode(hash_b64, strlen(hash_b64), want, sizeof(want), &want_len) != 0 ||
	    want_len != ACCOUNT_HASH_BYTES)
		return 0;
	if (account_hash_password(password, salt, salt_len, iterations, got) != 0)
		return 0;
	return crypto_equal(got, want, ACCOUNT_HASH_BYTES);
}

/* Fills a's salt, iterations and hash for password. */
static int set_password(store_account *a, const char *password)
{
	uint8_t salt[ACCOUNT_SALT_BYTES], hash[ACCOUNT_HASH_BYTES];
	int rc;

	if (strlen(password) < ACCOUNT_PASSWORD_MIN || strlen(password) > ACCOUNT_PASSWORD_MAX)
		return err_set(DH_EINVAL, "a password needs %d to %d characters", ACCOUNT_PASSWORD_MIN,
			       ACCOUNT_PASSWORD_MAX);
	if ((rc = crypto_random(salt, sizeof(salt))) != 0 ||
	    (rc = account_hash_password(password, salt, sizeof(salt), ACCOUNT_PBKDF2_ITERATIONS, hash)) != 0)
		return rc;
	a->iterations = ACCOUNT_PBKDF2_ITERATIONS;
	if ((rc = crypto_base64_encode(salt, sizeof(salt), a->salt, sizeof(a->salt))) != 0)
		return rc;
	return crypto_base64_encode(hash, sizeof(hash), a->password_hash, sizeof(a->password_hash));
}

static int name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > STORE_ACCOUNT_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@-") != n)
		return err_set(DH_EINVAL, "an account name has 1 to %d letters, digits or . _ @ -",
			       STORE_ACCOUNT_NAME_MAX);
	return 0;
}

int account_init(const char *admin_password, char *generated, size_t n)
{
	store *s = store_thread();
	store_account a;
	char random_password[25];
	const char *password = admin_password;
	int count = 0, rc;

	generated[0] = '\0';
	if (!s)
		return DH_EIO;
	if ((rc = store_account_count(s, NULL, &count)) != 0 || count > 0)
		return rc;
	if (!password || !*password) {
		if ((rc = random_hex(12, random_password)) != 0)
			return rc;
		password = random_password;
	}
	memset(&a, 0, sizeof(a));
	snprintf(a.name, sizeof(a.name), "admin");
	snprintf(a.role, sizeof(a.role), "admin");
	clock_iso_now(a.created_time);
	if ((rc = set_password(&a, password)) != 0)
		return err_set(rc, "admin-password: %s", err_message());
	if ((rc = store_account_put(s, &a)) != 0)
		return rc;
	if (password == random_password)
		snprintf(generated, n, "%s", random_password);
	return 0;
}

/* ---- the failed-login limiter ---- */

#define THROTTLE_SLOTS 1024

typedef struct throttle_slot {
	char key[STORE_ACCOUNT_NAME_MAX + 8]; /* "n:<name>" or "a:<address>"; "" = free */
	int failures;
	int64_t window_start_ms;
} throttle_slot;

static pthread_mutex_t throttle_lock = PTHREAD_MUTEX_INITIALIZER;
static throttle_slot throttle[THROTTLE_SLOTS];

/* The slot of key, or NULL; with make, a new one in a free or expired slot, else in place of the one
 * whose window started first. Lock held. */
static throttle_slot *throttle_find(const char *kind, const char *value, int make, int64_t now)
{
	char key[sizeof(throttle[0].key)];
	throttle_slot *victim = NULL;
	int victim_stale = 0;

	snprintf(key, sizeof(key), "%s:%s", kind, value);
	for (int i = 0; i < THROTTLE_SLOTS; i++) {
		throttle_slot *t = &throttle[i];
		int stale = !t->key[0] || now - t->window_start_ms >= ACCOUNT_THROTTLE_WINDOW_MS;
		if (t->key[0] && strcmp(t->key, key) == 0) {
			if (stale) {
				t->failures = 0;
				t->window_start_ms = now;
			}
			return t;
		}
		if (!victim || (stale && !victim_stale) ||
		    (stale == victim_stale && t->window_start_ms < victim->window_start_ms)) {
			victim = t;
			victim_stale = stale;
		}
	}
	if (!make)
		return NULL;
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->failures = 0;
	victim->window_start_ms = now;
	return victim;
}

static int throttle_over(const throttle_slot *t, int limit, int64_t now, int *retry_after)
{
	int64_t left;

	if (!t || t->failures < limit)
		return 0;
	left = t->window_start_ms + ACCOUNT_THROTTLE_WINDOW_MS - now;
	*retry_after = (int)((left + 999) / 1000);
	if (*retry_after < 1)
		*retry_after = 1;
	return 1;
}

int account_throttle_check(const char *name, const char *from, int64_t now, int *retry_after)
{
	int over;

	pthread_mutex_lock(&throttle_lock);
	over = throttle_over(throttle_find("n", name, 0, now), ACCOUNT_THROTTLE_NAME, now, retry_after) ||
	       throttle_over(throttle_find("a", from, 0, now), ACCOUNT_THROTTLE_ADDRESS, now, retry_after);
	pthread_mutex_unlock(&throttle_lock);
	return over ? err_set(DH_ETHROTTLE, "too many failed logins; try again in %d seconds", *retry_after) : 0;
}

void account_throttle_fail(const char *name, const char *from, int64_t now)
{
	pthread_mutex_lock(&throttle_lock);
	throttle_find("n", name, 1, now)->failures++;
	throttle_find("a", from, 1, now)->failures++;
	pthread_mutex_unlock(&throttle_lock);
}

void account_throttle_success(const char *name)
{
	throttle_slot *t;

	pthread_mutex_lock(&throttle_lock);
	if ((t = throttle_find("n", name, 0, 0)) != NULL)
		t->key[0] = '\0';
	pthread_mutex_unlock(&throttle_lock);
}

void account_throttle_reset(void)
{
	pthread_mutex_lock(&throttle_lock);
	memset(throttle, 0, sizeof(throttle));
	pthread_mutex_unlock(&throttle_lock);
}

/* ---- sessions ---- */

static void token_hash(const char *token, char out[65])
{
	uint8_t digest[32];

	crypto_sha256(token, strlen(token), digest);
	hex(digest, sizeof(digest), out);
}

static void session_from_row(const store_op_session *row, account_session *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", row->account);
	out->role = account_role_parse(row->role);
	snprintf(out->csrf_token, sizeof(out->csrf_token), "%s", row->csrf_token);
	clock_iso_from_ms(row->expires_ms, out->expires_time);
	snprintf(out->token_hash, sizeof(out->token_hash), "%s", row->token_hash);
}

/* Writes a new session for account name. OUT: token[65], *out. */
static int start_session(store *s, const char *name, char token[65], account_session *out)
{
	store_op_session row;
	char now[CLOCK_ISO_LEN];
	int rc;

	memset(&row, 0, sizeof(row));
	if ((rc = random_hex(32, token)) != 0 || (rc = random_hex(24, row.csrf_token)) != 0)
		return rc;
	token_hash(token, row.token_hash);
	snprintf(row.account, sizeof(row.account), "%s", name);
	clock_iso_now(now);
	snprintf(row.created_time, sizeof(row.created_time), "%s", now);
	row.expires_ms = now_ms() + ACCOUNT_SESSION_TTL_MS;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_op_session_purge(s, now_ms())) != 0 || (rc = store_op_session_put(s, &row)) != 0 ||
	    (rc = store_account_touch_login(s, name, now)) != 0 ||
	    (rc = store_op_session_get(s, row.token_hash, &row)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		return rc;
	}
	session_from_row(&row, out);
	return 0;
}

int account_login(const char *name, const char *password, const char *from, char token[65], account_session *out,
		  int *retry_after)
{
	/* For unknown names: a salt and a 32-byte hash that no password produces in practice. */
	static const char dummy_salt[] = "c2FsdHNhbHRzYWx0c2FsdA==";
	static const char dummy_hash[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
	store *s = store_thread();
	store_account a;
	int rc, found, ok;

	*retry_after = 0;
	if (!s)
		return DH_EIO;
	if ((rc = account_throttle_check(name, from, now_ms(), retry_after)) != 0)
		return rc;
	found = name_ok(name) == 0 && store_account_get(s, name, &a) == 0;
	/* An unknown name costs the same hashing as a known one: timing does not tell which names exist. */
	ok = account_verify_password(password, found ? a.salt : dummy_salt,
				     found ? a.iterations : ACCOUNT_PBKDF2_ITERATIONS,
				     found ? a.password_hash : dummy_hash) &&
	     found;
	if (!ok) {
		account_throttle_fail(name, from, now_ms());
		return err_set(DH_EUNAUTH, "wrong account name or password");
	}
	account_throttle_success(name);
	return start_session(s, a.name, token, out);
}

int account_cookie_present(const char *cookie)
{
	return cookie && strstr(cookie, ACCOUNT_COOKIE "=") != NULL;
}

int account_cookie_token(const char *cookie, char out[65])
{
	const char *p = cookie;
	size_t name_len = strlen(ACCOUNT_COOKIE);

	while (p && *p) {
		p += strspn(p, " \t;,");
		if (strncmp(p, ACCOUNT_COOKIE, name_len) == 0 && p[name_len] == '=') {
			const char *v = p + name_len + 1;
			size_t n = strcspn(v, "; \t,");
			if (n != 64 || strspn(v, "0123456789abcdef") < 64)
				return -1;
			memcpy(out, v, 64);
			out[64] = '\0';
			return 0;
		}
		p = strchr(p, ';');
	}
	return -1;
}

int account_session_from_cookie(const char *cookie, account_session *out)
{
	store *s = store_thread();
	store_op_session row;
	char token[65], hash[65];
	int rc;

	if (!cookie || account_cookie_token(cookie, token) != 0)
		return err_set(DH_EUNAUTH, "not signed in");
	if (!s)
		return DH_EIO;
	token_hash(token, hash);
	if ((rc = store_op_session_get(s, hash, &row)) != 0)
		return rc == DH_EUNAUTH ? err_set(DH_EUNAUTH, "not signed in (the session ended)") : rc;
	if (row.expires_ms <= now_ms()) {
		store_op_session_delete(s, hash);
		return err_set(DH_EUNAUTH, "not signed in (the session expired)");
	}
	session_from_row(&row, out);
	return out->role == ACCOUNT_NONE ? err_set(DH_EUNAUTH, "the account has no valid role") : 0;
}

int account_csrf_ok(const account_session *s, const char *csrf)
{
	size_t n = strlen(s->csrf_token);

	return csrf && strlen(csrf) == n && n > 0 && crypto_equal(csrf, s->csrf_token, n);
}

int account_logout(const account_session *sess)
{
	store *s = store_thread();

	return s ? store_op_session_delete(s, sess->token_hash) : DH_EIO;
}

/* ---- accounts ---- */

static json_t *account_json(const store_account *a)
{
	return json_pack("{s:s, s:s, s:s, s:s?}", "name", a->name, "role", a->role, "createdTime", a->created_time,
			 "lastLoginTime", a->last_login_time[0] ? a->last_login_time : NULL);
}

static int add_account(const store_account *a, void *ctx)
{
	json_array_append_new(ctx, account_json(a));
	return 0;
}

int account_list(json_t **out)
{
	store *s = store_thread();
	json_t *list = json_array();
	int rc;

	*out = NULL;
	if (!s || (rc = store_begin_read(s)) != 0) {
		json_decref(list);
		return DH_EIO;
	}
	rc = store_account_each(s, add_account, list);
	store_rollback(s);
	if (rc)
		json_decref(list);
	else
		*out = list;
	return rc;
}

/* Refuses when removing name's admin role would leave no admin. Transaction open. */
static int keep_an_admin(store *s, const store_account *existing)
{
	int admins = 0, rc;

	if (strcmp(existing->role, "admin") != 0)
		return 0;
	if ((rc = store_account_count(s, "admin", &admins)) != 0)
		return rc;
	return admins <= 1 ? err_set(DH_ECONFLICT, "'%s' is the last admin account", existing->name) : 0;
}

int account_put(const char *name, const char *role, const char *password, json_t **out, int *created)
{
	store *s = store_thread();
	store_account fresh, existing;
	int rc;

	*out = NULL;
	*created = 0;
	if ((rc = name_ok(name)) != 0)
		return rc;
	if (account_role_parse(role) == ACCOUNT_NONE)
		return err_set(DH_EINVAL, "role must be viewer, operator or admin");
	memset(&fresh, 0, sizeof(fresh));
	if (password && (rc = set_password(&fresh, password)) != 0) /* slow: before the write lock */
		return rc;
	if (!s || (rc = store_begin_write(s)) != 0)
		return s ? rc : DH_EIO;
	rc = store_account_get(s, name, &existing);
	if (rc == DH_ENOROUTE) {
		*created = 1;
		err_clear();
		rc = password ? 0
			      : err_set(DH_EINVAL, "a new account needs a password of at least %d characters",
					ACCOUNT_PASSWORD_MIN);
		snprintf(fresh.name, sizeof(fresh.name), "%s", name);
		clock_iso_now(fresh.created_time);
	} else if (rc == 0) {
		if (strcmp(role, "admin") != 0)
			rc = keep_an_admin(s, &existing);
		if (!password) {
			snprintf(fresh.password_hash, sizeof(fresh.password_hash), "%s", existing.password_hash);
			snprintf(fresh.salt, sizeof(fresh.salt), "%s", existing.salt);
			fresh.iterations = existing.iterations;
		}
		snprintf(fresh.name, sizeof(fresh.name), "%s", existing.name);
		snprintf(fresh.created_time, sizeof(fresh.created_time), "%s", existing.created_time);
	}
	snprintf(fresh.role, sizeof(fresh.role), "%s", role);
	if (rc == 0 && (rc = store_account_put(s, &fresh)) == 0 && password && !*created)
		rc = store_op_session_delete_account(s, name, NULL);
	if (rc == 0 && (rc = store_account_get(s, name, &fresh)) == 0 && (rc = store_commit(s)) == 0)
		*out = account_json(&fresh);
	else
		store_rollback(s);
	return rc;
}

int account_delete(const char *name)
{
	store *s = store_thread();
	store_account existing;
	int rc;

	if (!s || (rc = store_begin_write(s)) != 0)
		return s ? rc : DH_EIO;
	if ((rc = store_account_get(s, name, &existing)) == 0 && (rc = keep_an_admin(s, &existing)) == 0 &&
	    (rc = store_op_session_delete_account(s, name, NULL)) == 0 && (rc = store_account_delete(s, name)) == 0)
		rc = store_commit(s);
	if (rc)
		store_rollback(s);
	return rc;
}

int account_set_password(const char *name, const char *current, const char *password, int by_admin,
			 const char *keep_hash)
{
	store *s = store_thread();
	store_account a;
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_account_get(s, name, &a)) != 0)
		return rc;
	if (!by_admin && (!current || !account_verify_password(current, a.salt, a.iterations, a.password_hash)))
		return err_set(DH_EUNAUTH, "the current password is wrong");
	if ((rc = set_password(&a, password)) != 0)
		return rc;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_account_put(s, &a)) == 0 && (rc = store_op_session_delete_account(s, name, keep_hash)) == 0)
		rc = store_commit(s);
	if (rc)
		store_rollback(s);
	return rc;
}
