/*
 * http_client: a minimal blocking HTTP/1.1 client over a plain TCP socket, for the simulator's REST calls
 * (device provisioning) and firmware downloads. http:// only, keep-alive, Content-Length or chunked
 * bodies, a timeout on every socket operation. Never used from the lws service thread: it blocks.
 */
#ifndef SIM_HTTP_CLIENT_H
#define SIM_HTTP_CLIENT_H

#include <stddef.h>

typedef struct http_conn http_conn;

/* Splits "http://host[:port][/path]" into its parts. OUT: host (size hostsz), *port (80 when absent),
 * *path (points into url; "/" when absent). Returns 0, or -1 for another scheme or a malformed URL. */
int http_url_parse(const char *url, char *host, size_t hostsz, int *port, const char **path);

/* A connection-to-be to host:port; nothing is opened until the first request. Caller owns the result
 * (http_conn_free). timeout_ms bounds every connect, send and receive. */
http_conn *http_conn_new(const char *host, int port, int timeout_ms);
void http_conn_free(http_conn *c);

/* Receives the response body piece by piece; return non-zero to abort the transfer. */
typedef int (*http_body_fn)(void *ctx, const void *data, size_t len);

/* Sends one request and reads the whole answer, reconnecting once when a kept-alive connection turns out
 * to be closed. headers: extra header lines, each ending in "\r\n", or NULL. The body goes to on_body
 * (max_body bytes at most). OUT: *status. Returns 0, or -1 with a reason in err (size errsz). */
int http_request(http_conn *c, const char *method, const char *path, const char *headers, const void *body,
		 size_t body_len, size_t max_body, http_body_fn on_body, void *ctx, int *status, char *err,
		 size_t errsz);

/* http_body_fn that appends to the buf given as ctx. */
int http_body_to_buf(void *ctx, const void *data, size_t len);

#endif
