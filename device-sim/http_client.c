/* http_client: blocking HTTP/1.1 over one socket (see http_client.h). */
#define _GNU_SOURCE /* strcasestr */
#include "http_client.h"

#include "buf.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HEAD_MAX 16384

struct http_conn {
	char host[256];
	int port;
	int timeout_ms;
	int fd;     /* -1 when not connected */
	int reused; /* a request already went over fd */
	char rbuf[HEAD_MAX];
	size_t rpos, rlen;
};

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

int http_url_parse(const char *url, char *host, size_t hostsz, int *port, const char **path)
{
	const char *p, *end, *colon;
	size_t n;

	if (strncasecmp(url, "http://", 7) != 0)
		return -1;
	p = url + 7;
	end = p + strcspn(p, "/?#");
	colon = memchr(p, ':', (size_t)(end - p));
	n = (size_t)((colon ? colon : end) - p);
	if (n == 0 || n >= hostsz)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	*port = 80;
	if (colon) {
		char *stop;
		long v = strtol(colon + 1, &stop, 10);

		if (stop != end || v < 1 || v > 65535)
			return -1;
		*port = (int)v;
	}
	*path = *end == '/' ? end : "/";
	return 0;
}

http_conn *http_conn_new(const char *host, int port, int timeout_ms)
{
	http_conn *c = xcalloc(1, sizeof(*c));

	snprintf(c->host, sizeof(c->host), "%s", host);
	c->port = port;
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	return c;
}

static void conn_close(http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->reused = 0;
	c->rpos = c->rlen = 0;
}

void http_conn_free(http_conn *c)
{
	if (!c)
		return;
	conn_close(c);
	free(c);
}

static int conn_open(http_conn *c, char *err, size_t errsz)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000};
	char port[16];
	int one = 1, rc;

	snprintf(port, sizeof(port), "%d", c->port);
	rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc != 0)
		return fail(err, errsz, "resolving %s: %s", c->host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (c->fd < 0)
			continue;
		/* Linux applies SO_SNDTIMEO to connect() too. */
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	if (c->fd < 0)
		return fail(err, errsz, "connecting to %s:%d: %s", c->host, c->port, strerror(errno));
	return 0;
}

static int send_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Refills the read buffer. Returns bytes read, 0 at EOF, -1 on error or timeout. */
static ssize_t fill(http_conn *c)
{
	ssize_t n;

	if (c->rpos > 0 && c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	if (c->rlen == sizeof(c->rbuf)) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
		if (c->rlen == sizeof(c->rbuf))
			return -1;
	}
	do
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->rlen += (size_t)n;
	return n;
}

/* Reads one CRLF-terminated line (without the CRLF) into line. Returns its length or -1. */
static int read_line(http_conn *c, char *line, size_t linesz)
{
	for (;;) {
		char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);

		if (nl) {
			size_t n = (size_t)(nl - (c->rbuf + c->rpos));

			if (n > 0 && nl[-1] == '\r')
				n--;
			if (n >= linesz)
				return -1;
			memcpy(line, c->rbuf + c->rpos, n);
			line[n] = '\0';
			c->rpos = (size_t)(nl + 1 - c->rbuf);
			return (int)n;
		}
		if (fill(c) <= 0)
			return -1;
	}
}

/* Delivers exactly len body bytes (or until EOF when len is SIZE_MAX) to on_body. */
static int read_body(http_conn *c, size_t len, size_t *total, size_t max_body, http_body_fn on_body, void *ctx,
		     char *err, size_t errsz)
{
	while (len > 0) {
		size_t avail = c->rlen - c->rpos, n;

		if (avail == 0) {
			ssize_t got = fill(c);

			if (got == 0 && len == SIZE_MAX)
				return 0;
			if (got <= 0)
				return fail(err, errsz, "connection lost while reading the body");
			continue;
		}
		n = avail < len ? avail : len;
		*total += n;
		if (*total > max_body)
			return fail(err, errsz, "body larger than %zu bytes", max_body);
		if (on_body(ctx, c->rbuf + c->rpos, n) != 0)
			return fail(err, errsz, "transfer aborted");
		c->rpos += n;
		if (len != SIZE_MAX)
			len -= n;
	}
	return 0;
}

static int read_chunked(http_conn *c, size_t max_body, http_body_fn on_body, void *ctx, char *err, size_t errsz)
{
	char line[256];
	size_t total = 0;

	for (;;) {
		char *stop;
		unsigned long long n;

		if (read_line(c, line, sizeof(line)) < 0)
			return fail(err, errsz, "bad chunk header");
		n = strtoull(line, &stop, 16);
		if (stop == line)
			return fail(err, errsz, "bad chunk size");
		if (n == 0)
			break;
		if (n > max_body || read_body(c, (size_t)n, &total, max_body, on_body, ctx, err, errsz) < 0)
			return err[0] ? -1 : fail(err, errsz, "chunk too large");
		if (read_line(c, line, sizeof(line)) != 0)
			return fail(err, errsz, "bad chunk trailer");
	}
	/* Trailers up to the empty line. */
	for (int i = 0; i < 64; i++) {
		int n = read_line(c, line, sizeof(line));

		if (n < 0)
			return fail(err, errsz, "bad trailer");
		if (n == 0)
			return 0;
	}
	return fail(err, errsz, "too many trailers");
}

/* Reads the status line and headers. OUT: *status, *content_length (-1 absent), *chunked, *keep. Returns
 * 0, -1 on error, or -2 when the connection closed before the first byte (a stale keep-alive). */
static int read_head(http_conn *c, int *status, long long *content_length, int *chunked, int *keep, char *err,
		     size_t errsz)
{
	char line[HEAD_MAX];
	int minor, n;

	if (c->rpos == c->rlen) {
		ssize_t got = fill(c);

		if (got == 0 || (got < 0 && errno == ECONNRESET))
			return -2;
		if (got < 0)
			return fail(err, errsz, "no answer from %s:%d: %s", c->host, c->port, strerror(errno));
	}
	if (read_line(c, line, sizeof(line)) < 0 || sscanf(line, "HTTP/1.%d %d", &minor, status) != 2)
		return fail(err, errsz, "no HTTP status line from %s:%d", c->host, c->port);
	*content_length = -1;
	*chunked = 0;
	*keep = minor >= 1;
	for (int i = 0; i < 200; i++) {
		char *colon, *v;

		n = read_line(c, line, sizeof(line));
		if (n < 0)
			return fail(err, errsz, "malformed HTTP headers");
		if (n == 0)
			return 0;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if (strcasecmp(line, "Content-Length") == 0)
			*content_length = strtoll(v, NULL, 10);
		else if (strcasecmp(line, "Transfer-Encoding") == 0 && strcasestr(v, "chunked"))
			*chunked = 1;
		else if (strcasecmp(line, "Connection") == 0)
			*keep = strcasestr(v, "close") ? 0 : strcasestr(v, "keep-alive") ? 1 : *keep;
	}
	return fail(err, errsz, "too many HTTP headers");
}

static int exchange(http_conn *c, const char *request, size_t request_len, const void *body, size_t body_len,
		    size_t max_body, http_body_fn on_body, void *ctx, int *status, char *err, size_t errsz)
{
	long long content_length;
	int chunked, keep, rc;
	size_t total = 0;

	if (send_all(c->fd, request, request_len) < 0 || (body_len && send_all(c->fd, body, body_len) < 0))
		return -2;
	rc = read_head(c, status, &content_length, &chunked, &keep, err, errsz);
	if (rc < 0)
		return rc;
	if (chunked)
		rc = read_chunked(c, max_body, on_body, ctx, err, errsz);
	else if (content_length >= 0)
		rc = read_body(c, (size_t)content_length, &total, max_body, on_body, ctx, err, errsz);
	else if (*status == 204 || *status == 304)
		rc = 0;
	else {
		keep = 0;
		rc = read_body(c, SIZE_MAX, &total, max_body, on_body, ctx, err, errsz);
	}
	if (rc < 0 || !keep)
		conn_close(c);
	else
		c->reused = 1;
	return rc;
}

int http_request(http_conn *c, const char *method, const char *path, const char *headers, const void *body,
		 size_t body_len, size_t max_body, http_body_fn on_body, void *ctx, int *status, char *err,
		 size_t errsz)
{
	buf req = BUF_INIT;
	int rc = -1;

	err[0] = '\0';
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: devicehub-sim\r\n%s", method, path, c->host,
		   c->port, headers ? headers : "");
	if (body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0)
		buf_printf(&req, "Content-Length: %zu\r\n", body_len);
	buf_puts(&req, "\r\n");
	/* A kept-alive connection may have been closed by the server meanwhile: then retry once on a new one. */
	for (int attempt = 0; attempt < 2; attempt++) {
		int was_reused = c->reused;

		if (c->fd < 0 && conn_open(c, err, errsz) < 0)
			goto out;
		rc = exchange(c, req.data, req.len, body, body_len, max_body, on_body, ctx, status, err, errsz);
		if (rc != -2)
			goto out;
		conn_close(c);
		if (!was_reused) {
			rc = fail(err, errsz, "%s:%d closed the connection without answering", c->host, c->port);
			goto out;
		}
	}
	rc = fail(err, errsz, "%s:%d keeps closing the connection", c->host, c->port);
out:
	buf_release(&req);
	return rc < 0 ? -1 : 0;
}

int http_body_to_buf(void *ctx, const void *data, size_t len)
{
	buf_append(ctx, data, len);
	return 0;
}
