/* fleet: connections, pacing, timers and statistics of the simulated devices (see fleet.h). */
#include "fleet.h"

#include "sas.h"
#include "url.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX (300 * 1024) /* the hub closes at 256 KB; anything bigger is not devicehub.v1 */
#define STOP_GRACE_US (3 * LWS_US_PER_SEC)
#define BACKOFF_MAX_MS 30000
/* lws gives every connection an rx buffer of this size: bigger messages arrive in pieces (on_receive
 * reassembles them), so a small one keeps 10,000 devices cheap. */
#define RX_CHUNK 1024

enum dev_state { DEV_IDLE, DEV_QUEUED, DEV_CONNECTING, DEV_CONNECTED, DEV_WAITING };

enum conn_flag {
	CF_EVER_CONNECTED = 1,  /* a later connect is a reconnect */
	CF_CLOSE_REQUESTED = 2, /* the device closed on purpose: reconnect after reconnect_ms */
	CF_DROPPED = 4,         /* --drop-rate killed the connection */
};

struct sim_frame {
	sim_frame *next;
	size_t len;
	int close_code;       /* non-zero: not a message but "close with this code"; data is the reason */
	unsigned char data[]; /* LWS_PRE bytes, then the text */
};

struct sim_action {
	sim_action *next;
	lws_usec_t due;
	int kind;
	json_t *msg;
};

static struct fleet {
	const sim_options *o;
	const hub_credentials *hub;
	struct lws_context *ctx;
	sim_device *devs;
	int n;
	uint32_t *queue; /* ring of device indexes waiting to connect */
	int q_head, q_len;
	char *url_copy; /* lws_parse_uri cuts it up; the parts below point into it */
	const char *address;
	char base_path[256]; /* path of --device-url without leading or trailing '/' */
	int port, tls;
	char host_header[300];
	sim_stats stats;
	lws_sorted_usec_list_t sul_tick, sul_report, sul_duration;
	uint64_t rng;
	lws_usec_t start_us, stop_deadline_us;
	volatile sig_atomic_t *stop;
	int stopping, done;
} fleet;

const sim_options *fleet_options(void)
{
	return fleet.o;
}

sim_stats *fleet_stats(void)
{
	return &fleet.stats;
}

double fleet_random(void)
{
	/* xorshift64*: service thread only. */
	fleet.rng ^= fleet.rng >> 12;
	fleet.rng ^= fleet.rng << 25;
	fleet.rng ^= fleet.rng >> 27;
	return (double)((fleet.rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* The context a signal handler may wake: set once the context exists, cleared before it is destroyed. */
static struct lws_context *volatile wake_ctx;

void fleet_wake(void)
{
	struct lws_context *ctx = wake_ctx;

	if (ctx)
		lws_cancel_service(ctx);
}

int fleet_is_connected(const sim_device *d)
{
	return d->state == DEV_CONNECTED && !(d->conn_flags & CF_CLOSE_REQUESTED);
}

/* ---- frames ---------------------------------------------------------------------------------------- */

static void push_frame(sim_device *d, sim_frame *f)
{
	f->next = NULL;
	if (d->out_tail)
		d->out_tail->next = f;
	else
		d->out_head = f;
	d->out_tail = f;
	lws_callback_on_writable(d->wsi);
}

static sim_frame *new_frame(const char *text, size_t len, int close_code)
{
	sim_frame *f = xmalloc(sizeof(*f) + LWS_PRE + len + 1);

	f->len = len;
	f->close_code = close_code;
	memcpy(f->data + LWS_PRE, text, len);
	f->data[LWS_PRE + len] = '\0';
	return f;
}

static void free_frames(sim_device *d)
{
	sim_frame *f, *next;

	for (f = d->out_head; f; f = next) {
		next = f->next;
		free(f);
	}
	d->out_head = d->out_tail = NULL;
}

int fleet_send_take(sim_device *d, json_t *msg)
{
	char *text;
	const char *type = json_string_value(json_object_get(msg, "type"));

	if (!fleet_is_connected(d)) {
		json_decref(msg);
		return -1;
	}
	text = json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(9));
	if (!text)
		abort(); /* only out of memory: the one policy, as buf's allocator */
	if (type && strcmp(type, "reported.patch") == 0)
		fleet.stats.reported_sent++;
	push_frame(d, new_frame(text, strlen(text), 0));
	free(text);
	json_decref(msg);
	return 0;
}

void fleet_close(sim_device *d, int code, const char *reason, uint32_t reconnect_ms)
{
	if (!fleet_is_connected(d))
		return;
	d->conn_flags |= CF_CLOSE_REQUESTED;
	d->reconnect_ms = reconnect_ms;
	push_frame(d, new_frame(reason, strlen(reason), code));
}

/* ---- delayed actions ------------------------------------------------------------------------------- */

static void on_work_timer(lws_sorted_usec_list_t *sul)
{
	sim_device *d = lws_container_of(sul, sim_device, sul_work);
	lws_usec_t now = lws_now_usecs();

	/* An action may add actions (a firmware step schedules the next); with a zero delay they are due at
	 * once, so the batch is capped and the rest runs at the next timer. */
	for (int budget = 64; d->actions && d->actions->due <= now && budget > 0; budget--) {
		sim_action *a = d->actions;

		d->actions = a->next;
		device_on_action(d, a->kind, a->msg);
		free(a);
	}
	if (d->actions && !fleet.stopping)
		lws_sul_schedule(fleet.ctx, 0, &d->sul_work, on_work_timer,
				 d->actions->due > now ? d->actions->due - now : 1);
}

void fleet_after(sim_device *d, uint32_t delay_ms, int kind, json_t *msg_take)
{
	sim_action *a, **pp;
	lws_usec_t now = lws_now_usecs();

	if (fleet.stopping) {
		json_decref(msg_take);
		return;
	}
	a = xcalloc(1, sizeof(*a));
	a->due = now + (lws_usec_t)delay_ms * LWS_US_PER_MS;
	a->kind = kind;
	a->msg = msg_take;
	for (pp = &d->actions; *pp && (*pp)->due <= a->due; pp = &(*pp)->next)
		;
	a->next = *pp;
	*pp = a;
	if (d->actions == a)
		lws_sul_schedule(fleet.ctx, 0, &d->sul_work, on_work_timer, a->due - now);
}

static void free_actions(sim_device *d)
{
	sim_action *a, *next;

	for (a = d->actions; a; a = next) {
		next = a->next;
		json_decref(a->msg);
		free(a);
	}
	d->actions = NULL;
}

/* ---- connecting ------------------------------------------------------------------------------------ */

static void connect_device(sim_device *d);

/* Starts queued connects up to --max-connecting. Called whenever a slot may have freed; a connect that
 * fails synchronously calls it again from inside connect_device, which the guard turns into a no-op
 * (the outer loop carries on) instead of a recursion as deep as the queue. */
static void pump(void)
{
	static int pumping;

	if (pumping)
		return;
	pumping = 1;
	while (!fleet.stopping && fleet.q_len > 0 && fleet.stats.connecting < fleet.o->max_connecting) {
		sim_device *d = &fleet.devs[fleet.queue[fleet.q_head]];

		fleet.q_head = (fleet.q_head + 1) % fleet.n;
		fleet.q_len--;
		connect_device(d);
	}
	pumping = 0;
}

static void enqueue(sim_device *d)
{
	if (fleet.stopping || d->state == DEV_QUEUED)
		return;
	d->state = DEV_QUEUED;
	fleet.queue[(fleet.q_head + fleet.q_len) % fleet.n] = d->index;
	fleet.q_len++;
}

static void on_conn_timer(lws_sorted_usec_list_t *sul)
{
	sim_device *d = lws_container_of(sul, sim_device, sul_conn);

	if (d->state == DEV_WAITING) {
		enqueue(d);
		pump();
	}
}

static void reconnect_after(sim_device *d, uint32_t ms)
{
	d->state = DEV_WAITING;
	if (!fleet.stopping)
		lws_sul_schedule(fleet.ctx, 0, &d->sul_conn, on_conn_timer, (lws_usec_t)ms * LWS_US_PER_MS);
}

/* Exponential backoff from 1 s to 30 s with jitter, so a hub restart does not meet a synchronised storm. */
static uint32_t backoff_ms(sim_device *d)
{
	uint32_t base;

	if (d->failures < 6)
		d->failures++;
	base = 1000u << (d->failures - 1);
	if (base > BACKOFF_MAX_MS)
		base = BACKOFF_MAX_MS;
	return (uint32_t)(base * (0.5 + fleet_random()));
}

static void connect_failed(sim_device *d, const char *why)
{
	char id[160];

	d->wsi = NULL;
	fleet.stats.connecting--;
	fleet.stats.connect_errors++;
	if (fleet.o->verbose) {
		options_device_id(fleet.o, (int)d->index, id, sizeof(id));
		fprintf(stderr, "devicehub-sim: %s: connect failed: %s\n", id, why ? why : "?");
	}
	reconnect_after(d, backoff_ms(d));
	pump();
}

static void connect_device(sim_device *d)
{
	struct lws_client_connect_info info;
	char id[160];
	buf path = BUF_INIT;

	options_device_id(fleet.o, (int)d->index, id, sizeof(id));
	buf_printf(&path, "/%s%sdevices/", fleet.base_path, *fleet.base_path ? "/" : "");
	url_encode(id, &path);
	memset(&info, 0, sizeof(info));
	info.context = fleet.ctx;
	info.address = fleet.address;
	info.port = fleet.port;
	info.ssl_connection = fleet.tls ? LCCSCF_USE_SSL : 0;
	info.path = path.data;
	info.host = fleet.host_header;
	info.origin = fleet.host_header;
	info.protocol = "devicehub.v1";
	info.local_protocol_name = "devicehub.v1";
	info.opaque_user_data = d;
	d->state = DEV_CONNECTING;
	d->conn_flags &= (uint8_t) ~(CF_CLOSE_REQUESTED | CF_DROPPED);
	fleet.stats.connecting++;
	/* A connect that fails at once may already have gone through CLIENT_CONNECTION_ERROR. */
	if (!lws_client_connect_via_info(&info) && d->state == DEV_CONNECTING)
		connect_failed(d, "could not start the connection");
	buf_release(&path);
}

int fleet_device_token(const sim_device *d, int64_t expiry, buf *out)
{
	char id[160];
	buf resource = BUF_INIT, sr = BUF_INIT;
	int rc;

	options_device_id(fleet.o, (int)d->index, id, sizeof(id));
	buf_printf(&resource, "%s/devices/%s", fleet.hub->host, id);
	url_encode(resource.data, &sr);
	rc = sas_build(sr.data, d->key, NULL, expiry, out);
	buf_release(&resource);
	buf_release(&sr);
	return rc;
}

/* The Authorization header: a device-scoped SAS token, sr = urlencode(host/devices/id), no skn. */
static int append_auth(sim_device *d, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	buf token = BUF_INIT;
	int64_t now = (int64_t)time(NULL), ttl = fleet.o->token_ttl_s;
	int rc;

	rc = fleet_device_token(d, now + ttl, &token);
	/* Renew well before expiry, spread so that devices connected together do not all renew together. */
	d->renew_at = now + (int64_t)((double)ttl * (0.65 + 0.1 * fleet_random()));
	if (rc == 0)
		rc = lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, (unsigned char *)token.data,
						  (int)token.len, p, end);
	buf_release(&token);
	return rc;
}

/* ---- the protocol callback ------------------------------------------------------------------------- */

static void on_download(void *ctx, const firmware_result *r)
{
	(void)ctx;
	if (r->device < (uint32_t)fleet.n)
		device_on_download(&fleet.devs[r->device], r);
}

static void begin_stop(void);

static void on_frame(sim_device *d, const char *text, size_t len)
{
	json_error_t e;
	json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);

	if (!json_is_object(msg)) {
		fleet.stats.hub_errors++;
		if (fleet.o->verbose)
			fprintf(stderr, "devicehub-sim: unparsable frame from the hub: %.200s\n", text);
	} else
		device_on_message(d, msg);
	json_decref(msg);
}

static int on_receive(sim_device *d, struct lws *wsi, const char *in, size_t len)
{
	int final = lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0;

	if (lws_frame_is_binary(wsi))
		return 0;
	if (!d->rx && final) {
		on_frame(d, in, len);
		return 0;
	}
	if (!d->rx) {
		d->rx = xmalloc(sizeof(*d->rx));
		buf_init(d->rx);
	}
	buf_append(d->rx, in, len);
	if (d->rx->len > FRAME_MAX)
		return -1;
	if (final) {
		on_frame(d, d->rx->data, d->rx->len);
		buf_release(d->rx);
		free(d->rx);
		d->rx = NULL;
	}
	return 0;
}

static int on_writeable(sim_device *d, struct lws *wsi)
{
	sim_frame *f = d->out_head;
	int n;

	if (!f)
		return 0;
	d->out_head = f->next;
	if (!d->out_head)
		d->out_tail = NULL;
	if (f->close_code) {
		lws_close_reason(wsi, (enum lws_close_status)f->close_code, f->data + LWS_PRE, f->len);
		free(f);
		return -1;
	}
	n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
	free(f);
	if (n < 0)
		return -1;
	if (d->out_head)
		lws_callback_on_writable(wsi);
	return 0;
}

static void on_established(sim_device *d, struct lws *wsi)
{
	int one = 1, fd = lws_get_socket_fd(wsi);

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	d->wsi = wsi;
	d->state = DEV_CONNECTED;
	d->failures = 0;
	fleet.stats.connecting--;
	fleet.stats.connected++;
	fleet.stats.connects++;
	if (d->conn_flags & CF_EVER_CONNECTED)
		fleet.stats.reconnects++;
	d->conn_flags |= CF_EVER_CONNECTED;
	if (fleet.stopping)
		fleet_close(d, LWS_CLOSE_STATUS_NORMAL, "simulator stopping", 0);
	pump();
}

static void on_closed(sim_device *d)
{
	uint32_t delay;

	d->wsi = NULL;
	fleet.stats.connected--;
	free_frames(d);
	if (d->rx) {
		buf_release(d->rx);
		free(d->rx);
		d->rx = NULL;
	}
	if (d->conn_flags & CF_CLOSE_REQUESTED)
		delay = d->reconnect_ms;
	else if (d->conn_flags & CF_DROPPED)
		delay = (uint32_t)(500 + 1500 * fleet_random());
	else {
		fleet.stats.hub_closes++;
		delay = backoff_ms(d);
	}
	device_on_closed(d);
	reconnect_after(d, delay);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	sim_device *d = wsi ? lws_get_opaque_user_data(wsi) : NULL;

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		firmware_drain(on_download, NULL);
		if (*fleet.stop && !fleet.stopping)
			begin_stop();
		return 0;
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		if (!d)
			return 0;
		d->wsi = wsi;
		return append_auth(d, wsi, (unsigned char **)in, (unsigned char *)*(unsigned char **)in + len) ? -1 : 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (d && d->state == DEV_CONNECTING)
			connect_failed(d, in ? (const char *)in : NULL);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (d && d->state == DEV_CONNECTING)
			on_established(d, wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return d && d->state == DEV_CONNECTED ? on_receive(d, wsi, in, len) : 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return d && d->state == DEV_CONNECTED ? on_writeable(d, wsi) : 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (d && d->state == DEV_CONNECTED)
			on_closed(d);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* A connect that died without CONNECTION_ERROR must not stay counted as in flight. */
		if (d && d->state == DEV_CONNECTING && d->wsi == wsi)
			connect_failed(d, "connection destroyed during the handshake");
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
    {"devicehub.v1", callback, 0, RX_CHUNK, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

/* ---- periodic work --------------------------------------------------------------------------------- */

static void print_summary(const char *label)
{
	const sim_stats *s = &fleet.stats;
	double t = (double)(lws_now_usecs() - fleet.start_us) / LWS_US_PER_SEC;

	fprintf(stderr,
		"%s %6.1fs  connected %d/%d  connecting %d  methods %llu (failed %llu)  reported %llu/%llu acked  "
		"desired %llu  fw %llu ok %llu failed  reconnects %llu  drops %llu  errors %llu conn, %llu hub, "
		"%llu closed\n",
		label, t, s->connected, fleet.n, s->connecting, (unsigned long long)s->methods,
		(unsigned long long)s->methods_failed, (unsigned long long)s->reported_acked,
		(unsigned long long)s->reported_sent, (unsigned long long)s->desired_applied,
		(unsigned long long)s->fw_ok, (unsigned long long)s->fw_failed, (unsigned long long)s->reconnects,
		(unsigned long long)s->drops, (unsigned long long)s->connect_errors, (unsigned long long)s->hub_errors,
		(unsigned long long)s->hub_closes);
}

static void on_report_timer(lws_sorted_usec_list_t *sul)
{
	print_summary("devicehub-sim");
	if (!fleet.stopping)
		lws_sul_schedule(fleet.ctx, 0, sul, on_report_timer,
				 (lws_usec_t)fleet.o->report_interval_ms * LWS_US_PER_MS);
}

/* Once a second: injected drops, token renewal, --duration; every 50 ms while stopping. */
static void on_tick(lws_sorted_usec_list_t *sul)
{
	lws_usec_t now = lws_now_usecs();
	int64_t wall = (int64_t)time(NULL);

	if (fleet.stopping) {
		if ((fleet.stats.connected == 0 && fleet.stats.connecting == 0) || now >= fleet.stop_deadline_us) {
			if (fleet.o->verbose)
				fprintf(stderr, "devicehub-sim: stopping with %d connected, %d connecting\n",
					fleet.stats.connected, fleet.stats.connecting);
			fleet.done = 1;
			/* lws_service ran this timer before its poll(): wake that poll, or it sleeps until lws's
			 * own next timeout (a close-ack wait can be 20 s away). */
			lws_cancel_service(fleet.ctx);
		} else
			lws_sul_schedule(fleet.ctx, 0, sul, on_tick, 50 * LWS_US_PER_MS);
		return;
	}
	if (*fleet.stop) {
		begin_stop();
		return;
	}
	for (int i = 0; i < fleet.n; i++) {
		sim_device *d = &fleet.devs[i];

		if (!fleet_is_connected(d))
			continue;
		if (fleet.o->drop_rate > 0 && fleet_random() < fleet.o->drop_rate) {
			d->conn_flags |= CF_DROPPED;
			fleet.stats.drops++;
			lws_set_timeout(d->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		} else if (wall >= d->renew_at)
			fleet_close(d, LWS_CLOSE_STATUS_NORMAL, "token renewal", 0);
	}
	pump();
	lws_sul_schedule(fleet.ctx, 0, sul, on_tick, LWS_US_PER_SEC);
}

static void on_duration(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (!fleet.stopping)
		begin_stop();
}

static void begin_stop(void)
{
	fleet.stopping = 1;
	fleet.stop_deadline_us = lws_now_usecs() + STOP_GRACE_US;
	fleet.q_len = 0;
	for (int i = 0; i < fleet.n; i++) {
		sim_device *d = &fleet.devs[i];

		lws_sul_cancel(&d->sul_conn);
		lws_sul_cancel(&d->sul_work);
		free_actions(d);
		if (d->state == DEV_CONNECTED)
			fleet_close(d, LWS_CLOSE_STATUS_NORMAL, "simulator stopping", 0);
		else if (d->state != DEV_CONNECTING)
			d->state = DEV_IDLE;
	}
	lws_sul_schedule(fleet.ctx, 0, &fleet.sul_tick, on_tick, 1);
}

/* ---- start and end --------------------------------------------------------------------------------- */

static int parse_device_url(void)
{
	const char *scheme, *path;

	fleet.url_copy = xstrdup(fleet.o->device_url);
	if (lws_parse_uri(fleet.url_copy, &scheme, &fleet.address, &fleet.port, &path) ||
	    (strcmp(scheme, "ws") != 0 && strcmp(scheme, "wss") != 0) || !*fleet.address) {
		fprintf(stderr, "devicehub-sim: --device-url '%s' is not a ws:// or wss:// URL\n", fleet.o->device_url);
		return -1;
	}
	fleet.tls = strcmp(scheme, "wss") == 0;
	/* lws_parse_uri gives the path without its leading '/', or a static "/" when there is none. */
	while (*path == '/')
		path++;
	snprintf(fleet.base_path, sizeof(fleet.base_path), "%s", path);
	for (size_t n = strlen(fleet.base_path); n > 0 && fleet.base_path[n - 1] == '/'; n--)
		fleet.base_path[n - 1] = '\0';
	snprintf(fleet.host_header, sizeof(fleet.host_header), "%s:%d", fleet.address, fleet.port);
	return 0;
}

static void release_all(void)
{
	for (int i = 0; fleet.devs && i < fleet.n; i++) {
		sim_device *d = &fleet.devs[i];

		free_frames(d);
		if (d->rx) {
			buf_release(d->rx);
			free(d->rx);
		}
		free_actions(d);
		device_release(d);
		free(d->key);
	}
	free(fleet.devs);
	free(fleet.queue);
	free(fleet.url_copy);
	memset(&fleet, 0, sizeof(fleet));
}

static void wake_from_pool(void *ctx)
{
	lws_cancel_service(ctx);
}

int fleet_run(const sim_options *o, const hub_credentials *hub, char **keys, volatile sig_atomic_t *stop)
{
	struct lws_context_creation_info info;
	int rc = -1, pool_started = 0;

	memset(&fleet, 0, sizeof(fleet));
	fleet.o = o;
	fleet.hub = hub;
	fleet.stop = stop;
	fleet.n = o->count;
	fleet.rng = o->seed ? (uint64_t)o->seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	fleet.rng |= 1;
	fleet.devs = xcalloc((size_t)fleet.n, sizeof(*fleet.devs));
	fleet.queue = xcalloc((size_t)fleet.n, sizeof(*fleet.queue));
	for (int i = 0; i < fleet.n; i++) {
		device_init(&fleet.devs[i], (uint32_t)i);
		fleet.devs[i].key = keys[i];
		keys[i] = NULL;
	}
	if (parse_device_url() < 0)
		goto out;

	memset(&info, 0, sizeof(info));
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.gid = -1;
	info.uid = -1;
	info.options = fleet.tls ? LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT : 0;
	info.max_http_header_pool = (unsigned short)(o->max_connecting + 16);
	info.timeout_secs = 20;
	lws_set_log_level(o->verbose ? LLL_ERR | LLL_WARN : LLL_ERR, NULL);
	fleet.ctx = lws_create_context(&info);
	if (!fleet.ctx) {
		fprintf(stderr, "devicehub-sim: cannot create the libwebsockets context\n");
		goto out;
	}
	if (firmware_start(2, wake_from_pool, fleet.ctx) < 0) {
		fprintf(stderr, "devicehub-sim: cannot start the download threads\n");
		goto out;
	}
	pool_started = 1;
	wake_ctx = fleet.ctx;
	fleet.start_us = lws_now_usecs();
	for (int i = 0; i < fleet.n; i++)
		enqueue(&fleet.devs[i]);
	pump();
	lws_sul_schedule(fleet.ctx, 0, &fleet.sul_tick, on_tick, LWS_US_PER_SEC);
	lws_sul_schedule(fleet.ctx, 0, &fleet.sul_report, on_report_timer,
			 (lws_usec_t)o->report_interval_ms * LWS_US_PER_MS);
	if (o->duration_s)
		lws_sul_schedule(fleet.ctx, 0, &fleet.sul_duration, on_duration,
				 (lws_usec_t)o->duration_s * LWS_US_PER_SEC);
	/* A signal before this point is seen at the first tick; afterwards the handler wakes us at once. */
	while (!fleet.done)
		if (lws_service(fleet.ctx, 0) < 0)
			break;
	print_summary("devicehub-sim: final");
	rc = 0;
out:
	wake_ctx = NULL;
	if (pool_started)
		firmware_stop();
	if (fleet.ctx) {
		/* Connections still open are closed here; on_closed must not reschedule anything. */
		fleet.stopping = 1;
		lws_context_destroy(fleet.ctx);
		fleet.ctx = NULL;
	}
	release_all();
	return rc;
}
