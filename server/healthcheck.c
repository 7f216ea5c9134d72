/*
 * healthcheck: GET /healthz against a running devicehubd, over plain HTTP or, when the REST port serves
 * TLS, over OpenSSL (in the runtime already through libwebsockets). It must never include the server's
 * modules beyond the leaves: it runs as a separate, short-lived process beside the server.
 */
#include "healthcheck.h"

#include "err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HEAD_MAX 64 /* enough for "HTTP/1.1 200 OK" */

/* A connected socket whose connect, reads and writes each give up after timeout_ms, or a dh_err. */
static int connect_to(const char *host, int port, int timeout_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int fd;

	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return err_set(DH_EINVAL, "not an IPv4 address: %s", host);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return err_set(DH_EIO, "socket: %s", strerror(errno));
	/* On Linux SO_SNDTIMEO bounds connect() too. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int rc = err_set(DH_EIO, "cannot connect to %s:%d: %s", host, port, strerror(errno));

		close(fd);
		return rc;
	}
	return fd;
}

static int request(char *out, size_t size, const char *host, int port)
{
	return snprintf(out, size, "GET /healthz HTTP/1.0\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", host, port);
}

/* 0 when head is a 200 status line; DH_EBUSY for another status; 1 when head is not HTTP at all. */
static int check_status(const char *head, size_t n)
{
	int status = 0;

	if (n < 12 || strncmp(head, "HTTP/1.", 7) != 0 || sscanf(head + 8, " %3d", &status) != 1)
		return 1;
	return status == 200 ? 0 : err_set(DH_EBUSY, "/healthz answered %d", status);
}

/* Reads the first bytes of the answer with read_fn until HEAD_MAX bytes, the end, or an error. */
static size_t read_head(char *head, int (*read_fn)(void *, char *, int), void *conn)
{
	size_t n = 0;
	int got;

	while (n < HEAD_MAX - 1 && (got = read_fn(conn, head + n, (int)(HEAD_MAX - 1 - n))) > 0)
		n += (size_t)got;
	head[n] = '\0';
	return n;
}

static int plain_read(void *conn, char *p, int size)
{
	return (int)recv(*(int *)conn, p, (size_t)size, 0);
}

static int tls_read(void *conn, char *p, int size)
{
	return SSL_read(conn, p, size);
}

/* Plain HTTP. Returns 0, a dh_err, or 1 when the port answered but not in HTTP (a TLS port). */
static int probe_plain(const char *host, int port, int timeout_ms)
{
	char req[160], head[HEAD_MAX];
	int fd, len = request(req, sizeof(req), host, port), rc;
	size_t n;

	if ((fd = connect_to(host, port, timeout_ms)) < 0)
		return fd;
	if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len) {
		rc = err_set(DH_EIO, "cannot send to %s:%d: %s", host, port, strerror(errno));
		goto out;
	}
	errno = 0;
	n = read_head(head, plain_read, &fd);
	if (n == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		rc = err_set(DH_ETIMEOUT, "no answer from %s:%d within %d ms", host, port, timeout_ms);
	else
		rc = check_status(head, n);
out:
	close(fd);
	return rc;
}

static int probe_tls(const char *host, int port, int timeout_ms)
{
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	char req[160], head[HEAD_MAX];
	int fd = -1, len = request(req, sizeof(req), host, port), rc = DH_EIO;

	if ((rc = fd = connect_to(host, port, timeout_ms)) < 0)
		goto out;
	if (!(ctx = SSL_CTX_new(TLS_client_method())) || !(ssl = SSL_new(ctx))) {
		rc = err_set(DH_ENOMEM, "cannot set up TLS");
		goto out;
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1 || SSL_write(ssl, req, len) != len) {
		rc = err_set(DH_EIO, "%s:%d answers neither HTTP nor HTTPS", host, port);
		goto out;
	}
	rc = check_status(head, read_head(head, tls_read, ssl));
	if (rc == 1)
		rc = err_set(DH_EIO, "%s:%d did not answer HTTP over TLS", host, port);
out:
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	if (fd >= 0)
		close(fd);
	return rc;
}

int healthcheck_run(const char *addr, int port, int tls, int timeout_ms)
{
	const char *host = (!addr || !addr[0] || strcmp(addr, "0.0.0.0") == 0) ? "127.0.0.1" : addr;
	/* TLS first when configured: a plain request costs the server a handshake error in its log. */
	int rc = tls ? 1 : probe_plain(host, port, timeout_ms);

	return rc == 1 ? probe_tls(host, port, timeout_ms) : rc;
}
