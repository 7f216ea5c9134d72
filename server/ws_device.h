/*
 * ws_device: the device channel's edge. A libwebsockets server speaking `devicehub.v1`
 * (docs/device-protocol.md): it authenticates the upgrade, turns frames into twin/method calls and
 * writes the answers, and delivers what the domain sends through the session_ops it registers.
 *
 * Owns its lws context and the one service thread that alone touches lws objects; other threads reach a
 * connection only through the session_ops (a locked inbox plus lws_cancel_service()). Holds no SQL and
 * no twin rules: it calls auth, session, twin and method.
 */
#ifndef DH_WS_DEVICE_H
#define DH_WS_DEVICE_H

typedef struct ws_device ws_device;

/* Listens on addr:port (addr "0.0.0.0" = every address) and starts the service thread. Raises the
 * process's soft open-file limit to its hard limit so that many devices fit. OUT: *out, freed by
 * ws_device_stop. Returns 0, or DH_EIO (cannot listen) with err_message(). */
int ws_device_start(const char *addr, int port, ws_device **out);

/* The same over TLS (WSS only): cert_path and key_path are PEM files, checked beforehand (tls_pair_load).
 * Clients are asked for a certificate but need none; a device without a token is then authenticated by
 * its certificate's thumbprint (auth_check_device_x509). */
int ws_device_start_tls(const char *addr, int port, const char *cert_path, const char *key_path, ws_device **out);

struct lws_context;
struct lws_protocols;
struct lws;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* The thumbprints (hex, NUL-terminated) of the TLS client certificate on wsi's connection, for any device
 * encoding on this edge's context. Returns 0, or -1 when the connection presented none. */
int ws_device_peer_thumbprints(struct lws *wsi, char sha1[41], char sha256[65]);

/* Another protocol that shares this edge's lws context and service thread (IoT Hub's MQTT, the live
 * event stream): its WebSocket subprotocols join the device port, accepted on its own upgrade path, and
 * attach() adds its own listeners and timers once the context exists, on the starting thread, before the
 * service thread runs. Its callbacks reach their own state through lws_protocols.user; they receive the
 * LWS_CALLBACK_EVENT_WAIT_CANCELLED broadcast like this edge does. */
typedef struct ws_device_ext {
	const struct lws_protocols *protocols; /* ended by a NULL name; copied */
	const char *path;                      /* e.g. "/$iothub/websocket"; must outlive the edge */
	int (*attach)(void *arg, struct lws_context *context); /* 0, or an error code (the start fails) */
	/* At the upgrade of a request for path, on the service thread (NULL: accept, the protocol checks
	 * inside): 0 accepts; an HTTP status (401, 400, ...) refuses the upgrade with it, err_message() says
	 * why (logged). */
	unsigned int (*confirm_upgrade)(void *arg, struct lws *wsi);
	/* The OpenSSL SSL_CTX of the extension's own TLS listener (a vhost attach() created), or NULL (none;
	 * NULL function: never one). Called on the service thread at a certificate reload, which puts the new
	 * pair in it as in the device port's; the context stays the extension's (lws frees it with the vhost). */
	struct ssl_ctx_st *(*tls_context)(void *arg);
	void *arg;
} ws_device_ext;

#define WS_DEVICE_EXT_MAX 4

/* ws_device_start_tls (cert_path NULL: plain) with extensions: exts is a NULL-terminated array of at most
 * WS_DEVICE_EXT_MAX (NULL: none); each must outlive the edge. Paths must differ. */
int ws_device_start_ext(const char *addr, int port, const char *cert_path, const char *key_path,
			const ws_device_ext *const *exts, ws_device **out);

/* Hands a new certificate (chain) and key, PEM text checked beforehand and copied here, to the service
 * thread, which puts them in use for connections accepted afterwards (open ones keep theirs) on the
 * device port and on every extension's own TLS listener (ws_device_ext.tls_context). Any thread.
 * Returns 0 (the outcome is logged), or DH_EINVAL when the channel has no TLS. */
int ws_device_reload_tls(ws_device *edge, const char *cert_pem, const char *key_pem);

/* Closes every connection with 1000 (waiting up to 2 s for the close handshakes, each ending its
 * session through session_closed), stops the service thread and frees the edge. Call it after the REST
 * edge and the method timer stopped and after session_shutdown(), so that nothing calls this edge's
 * session_ops any more. NULL is a no-op. */
void ws_device_stop(ws_device *edge);

#endif
