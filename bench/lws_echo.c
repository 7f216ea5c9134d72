/*
 * lws_echo: the raw libwebsockets baseline for bench/devices.sh. A WebSocket server with one service
 * thread and the default poll() loop, set up like devicehubd's device channel (server/ws_device.c: same
 * subprotocol name so the same client connects unchanged, TCP_NODELAY on every accepted socket, 4 KB
 * receive buffer, fd limit raised to the hard limit) that sends every text frame straight back. What it
 * costs per connection and per round trip is what any libwebsockets server pays before doing any work.
 *
 *   lws_echo ADDR PORT MAX_SECONDS
 *
 * Prints "listening" once the socket is bound; ends on SIGTERM/SIGINT or after MAX_SECONDS. Standalone:
 * links only -lwebsockets, includes nothing of the server.
 */
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

/* One frame waiting to be echoed: LWS_PRE bytes of headroom, then the text. */
typedef struct echo_msg {
	struct echo_msg *next;
	size_t len;
	unsigned char data[];
} echo_msg;

/* Per-connection state (lws's per-session data): the frames not yet sent back. */
typedef struct echo_conn {
	echo_msg *head, *tail;
	unsigned char *partial; /* a fragmented frame being assembled */
	size_t partial_len;
} echo_conn;

static volatile sig_atomic_t stop;
static struct lws_context *context;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
	if (context)
		lws_cancel_service(context);
}

static void queue_frame(echo_conn *c, const void *in, size_t len)
{
	echo_msg *m = malloc(sizeof(*m) + LWS_PRE + len);

	if (!m)
		abort();
	m->next = NULL;
	m->len = len;
	memcpy(m->data + LWS_PRE, in, len);
	if (c->tail)
		c->tail->next = m;
	else
		c->head = m;
	c->tail = m;
}

static int echo_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	echo_conn *c = user;
	int one = 1;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		setsockopt(((struct lws_filter_network_conn_args *)user)->accept_fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one));
		return 0;
	case LWS_CALLBACK_RECEIVE: {
		int complete = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;
		if (!c->partial && complete) {
			queue_frame(c, in, len);
		} else {
			unsigned char *p = realloc(c->partial, c->partial_len + len);
			if (!p)
				return -1;
			memcpy(p + c->partial_len, in, len);
			c->partial = p;
			c->partial_len += len;
			if (!complete)
				return 0;
			queue_frame(c, c->partial, c->partial_len);
			free(c->partial);
			c->partial = NULL;
			c->partial_len = 0;
		}
		lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE: {
		echo_msg *m = c->head;
		if (!m)
			return 0;
		c->head = m->next;
		if (!c->head)
			c->tail = NULL;
		int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
		size_t want = m->len;
		free(m);
		if (n < (int)want)
			return -1;
		if (c->head)
			lws_callback_on_writable(wsi);
		return 0;
	}
	case LWS_CALLBACK_CLOSED:
		while (c && c->head) {
			echo_msg *next = c->head->next;
			free(c->head);
			c->head = next;
		}
		if (c) {
			free(c->partial);
			c->partial = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
    {"devicehub.v1", echo_callback, sizeof(echo_conn), 4096, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct rlimit rl;
	struct sigaction sa;
	time_t deadline;

	if (argc != 4) {
		fprintf(stderr, "usage: lws_echo ADDR PORT MAX_SECONDS\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	lws_set_log_level(LLL_ERR, NULL);
	memset(&info, 0, sizeof(info));
	info.iface = argv[1];
	info.port = atoi(argv[2]);
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.count_threads = 1;
	info.fd_limit_per_thread = (unsigned int)rl.rlim_cur;
	info.max_http_header_data = 4096;
	info.max_http_header_pool = 64;
	info.timeout_secs = 10;
	info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | LWS_SERVER_OPTION_DISABLE_IPV6;
	context = lws_create_context(&info);
	if (!context) {
		fprintf(stderr, "lws_echo: cannot listen on %s:%s\n", argv[1], argv[2]);
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	deadline = time(NULL) + atoi(argv[3]);
	while (!stop && time(NULL) < deadline)
		if (lws_service(context, 0) < 0)
			break;
	lws_context_destroy(context);
	return 0;
}
