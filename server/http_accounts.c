/* http_accounts: handlers of /devicehub/login, logout, session, accounts and audit. No SQL here. */
#include "http_accounts.h"

#include "account.h"
#include "audit.h"
#include "auth.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

/* A string member of the body, or NULL when absent; DH_EINVAL when present and not a string. */
static int string_member(const json_t *body, const char *name, int required, const char **out)
{
	const json_t *v = json_object_get(body, name);

	*out = json_string_value(v);
	if ((v && !json_is_string(v)) || (required && !*out))
		return err_set(DH_EINVAL, "%s must be a string", name);
	return 0;
}

/* hostName: the hub's HostName, for the connection strings the dashboard shows. */
static json_t *session_json(const account_session *s)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", s->name, "role", account_role_name(s->role), "csrfToken",
			 s->csrf_token, "expiresTime", s->expires_time, "hostName", auth_hub_hostname());
}

/* The session cookie: HttpOnly (no script reads it), SameSite=Strict (no other site sends it), Secure
 * over HTTPS. An empty token clears it. */
static void set_cookie(const http_request *req, http_response *res, const char *token)
{
	http_response_header(res, "Set-Cookie", ACCOUNT_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%lld%s",
			     token, *token ? (long long)(ACCOUNT_SESSION_TTL_MS / 1000) : 0LL,
			     http_request_is_tls(req) ? "; Secure" : "");
}

int http_login(const http_request *req, http_response *res)
{
	const char *name, *password;
	char from[64], token[65];
	account_session s;
	int retry_after = 0, rc;

	if ((rc = string_member(req->body, "name", 1, &name)) != 0 ||
	    (rc = string_member(req->body, "password", 1, &password)) != 0)
		return rc;
	http_peer_address(req, from, sizeof(from));
	rc = account_login(name, password, from, token, &s, &retry_after);
	if (rc == DH_ETHROTTLE)
		http_response_header(res, "Retry-After", "%d", retry_after);
	if (rc)
		return rc;
	http_request_set_who(req, s.name);
	set_cookie(req, res, token);
	http_response_header(res, "Cache-Control", "no-store");
	res->body = session_json(&s);
	return 0;
}

int http_logout(const http_request *req, http_response *res)
{
	int rc = account_logout(&http_request_caller(req)->session);

	set_cookie(req, res, "");
	res->status = 204;
	return rc;
}

int http_session_get(const http_request *req, http_response *res)
{
	http_response_header(res, "Cache-Control", "no-store");
	res->body = session_json(&http_request_caller(req)->session);
	return 0;
}

int http_account_list(const http_request *req, http_response *res)
{
	return account_list(&res->body);
}

/* segs: devicehub, accounts, {name} */
int http_account_put(const http_request *req, http_response *res)
{
	const char *role, *password;
	int created, rc;

	if (!json_is_object(req->body))
		return err_set(DH_EINVAL, "the body must be {\"role\", \"password\"?}");
	if ((rc = string_member(req->body, "role", 1, &role)) != 0 ||
	    (rc = string_member(req->body, "password", 0, &password)) != 0)
		return rc;
	return account_put(req->segs[2], role, password, &res->body, &created);
}

int http_account_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return account_delete(req->segs[2]);
}

/* segs: devicehub, accounts, {name}, password. One's own with the current password; an admin (session
 * or owner token) anyone's without. */
int http_account_password(const http_request *req, http_response *res)
{
	const http_caller *caller = http_request_caller(req);
	const char *name = req->segs[2], *current, *password;
	int own = caller->has_session && strcmp(caller->session.name, name) == 0;
	int by_admin = caller->has_session ? caller->session.role == ACCOUNT_ADMIN : 1; /* the gate checked Owner */
	int rc;

	if ((rc = string_member(req->body, "currentPassword", 0, &current)) != 0 ||
	    (rc = string_member(req->body, "password", 1, &password)) != 0)
		return rc;
	if (!own && !by_admin)
		return err_set(DH_EFORBIDDEN, "only an admin may set another account's password");
	/* One's own password needs the current one even for an admin: a stolen session cannot lock the owner out. */
	rc = account_set_password(name, current, password, by_admin && !own, own ? caller->session.token_hash : NULL);
	res->status = 204;
	return rc;
}

/* A query argument (decoded by the gate) copied into out[n]; NULL when absent. DH_EINVAL when too long. */
static int query_arg(const http_request *req, const char *name, char *out, size_t n, const char **value)
{
	const char *arg = http_query_arg(req, name);

	*value = NULL;
	if (!arg)
		return 0;
	if (strlen(arg) >= n)
		return err_set(DH_EINVAL, "%s is too long", name);
	memcpy(out, arg, strlen(arg) + 1);
	*value = out;
	return 0;
}

int http_audit_list(const http_request *req, http_response *res)
{
	char who[256], action[256], since[64], until[64], token[32], top_text[16];
	const char *who_v, *action_v, *since_v, *until_v, *token_v, *top;
	char *end = NULL;
	long n = 0;
	int rc;

	if ((rc = query_arg(req, "who", who, sizeof(who), &who_v)) != 0 ||
	    (rc = query_arg(req, "action", action, sizeof(action), &action_v)) != 0 ||
	    (rc = query_arg(req, "since", since, sizeof(since), &since_v)) != 0 ||
	    (rc = query_arg(req, "until", until, sizeof(until), &until_v)) != 0 ||
	    (rc = query_arg(req, "continuationToken", token, sizeof(token), &token_v)) != 0 ||
	    (rc = query_arg(req, "top", top_text, sizeof(top_text), &top)) != 0)
		return rc;
	if (top) {
		n = strtol(top, &end, 10);
		if (*end || n < 1 || n > AUDIT_LIST_MAX)
			return err_set(DH_EINVAL, "top must be 1 to %d", AUDIT_LIST_MAX);
	}
	return audit_list(who_v, action_v, since_v, until_v, (int)n, token_v, &res->body);
}
