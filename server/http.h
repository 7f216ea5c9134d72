/*
 * http: the REST edge on libmicrohttpd. http_server.c owns the daemon, request bodies and the one
 * dispatch gate (route match, auth, body limit, content type, JSON parsing, error bodies);
 * http_routes.c holds the route table and the handlers, which only translate between HTTP and the domain.
 */
#ifndef DH_HTTP_H
#define DH_HTTP_H

#include "account.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_SEGMENTS 8
#define HTTP_MAX_HEADERS 6

typedef struct http_request {
	const char *method;
	const char *segs[HTTP_MAX_SEGMENTS];     /* decoded path segments, owned by the request */
	int nsegs;
	json_t *body;                            /* parsed JSON body for routes that take one, else NULL */
	const char *raw_body;                    /* HTTP_RAW_BODY routes: the bytes as sent (owned by the gate) */
	size_t raw_len;
	const char *if_match;                    /* unquoted; NULL when absent */
	void *conn;                              /* struct MHD_Connection *, for http_query_arg */
	void *ctx;                               /* the gate's per-request state, for http_defer */
} http_request;

typedef struct http_response {
	int status;
	json_t *body;                 /* owned; NULL = empty body */
	const unsigned char *raw;     /* static body (dashboard assets) instead of JSON */
	size_t raw_len;
	const char *content_type;     /* for raw */
	int raw_free;                 /* raw is malloc'd (a rendered body): the gate frees it */
	char etag[40];                /* sent quoted when non-empty */
	char *continuation;           /* owned; x-ms-continuation when non-NULL */
	const char *item_type;        /* x-ms-item-type when non-NULL */
	/* A file instead of a body (artifact downloads): file_len bytes of file_fd from file_offset, sent
	 * without reading it into memory. The gate takes the fd and closes it whatever happens. Content-Type
	 * is content_type when set, else whatever headers[] carry. */
	int send_file;
	int file_fd;
	uint64_t file_offset, file_len;
	/* A body of unknown length produced while it is sent (exports), instead of body/raw/file:
	 * stream_read(stream, dst, max) is called from libmicrohttpd's thread until it returns 0 (end) or
	 * < 0 (the connection is cut); the gate calls stream_free(stream) exactly once whatever happens.
	 * Content-Type is content_type. */
	long (*stream_read)(void *stream, char *dst, size_t max);
	void (*stream_free)(void *stream);
	void *stream;
	/* Extra headers (Content-Range, Accept-Ranges, ...), sent with errors too (a 416 needs its
	 * Content-Range); a NULL name ends the list. */
	struct {
		const char *name;     /* static */
		char value[160];
	} headers[HTTP_MAX_HEADERS];
} http_response;

/* A handler translates one request to a domain call. Returns 0 with res filled, or a dh_err (message
 * through err_set) that the gate turns into IoT Hub's error body. */
typedef int (*http_handler)(const http_request *req, http_response *res);

enum http_route_flags {
	HTTP_JSON_BODY = 1,     /* the body must be JSON (parsed into req->body) */
	HTTP_PUBLIC = 2,        /* no Authorization needed */
	HTTP_RAW_BODY = 4,      /* the body is bytes of any content type (req->raw_body), not parsed */
	HTTP_OWN_AUTH = 8,      /* the handler checks Authorization itself (device tokens); right unused */
	/* Operator sessions (dh_session cookie; docs/accounts.md). The role a session needs comes from the
	 * row in one place, http_route_role(); these flags are its exceptions. */
	HTTP_READS = 16,        /* a POST that only reads (queries, dry runs): viewer is enough */
	HTTP_ADMIN = 32,        /* admin, whatever the right (accounts, audit, keys, ...) */
	HTTP_SESSION = 64,      /* a session is required (SAS tokens refused); any role */
	HTTP_SELF = 128,        /* any role; the handler checks further (one's own account, or an admin) */
	HTTP_JSON_OPTIONAL = 256, /* a body is optional; when there is one it must be JSON (req->body) */
};

typedef struct http_route {
	const char *method;
	const char *pattern;          /* "/twins/{}/modules/{}": {} matches one segment */
	http_handler handler;
	int right;                    /* auth_right bits needed */
	size_t body_limit;            /* bytes; 0 = no body accepted */
	int flags;
	const char *summary;          /* for the OpenAPI document */
} http_route;

/* The route table (http_routes.c), ended by a row with method NULL. */
extern const http_route http_routes[];

/* The least role an operator session needs for route r (ACCOUNT_NONE: public or device-facing, no
 * session check). The one place that decides it: HTTP_ADMIN → admin; HTTP_READS/SESSION/SELF → viewer;
 * RegistryWrite or Owner → admin; RegistryRead → viewer; ServiceConnect: GET → viewer, else operator. */
account_role http_route_role(const http_route *r);

/* Who is calling, as the gate established it. */
typedef struct http_caller {
	char who[160];              /* for the audit log: the account name, "policy:<name>", "device:<id>",
				     * or "anonymous" */
	int has_session;            /* 1: signed in with a dh_session cookie; session is set */
	account_session session;
} http_caller;

/* The caller of req (owned by the gate, valid during the handler). */
const http_caller *http_request_caller(const http_request *req);
/* Names the caller for the audit log when the gate could not (the login route: the account name). */
void http_request_set_who(const http_request *req, const char *who);
/* 1 when the caller holds right (a SAS token: auth_check; a session: an admin for RegistryWrite/Owner,
 * else any role) — for handlers whose need depends on arguments (exports with keys). */
int http_caller_may(const http_request *req, int right);
/* 1 when the request came over HTTPS. */
int http_request_is_tls(const http_request *req);

/* Adds a header to res (at most HTTP_MAX_HEADERS; later ones are dropped). name must be static. */
void http_response_header(http_response *res, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A URL query argument (e.g. "top") percent-decoded ('+' stays '+'; a malformed escape leaves the value
 * as sent), or NULL. Owned by the request. */
const char *http_query_arg(const http_request *req, const char *name);
/* A request header, or NULL. */
const char *http_header(const http_request *req, const char *name);
/* The client's IP address as text ("127.0.0.1", "::1"; "unknown" when MHD cannot tell) into out[n]. */
int http_peer_address(const http_request *req, char *out, size_t n);

/* Answers that come later (direct methods wait for a device without holding a worker thread): the
 * handler calls http_defer, hands the returned handle to whoever will answer, and returns HTTP_DEFERRED.
 * http_deferred_finish may be called from any thread, exactly once, even before the handler returns:
 * code 0 with status and body (taken), or an error code whose message is err_message() of the caller. */
#define HTTP_DEFERRED 1
typedef struct http_deferred http_deferred;
http_deferred *http_defer(const http_request *req);
void http_deferred_finish(http_deferred *d, int code, int status, json_t *body);

typedef struct http_server http_server;

/* Starts listening on addr:port with nthreads worker threads. OUT: *out. Returns 0 or DH_EIO. */
int http_server_start(const char *addr, int port, int nthreads, http_server **out);
/* The same over HTTPS only (GnuTLS): cert_pem (the certificate, then any intermediates) and key_pem are
 * PEM text, checked beforehand (tls_pair_check) and copied. Every answer carries
 * Strict-Transport-Security. OUT: *out. Returns 0, DH_EINVAL or DH_EIO. */
int http_server_start_tls(const char *addr, int port, int nthreads, const char *cert_pem, const char *key_pem,
			  http_server **out);
/* Serves new connections with a new certificate and key (copied) without closing the listening socket:
 * the running daemon hands its socket to a new one and keeps finishing the connections it has (parked
 * direct-method calls too) until they end. Call from the thread that started the server. Returns 0;
 * DH_EINVAL when the server is not HTTPS or GnuTLS refused the pair (the old one stays in use); DH_EIO
 * when no daemon listens any more (restart the process). */
int http_server_reload_tls(http_server *srv, const char *cert_pem, const char *key_pem);
/* A plain-HTTP listener on addr:port that answers every request with 308 to
 * https://<Host without port, else hostname>:<https_port><path and query>. Stopped by http_server_stop. */
int http_redirect_start(const char *addr, int port, const char *hostname, int https_port, http_server **out);
/* Graceful stop, first half: closes the listening socket (new connections are refused), makes every
 * later answer close its connection, and waits up to timeout_ms for the requests in flight (parked ones
 * too: their completions must still be able to run) to be answered. Returns how many were still in flight
 * (0: all answered). The server keeps running its connections; http_server_stop ends them. */
int http_server_drain(http_server *srv, int timeout_ms);
/* Stops accepting, finishes in-flight requests, frees the server. NULL is a no-op. */
void http_server_stop(http_server *srv);

/* The OpenAPI document generated from the route table. New reference. */
json_t *http_openapi(void);

#endif
