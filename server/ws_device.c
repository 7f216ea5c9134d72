/*
 * ws_device: the `devicehub.v1` WebSocket edge on libwebsockets.
 *
 * Threads: lws is not thread-safe, so one service thread owns the context and every wsi. The domain
 * reaches a connection through session_ops from any thread: the op encodes the message there, appends it
 * to the edge's locked inbox (edge_queue) and wakes the service thread (lws_cancel_service), which moves it
 * to the connection's outbound queue in LWS_CALLBACK_EVENT_WAIT_CANCELLED, found by its 64-bit conn id. A
 * late message for a closed connection finds no id and is dropped.
 *
 * Lifetimes: lws allocates and frees each connection's ws_conn (per-session data). We never close a
 * connection from outside its callbacks: closing marks it (close_code) and asks for a writeable callback,
 * where lws_close_reason() plus returning -1 lets lws free it after the callback returns.
 * LWS_CALLBACK_CLOSED is the one point that forgets a connection (map, session, queues).
 *
 * TLS (WSS): lws's vhost SSL_CTX asks every client for a certificate but requires none and trusts no CA:
 * a device that sends no Authorization is matched by its certificate's thumbprint (auth). A certificate
 * reload swaps the cert and key inside that SSL_CTX, and inside the SSL_CTX of every extension's own
 * listener (ws_device_ext.tls_context: the MQTT port), on the service thread; open connections keep theirs.
 */
#include "ws_device.h"

#include "auth.h"
#include "buf.h"
#include "connmap.h"
#include "device_msg.h"
#include "edge_queue.h"
#include "err.h"
#include "log.h"
#include "metrics.h"
#include "method.h"
#include "registry.h"
#include "session.h"
#include "twin.h"
#include "tls.h"
#include "twin_batch.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define FRAME_MAX (256 * 1024)     /* bigger messages close with 1009 */
#define OUTBOUND_MAX (1024 * 1024) /* a device that does not read this much is dropped (1008) */
#define RX_CHUNK 4096              /* lws's per-connection receive buffer */
#define PING_SECS 30               /* silence before the server pings */
#define HANGUP_SECS 90             /* silence (no frame, no pong) before 4008 */
#define CLOSE_SEND_SECS 5          /* a close that cannot be written in this time becomes a hangup */
#define STOP_GRACE_MS 2000
#define AUTH_TEXT_MAX 2048
#define URI_MAX 1024
#define CLOSE_REASON_MAX 64

/* Per-connection state: lws's per-session data, zeroed by lws; id 0 means not (or no longer) live. */
typedef struct ws_conn {
	struct lws *wsi;
	connmap_node node;  /* node.id: the conn id; 0 means not (or no longer) live */
	edge_outq out;      /* frames for lws_write, LWS_PRE headroom each */
	buf rx;             /* a fragmented message being assembled; unallocated otherwise */
	int64_t last_rx_ms; /* monotonic; frames and pongs */
	int64_t last_ping_ms;
	int close_code;      /* nonzero: close at the next writeable callback */
	unsigned opened : 1; /* session_open succeeded: session_closed is owed */
	unsigned ping_due : 1;
	char close_reason[CLOSE_REASON_MAX];
	char device_id[129];
	char module_id[129];
} ws_conn;

struct ws_device {
	struct lws_context *context;
	pthread_t thread;
	edge_inbox inbox; /* messages from other threads, drained in LWS_CALLBACK_EVENT_WAIT_CANCELLED */
	atomic_int stopping, drained, done;
	/* Service thread only (and the stopping thread once the service thread has ended). */
	int stop_seen;
	uint64_t next_id;
	connmap conns; /* conn id -> ws_conn (node) */
	uint64_t received[DEVICE_MSG_TYPE_COUNT], errors;
	lws_sorted_usec_list_t sweep;   /* the once-a-second keepalive sweep */
	/* WSS: the vhost's SSL_CTX (service thread, or the starting thread before the service thread runs)
	 * and a certificate pair waiting to replace its own (guarded by tls_lock). */
	SSL_CTX *ssl_ctx;
	pthread_mutex_t tls_lock;
	char *pending_cert, *pending_key;
	/* devicehub.v1 and the extensions' subprotocols (ws_device_ext), and the extensions themselves. */
	struct lws_protocols *protocols;
	const ws_device_ext *exts[WS_DEVICE_EXT_MAX];
	int nexts;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- outbound messages ---- */

/* A message for conn with lws_write's headroom; the caller appends the text. */
static edge_msg *outmsg_new(uint64_t conn)
{
	return edge_msg_new(conn, LWS_PRE);
}

/* ---- connection output (service thread) ---- */

/* Marks c for closing with code; the writeable callback does it. The first code wins. */
static void conn_close(ws_conn *c, int code, const char *reason)
{
	if (c->close_code)
		return;
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
	/* A peer that does not read would never let the close frame out: hang up after a while. */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_SEND_SECS);
	lws_callback_on_writable(c->wsi);
}

/* Appends m (taken) to c's outbound queue. */
static void conn_queue(ws_conn *c, edge_msg *m)
{
	if (c->close_code) {
		edge_msg_free_list(m);
		return;
	}
	if (edge_outq_push(&c->out, m, OUTBOUND_MAX)) {
		log_warn("device channel: %s%s%s reads too slowly; closing", c->device_id, *c->module_id ? "/" : "",
			 c->module_id);
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "outbound queue overflow");
		return;
	}
	lws_callback_on_writable(c->wsi);
}

static void conn_reply_error(ws_device *e, ws_conn *c, const json_t *rid, int code)
{
	err_http_info info = err_http(code);
	edge_msg *m = outmsg_new(c->node.id);

	e->errors++;
	metrics_count(METRIC_DEVICE_ERRORS, 1);
	device_msg_encode_error(&m->frame, rid, info.status, info.number, err_message());
	conn_queue(c, m);
}

/* Writes one queued message, a ping, or the close. Returns what the writeable callback returns. */
static int conn_writeable(ws_conn *c)
{
	unsigned char ping[LWS_PRE + 1];
	edge_msg *m;
	size_t len;

	if (c->close_code) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
				 strlen(c->close_reason));
		return -1;
	}
	if (c->ping_due) {
		c->ping_due = 0;
		if (lws_write(c->wsi, ping + LWS_PRE, 0, LWS_WRITE_PING) < 0)
			return -1;
	} else if ((m = edge_outq_pop(&c->out))) {
		len = edge_msg_body_len(m);
		int n = lws_write(c->wsi, (unsigned char *)edge_msg_body(m), len, LWS_WRITE_TEXT);
		edge_msg_free_list(m);
		metrics_count(METRIC_DEVICE_SENT, 1);
		if (n < (int)len)
			return -1;
	}
	if (edge_outq_peek(&c->out))
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* ---- the messages a device sends: one table ---- */

static int on_twin_get(ws_conn *c, const device_msg *msg)
{
	json_t *properties = NULL;
	int64_t desired_version, reported_version;
	int rc = twin_get_properties(c->device_id, c->module_id, msg->if_newer_than, &properties, &desired_version,
				     &reported_version);
	edge_msg *m;

	if (rc)
		return rc;
	m = outmsg_new(c->node.id);
	device_msg_encode_twin(&m->frame, msg->rid, properties ? 200 : 304, properties);
	json_decref(properties);
	conn_queue(c, m);
	return 0;
}

/* A reported patch waiting in twin_batch: its answer goes back through the inbox, like any other
 * message from another thread, to a connection that may have gone meanwhile. */
typedef struct reported_wait {
	ws_device *e;
	uint64_t conn;
	json_t *rid;
} reported_wait;

/* twin_batch's completion, on its writer thread, after the commit. */
static void reported_done(void *ctx, int code, int64_t version, const char *message)
{
	reported_wait *w = ctx;
	edge_msg *m = outmsg_new(w->conn);

	if (code) {
		err_http_info info = err_http(code);
		device_msg_encode_error(&m->frame, w->rid, info.status, info.number, message);
	} else {
		device_msg_encode_reported_ack(&m->frame, w->rid, version);
	}
	edge_inbox_push(&w->e->inbox, m);
	json_decref(w->rid);
	free(w);
}

/* Writes are batched on twin_batch's thread, so this service thread never waits on the database. */
static int on_reported_patch(ws_conn *c, const device_msg *msg)
{
	reported_wait *w = xcalloc(1, sizeof(*w));

	w->e = lws_context_user(lws_get_context(c->wsi));
	w->conn = c->node.id;
	w->rid = msg->rid ? json_incref((json_t *)msg->rid) : NULL;
	twin_batch_submit(c->device_id, c->module_id, json_incref((json_t *)msg->body), reported_done, w);
	return 0;
}

static int on_method_response(ws_conn *c, const device_msg *msg)
{
	char rid[DEVICE_MSG_RID_MAX + 1];
	json_t *payload = msg->payload ? json_incref((json_t *)msg->payload) : json_null();

	device_msg_rid_text(msg, rid);
	method_response(c->device_id, c->module_id, rid, msg->status, payload);
	return 0;
}

static int (*const message_handlers[DEVICE_MSG_TYPE_COUNT])(ws_conn *, const device_msg *) = {
    [DEVICE_MSG_TWIN_GET] = on_twin_get,
    [DEVICE_MSG_REPORTED_PATCH] = on_reported_patch,
    [DEVICE_MSG_METHOD_RESPONSE] = on_method_response,
};

/* The one gate for a complete frame: parse, dispatch, and turn any error into an `error` reply. Errors
 * never close the connection. */
static void conn_handle_frame(ws_device *e, ws_conn *c, const char *text, size_t len)
{
	device_msg msg;
	int rc;

	session_activity(c->device_id, c->module_id);
	err_clear();
	rc = device_msg_parse(text, len, &msg);
	if (rc == 0) {
		e->received[msg.type]++;
		metrics_count(METRIC_DEVICE_RECEIVED, 1, device_msg_type_name(msg.type));
		rc = message_handlers[msg.type](c, &msg);
	} else {
		metrics_count(METRIC_DEVICE_RECEIVED, 1, "invalid");
	}
	if (rc)
		conn_reply_error(e, c, msg.rid, rc);
	device_msg_release(&msg);
}

static void conn_receive(ws_device *e, ws_conn *c, const char *in, size_t len)
{
	int complete = lws_is_final_fragment(c->wsi) && lws_remaining_packet_payload(c->wsi) == 0;

	if (c->close_code)
		return; /* closing: the rest is not read */
	c->last_rx_ms = now_ms();
	if (c->rx.len == 0 && complete) {
		conn_handle_frame(e, c, in, len); /* the common case: no copy */
		return;
	}
	if (c->rx.len + len > FRAME_MAX) {
		buf_release(&c->rx);
		conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message exceeds 256 KB");
		return;
	}
	buf_append(&c->rx, in, len);
	if (complete) {
		conn_handle_frame(e, c, c->rx.data, c->rx.len);
		buf_release(&c->rx);
	}
}

/* ---- session_ops: any thread ---- */

/* edge_inbox's wake function: the service thread drains the inbox in LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
static void inbox_wake(void *arg)
{
	ws_device *e = arg;

	lws_cancel_service(e->context);
}

static void op_deliver_desired(void *edge, uint64_t conn, const json_t *patch, int64_t version)
{
	ws_device *e = edge;
	edge_msg *m = outmsg_new(conn);

	device_msg_encode_desired_patch(&m->frame, patch, version);
	edge_inbox_push(&e->inbox, m);
}

static void op_deliver_method(void *edge, uint64_t conn, const char *rid, const char *name, const json_t *payload)
{
	ws_device *e = edge;
	edge_msg *m = outmsg_new(conn);

	device_msg_encode_method_request(&m->frame, rid, name, payload);
	edge_inbox_push(&e->inbox, m);
}

static void op_close(void *edge, uint64_t conn, int code, const char *reason)
{
	ws_device *e = edge;

	edge_inbox_push(&e->inbox, edge_msg_new_close(conn, LWS_PRE, code, reason));
}

static const session_ops device_session_ops = {
    .deliver_desired = op_deliver_desired,
    .deliver_method = op_deliver_method,
    .close = op_close,
};

/* ---- service thread: inbox, stop, keepalive ---- */

static void close_all(ws_device *e, int code, const char *reason)
{
	connmap_for_each(c, ws_conn, node, &e->conns)
		conn_close(c, code, reason);
}

/* edge_inbox_drain's route: m (taken) for the live connection node. */
static void inbox_route(void *arg, connmap_node *node, edge_msg *m)
{
	ws_conn *c = connmap_entry(node, ws_conn, node);

	(void)arg;
	if (m->close) {
		conn_close(c, m->close_code, edge_msg_body(m));
		edge_msg_free_list(m);
	} else {
		conn_queue(c, m);
	}
}

static void drain_inbox(ws_device *e)
{
	edge_inbox_drain(&e->inbox, &e->conns, inbox_route, e);
	if (atomic_load(&e->stopping) && !e->stop_seen) {
		e->stop_seen = 1;
		close_all(e, SESSION_CLOSE_SHUTDOWN, "server shutting down");
		if (connmap_count(&e->conns) == 0)
			atomic_store(&e->drained, 1);
	}
}

static void conn_keepalive(ws_conn *c, int64_t now)
{
	int64_t idle = now - c->last_rx_ms;

	if (idle >= HANGUP_SECS * 1000) {
		conn_close(c, SESSION_CLOSE_KEEPALIVE, "keepalive timeout");
		return;
	}
	if (idle >= PING_SECS * 1000 && now - c->last_ping_ms >= PING_SECS * 1000) {
		c->last_ping_ms = now;
		c->ping_due = 1;
		lws_callback_on_writable(c->wsi);
	}
}

/* One timer for all connections, once a second: libwebsockets 4.1 keeps timers in one sorted list, so a
 * timer per connection made every re-arm walk all of them (a quarter of the server's CPU at 10k devices). */
static void sweep_keepalive(lws_sorted_usec_list_t *sul)
{
	ws_device *e = lws_container_of(sul, ws_device, sweep);
	int64_t now = now_ms();

	connmap_for_each(c, ws_conn, node, &e->conns)
		if (!c->close_code)
			conn_keepalive(c, now);
	lws_sul_schedule(e->context, 0, &e->sweep, sweep_keepalive, LWS_US_PER_SEC);
}

/* ---- handshake ---- */

/* The identity a connect path names, percent-decoded (lws decodes the path itself) and checked. */
static int handshake_identity(struct lws *wsi, char device_id[129], char module_id[129])
{
	char uri[URI_MAX];
	int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);

	if (n <= 0)
		return err_set(DH_EINVAL, "no GET path");
	if (device_msg_parse_path(uri, (size_t)n, 0, device_id, module_id))
		return DH_EINVAL;
	if (!registry_id_valid(device_id) || (*module_id && !registry_id_valid(module_id)))
		return err_set(DH_EINVAL, "the connect path names an invalid id");
	return 0;
}

/* 1 when the client offered the devicehub.v1 subprotocol. */
static int offers_protocol(struct lws *wsi)
{
	char list[256];
	int n = lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL);
	const size_t plen = strlen(DEVICE_MSG_PROTOCOL);

	for (char *p = list; n > 0 && *p;) {
		size_t tok;
		p += strspn(p, " \t,");
		tok = strcspn(p, " \t,");
		if (tok == plen && strncmp(p, DEVICE_MSG_PROTOCOL, plen) == 0)
			return 1;
		p += tok;
	}
	return 0;
}

int ws_device_peer_thumbprints(struct lws *wsi, char sha1[TLS_SHA1_HEX], char sha256[TLS_SHA256_HEX])
{
	SSL *ssl = lws_get_ssl(wsi);
	X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
	unsigned char *der = NULL;
	int len = cert ? i2d_X509(cert, &der) : -1;

	if (len > 0)
		tls_thumbprints(der, (size_t)len, sha1, sha256);
	OPENSSL_free(der);
	X509_free(cert);
	return len > 0 ? 0 : -1;
}

static int handshake_auth(struct lws *wsi, const char *device_id, const char *module_id)
{
	char text[AUTH_TEXT_MAX], sha1[TLS_SHA1_HEX], sha256[TLS_SHA256_HEX];
	const char *token = text;
	int n = lws_hdr_copy(wsi, text, sizeof(text), WSI_TOKEN_HTTP_AUTHORIZATION);

	if (n <= 0) {
		/* Browsers cannot set headers: ?authorization=<the same text, URL-encoded>; lws decodes it. */
		token = lws_get_urlarg_by_name(wsi, "authorization=", text, sizeof(text));
		/* No token: a client certificate (WSS) is the device's credential, matched by thumbprint. */
		if (!token && ws_device_peer_thumbprints(wsi, sha1, sha256) == 0)
			return auth_check_device_x509(device_id, module_id, sha1, sha256);
		if (!token)
			return err_set(DH_EUNAUTH,
				       "no Authorization header, authorization query parameter or client certificate");
		n = (int)strlen(token);
	}
	return auth_check_device(token, (size_t)n, device_id, module_id);
}

/* Refuses the upgrade with an HTTP status; nothing else happens (no session, no state change). */
static int refuse(struct lws *wsi, unsigned int status, const char *why)
{
	log_debug("device channel: upgrade refused with %u: %s", status, why);
	if (lws_return_http_status(wsi, status, NULL))
		return -1;
	return 1; /* lws completes the HTTP transaction */
}

/* The extension whose path the upgrade asks for (query arguments aside), or NULL. */
static const ws_device_ext *ext_for_path(const ws_device *e, struct lws *wsi)
{
	char uri[URI_MAX];
	int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);

	for (int i = 0; n > 0 && i < e->nexts; i++)
		if (e->exts[i]->path && strcmp(uri, e->exts[i]->path) == 0)
			return e->exts[i];
	return NULL;
}

static int on_confirm_upgrade(ws_device *e, struct lws *wsi, const char *upgrade)
{
	char device_id[129], module_id[129];
	const ws_device_ext *ext;
	unsigned int status;
	int rc;

	if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
		return refuse(wsi, HTTP_STATUS_BAD_REQUEST, "not a WebSocket upgrade");
	if (atomic_load(&e->stopping))
		return refuse(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, "shutting down");
	if ((ext = ext_for_path(e, wsi)) != NULL) {
		/* The extension authenticates here, or (NULL) inside its own protocol. */
		err_clear();
		status = ext->confirm_upgrade ? ext->confirm_upgrade(ext->arg, wsi) : 0;
		return status ? refuse(wsi, status, err_message()) : 0;
	}
	if (!offers_protocol(wsi))
		return refuse(wsi, HTTP_STATUS_BAD_REQUEST, "subprotocol devicehub.v1 not offered");
	if (handshake_identity(wsi, device_id, module_id))
		return refuse(wsi, HTTP_STATUS_NOT_FOUND, err_message());
	rc = handshake_auth(wsi, device_id, module_id);
	if (rc)
		return refuse(wsi,
			      err_http(rc).status == 401 ? HTTP_STATUS_UNAUTHORIZED : (unsigned)err_http(rc).status,
			      err_message());
	return 0;
}

static void on_established(ws_device *e, struct lws *wsi, ws_conn *c)
{
	int64_t desired_version = 0, reported_version = 0;
	json_t *none = NULL;
	edge_msg *hello;
	int rc;

	c->wsi = wsi;
	c->node.id = ++e->next_id;
	c->last_rx_ms = now_ms();
	c->last_ping_ms = c->last_rx_ms;
	connmap_insert(&e->conns, &c->node);
	rc = session_open(c->device_id, c->module_id, &device_session_ops, e, c->node.id);
	if (rc) {
		log_warn("device channel: session for %s could not open: %s", c->device_id, err_message());
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "session could not open");
		return;
	}
	c->opened = 1;
	metrics_count(METRIC_DEVICE_CONNECTIONS, 1);
	/* Versions are read after session_open, so a desired change made after the read is pushed too. */
	rc = twin_get_properties(c->device_id, c->module_id, INT64_MAX, &none, &desired_version, &reported_version);
	json_decref(none);
	if (rc) {
		conn_close(c,
			   rc == DH_ENODEVICE || rc == DH_ENOMODULE ? SESSION_CLOSE_REVOKED
								    : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
			   "twin unavailable");
		return;
	}
	hello = outmsg_new(c->node.id);
	device_msg_encode_hello(&hello->frame, c->device_id, c->module_id, desired_version, reported_version);
	conn_queue(c, hello);
	log_debug("device channel: %s%s%s connected (conn %llu)", c->device_id, *c->module_id ? "/" : "", c->module_id,
		  (unsigned long long)c->node.id);
}

static void on_closed(ws_device *e, ws_conn *c)
{
	if (!c || !c->node.id)
		return;
	connmap_remove(&e->conns, &c->node);
	if (c->opened)
		session_closed(c->device_id, c->module_id, c->node.id);
	edge_outq_release(&c->out);
	buf_release(&c->rx);
	log_debug("device channel: %s%s%s disconnected (conn %llu)", c->device_id, *c->module_id ? "/" : "",
		  c->module_id, (unsigned long long)c->node.id);
	c->node.id = 0;
	if (atomic_load(&e->stopping) && connmap_count(&e->conns) == 0)
		atomic_store(&e->drained, 1);
}

/* ---- TLS ---- */

/* OpenSSL's verdict on a client certificate, in lws's convention (0 = accept). Device certificates are
 * mostly self-signed and chain to no CA we hold: the registered thumbprint is their trust, checked at
 * the upgrade, so only a certificate outside its validity period is refused here. */
static int verify_client_cert(X509_STORE_CTX *chain_ctx)
{
	int err = X509_STORE_CTX_get_error(chain_ctx);

	return err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID;
}

/* Puts PEM cert (chain) and key into ctx for connections accepted from now on. 0 or -1. */
static int ssl_ctx_replace(SSL_CTX *ctx, const char *cert_pem, const char *key_pem)
{
	BIO *cert_bio = BIO_new_mem_buf(cert_pem, -1), *key_bio = BIO_new_mem_buf(key_pem, -1);
	X509 *leaf = cert_bio ? PEM_read_bio_X509(cert_bio, NULL, NULL, NULL) : NULL;
	EVP_PKEY *key = key_bio ? PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL) : NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509 *extra;
	int ok = 0;

	while (leaf && chain && (extra = PEM_read_bio_X509(cert_bio, NULL, NULL, NULL)) != NULL)
		sk_X509_push(chain, extra);
	ERR_clear_error(); /* the end of the chain reads as an error */
	/* One call replaces certificate, key and chain together, after checking that they match. */
	if (leaf && key && chain)
		ok = SSL_CTX_use_cert_and_key(ctx, leaf, key, chain, 1) == 1;
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(key_bio);
	BIO_free(cert_bio);
	return ok ? 0 : -1;
}

/* Puts the pair in ctx (NULL: nothing to do) and logs the outcome for the listener named what. */
static void tls_replace_logged(SSL_CTX *ctx, const char *what, const char *cert_pem, const char *key_pem)
{
	if (!ctx)
		return;
	if (ssl_ctx_replace(ctx, cert_pem, key_pem) == 0)
		log_info("%s: new TLS certificate in use for new connections", what);
	else
		log_error("%s: OpenSSL refused the new certificate or key; the old pair stays in use", what);
}

/* Service thread: installs a pair that ws_device_reload_tls left, in the device port's SSL_CTX and in
 * each extension's own listener's (IoT Hub's MQTT port). */
static void apply_pending_tls(ws_device *e)
{
	char *cert, *key;

	pthread_mutex_lock(&e->tls_lock);
	cert = e->pending_cert;
	key = e->pending_key;
	e->pending_cert = e->pending_key = NULL;
	pthread_mutex_unlock(&e->tls_lock);
	if (!cert)
		return;
	tls_replace_logged(e->ssl_ctx, "device channel", cert, key);
	for (int i = 0; i < e->nexts; i++) {
		const ws_device_ext *x = e->exts[i];
		SSL_CTX *ctx = x->tls_context ? x->tls_context(x->arg) : NULL;

		if (ctx != e->ssl_ctx) /* lws could share one between vhosts: swap it once */
			tls_replace_logged(ctx, x->protocols[0].name ? x->protocols[0].name : "extension", cert, key);
	}
	free(cert);
	OPENSSL_cleanse(key, strlen(key));
	free(key);
}

static int device_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	ws_device *e = wsi ? lws_context_user(lws_get_context(wsi)) : NULL;
	ws_conn *c = user;
	int one = 1;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		if (e)
			e->ssl_ctx = user; /* at vhost creation, before the service thread starts */
		return 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		return verify_client_cert(user);
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* Nagle plus delayed ACK turns a request/response into 40 ms. */
		setsockopt(((struct lws_filter_network_conn_args *)user)->accept_fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return on_confirm_upgrade(e, wsi, in);
	case LWS_CALLBACK_HTTP:
		/* Not an upgrade: this port speaks WebSocket only. */
		if (lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* Checked already in HTTP_CONFIRM_UPGRADE; the per-session data exists only now. */
		return handshake_identity(wsi, c->device_id, c->module_id) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		on_established(e, wsi, c);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		conn_receive(e, c, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		c->last_rx_ms = now_ms();
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c && c->node.id ? conn_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		on_closed(e, c);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (e) {
			drain_inbox(e);
			apply_pending_tls(e);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols device_protocol = {DEVICE_MSG_PROTOCOL, device_callback, sizeof(ws_conn),
						      RX_CHUNK, 0, NULL, 0};

/* devicehub.v1 first (it gets the HTTP callbacks), then the extensions', then the terminator. */
static struct lws_protocols *protocols_new(const ws_device *e)
{
	size_t n = 0, at = 1;
	struct lws_protocols *list;

	for (int x = 0; x < e->nexts; x++)
		for (size_t i = 0; e->exts[x]->protocols[i].name; i++)
			n++;
	list = xcalloc(n + 2, sizeof(*list));
	list[0] = device_protocol;
	for (int x = 0; x < e->nexts; x++)
		for (size_t i = 0; e->exts[x]->protocols[i].name; i++)
			list[at++] = e->exts[x]->protocols[i];
	return list;
}

/* ---- start and stop ---- */

static void lws_log_line(int level, const char *line)
{
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (level & LLL_ERR)
		log_warn("libwebsockets: %.*s", (int)n, line);
	else
		log_debug("libwebsockets: %.*s", (int)n, line);
}

/* Raises the soft open-file limit to the hard one. Returns the limit now in force. */
static unsigned int raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur > 1000000 ? 1000000 : (unsigned int)rl.rlim_cur;
}

static void *service_main(void *arg)
{
	ws_device *e = arg;

	while (!atomic_load(&e->done))
		if (lws_service(e->context, 0) < 0)
			break;
	return NULL;
}

int ws_device_start(const char *addr, int port, ws_device **out)
{
	return ws_device_start_tls(addr, port, NULL, NULL, out);
}

int ws_device_start_tls(const char *addr, int port, const char *cert_path, const char *key_path, ws_device **out)
{
	return ws_device_start_ext(addr, port, cert_path, key_path, NULL, out);
}

int ws_device_start_ext(const char *addr, int port, const char *cert_path, const char *key_path,
			const ws_device_ext *const *exts, ws_device **out)
{
	struct lws_context_creation_info info;
	struct in_addr v4;
	ws_device *e = xcalloc(1, sizeof(*e));
	int rc = 0;

	*out = NULL;
	edge_inbox_init(&e->inbox, inbox_wake, e);
	pthread_mutex_init(&e->tls_lock, NULL);
	connmap_init(&e->conns);
	lws_set_log_level(LLL_ERR, lws_log_line);

	memset(&info, 0, sizeof(info));
	info.port = port;
	info.iface = addr && *addr && strcmp(addr, "0.0.0.0") != 0 ? addr : NULL;
	for (int i = 0; exts && exts[i]; i++) {
		if (e->nexts == WS_DEVICE_EXT_MAX) {
			rc = err_set(DH_EINTERNAL, "device channel: more than %d extensions", WS_DEVICE_EXT_MAX);
			goto fail;
		}
		e->exts[e->nexts++] = exts[i];
	}
	e->protocols = protocols_new(e);
	info.protocols = e->protocols;
	info.user = e;
	info.gid = -1;
	info.uid = -1;
	info.count_threads = 1;
	info.fd_limit_per_thread = raise_fd_limit();
	info.max_http_header_data = 4096;
	info.max_http_header_pool = 64;
	info.timeout_secs = 10;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
	if (cert_path) {
		info.ssl_cert_filepath = cert_path;
		info.ssl_private_key_filepath = key_path;
		/* Ask every client for a certificate (X.509 devices) but require none (SAS devices), and let
		 * verify_client_cert decide instead of a CA. */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
				LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
				LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
	}
	/* With IPv6 on, lws binds an IPv4 address as [::] (every address): keep an IPv4 listener IPv4. */
	if (addr && inet_pton(AF_INET, addr, &v4) == 1)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	/* lws listens with SOMAXCONN (4096; the kernel caps it at net.core.somaxconn): connect storms fit. */
	e->context = lws_create_context(&info);
	if (!e->context) {
		rc = err_set(DH_EIO, "device channel: cannot listen on %s:%d%s", addr ? addr : "*", port,
			     cert_path ? " (or OpenSSL refused the certificate)" : "");
		goto fail;
	}
	if (cert_path && !e->ssl_ctx) {
		rc = err_set(DH_EINTERNAL, "device channel: libwebsockets did not expose its TLS context");
		goto fail;
	}
	for (int i = 0; i < e->nexts; i++)
		if (e->exts[i]->attach && (rc = e->exts[i]->attach(e->exts[i]->arg, e->context)) != 0)
			goto fail;
	/* Scheduled before the service thread exists, so no other thread touches lws's timer list. */
	lws_sul_schedule(e->context, 0, &e->sweep, sweep_keepalive, LWS_US_PER_SEC);
	if (pthread_create(&e->thread, NULL, service_main, e) != 0) {
		rc = err_set(DH_EIO, "device channel: cannot start its thread");
		goto fail;
	}
	*out = e;
	return 0;

fail:
	if (e->context)
		lws_context_destroy(e->context);
	free(e->protocols);
	connmap_release(&e->conns);
	pthread_mutex_destroy(&e->tls_lock);
	edge_inbox_release(&e->inbox);
	free(e);
	return rc;
}

void ws_device_stop(ws_device *e)
{
	struct timespec tick = {0, 10 * 1000 * 1000};

	if (!e)
		return;
	atomic_store(&e->stopping, 1);
	lws_cancel_service(e->context);
	for (int waited = 0; waited < STOP_GRACE_MS && !atomic_load(&e->drained); waited += 10)
		nanosleep(&tick, NULL);
	atomic_store(&e->done, 1);
	lws_cancel_service(e->context);
	pthread_join(e->thread, NULL);
	/* Connections still open are closed here, on this thread; their CLOSED callbacks end sessions. */
	lws_context_destroy(e->context);
	edge_inbox_release(&e->inbox);
	connmap_release(&e->conns);
	free(e->pending_cert);
	free(e->pending_key);
	free(e->protocols);
	pthread_mutex_destroy(&e->tls_lock);
	log_info("device channel: stopped (%llu twin.get, %llu reported.patch, %llu method.response, %llu errors)",
		 (unsigned long long)e->received[DEVICE_MSG_TWIN_GET],
		 (unsigned long long)e->received[DEVICE_MSG_REPORTED_PATCH],
		 (unsigned long long)e->received[DEVICE_MSG_METHOD_RESPONSE], (unsigned long long)e->errors);
	free(e);
}

int ws_device_reload_tls(ws_device *e, const char *cert_pem, const char *key_pem)
{
	if (!e->ssl_ctx)
		return err_set(DH_EINVAL, "the device channel does not use TLS");
	pthread_mutex_lock(&e->tls_lock);
	free(e->pending_cert);
	free(e->pending_key);
	e->pending_cert = xstrdup(cert_pem);
	e->pending_key = xstrdup(key_pem);
	pthread_mutex_unlock(&e->tls_lock);
	lws_cancel_service(e->context);
	return 0;
}
