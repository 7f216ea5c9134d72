/*
 * http_server: libmicrohttpd daemon and the single dispatch gate. Every request passes here: route
 * match, auth, body limit, content type and JSON parsing happen before any handler runs, and every error
 * leaves in IoT Hub's error shape. Must never hold SQL or domain rules.
 */
#include "http.h"

#include "account.h"
#include "audit.h"
#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "err.h"
#include "json_util.h"
#include "log.h"
#include "metrics.h"
#include "sas.h"
#include "store.h"
#include "url.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define HTTP_SEGMENT_MAX 512
#define HTTP_DEFAULT_LIMIT 4096   /* what a route that takes no body may carry before it is refused */

/* A daemon and the PEM texts it was started with (NULL for plain HTTP). */
typedef struct http_daemon {
	struct MHD_Daemon *daemon;
	char *cert_pem, *key_pem;
} http_daemon;

/* Touched by the thread that starts, reloads and stops the server only (main). */
struct http_server {
	struct MHD_Daemon *daemon;
	char *cert_pem, *key_pem;    /* HTTPS: what daemon serves with (owned); NULL for plain HTTP */
	int nthreads;
	/* After a certificate reload, the daemons that handed their listening socket over and still finish
	 * the connections they had (a parked direct-method call among them); stopped once they have none. */
	http_daemon *retired;
	size_t nretired;
	/* The redirect listener: where https:// lives. */
	char redirect_host[256];
	int https_port;
};

/* Per-request state, from the first call of the access handler to the completion callback. */
typedef struct http_ctx {
	buf body;
	size_t limit;
	int too_big;
	const http_route *route;   /* once matched: its pattern labels the request's metrics */
	double started;            /* metrics_now() at the access handler's first call */
	char seg_store[HTTP_MAX_SEGMENTS][HTTP_SEGMENT_MAX];
	/* A deferred answer: written by the finishing thread before it resumes the connection. */
	struct MHD_Connection *conn;
	int deferred;
	atomic_int finished;
	int answer_code;
	http_response answer;
	char answer_message[512];
	/* Who called (http_request_caller), from where, and whether a handler ran (the audit log records
	 * changes that reached one). scrub: a non-admin session, whose answers lose their keys. */
	http_caller caller;
	char from[64];
	int reached;
	int scrub;
	struct decoded_arg *decoded;   /* http_query_arg's decoded copies, freed with the request */
} http_ctx;

struct decoded_arg {
	struct decoded_arg *next;
	char text[];
};

static atomic_ullong http_request_counter;
/* Requests between the access handler's first call and their completion, on every daemon (retired ones
 * too), for http_server_drain; while draining, every answer closes its connection. */
static atomic_int http_in_flight;
static atomic_int http_draining;

/* The unescape callback leaves arguments as sent (it serves paths too, which split_path decodes per
 * segment), so they are decoded here, once per lookup, into memory the request owns. */
const char *http_query_arg(const http_request *req, const char *name)
{
	const char *raw = MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND, name);
	http_ctx *ctx = req->ctx;
	struct decoded_arg *d;
	size_t n;
	int len;

	if (!raw || !ctx || !strchr(raw, '%'))
		return raw;
	n = strlen(raw) + 1;
	if (!(d = malloc(sizeof(*d) + n)))
		return raw;
	len = url_decode(raw, n - 1, d->text, n);
	if (len < 0 || (size_t)len != strlen(d->text)) { /* a bad escape, or %00 */
		free(d);
		return raw;
	}
	d->next = ctx->decoded;
	ctx->decoded = d;
	return d->text;
}

const char *http_header(const http_request *req, const char *name)
{
	return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_HEADER_KIND, name);
}

int http_peer_address(const http_request *req, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info((struct MHD_Connection *)req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	snprintf(out, n, "unknown");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)n);
	return 0;
}

void http_response_header(http_response *res, const char *name, const char *fmt, ...)
{
	va_list ap;

	for (int i = 0; i < HTTP_MAX_HEADERS; i++) {
		if (res->headers[i].name)
			continue;
		res->headers[i].name = name;
		va_start(ap, fmt);
		vsnprintf(res->headers[i].value, sizeof(res->headers[i].value), fmt, ap);
		va_end(ap);
		return;
	}
}

/* Splits the raw path into decoded segments. A trailing slash is ignored (the SDK lists with
 * GET /devices/). Returns 0, or DH_EINVAL for bad escapes, NUL bytes or too many / too long segments. */
static int split_path(const char *url, http_ctx *ctx, http_request *req)
{
	const char *p = url;

	req->nsegs = 0;
	while (*p == '/')
		p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (req->nsegs == HTTP_MAX_SEGMENTS)
			return err_set(DH_ENOROUTE, "no resource at this path");
		char *dst = ctx->seg_store[req->nsegs];
		int len = url_decode(p, n, dst, HTTP_SEGMENT_MAX);
		if (len < 0 || (size_t)len != strlen(dst))
			return err_set(DH_EINVAL, "the path has a malformed or over-long segment");
		req->segs[req->nsegs++] = dst;
		p += n;
		if (*p == '/')
			p++;
	}
	return 0;
}

/* Matches req's segments against a pattern such as "/twins/{}/modules/{}". */
static int pattern_matches(const char *pattern, const http_request *req)
{
	const char *p = pattern;
	int i = 0;

	while (*p == '/')
		p++;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if (i >= req->nsegs)
			return 0;
		if (!(n == 2 && p[0] == '{' && p[1] == '}') &&
		    (strlen(req->segs[i]) != n || strncmp(req->segs[i], p, n) != 0))
			return 0;
		i++;
		p += n;
		if (*p == '/')
			p++;
	}
	return i == req->nsegs;
}

/* The route for method + path; DH_EMETHOD when the path exists with other methods. */
static int find_route(const char *method, const http_request *req, const http_route **out)
{
	int path_known = 0;

	for (const http_route *r = http_routes; r->method; r++) {
		if (!pattern_matches(r->pattern, req))
			continue;
		/* HEAD is GET without the body (libmicrohttpd leaves the body out), as RFC 9110 asks. */
		if (strcmp(r->method, method) == 0 || (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
			*out = r;
			return 0;
		}
		path_known = 1;
	}
	if (path_known)
		return err_set(DH_EMETHOD, "%s is not allowed on this resource", method);
	return err_set(DH_ENOROUTE, "no resource at this path");
}

/* Direct-method failures: IoT Hub nests its newer envelope, as a string, in Message (reference §1.0). */
static json_t *method_error_body(int code, const char *now, const char *tracking)
{
	err_http_info info = err_http(code);
	json_t *inner = json_pack("{s:i, s:s, s:s, s:{}, s:s}", "errorCode", info.number, "trackingId", tracking,
				  "message", *err_message() ? err_message() : info.name, "info", "timestampUtc", now);
	char *text = json_util_dump(inner);
	json_t *o = json_pack("{s:s, s:s}", "Message", text, "ExceptionMessage", "");

	free(text);
	json_decref(inner);
	return o;
}

/* IoT Hub's legacy error envelope, the one the SDKs parse (reference §1.0). */
static json_t *error_body(int code)
{
	err_http_info info = err_http(code);
	char now[CLOCK_ISO_LEN];
	buf msg = BUF_INIT, track = BUF_INIT;
	json_t *o;

	clock_iso_now(now);
	buf_printf(&track, "%016llx", (unsigned long long)atomic_fetch_add(&http_request_counter, 1));
	if (code == DH_EOFFLINE || code == DH_ETIMEOUT) {
		o = method_error_body(code, now, buf_cstr(&track));
		buf_release(&track);
		return o;
	}
	buf_printf(&msg, "ErrorCode:%s;%s", info.name, *err_message() ? err_message() : info.name);
	buf_printf(&track, "-G:0-TimeStamp:%s", now);
	o = json_pack("{s:s, s:s+}", "Message", buf_cstr(&msg), "ExceptionMessage", "Tracking ID:", buf_cstr(&track));
	buf_release(&msg);
	buf_release(&track);
	return o;
}

/* A streamed body handed to libmicrohttpd (http_response.stream_read). */
typedef struct http_stream {
	long (*read)(void *stream, char *dst, size_t max);
	void (*free)(void *stream);
	void *stream;
} http_stream;

static ssize_t stream_next(void *cls, uint64_t pos, char *dst, size_t max)
{
	http_stream *hs = cls;
	long n = hs->read(hs->stream, dst, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : (ssize_t)n;
}

static void stream_done(void *cls)
{
	http_stream *hs = cls;

	if (hs->free)
		hs->free(hs->stream);
	free(hs);
}

static enum MHD_Result send_response(struct MHD_Connection *c, http_response *res, int code)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	if (code) {
		err_http_info info = err_http(code);
		json_decref(res->body);
		res->body = error_body(code);
		res->status = info.status;
		if (res->raw_free)
			free((void *)res->raw);
		res->raw = NULL;
		if (res->send_file)
			close(res->file_fd);
		res->send_file = 0;
		if (res->stream_free && res->stream)
			res->stream_free(res->stream);
		res->stream_read = NULL;
	}
	if (res->stream_read) {
		/* libmicrohttpd owns the stream from here and frees it with the response (stream_done). */
		http_stream *hs = xmalloc(sizeof(*hs));
		hs->read = res->stream_read;
		hs->free = res->stream_free;
		hs->stream = res->stream;
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_next, hs, stream_done);
		if (!r) {
			stream_done(hs);
			return MHD_NO;
		}
		MHD_add_response_header(r, "Content-Type", res->content_type);
	} else if (res->send_file) {
		/* libmicrohttpd owns the fd from here (sendfile where it can) and closes it with the response. */
		r = MHD_create_response_from_fd_at_offset64(res->file_len, res->file_fd, res->file_offset);
		if (!r) {
			close(res->file_fd);
			return MHD_NO;
		}
		if (res->content_type) /* else the handler's headers[] carry it */
			MHD_add_response_header(r, "Content-Type", res->content_type);
	} else if (res->raw) {
		r = MHD_create_response_from_buffer(res->raw_len, (void *)res->raw,
						    res->raw_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Content-Type", res->content_type);
	} else {
		char *text = res->body ? json_util_dump(res->body) : NULL;
		r = MHD_create_response_from_buffer(text ? strlen(text) : 0, text ? text : (void *)"",
						    text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
		if (res->status != 304) /* a revalidated asset keeps the type the browser cached */
			MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	}
	if (code)
		MHD_add_response_header(r, "iothub-errorcode", err_http(code).name);
	/* RFC 6797: every HTTPS answer tells browsers to keep to HTTPS for a year; plain HTTP never says so. */
	if (MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION))
		MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
	if (res->etag[0]) {
		char quoted[48];
		snprintf(quoted, sizeof(quoted), "\"%s\"", res->etag);
		MHD_add_response_header(r, "ETag", quoted);
	}
	if (res->continuation && !code)
		MHD_add_response_header(r, "x-ms-continuation", res->continuation);
	if (res->item_type && !code)
		MHD_add_response_header(r, "x-ms-item-type", res->item_type);
	for (int i = 0; i < HTTP_MAX_HEADERS && res->headers[i].name; i++)
		MHD_add_response_header(r, res->headers[i].name, res->headers[i].value);
	if (atomic_load(&http_draining)) /* a keep-alive client reconnects, to a server that is up */
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ok = MHD_queue_response(c, (unsigned)res->status, r);
	MHD_destroy_response(r);
	return ok;
}

/* Strips W/ and quotes: the SDKs send If-Match: "*" and "<etag>". */
static const char *unquote_etag(const char *v, char *out, size_t n)
{
	size_t len;

	if (!v)
		return NULL;
	if (strncmp(v, "W/", 2) == 0)
		v += 2;
	len = strlen(v);
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	snprintf(out, n, "%.*s", (int)len, v);
	return out;
}

static int content_type_ok(const char *ct)
{
	return !ct || strncasecmp(ct, "application/json", 16) == 0;
}

/* Parses the body of a JSON route. */
static int take_body(http_ctx *ctx, const http_route *route, http_request *req)
{
	if (ctx->too_big)
		return err_set(DH_ETOOBIG, "the body exceeds %zu bytes", route->body_limit);
	if (route->flags & HTTP_RAW_BODY) {
		req->raw_body = ctx->body.data;
		req->raw_len = ctx->body.len;
		return 0;
	}
	if (!(route->flags & (HTTP_JSON_BODY | HTTP_JSON_OPTIONAL)))
		return 0;
	if ((route->flags & HTTP_JSON_OPTIONAL) && ctx->body.len == 0)
		return 0;
	if (!content_type_ok(http_header(req, "Content-Type")))
		return err_set(DH_EMEDIA, "the body must be application/json");
	if (ctx->body.len == 0)
		return err_set(DH_ENULL, "the request needs a JSON body");
	return json_util_parse(ctx->body.data, ctx->body.len, JSON_UTIL_MAX_DEPTH, &req->body);
}

account_role http_route_role(const http_route *r)
{
	if (r->flags & (HTTP_PUBLIC | HTTP_OWN_AUTH))
		return ACCOUNT_NONE;
	if (r->flags & HTTP_ADMIN)
		return ACCOUNT_ADMIN;
	if (r->flags & (HTTP_READS | HTTP_SESSION | HTTP_SELF))
		return ACCOUNT_VIEWER;
	if (r->right & (AUTH_REGISTRY_WRITE | AUTH_OWNER))
		return ACCOUNT_ADMIN;
	if (r->right & AUTH_REGISTRY_READ)
		return ACCOUNT_VIEWER;
	if (r->right & AUTH_SERVICE_CONNECT)
		return strcmp(r->method, "GET") == 0 ? ACCOUNT_VIEWER : ACCOUNT_OPERATOR;
	return ACCOUNT_ADMIN; /* any other right: nothing an operator session is meant to reach */
}

const http_caller *http_request_caller(const http_request *req)
{
	return &((http_ctx *)req->ctx)->caller;
}

void http_request_set_who(const http_request *req, const char *who)
{
	http_ctx *ctx = req->ctx;

	snprintf(ctx->caller.who, sizeof(ctx->caller.who), "%s", who);
}

int http_caller_may(const http_request *req, int right)
{
	const http_caller *caller = http_request_caller(req);
	const char *auth_value;

	if (caller->has_session)
		return caller->session.role >= ((right & (AUTH_REGISTRY_WRITE | AUTH_OWNER)) ? ACCOUNT_ADMIN : ACCOUNT_VIEWER);
	auth_value = http_header(req, "Authorization");
	return auth_check(auth_value, auth_value ? strlen(auth_value) : 0, right) == 0;
}

int http_request_is_tls(const http_request *req)
{
	return MHD_get_connection_info((struct MHD_Connection *)req->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION) != NULL;
}

/* The audit name of a token's signer: "policy:<skn>", "device:<id>" (a device or registration token),
 * else "anonymous". Only a name: whether the token is valid is auth's business. */
static void name_token_caller(http_caller *caller, const char *auth_value)
{
	sas_token t;
	const char *id;

	snprintf(caller->who, sizeof(caller->who), "anonymous");
	if (!auth_value || sas_parse(auth_value, strlen(auth_value), &t) != 0)
		return;
	if (t.skn[0]) {
		snprintf(caller->who, sizeof(caller->who), "policy:%.120s", t.skn);
		return;
	}
	if ((id = strstr(t.sr, "/devices/")) != NULL)
		id += strlen("/devices/");
	else if ((id = strstr(t.sr, "/registrations/")) != NULL)
		id += strlen("/registrations/");
	if (id)
		snprintf(caller->who, sizeof(caller->who), "device:%.*s", (int)strcspn(id, "/"), id);
}

static int changes_state(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
}

/* A signed-in session (dh_session cookie, no Authorization) for route: its role must reach the route's,
 * and a request that may change something must carry the session's CSRF token. */
static int authorize_session(const http_request *req, http_ctx *ctx, const http_route *route, const char *cookie)
{
	account_session *se = &ctx->caller.session;
	account_role need = http_route_role(route);
	int rc;

	if ((rc = account_session_from_cookie(cookie, se)) != 0)
		return rc;
	ctx->caller.has_session = 1;
	snprintf(ctx->caller.who, sizeof(ctx->caller.who), "%s", se->name);
	if (se->role < need)
		return err_set(DH_EFORBIDDEN, "this needs the %s role; account '%s' is %s", account_role_name(need),
			       se->name, account_role_name(se->role));
	if (changes_state(req->method) && !account_csrf_ok(se, http_header(req, "X-CSRF-Token")))
		return err_set(DH_EFORBIDDEN, "a signed-in request that may change something needs the X-CSRF-Token "
					      "header of the session");
	ctx->scrub = se->role < ACCOUNT_ADMIN;
	return 0;
}

/* Who may call route: a SAS token in Authorization exactly as always (the policy's rights); without
 * one, a dh_session cookie (authorize_session). Public and device-facing routes only get a name. */
static int authorize(const http_request *req, http_ctx *ctx, const http_route *route)
{
	const char *auth_value = http_header(req, "Authorization");
	const char *cookie = http_header(req, "Cookie");
	int rc;

	if (route->flags & (HTTP_PUBLIC | HTTP_OWN_AUTH)) {
		name_token_caller(&ctx->caller, auth_value);
		return 0;
	}
	if (!auth_value && account_cookie_present(cookie))
		return authorize_session(req, ctx, route, cookie);
	if (route->flags & HTTP_SESSION)
		return err_set(DH_EUNAUTH, "not signed in: this needs an account's session (POST /devicehub/login)");
	if ((rc = auth_check(auth_value, auth_value ? strlen(auth_value) : 0, route->right)) != 0)
		return rc;
	name_token_caller(&ctx->caller, auth_value);
	return 0;
}

/* Non-admin sessions read everything but keys: every member named primaryKey or secondaryKey, at any
 * depth, becomes null. */
static void scrub_keys(json_t *v)
{
	const char *name;
	json_t *member;
	void *tmp;
	size_t i;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, name, member) {
			if (strcmp(name, "primaryKey") == 0 || strcmp(name, "secondaryKey") == 0)
				json_object_set_new(v, name, json_null());
			else
				scrub_keys(member);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, member)
			scrub_keys(member);
	}
}

/* After an answer was queued: a change that reached a handler goes to the audit log. A POST that only
 * reads (HTTP_READS: queries, dry runs, event tickets) is no change; logging each would bury the changes
 * under the dashboard's queries. */
static void audit_answer(const http_ctx *ctx, const char *url, int status)
{
	if (ctx->reached && ctx->route && changes_state(ctx->route->method) && !(ctx->route->flags & HTTP_READS))
		audit_record(ctx->caller.who, ctx->route->method, ctx->route->pattern, url, status, ctx->from);
}

/* The gate: everything between the wire and a handler. */
static int dispatch(struct MHD_Connection *c, const char *url, const char *method, http_ctx *ctx,
		    http_response *res)
{
	http_request req;
	const http_route *route = NULL;
	char if_match[128];
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = method;
	req.conn = c;
	req.ctx = ctx;
	if ((rc = split_path(url, ctx, &req)) != 0 || (rc = find_route(method, &req, &route)) != 0)
		return rc;
	ctx->route = route;
	http_peer_address(&req, ctx->from, sizeof(ctx->from));
	if ((rc = authorize(&req, ctx, route)) != 0)
		return rc;
	if (ctx->body.len > (route->body_limit ? route->body_limit : HTTP_DEFAULT_LIMIT))
		ctx->too_big = 1;
	if ((rc = take_body(ctx, route, &req)) != 0)
		return rc;
	req.if_match = unquote_etag(http_header(&req, "If-Match"), if_match, sizeof(if_match));
	res->status = 200;
	ctx->reached = 1;
	rc = route->handler(&req, res);
	store_end_request(store_thread_if_open());
	json_decref(req.body);
	return rc;
}

/* Body limit while uploading: the route's own (unknown paths: the default), so the gate can refuse with
 * 413 afterwards without buffering an unbounded body, and one route's large limit (64 MB artifacts) is
 * not every route's. A raw-body route checks the caller first: a stranger cannot make it buffer. */
static size_t upload_limit(const char *url, const char *method, http_ctx *ctx, struct MHD_Connection *c)
{
	http_request req;
	const http_route *route = NULL;
	http_ctx probe;
	size_t limit = HTTP_DEFAULT_LIMIT;

	memset(&req, 0, sizeof(req));
	req.conn = c;
	req.method = method;
	if (split_path(url, ctx, &req) == 0 && find_route(method, &req, &route) == 0 && route->body_limit) {
		limit = route->body_limit;
		/* The same check as the gate's (CSRF included), on a scratch context: dispatch runs it again. */
		memset(&probe.caller, 0, sizeof(probe.caller));
		if ((route->flags & HTTP_RAW_BODY) && authorize(&req, &probe, route) != 0)
			limit = HTTP_DEFAULT_LIMIT;
	}
	err_clear();
	return limit;
}

http_deferred *http_defer(const http_request *req)
{
	http_ctx *ctx = req->ctx;

	ctx->conn = (struct MHD_Connection *)req->conn;
	ctx->deferred = 1;
	MHD_suspend_connection(ctx->conn);
	return (http_deferred *)ctx;
}

void http_deferred_finish(http_deferred *d, int code, int status, json_t *body)
{
	http_ctx *ctx = (http_ctx *)d;

	ctx->answer_code = code;
	ctx->answer.status = status;
	ctx->answer.body = body;
	snprintf(ctx->answer_message, sizeof(ctx->answer_message), "%s", code ? err_message() : "");
	atomic_store(&ctx->finished, 1);
	MHD_resume_connection(ctx->conn);
}

/* Counts an answered request by its route's pattern (not the raw path: bounded cardinality) and times it
 * from the first call of the access handler to the answer being queued. */
static void observe_request(const http_ctx *ctx, int status)
{
	const char *method = ctx->route ? ctx->route->method : "other";
	const char *pattern = ctx->route ? ctx->route->pattern : "unmatched";
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	metrics_count(METRIC_HTTP_REQUESTS, 1, method, pattern, code);
	metrics_observe(METRIC_HTTP_DURATION, metrics_now() - ctx->started, method, pattern);
}

/* The access handler's call after a resume: sends what http_deferred_finish left. */
static enum MHD_Result answer_deferred(struct MHD_Connection *c, const char *url, http_ctx *ctx)
{
	enum MHD_Result ok;

	if (!atomic_load(&ctx->finished))
		return MHD_YES; /* woken before the answer: wait for it */
	err_set(ctx->answer_code, "%s", ctx->answer_message);
	if (ctx->scrub)
		scrub_keys(ctx->answer.body);
	ok = send_response(c, &ctx->answer, ctx->answer_code);
	observe_request(ctx, ctx->answer.status);
	audit_answer(ctx, url, ctx->answer.status);
	json_decref(ctx->answer.body);
	ctx->answer.body = NULL;
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	http_ctx *ctx = *con_cls;
	http_response res;
	enum MHD_Result ok;
	int rc;

	/* First call: only set up. Queuing an answer here makes libmicrohttpd close the connection. */
	if (!ctx) {
		ctx = xcalloc(1, sizeof(*ctx));
		atomic_fetch_add(&http_in_flight, 1);
		ctx->started = metrics_now();
		ctx->limit = upload_limit(url, method, ctx, c);
		*con_cls = ctx;
		return MHD_YES;
	}
	if (*upload_size) {
		if (ctx->body.len + *upload_size > ctx->limit)
			ctx->too_big = 1;
		else
			buf_append(&ctx->body, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->deferred)
		return answer_deferred(c, url, ctx);
	memset(&res, 0, sizeof(res));
	err_clear();
	rc = dispatch(c, url, method, ctx, &res);
	if (rc == HTTP_DEFERRED) {
		json_decref(res.body);
		return MHD_YES;
	}
	if (rc && rc != DH_EBULK)
		log_debug("http: %s %s -> %d %s", method, url, err_http(rc).status, err_message());
	/* A bulk call with failed entries answers 400 with the per-device errors the handler built. */
	if (rc == DH_EBULK) {
		res.status = 400;
		rc = 0;
	}
	if (ctx->scrub && !rc)
		scrub_keys(res.body);
	ok = send_response(c, &res, rc);
	observe_request(ctx, res.status);
	audit_answer(ctx, url, res.status);
	json_decref(res.body);
	free(res.continuation);
	return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
	http_ctx *ctx = *con_cls;

	if (!ctx)
		return;
	atomic_fetch_sub(&http_in_flight, 1);
	buf_release(&ctx->body);
	while (ctx->decoded) {
		struct decoded_arg *next = ctx->decoded->next;
		free(ctx->decoded);
		ctx->decoded = next;
	}
	free(ctx);
	*con_cls = NULL;
}

/* Paths are decoded segment by segment in split_path, after splitting: decoding first would turn an
 * encoded '/' in a device id into a separator. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static int parse_addr(const char *addr, int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
		return err_set(DH_EINVAL, "http-addr '%s' is not an IPv4 address", addr);
	return 0;
}

/* Starts the REST daemon on sa, or on listen_fd when it is a socket handed over by a reload. With
 * cert_pem/key_pem (kept alive by the caller as long as the daemon) it speaks HTTPS only. */
static struct MHD_Daemon *start_daemon(int nthreads, const struct sockaddr_in *sa, int listen_fd,
				       const char *cert_pem, const char *key_pem)
{
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
		{MHD_OPTION_END, 0, NULL},
	};
	struct MHD_OptionItem where[] = {
		listen_fd >= 0 ? (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL}
			       : (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, (void *)sa},
		{MHD_OPTION_END, 0, NULL},
	};
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_TURBO |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC; /* ITC: MHD_quiesce_daemon needs it */

	if (cert_pem)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(
		flags, sa ? ntohs(sa->sin_port) : 0, NULL, NULL, on_request, NULL, MHD_OPTION_ARRAY, where,
		MHD_OPTION_ARRAY, cert_pem ? tls : tls + 2, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)nthreads,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
		MHD_OPTION_CONNECTION_LIMIT, 10000u, MHD_OPTION_END);
}

int http_server_start_tls(const char *addr, int port, int nthreads, const char *cert_pem, const char *key_pem,
			  http_server **out)
{
	struct sockaddr_in sa;
	http_server *srv;
	int rc;

	*out = NULL;
	if ((rc = parse_addr(addr, port, &sa)) != 0)
		return rc;
	srv = xcalloc(1, sizeof(*srv));
	srv->nthreads = nthreads;
	if (cert_pem) {
		srv->cert_pem = xstrdup(cert_pem);
		srv->key_pem = xstrdup(key_pem);
	}
	srv->daemon = start_daemon(nthreads, &sa, -1, srv->cert_pem, srv->key_pem);
	if (!srv->daemon) {
		http_server_stop(srv);
		return err_set(DH_EIO, "cannot listen on %s:%d%s", addr, port,
			       cert_pem ? " (or GnuTLS refused the certificate)" : "");
	}
	*out = srv;
	return 0;
}

int http_server_start(const char *addr, int port, int nthreads, http_server **out)
{
	return http_server_start_tls(addr, port, nthreads, NULL, NULL, out);
}

/* Stops the retired daemons whose connections have all ended (none can arrive: they have no socket). */
static void reap_retired(http_server *srv, int all)
{
	size_t kept = 0;

	for (size_t i = 0; i < srv->nretired; i++) {
		http_daemon *d = &srv->retired[i];
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(d->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!all && (!info || info->num_connections > 0)) {
			srv->retired[kept++] = *d;
			continue;
		}
		MHD_stop_daemon(d->daemon);
		free(d->cert_pem);
		free(d->key_pem);
	}
	srv->nretired = kept;
}

/* Moves the running daemon to the retired list and makes fresh (with its PEM copies, taken) current. */
static void retire_current(http_server *srv, struct MHD_Daemon *fresh, char *cert, char *key)
{
	srv->retired = xrealloc(srv->retired, (srv->nretired + 1) * sizeof(*srv->retired));
	srv->retired[srv->nretired++] = (http_daemon){srv->daemon, srv->cert_pem, srv->key_pem};
	srv->daemon = fresh;
	srv->cert_pem = cert;
	srv->key_pem = key;
}

int http_server_reload_tls(http_server *srv, const char *cert_pem, const char *key_pem)
{
	char *cert, *key;
	struct MHD_Daemon *fresh;
	MHD_socket fd;

	if (!srv->cert_pem)
		return err_set(DH_EINVAL, "the REST API does not serve HTTPS");
	reap_retired(srv, 0);
	/* The listening socket stays open throughout: connections arriving meanwhile wait in its backlog. */
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd == MHD_INVALID_SOCKET)
		return err_set(DH_EIO, "the REST daemon could not hand over its socket");
	cert = xstrdup(cert_pem);
	key = xstrdup(key_pem);
	if ((fresh = start_daemon(srv->nthreads, NULL, fd, cert, key)) != NULL) {
		retire_current(srv, fresh, cert, key);
		return 0;
	}
	/* GnuTLS refused what mbedtls accepted: go on serving the old pair on the same socket. */
	free(cert);
	free(key);
	cert = xstrdup(srv->cert_pem);
	key = xstrdup(srv->key_pem);
	if ((fresh = start_daemon(srv->nthreads, NULL, fd, cert, key)) != NULL) {
		retire_current(srv, fresh, cert, key);
		return err_set(DH_EINVAL, "GnuTLS refused the new certificate or key; the old pair stays in use");
	}
	free(cert);
	free(key);
	close(fd);
	return err_set(DH_EIO, "the REST API stopped listening after a certificate reload; restart devicehubd");
}

/* The redirect listener's Host: the name without its port, when it is a plausible host name. */
static const char *redirect_host(struct MHD_Connection *c, const http_server *srv, char *out, size_t n)
{
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
	size_t len;

	if (!host || !*host)
		return srv->redirect_host;
	len = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
	if (len >= n || len > strlen(host) || strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							  "0123456789.-[]:") < len)
		return srv->redirect_host;
	snprintf(out, n, "%.*s", (int)len, host);
	return out;
}

static enum MHD_Result append_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	buf *location = cls;

	buf_printf(location, "%c%s%s%s", strchr(buf_cstr(location), '?') ? '&' : '?', key, value ? "=" : "",
		   value ? value : "");
	return MHD_YES;
}

/* Every request on the redirect port: 308 to the same path and query on https:// (308 keeps the method
 * and body, so an API client's POST is repeated as a POST). */
static enum MHD_Result on_redirect(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				   const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
	http_server *srv = cls;
	struct MHD_Response *r;
	buf location = BUF_INIT;
	char host[256];
	enum MHD_Result ok;

	if (!*con_cls) { /* answered on the second call, so keep-alive works (see on_request) */
		*con_cls = srv;
		return MHD_YES;
	}
	if (*upload_size) { /* the body is not ours to read */
		*upload_size = 0;
		return MHD_YES;
	}
	buf_printf(&location, "https://%s:%d%s", redirect_host(c, srv, host, sizeof(host)), srv->https_port, url);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, append_arg, &location);
	r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Location", buf_cstr(&location));
	ok = MHD_queue_response(c, 308, r);
	MHD_destroy_response(r);
	buf_release(&location);
	return ok;
}

int http_redirect_start(const char *addr, int port, const char *hostname, int https_port, http_server **out)
{
	struct sockaddr_in sa;
	http_server *srv;
	int rc;

	*out = NULL;
	if ((rc = parse_addr(addr, port, &sa)) != 0)
		return rc;
	srv = xcalloc(1, sizeof(*srv));
	snprintf(srv->redirect_host, sizeof(srv->redirect_host), "%s", hostname);
	srv->https_port = https_port;
	srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL,
				       NULL, on_redirect, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				       MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
				       30u, MHD_OPTION_END);
	if (!srv->daemon) {
		free(srv);
		return err_set(DH_EIO, "cannot listen on %s:%d (http-redirect-port)", addr, port);
	}
	*out = srv;
	return 0;
}

int http_server_drain(http_server *srv, int timeout_ms)
{
	MHD_socket fd;
	int waited = 0, left;

	if (!srv || !srv->daemon)
		return 0;
	atomic_store(&http_draining, 1);
	/* Closed at once: new connections are refused (clients retry elsewhere or later) rather than left
	 * in a backlog that nobody accepts from. The daemon no longer polls the socket once quiesced. */
	fd = MHD_quiesce_daemon(srv->daemon);
	if (fd != MHD_INVALID_SOCKET)
		close(fd);
	while ((left = atomic_load(&http_in_flight)) > 0 && waited < timeout_ms) {
		usleep(20 * 1000);
		waited += 20;
	}
	if (left > 0)
		log_warn("http: %d requests still in flight after %d ms; stopping anyway", left, timeout_ms);
	return left;
}

void http_server_stop(http_server *srv)
{
	if (!srv)
		return;
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	reap_retired(srv, 1);
	free(srv->retired);
	free(srv->cert_pem);
	free(srv->key_pem);
	free(srv);
}
