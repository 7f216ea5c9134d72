/*
 * bulk_load: creates N devices through devicehubd's POST /devices, 100 per call (importMode create),
 * from a few keep-alive connections, each on its own thread with blocking sockets. Plain C and raw
 * HTTP/1.1 so the client costs a few microseconds per call and never is the bottleneck: it reports its
 * own CPU time next to the wall time so run.sh can show that.
 *
 *   bulk_load HOST PORT AUTH_HEADER_VALUE N CONNECTIONS
 *
 * Device ids are bench-0000000 .. bench-(N-1), tags {"region":"r<i%10>","floor":<(i/10)%50>}, the same
 * rows bench/sqlite_baseline.c writes. Prints "key value" lines: bulk_devices_per_s, bulk_seconds,
 * bulk_calls, bulk_failed_calls, bulk_client_cpu_s, bulk_p50_ms, bulk_p99_ms. Exits 1 if any call failed.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PER_CALL 100
#define REGIONS 10
#define FLOORS 50
#define MAX_CONNS 64

static const char *host;
static int port;
static const char *auth;
static long n_devices;
static long n_calls;
static atomic_long next_call;
static atomic_long failed_calls;
static double *latencies_ms;   /* one slot per call */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to_server(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads one response with a Content-Length body. OUT: *status, *close_after. Returns 0 or -1. */
static int read_response(int fd, char *in, size_t cap, int *status, int *close_after)
{
	size_t have = 0;
	char *end = NULL;

	for (;;) {
		ssize_t r = recv(fd, in + have, cap - 1 - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
		in[have] = 0;
		if ((end = strstr(in, "\r\n\r\n")) != NULL)
			break;
		if (have == cap - 1)
			return -1;
	}
	*status = atoi(in + 9);
	*close_after = strcasestr(in, "\r\nConnection: close") != NULL;
	const char *cl = strcasestr(in, "\r\nContent-Length:");
	size_t body = cl ? (size_t)atol(cl + 17) : 0;
	size_t need = (size_t)(end + 4 - in) + body;
	while (have < need) {
		char sink[16384];
		size_t want = need - have < sizeof(sink) ? need - have : sizeof(sink);
		ssize_t r = recv(fd, sink, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		have += (size_t)r;
	}
	return 0;
}

/* The request for call number c: headers then a JSON array of PER_CALL devices. */
static size_t build_request(long c, char *out, size_t cap)
{
	static _Thread_local char body[PER_CALL * 128];
	size_t b = 0;
	long first = c * PER_CALL, last = first + PER_CALL < n_devices ? first + PER_CALL : n_devices;

	body[b++] = '[';
	for (long i = first; i < last; i++)
		b += (size_t)snprintf(body + b, sizeof(body) - b,
				      "%s{\"id\":\"bench-%07ld\",\"importMode\":\"create\","
				      "\"tags\":{\"region\":\"r%ld\",\"floor\":%ld}}",
				      i == first ? "" : ",", i, i % REGIONS, (i / REGIONS) % FLOORS);
	body[b++] = ']';
	size_t h = (size_t)snprintf(out, cap,
				    "POST /devices?api-version=2021-04-12 HTTP/1.1\r\nHost: benchhub\r\n"
				    "Authorization: %s\r\nContent-Type: application/json; charset=utf-8\r\n"
				    "Content-Length: %zu\r\n\r\n",
				    auth, b);
	memcpy(out + h, body, b);
	return h + b;
}

static void *worker(void *unused)
{
	static _Thread_local char req[PER_CALL * 128 + 4096], resp[65536];
	(void)unused;
	int fd = -1;
	long c;

	while ((c = atomic_fetch_add(&next_call, 1)) < n_calls) {
		size_t len = build_request(c, req, sizeof(req));
		int status = 0, close_after = 0, ok = 0;
		double t0 = now_s();

		/* One retry on a fresh connection covers a server that closed an idle keep-alive socket. */
		for (int attempt = 0; attempt < 2 && !ok; attempt++) {
			if (fd < 0 && (fd = connect_to_server()) < 0)
				break;
			if (send_all(fd, req, len) == 0 && read_response(fd, resp, sizeof(resp), &status, &close_after) == 0) {
				ok = 1;
				break;
			}
			close(fd);
			fd = -1;
		}
		latencies_ms[c] = (now_s() - t0) * 1000.0;
		if (!ok || status != 200) {
			if (atomic_fetch_add(&failed_calls, 1) < 3)
				fprintf(stderr, "bulk_load: call %ld: %s %d\n%.300s\n", c, ok ? "status" : "I/O error", status,
					ok ? strstr(resp, "\r\n\r\n") : "");
		}
		if (close_after && fd >= 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	pthread_t th[MAX_CONNS];
	struct rusage ru;
	int nconns;
	double t0, secs;

	if (argc != 6) {
		fprintf(stderr, "usage: bulk_load HOST PORT AUTH_HEADER_VALUE N CONNECTIONS\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	auth = argv[3];
	n_devices = atol(argv[4]);
	nconns = atoi(argv[5]);
	if (n_devices < 1 || nconns < 1 || nconns > MAX_CONNS) {
		fprintf(stderr, "bulk_load: N must be positive and CONNECTIONS 1..%d\n", MAX_CONNS);
		return 2;
	}
	n_calls = (n_devices + PER_CALL - 1) / PER_CALL;
	latencies_ms = calloc((size_t)n_calls, sizeof(double));
	t0 = now_s();
	for (int i = 0; i < nconns; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < nconns; i++)
		pthread_join(th[i], NULL);
	secs = now_s() - t0;
	getrusage(RUSAGE_SELF, &ru);
	qsort(latencies_ms, (size_t)n_calls, sizeof(double), cmp_double);
	printf("bulk_devices_per_s %.0f\n", (double)n_devices / secs);
	printf("bulk_seconds %.2f\n", secs);
	printf("bulk_calls %ld\n", n_calls);
	printf("bulk_failed_calls %ld\n", atomic_load(&failed_calls));
	printf("bulk_client_cpu_s %.2f\n", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
						   (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	printf("bulk_p50_ms %.2f\n", latencies_ms[n_calls / 2]);
	printf("bulk_p99_ms %.2f\n", latencies_ms[(size_t)((double)n_calls * 0.99)]);
	free(latencies_ms);
	return atomic_load(&failed_calls) ? 1 : 0;
}
