/*
 * rest_calls: the REST side of bench/jobs.sh. Plain C, raw HTTP/1.1, blocking keep-alive sockets, one
 * per thread (the style of bench/bulk_load.c), so the client costs a few microseconds per call.
 *
 *   rest_calls HOST PORT AUTH method N CONNECTIONS    POST /twins/bench-NNNNNNN/methods, each of the N
 *                                                      devices exactly once ({"methodName":"echo",...})
 *   rest_calls HOST PORT AUTH patch N CONNECTIONS     PATCH /twins/bench-NNNNNNN {"properties":{"desired":..}}
 *                                                      each of the N devices exactly once, no If-Match
 *   rest_calls HOST PORT AUTH job JOB_ID BODY TIMEOUT_S
 *                                                      PUT /jobs/v2/JOB_ID with BODY, then GET it every 100 ms
 *                                                      until its status is completed, failed or cancelled
 *
 * Device ids are bulk_load's: bench-0000000 .. bench-(N-1). The calls modes print "key value" lines:
 * calls, seconds, calls_per_s, failed, non2xx, p50_ms, p99_ms, client_cpu_s; a method call counts as
 * failed unless the device's answer (status 200) came back. The job mode prints job_seconds (PUT sent
 * to the first GET that saw the job finished), job_status, job_device_count, job_succeeded, job_failed,
 * job_polls, job_put_ms. Exits 1 on any failed call, or when the job did not complete with every device
 * succeeded before TIMEOUT_S.
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

#define MAX_CONNS 512
#define RESP_CAP 65536

enum mode { MODE_METHOD, MODE_PATCH };

static const char *host;
static int port;
static const char *auth;
static enum mode mode;
static long n_calls;
static atomic_long next_call, failed_calls, non2xx_calls;
static double *latencies_ms; /* one slot per call */

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

/* Reads one response with a Content-Length body into in (NUL-terminated; a body longer than the buffer is
 * read and dropped past cap). OUT: *status, *close_after, *body (inside in). Returns 0 or -1. */
static int read_response(int fd, char *in, size_t cap, int *status, int *close_after, const char **body)
{
	size_t have = 0, need;
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
	*body = end + 4;
	const char *cl = strcasestr(in, "\r\nContent-Length:");
	need = (size_t)(end + 4 - in) + (cl ? (size_t)atol(cl + 17) : 0);
	while (have < need) {
		char sink[16384];
		size_t room = cap - 1 - have;
		char *dst = room ? in + have : sink;
		size_t want = need - have;
		if (want > (room ? room : sizeof(sink)))
			want = room ? room : sizeof(sink);
		ssize_t r = recv(fd, dst, want, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (room) {
			in[have + (size_t)r] = 0;
		}
		have += (size_t)r;
	}
	return 0;
}

/* One request/response on *fd, reconnecting once (a server may close an idle keep-alive socket). */
static int exchange(int *fd, const char *req, size_t len, char *resp, int *status, const char **body)
{
	int close_after = 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		if (*fd < 0 && (*fd = connect_to_server()) < 0)
			return -1;
		if (send_all(*fd, req, len) == 0 &&
		    read_response(*fd, resp, RESP_CAP, status, &close_after, body) == 0) {
			if (close_after) {
				close(*fd);
				*fd = -1;
			}
			return 0;
		}
		close(*fd);
		*fd = -1;
	}
	return -1;
}

static size_t build_request(long c, char *out, size_t cap)
{
	char body[256];
	int b;

	if (mode == MODE_METHOD)
		b = snprintf(body, sizeof(body), "{\"methodName\":\"echo\",\"payload\":{\"n\":%ld},\"responseTimeoutInSeconds\":30}", c);
	else
		b = snprintf(body, sizeof(body), "{\"properties\":{\"desired\":{\"fw\":\"2.0\",\"n\":%ld}}}", c);
	return (size_t)snprintf(out, cap,
				"%s /twins/bench-%07ld%s?api-version=2021-04-12 HTTP/1.1\r\nHost: benchhub\r\n"
				"Authorization: %s\r\nContent-Type: application/json; charset=utf-8\r\n"
				"Content-Length: %d\r\n\r\n%s",
				mode == MODE_METHOD ? "POST" : "PATCH", c, mode == MODE_METHOD ? "/methods" : "", auth, b,
				body);
}

static void *worker(void *unused)
{
	static _Thread_local char req[4096], resp[RESP_CAP];
	(void)unused;
	int fd = -1;
	long c;

	while ((c = atomic_fetch_add(&next_call, 1)) < n_calls) {
		size_t len = build_request(c, req, sizeof(req));
		int status = 0, ok;
		const char *body = "";
		double t0 = now_s();

		ok = exchange(&fd, req, len, resp, &status, &body) == 0;
		latencies_ms[c] = (now_s() - t0) * 1000.0;
		/* A method call answers 200 with the device's {status, payload}; the device answers 200. */
		if (ok && status / 100 == 2 && (mode == MODE_PATCH || strstr(body, "\"status\":200")))
			continue;
		if (ok && status / 100 != 2)
			atomic_fetch_add(&non2xx_calls, 1);
		if (atomic_fetch_add(&failed_calls, 1) < 3)
			fprintf(stderr, "rest_calls: call %ld: %s %d %.300s\n", c, ok ? "status" : "I/O error", status, body);
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

static double client_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int run_calls(long n, int nconns)
{
	pthread_t th[MAX_CONNS];
	double t0, secs;

	n_calls = n;
	latencies_ms = calloc((size_t)n_calls, sizeof(double));
	if (!latencies_ms)
		return 1;
	t0 = now_s();
	for (int i = 0; i < nconns; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < nconns; i++)
		pthread_join(th[i], NULL);
	secs = now_s() - t0;
	qsort(latencies_ms, (size_t)n_calls, sizeof(double), cmp_double);
	printf("calls %ld\nseconds %.3f\ncalls_per_s %.0f\nfailed %ld\nnon2xx %ld\n", n_calls, secs,
	       (double)n_calls / secs, atomic_load(&failed_calls), atomic_load(&non2xx_calls));
	printf("p50_ms %.2f\np99_ms %.2f\nclient_cpu_s %.2f\n", latencies_ms[n_calls / 2],
	       latencies_ms[(size_t)((double)n_calls * 0.99)], client_cpu_s());
	free(latencies_ms);
	return atomic_load(&failed_calls) ? 1 : 0;
}

/* The integer after "key": in a JSON text, or -1. */
static long json_int_after(const char *text, const char *key)
{
	const char *p = strstr(text, key);

	return p ? atol(p + strlen(key)) : -1;
}

static int run_job(const char *job_id, const char *body, double timeout_s)
{
	static char req[65536], resp[RESP_CAP];
	char status_text[32] = "";
	const char *answer = "";
	int fd = -1, status = 0, polls = 0, done = 0;
	size_t len;
	double t0, t_put, t_end = 0;

	len = (size_t)snprintf(req, sizeof(req),
			       "PUT /jobs/v2/%s?api-version=2021-04-12 HTTP/1.1\r\nHost: benchhub\r\nAuthorization: %s\r\n"
			       "Content-Type: application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n%s",
			       job_id, auth, strlen(body), body);
	t0 = now_s();
	if (exchange(&fd, req, len, resp, &status, &answer) != 0 || status / 100 != 2) {
		fprintf(stderr, "rest_calls: PUT /jobs/v2/%s: %d %.300s\n", job_id, status, answer);
		return 1;
	}
	t_put = now_s();
	len = (size_t)snprintf(req, sizeof(req),
			       "GET /jobs/v2/%s?api-version=2021-04-12 HTTP/1.1\r\nHost: benchhub\r\nAuthorization: %s\r\n\r\n",
			       job_id, auth);
	while (!done && now_s() - t0 < timeout_s) {
		struct timespec pause = {0, 100 * 1000000L};
		nanosleep(&pause, NULL);
		polls++;
		if (exchange(&fd, req, len, resp, &status, &answer) != 0 || status != 200) {
			fprintf(stderr, "rest_calls: GET /jobs/v2/%s: %d %.300s\n", job_id, status, answer);
			break;
		}
		const char *st = strstr(answer, "\"status\":\"");
		if (st)
			sscanf(st + 10, "%31[^\"]", status_text);
		done = !strcmp(status_text, "completed") || !strcmp(status_text, "failed") ||
		       !strcmp(status_text, "cancelled");
		if (done)
			t_end = now_s();
	}
	if (fd >= 0)
		close(fd);
	long total = json_int_after(answer, "\"deviceCount\":"), ok = json_int_after(answer, "\"succeededCount\":");
	printf("job_seconds %.3f\njob_status %s\njob_device_count %ld\njob_succeeded %ld\njob_failed %ld\njob_polls %d\n"
	       "job_put_ms %.1f\njob_client_cpu_s %.2f\n",
	       done ? t_end - t0 : -1.0, *status_text ? status_text : "none", total, ok,
	       json_int_after(answer, "\"failedCount\":"), polls, (t_put - t0) * 1000.0, client_cpu_s());
	if (!done)
		fprintf(stderr, "rest_calls: job %s not finished after %.0f s: %.400s\n", job_id, timeout_s, answer);
	return done && !strcmp(status_text, "completed") && total > 0 && ok == total ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: rest_calls HOST PORT AUTH method|patch N CONNECTIONS\n"
			"       rest_calls HOST PORT AUTH job JOB_ID BODY TIMEOUT_S\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 5)
		usage();
	host = argv[1];
	port = atoi(argv[2]);
	auth = argv[3];
	if (strcmp(argv[4], "job") == 0) {
		if (argc != 8)
			usage();
		return run_job(argv[5], argv[6], atof(argv[7]));
	}
	if (argc != 7 || (strcmp(argv[4], "method") && strcmp(argv[4], "patch")))
		usage();
	mode = strcmp(argv[4], "method") == 0 ? MODE_METHOD : MODE_PATCH;
	long n = atol(argv[5]);
	int nconns = atoi(argv[6]);
	if (n < 1 || nconns < 1 || nconns > MAX_CONNS)
		usage();
	return run_calls(n, nconns);
}
