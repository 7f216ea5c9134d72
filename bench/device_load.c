/*
 * device_load: the device-side load client of bench/devices.sh. One process, one libwebsockets client
 * context, one service thread (the default poll() loop), N WebSocket connections speaking devicehub.v1
 * (docs/device-protocol.md). The same client runs against devicehubd and against bench/lws_echo.c, so
 * the two figures differ only by the server.
 *
 *   device_load --url ws://127.0.0.1:PORT --mode MODE --count N [options]
 *
 * Phases: connect all N (at most --max-connecting handshakes in flight, TCP_NODELAY on every socket;
 * with --hello a device counts as ready once the hub's hello arrived), settle 1 s, read the server's RSS
 * (--server-pid), print "ready", then the mode for --seconds:
 *   connect    nothing more (the connections are held for --seconds, e.g. while something else measures)
 *   echo       each connection keeps --inflight small text frames in flight; counts the echoes
 *   methods    answers every method.request at once: method.response, status 200 (load comes from wrk)
 *   reported   each connection keeps --inflight reported.patch messages in flight (rids pipelined),
 *              counts reported.ack
 * The first second of echo/reported is a warm-up and is not counted. Ends by itself after --seconds (or
 * on SIGTERM/SIGINT, or if connecting takes longer than --connect-timeout).
 *
 * Output: "key value" lines on stdout: connect_seconds, connects_per_s, connect_errors, ready,
 * server_rss_before_kb, server_rss_after_kb, server_kb_per_conn (VmRSS), server_anon_kb_per_conn (RssAnon:
 * heap only, without file-backed pages such as SQLite's mmap window), then per mode: rps (echoes, acks), p50_ms,
 * p99_ms, sent, received, errors (hub `error` frames), methods_answered, client_cpu_s.
 * Exits 1 if not all devices connected.
 *
 * Identities: --prefix P --first F --digits D: ids P + the number zero-padded to D digits (the
 * simulator's sim-00001 is --prefix sim- --first 1 --digits 5). --auth is sent as the Authorization
 * header; a policy token (skn=iothubowner, sr=hostname) is valid for every device. Standalone: links
 * only -lwebsockets, includes nothing of the server.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_INFLIGHT 64
#define MAX_SAMPLES (4 * 1024 * 1024)
#define FRAME_CAP 512
#define CONNECT_RETRIES 5

enum mode { MODE_CONNECT, MODE_ECHO, MODE_METHODS, MODE_REPORTED };
enum state { DEV_IDLE, DEV_CONNECTING, DEV_CONNECTED, DEV_READY, DEV_FAILED };

typedef struct device {
	struct lws *wsi;
	int index;
	uint8_t state, tries;
	uint16_t to_send;                 /* load frames owed to the server (echo, reported) */
	uint16_t answers;                 /* method.response frames owed */
	uint16_t ring_head, ring_len;     /* send times of frames in flight, FIFO (the server keeps order) */
	uint32_t seq;
	char *answer_rids;                /* rids of owed method answers, NUL-separated */
	size_t answer_len;
	int64_t sent_us[MAX_INFLIGHT];
} device;

static struct {
	const char *host, *path_prefix, *auth, *prefix, *tag;
	int port, first, digits, count, inflight, max_connecting, server_pid;
	double seconds, connect_timeout;
	enum mode mode;
	int hello;
} opt = {.host = "127.0.0.1", .path_prefix = "/devices/", .prefix = "sim-", .first = 1, .digits = 5,
	 .count = 100, .inflight = 1, .max_connecting = 500, .seconds = 10, .connect_timeout = 120};

static struct lws_context *ctx;
static device *devs;
static int next_connect, connecting, connected, ready, failed, connect_errors;
static int64_t t_start, t_all_connected, t_all_ready, t_load, t_measure, t_end;
static long long sent, received, hub_errors, methods_answered, measured;
static float *samples;
static long n_samples;
static volatile sig_atomic_t stop_requested;
static int phase; /* 0 connecting, 1 settling, 2 warm-up/load, 3 done */
static lws_sorted_usec_list_t sul_tick;

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A field of /proc/PID/status in kB ("VmRSS:", "RssAnon:"), -1 if unreadable. */
static long rss_kb(int pid, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, flen) == 0)
			kb = atol(line + flen);
	fclose(f);
	return kb;
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (ctx)
		lws_cancel_service(ctx);
}

/* ---- connecting ---- */

static void start_connect(device *d)
{
	struct lws_client_connect_info ci;
	char path[256];

	snprintf(path, sizeof(path), "%s%s%0*d", opt.path_prefix, opt.prefix, opt.digits, opt.first + d->index);
	memset(&ci, 0, sizeof(ci));
	ci.context = ctx;
	ci.address = opt.host;
	ci.port = opt.port;
	ci.path = path;
	ci.host = opt.host;
	ci.origin = opt.host;
	ci.protocol = "devicehub.v1";
	ci.userdata = d;
	ci.pwsi = &d->wsi;
	d->state = DEV_CONNECTING;
	connecting++;
	if (!lws_client_connect_via_info(&ci)) {
		/* Failed synchronously: CONNECTION_ERROR may or may not have run; it sets the state if it did. */
		if (d->state == DEV_CONNECTING) {
			d->state = DEV_IDLE;
			connecting--;
			connect_errors++;
			d->tries++;
		}
	}
}

static void pump_connects(void)
{
	/* Retries first: devices in IDLE before next_connect failed once. */
	for (int i = 0; i < next_connect && connecting < opt.max_connecting; i++)
		if (devs[i].state == DEV_IDLE) {
			if (devs[i].tries >= CONNECT_RETRIES) {
				devs[i].state = DEV_FAILED;
				failed++;
			} else {
				start_connect(&devs[i]);
			}
		}
	while (next_connect < opt.count && connecting < opt.max_connecting)
		start_connect(&devs[next_connect++]);
}

/* ---- load ---- */

static void record(device *d, int64_t now)
{
	if (d->ring_len == 0)
		return;
	int64_t t = d->sent_us[d->ring_head];
	d->ring_head = (uint16_t)((d->ring_head + 1) % MAX_INFLIGHT);
	d->ring_len--;
	received++;
	if (phase == 2 && t >= t_measure && now <= t_end) {
		measured++;
		if (n_samples < MAX_SAMPLES)
			samples[n_samples++] = (float)(now - t) / 1000.0f;
	}
}

static void owe_load(device *d, int n)
{
	d->to_send = (uint16_t)(d->to_send + n);
	if (d->to_send && d->wsi)
		lws_callback_on_writable(d->wsi);
}

static int write_text(struct lws *wsi, const char *text, size_t len)
{
	unsigned char frame[LWS_PRE + FRAME_CAP];

	if (len > FRAME_CAP)
		return -1;
	memcpy(frame + LWS_PRE, text, len);
	return lws_write(wsi, frame + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len ? -1 : 0;
}

static int on_writeable(device *d, struct lws *wsi)
{
	char text[FRAME_CAP];
	int n;

	if (d->answers) {
		/* The oldest owed method answer. */
		const char *rid = d->answer_rids;
		size_t rlen = strlen(rid);
		n = snprintf(text, sizeof(text),
			     "{\"type\":\"method.response\",\"rid\":%s,\"status\":200,\"payload\":{\"ok\":true}}", rid);
		memmove(d->answer_rids, d->answer_rids + rlen + 1, d->answer_len - rlen - 1);
		d->answer_len -= rlen + 1;
		d->answers--;
		methods_answered++;
		if (write_text(wsi, text, (size_t)n))
			return -1;
	} else if (d->to_send && phase == 2 && now_us() < t_end) {
		uint32_t s = ++d->seq;
		if (opt.mode == MODE_REPORTED)
			n = snprintf(text, sizeof(text),
				     "{\"type\":\"reported.patch\",\"rid\":\"%u\",\"body\":{\"load\":{\"seq\":%u,\"ok\":true}}}",
				     s, s);
		else
			n = snprintf(text, sizeof(text), "{\"type\":\"echo\",\"rid\":\"%u\",\"pad\":\"%032u\"}", s, s);
		d->to_send--;
		d->sent_us[(d->ring_head + d->ring_len) % MAX_INFLIGHT] = now_us();
		d->ring_len++;
		sent++;
		if (write_text(wsi, text, (size_t)n))
			return -1;
	} else {
		d->to_send = 0;
		return 0;
	}
	if (d->answers || d->to_send)
		lws_callback_on_writable(wsi);
	return 0;
}

/* Copies the JSON value of "rid" (a string with its quotes, or a number) from a hub frame. */
static int extract_rid(const char *in, size_t len, char *out, size_t cap)
{
	const char *p = memmem(in, len, "\"rid\":", 6), *end = in + len, *q;

	if (!p)
		return -1;
	p += 6;
	if (p < end && *p == '"') {
		for (q = p + 1; q < end && *q != '"'; q++)
			if (*q == '\\')
				q++;
		q++;
	} else {
		for (q = p; q < end && *q != ',' && *q != '}'; q++)
			;
	}
	if (q > end || (size_t)(q - p) + 1 > cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = 0;
	return 0;
}

static void on_receive(device *d, const char *in, size_t len)
{
	int64_t now = now_us();

	if (opt.mode == MODE_ECHO) {
		record(d, now);
		if (phase == 2 && now < t_end)
			owe_load(d, 1);
		return;
	}
	/* devicehubd: the type is the first member of every message it sends. */
	if (len > 9 && memcmp(in, "{\"type\":\"", 9) == 0) {
		const char *type = in + 9;
		size_t tlen = len - 9;
		if (tlen >= 6 && memcmp(type, "hello\"", 6) == 0) {
			if (d->state == DEV_CONNECTED) {
				d->state = DEV_READY;
				ready++;
			}
		} else if (tlen >= 13 && memcmp(type, "reported.ack\"", 13) == 0) {
			record(d, now);
			if (phase == 2 && now < t_end)
				owe_load(d, 1);
		} else if (tlen >= 15 && memcmp(type, "method.request\"", 15) == 0) {
			char rid[160];
			if (extract_rid(in, len, rid, sizeof(rid)) == 0) {
				size_t rl = strlen(rid) + 1;
				char *p = realloc(d->answer_rids, d->answer_len + rl);
				if (!p)
					abort();
				memcpy(p + d->answer_len, rid, rl);
				d->answer_rids = p;
				d->answer_len += rl;
				d->answers++;
				lws_callback_on_writable(d->wsi);
			}
		} else if (tlen >= 6 && memcmp(type, "error\"", 6) == 0) {
			if (hub_errors++ < 3)
				fprintf(stderr, "device_load: hub error: %.*s\n", (int)(len < 300 ? len : 300), in);
			record(d, now);
			if (phase == 2 && now < t_end)
				owe_load(d, 1);
		}
	}
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	device *d = user;
	int one = 1;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		unsigned char **p = in, *end = *p + len;
		if (opt.auth && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION,
							     (const unsigned char *)opt.auth, (int)strlen(opt.auth), p, end))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (d && d->state == DEV_CONNECTING) {
			if (connect_errors++ < 3)
				fprintf(stderr, "device_load: connect error: %s\n", in ? (const char *)in : "?");
			d->state = DEV_IDLE;
			d->wsi = NULL;
			d->tries++;
			connecting--;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!d || d->state != DEV_CONNECTING)
			return 0;
		setsockopt(lws_get_socket_fd(wsi), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		d->wsi = wsi;
		d->state = opt.hello ? DEV_CONNECTED : DEV_READY;
		connecting--;
		connected++;
		if (!opt.hello)
			ready++;
		pump_connects();
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (d)
			on_receive(d, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return d ? on_writeable(d, wsi) : 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (d && (d->state == DEV_CONNECTED || d->state == DEV_READY)) {
			if (phase < 3 && !stop_requested)
				fprintf(stderr, "device_load: device %d closed by the server\n", d->index);
			connected--;
			if (d->state == DEV_READY)
				ready--;
			d->state = DEV_FAILED;
			d->wsi = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
    {"devicehub.v1", callback, 0, 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- phases ---- */

static long server_rss_before = -1, server_anon_before = -1;

static void start_load(int64_t now)
{
	phase = 2;
	t_load = now;
	t_measure = now + 1000000; /* one second of warm-up */
	t_end = t_measure + (int64_t)(opt.seconds * 1e6);
	if (opt.mode == MODE_ECHO || opt.mode == MODE_REPORTED)
		for (int i = 0; i < opt.count; i++)
			if (devs[i].state == DEV_READY)
				owe_load(&devs[i], opt.inflight);
}

static void on_tick(lws_sorted_usec_list_t *sul)
{
	int64_t now = now_us();

	(void)sul;
	if (phase == 0) {
		pump_connects();
		if (!t_all_connected && connected + failed >= opt.count)
			t_all_connected = now;
		if (ready + failed >= opt.count || now - t_start > (int64_t)(opt.connect_timeout * 1e6)) {
			t_all_ready = now;
			if (!t_all_connected)
				t_all_connected = now;
			phase = 1;
		}
	} else if (phase == 1 && now - t_all_ready >= 1000000) {
		double secs = (double)(t_all_connected - t_start) / 1e6;
		printf("connect_seconds %.3f\nready_seconds %.3f\nconnects_per_s %.0f\nconnected %d\nready %d\n"
		       "connect_errors %d\n",
		       secs, (double)(t_all_ready - t_start) / 1e6, connected / (secs > 0 ? secs : 1e-9), connected,
		       ready, connect_errors);
		if (opt.server_pid > 0) {
			long after = rss_kb(opt.server_pid, "VmRSS:"), anon = rss_kb(opt.server_pid, "RssAnon:");
			int n = connected ? connected : 1;
			printf("server_rss_before_kb %ld\nserver_rss_after_kb %ld\nserver_kb_per_conn %.2f\n"
			       "server_anon_kb_per_conn %.2f\n",
			       server_rss_before, after, (double)(after - server_rss_before) / n,
			       (double)(anon - server_anon_before) / n);
		}
		printf("ready_line 1\n");
		fflush(stdout);
		if (ready < opt.count) {
			phase = 3;
		} else if (opt.mode == MODE_CONNECT || opt.mode == MODE_METHODS) {
			phase = 2;
			t_load = t_measure = now;
			t_end = now + (int64_t)(opt.seconds * 1e6);
		} else {
			start_load(now);
		}
	} else if (phase == 2 && now >= t_end + 200000) {
		phase = 3; /* 200 ms for answers in flight at the end */
	}
	if (phase != 3)
		lws_sul_schedule(ctx, 0, &sul_tick, on_tick, 10 * LWS_US_PER_MS);
	else
		lws_cancel_service(ctx);
}

static int cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: device_load --url ws://HOST:PORT --mode connect|echo|methods|reported --count N\n"
		"       [--auth TOKEN] [--prefix sim-] [--first 1] [--digits 5] [--inflight 1] [--seconds 10]\n"
		"       [--max-connecting 500] [--connect-timeout 120] [--server-pid PID] [--hello]\n");
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--hello") == 0) {
			opt.hello = 1;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (strcmp(a, "--url") == 0) {
			static char host[256];
			if (sscanf(v, "ws://%255[^:]:%d", host, &opt.port) != 2)
				usage();
			opt.host = host;
		} else if (strcmp(a, "--mode") == 0) {
			opt.mode = strcmp(v, "echo") == 0       ? MODE_ECHO
				   : strcmp(v, "methods") == 0  ? MODE_METHODS
				   : strcmp(v, "reported") == 0 ? MODE_REPORTED
				   : strcmp(v, "connect") == 0  ? MODE_CONNECT
								: (usage(), MODE_CONNECT);
		} else if (strcmp(a, "--auth") == 0) {
			opt.auth = v;
		} else if (strcmp(a, "--prefix") == 0) {
			opt.prefix = v;
		} else if (strcmp(a, "--first") == 0) {
			opt.first = atoi(v);
		} else if (strcmp(a, "--digits") == 0) {
			opt.digits = atoi(v);
		} else if (strcmp(a, "--count") == 0) {
			opt.count = atoi(v);
		} else if (strcmp(a, "--inflight") == 0) {
			opt.inflight = atoi(v);
		} else if (strcmp(a, "--seconds") == 0) {
			opt.seconds = atof(v);
		} else if (strcmp(a, "--max-connecting") == 0) {
			opt.max_connecting = atoi(v);
		} else if (strcmp(a, "--connect-timeout") == 0) {
			opt.connect_timeout = atof(v);
		} else if (strcmp(a, "--server-pid") == 0) {
			opt.server_pid = atoi(v);
		} else {
			usage();
		}
	}
	if (!opt.port || opt.count < 1 || opt.inflight < 1 || opt.inflight > MAX_INFLIGHT || opt.max_connecting < 1)
		usage();
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct rlimit rl;
	struct sigaction sa;
	struct rusage ru;
	int all_ready;

	parse_args(argc, argv);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((rlim_t)opt.count + 64 > rl.rlim_cur) {
		fprintf(stderr, "device_load: %d connections need more than the %ld open files allowed\n", opt.count,
			(long)rl.rlim_cur);
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	devs = calloc((size_t)opt.count, sizeof(*devs));
	samples = malloc(MAX_SAMPLES * sizeof(*samples));
	if (!devs || !samples)
		return 1;
	for (int i = 0; i < opt.count; i++)
		devs[i].index = i;

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.count_threads = 1;
	info.fd_limit_per_thread = (unsigned int)rl.rlim_cur;
	info.timeout_secs = 30;
	ctx = lws_create_context(&info);
	if (!ctx)
		return 1;

	if (opt.server_pid > 0) {
		server_rss_before = rss_kb(opt.server_pid, "VmRSS:");
		server_anon_before = rss_kb(opt.server_pid, "RssAnon:");
	}
	t_start = now_us();
	pump_connects();
	lws_sul_schedule(ctx, 0, &sul_tick, on_tick, 10 * LWS_US_PER_MS);
	while (phase != 3 && !stop_requested)
		if (lws_service(ctx, 0) < 0)
			break;

	if (opt.mode == MODE_ECHO || opt.mode == MODE_REPORTED) {
		double secs = (double)(t_end - t_measure) / 1e6;
		qsort(samples, (size_t)n_samples, sizeof(*samples), cmp_float);
		printf("rps %.0f\np50_ms %.3f\np99_ms %.3f\n", secs > 0 ? (double)measured / secs : 0,
		       n_samples ? samples[n_samples / 2] : 0.0, n_samples ? samples[(long)(n_samples * 0.99)] : 0.0);
		printf("inflight_total %d\n", ready * opt.inflight);
	}
	printf("sent %lld\nreceived %lld\nerrors %lld\nmethods_answered %lld\n", sent, received, hub_errors,
	       methods_answered);
	getrusage(RUSAGE_SELF, &ru);
	printf("client_cpu_s %.2f\n", (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
					  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	fflush(stdout);
	all_ready = ready == opt.count; /* destroying the context closes every connection */
	lws_context_destroy(ctx);
	for (int i = 0; i < opt.count; i++)
		free(devs[i].answer_rids);
	free(devs);
	free(samples);
	return all_ready ? 0 : 1;
}
