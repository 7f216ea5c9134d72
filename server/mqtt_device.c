/*
 * mqtt_device: IoT Hub's device MQTT on libwebsockets (see mqtt_device.h).
 *
 * Threads: everything here runs on the device edge's service thread except the session_ops and
 * twin_batch's completion, which encode their packet on the calling thread, append it to this edge's
 * locked inbox (edge_queue) and wake the service thread (lws_cancel_service); the service thread moves it
 * to its connection, found by its 64-bit conn id, in LWS_CALLBACK_EVENT_WAIT_CANCELLED. A late packet for
 * a closed connection finds no id and is dropped. Each queued packet names the subscription it needs: a
 * device that has not subscribed to a topic gets nothing on it (method requests wait for the methods
 * subscription, as IoT Hub's do; see `held`).
 *
 * One mqtt_conn serves both transports (raw TCP/TLS on the MQTT port, binary WebSocket frames on
 * /$iothub/websocket): lws allocates it as per-session data and frees it after the close callback.
 * Closing marks the connection and asks for a writeable callback that returns -1; the close callback is
 * the one point that forgets a connection (map, session).
 */
#include "mqtt_device.h"

#include "auth.h"
#include "buf.h"
#include "connmap.h"
#include "edge_queue.h"
#include "err.h"
#include "log.h"
#include "method.h"
#include "metrics.h"
#include "mqtt_codec.h"
#include "registry.h"
#include "session.h"
#include "telemetry.h"
#include "tls.h"
#include "twin.h"
#include "twin_batch.h"
#include "url.h"
#include "ws_device.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RX_CHUNK 4096
#define OUTBOUND_MAX (1024 * 1024)   /* a device that does not read this much is dropped */
#define CONNECT_WAIT_MS 10000        /* a connection must CONNECT within this */
#define KEEPALIVE_MAX_MS 1767000     /* IoT Hub: keepalive <= 1177 s, waited 1.5x, capped here */
#define CLOSE_SEND_SECS 5
#define HELD_MAX 32                  /* method requests waiting for the methods subscription */
#define RID_MAX 128
#define TELEMETRY_MAX (256 * 1024)

/* Subscriptions, as bits. */
enum {
	SUB_TWIN_RES = 1,
	SUB_DESIRED = 2,
	SUB_METHODS = 4,
	SUB_C2D = 8,
};

typedef struct mqtt_conn {
	struct lws *wsi;
	connmap_node node; /* node.id: the conn id; 0: not (or no longer) live */
	edge_outq out;     /* packets for lws_write, LWS_PRE headroom each */
	edge_outq held;    /* method requests before the methods subscription */
	mqtt_parser parser;
	int64_t created_ms, last_rx_ms, keepalive_ms;
	int closing;        /* 1: flush the queue, then close; 2: close at once */
	int subs;
	unsigned is_ws : 1, connected : 1, opened : 1;
	char device_id[129];
	char module_id[129];
} mqtt_conn;

struct mqtt_device {
	char *addr, *cert_path, *key_path;
	int port;
	struct lws_context *context;
	struct lws_protocols ws_protocols[3], raw_protocols[2];
	ws_device_ext ext;
	edge_inbox inbox; /* packets from other threads, drained in LWS_CALLBACK_EVENT_WAIT_CANCELLED */
	/* Service thread only. */
	uint64_t next_id;
	connmap conns; /* conn id -> mqtt_conn (node) */
	lws_sorted_usec_list_t sweep;
	/* The MQTT port's own SSL_CTX (vhost "mqtt"; NULL without TLS): set while attach creates the vhost,
	 * then touched by the device edge's service thread only, which swaps the pair in it at a reload. */
	SSL_CTX *ssl_ctx;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- outbound packets ---- */

/* A packet for conn with lws_write's headroom. Its tag is the subscription it needs: dropped unless the
 * connection holds need_sub (0: always sent). */
static edge_msg *outmsg_new(uint64_t conn, int need_sub)
{
	edge_msg *m = edge_msg_new(conn, LWS_PRE);

	m->tag = need_sub;
	return m;
}

/* A PUBLISH (QoS 0) of topic with a JSON body (NULL: empty), for a connection holding need_sub. */
static edge_msg *publish_new(uint64_t conn, int need_sub, const char *topic, const char *body)
{
	edge_msg *m = outmsg_new(conn, need_sub);

	mqtt_encode_publish(&m->frame, topic, strlen(topic), body, body ? strlen(body) : 0, 0, 0);
	return m;
}

/* ---- connection output (service thread) ---- */

/* Marks c for closing: flush 1 writes what is queued first (a CONNACK refusal), 0 closes at once. */
static void conn_close(mqtt_conn *c, int flush, const char *why)
{
	if (c->closing && (c->closing == 2 || flush))
		return;
	c->closing = flush ? 1 : 2;
	log_debug("mqtt: closing %s%s%s (conn %llu): %s", c->device_id, *c->module_id ? "/" : "", c->module_id,
		  (unsigned long long)c->node.id, why);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, CLOSE_SEND_SECS);
	lws_callback_on_writable(c->wsi);
}

/* Appends m (taken) to c's queue, or drops it when c lacks its subscription or is closing. */
static void conn_queue(mqtt_conn *c, edge_msg *m)
{
	if (c->closing || (m->tag && !(c->subs & m->tag))) {
		if (m->tag == SUB_METHODS && !c->closing && c->held.count < HELD_MAX) {
			/* IoT Hub holds a method call until the device subscribes (or the call times out). */
			edge_outq_push(&c->held, m, 0);
			return;
		}
		edge_msg_free_list(m);
		return;
	}
	if (edge_outq_push(&c->out, m, OUTBOUND_MAX)) {
		conn_close(c, 0, "reads too slowly (outbound queue overflow)");
		return;
	}
	lws_callback_on_writable(c->wsi);
}

/* A packet built on the service thread for c itself. */
static void conn_send(mqtt_conn *c, edge_msg *m)
{
	m->tag = 0;
	conn_queue(c, m);
}

static int conn_writeable(mqtt_conn *c)
{
	edge_msg *m = edge_outq_peek(&c->out);
	size_t len;
	int n;

	if (c->closing == 2 || (c->closing && !m)) {
		if (c->is_ws)
			lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	if (!m)
		return 0;
	m = edge_outq_pop(&c->out);
	len = edge_msg_body_len(m);
	n = lws_write(c->wsi, (unsigned char *)edge_msg_body(m), len, c->is_ws ? LWS_WRITE_BINARY : LWS_WRITE_RAW);
	edge_msg_free_list(m);
	metrics_count(METRIC_DEVICE_SENT, 1);
	if (n < (int)len)
		return -1;
	if (edge_outq_peek(&c->out) || c->closing)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* ---- inbox: any thread ---- */

/* edge_inbox's wake function (no context before attach: nothing to wake). */
static void inbox_wake(void *arg)
{
	mqtt_device *m = arg;

	if (m->context)
		lws_cancel_service(m->context);
}

static void inbox_push(mqtt_device *m, edge_msg *msg)
{
	edge_inbox_push(&m->inbox, msg);
}

/* edge_inbox_drain's route: msg (taken) for the live connection node. MQTT 3.1.1 has no close reason
 * or code: a close request ends the connection at once and the device sees it end. */
static void inbox_route(void *arg, connmap_node *node, edge_msg *msg)
{
	mqtt_conn *c = connmap_entry(node, mqtt_conn, node);

	(void)arg;
	if (msg->close) {
		conn_close(c, 0, edge_msg_body(msg));
		edge_msg_free_list(msg);
	} else {
		conn_queue(c, msg);
	}
}

static void drain_inbox(mqtt_device *m)
{
	edge_inbox_drain(&m->inbox, &m->conns, inbox_route, m);
}

/* ---- session_ops: any thread ---- */

static void op_deliver_desired(void *edge, uint64_t conn, const json_t *patch, int64_t version)
{
	char topic[96];
	json_t *body = json_is_object(patch) ? json_copy((json_t *)patch) : json_object();
	char *text;

	json_object_set_new(body, "$version", json_integer(version));
	text = json_dumps(body, JSON_COMPACT);
	snprintf(topic, sizeof(topic), "$iothub/twin/PATCH/properties/desired/?$version=%lld", (long long)version);
	inbox_push(edge, publish_new(conn, SUB_DESIRED, topic, text));
	free(text);
	json_decref(body);
}

static void op_deliver_method(void *edge, uint64_t conn, const char *rid, const char *name, const json_t *payload)
{
	buf topic = BUF_INIT;
	char *text = payload ? json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	buf_printf(&topic, "$iothub/methods/POST/%s/?$rid=%s", name, rid);
	inbox_push(edge, publish_new(conn, SUB_METHODS, buf_cstr(&topic), text ? text : "null"));
	free(text);
	buf_release(&topic);
}

static void op_close(void *edge, uint64_t conn, int code, const char *reason)
{
	/* The code is carried but unused: MQTT 3.1.1 has no close reason (inbox_route). */
	inbox_push(edge, edge_msg_new_close(conn, LWS_PRE, code, reason));
}

static const session_ops mqtt_session_ops = {
    .deliver_desired = op_deliver_desired,
    .deliver_method = op_deliver_method,
    .close = op_close,
};

/* ---- topics ---- */

/* The value of `$rid` in a topic's query ("...?$rid=X&..."), copied into rid. 0, or -1 when absent or
 * too long. */
static int topic_rid(const char *topic, char rid[RID_MAX + 1])
{
	const char *q = strchr(topic, '?');

	for (const char *p = q ? q + 1 : NULL; p && *p;) {
		size_t n = strcspn(p, "&");
		if (n > 5 && strncmp(p, "$rid=", 5) == 0) {
			if (n - 5 > RID_MAX)
				return -1;
			memcpy(rid, p + 5, n - 5);
			rid[n - 5] = '\0';
			return 0;
		}
		p += n;
		p += *p == '&';
	}
	return -1;
}

/* Percent-decodes in[0..n) into a new string; NULL when malformed or holding NUL. */
static char *decode_part(const char *in, size_t n)
{
	char *out = xmalloc(n + 1);
	int len = url_decode(in, n, out, n + 1);

	if (len < 0 || strlen(out) != (size_t)len) {
		free(out);
		return NULL;
	}
	return out;
}

/* A property bag "k=v&k2&k3=" (percent-encoded, `%24.mid` for `$.mid`) as a JSON object: a key
 * alone has the value null. NULL when malformed. */
static json_t *property_bag(const char *bag)
{
	json_t *props = json_object();

	for (const char *p = bag; *p;) {
		size_t n = strcspn(p, "&"), k = strcspn(p, "=");
		char *key = decode_part(p, k < n ? k : n);
		char *value = k < n ? decode_part(p + k + 1, n - k - 1) : NULL;
		int bad = !key || !*key || (k < n && !value);

		if (!bad)
			json_object_set_new(props, key, value ? json_string(value) : json_null());
		free(key);
		free(value);
		if (bad) {
			json_decref(props);
			return NULL;
		}
		p += n;
		p += *p == '&';
	}
	return props;
}

/* The twin response topic with status, and an error body when code is an error. */
static edge_msg *twin_reply_new(uint64_t conn, const char *rid, int code, const char *message, const char *body,
			      int status, int64_t version)
{
	char topic[RID_MAX + 96];
	edge_msg *m;

	if (code) {
		err_http_info info = err_http(code);
		json_t *err = json_pack("{s:i,s:s}", "errorCode", info.number, "message", message ? message : "");
		char *text = json_dumps(err, JSON_COMPACT);
		snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%s", info.status, rid);
		m = publish_new(conn, SUB_TWIN_RES, topic, text);
		free(text);
		json_decref(err);
		return m;
	}
	if (version >= 0)
		snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%s&$version=%lld", status, rid,
			 (long long)version);
	else
		snprintf(topic, sizeof(topic), "$iothub/twin/res/%d/?$rid=%s", status, rid);
	return publish_new(conn, SUB_TWIN_RES, topic, body);
}

/* ---- what a device publishes: one table of topics ---- */

typedef struct publish_ctx {
	mqtt_device *m;
	mqtt_conn *c;
	const mqtt_packet *pkt;
	const char *topic; /* NUL-terminated copy */
	const char *rest;  /* the topic after the route's prefix */
} publish_ctx;

static int on_twin_get(publish_ctx *x)
{
	char rid[RID_MAX + 1];
	json_t *properties = NULL;
	int64_t desired_version, reported_version;
	char *text;
	int rc;

	if (topic_rid(x->topic, rid))
		return err_set(DH_EINVAL, "twin GET without $rid");
	err_clear();
	rc = twin_get_properties(x->c->device_id, x->c->module_id, -1, &properties, &desired_version,
				 &reported_version);
	text = properties ? json_dumps(properties, JSON_COMPACT) : NULL;
	conn_queue(x->c, twin_reply_new(x->c->node.id, rid, rc, err_message(), text, 200, -1));
	free(text);
	json_decref(properties);
	return 0;
}

typedef struct reported_wait {
	mqtt_device *m;
	uint64_t conn;
	char rid[RID_MAX + 1];
} reported_wait;

/* twin_batch's completion, on its writer thread, after the commit. */
static void reported_done(void *ctx, int code, int64_t version, const char *message)
{
	reported_wait *w = ctx;

	inbox_push(w->m, twin_reply_new(w->conn, w->rid, code, message, NULL, 204, version));
	free(w);
}

static int on_reported(publish_ctx *x)
{
	json_error_t jerr;
	reported_wait *w;
	char rid[RID_MAX + 1];
	json_t *patch;

	if (topic_rid(x->topic, rid))
		return err_set(DH_EINVAL, "reported PATCH without $rid");
	patch = json_loadb(x->pkt->payload.p, x->pkt->payload.len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(patch)) {
		json_decref(patch);
		err_set(DH_EINVAL, "the reported patch is not a JSON object");
		conn_queue(x->c, twin_reply_new(x->c->node.id, rid, DH_EINVAL, err_message(), NULL, 0, -1));
		return 0;
	}
	w = xcalloc(1, sizeof(*w));
	w->m = x->m;
	w->conn = x->c->node.id;
	memcpy(w->rid, rid, sizeof(rid));
	/* Batched on twin_batch's thread, so this service thread never waits on the database. */
	twin_batch_submit(x->c->device_id, x->c->module_id, patch, reported_done, w);
	return 0;
}

/* "$iothub/methods/res/{status}/?$rid={rid}" */
static int on_method_response(publish_ctx *x)
{
	char rid[RID_MAX + 1], *end;
	long status = strtol(x->rest, &end, 10);
	json_t *payload = NULL;

	if (end == x->rest || *end != '/' || topic_rid(x->topic, rid))
		return err_set(DH_EINVAL, "method response topic without status or $rid");
	if (x->pkt->payload.len)
		payload = json_loadb(x->pkt->payload.p, x->pkt->payload.len, JSON_DECODE_ANY, NULL);
	method_response(x->c->device_id, x->c->module_id, rid, (int)status, payload ? payload : json_null());
	return 0;
}

/* "devices/{id}[/modules/{mid}]/messages/events/{bag}": rest is after "devices/". */
static int on_telemetry(publish_ctx *x)
{
	const mqtt_conn *c = x->c;
	size_t dn = strlen(c->device_id), mn = strlen(c->module_id);
	const char *p = x->rest;
	json_t *props;

	if (strncmp(p, c->device_id, dn) != 0 || p[dn] != '/')
		return err_set(DH_EINVAL, "telemetry for another device");
	p += dn + 1;
	if (mn && (strncmp(p, "modules/", 8) != 0 || strncmp(p + 8, c->module_id, mn) != 0 || p[8 + mn] != '/'))
		return err_set(DH_EINVAL, "telemetry for another module");
	if (mn)
		p += 8 + mn + 1;
	if (strncmp(p, "messages/events/", 16) != 0)
		return err_set(DH_EINVAL, "unknown topic");
	if (x->pkt->payload.len > TELEMETRY_MAX)
		return err_set(DH_EINVAL, "message larger than 256 KB");
	if (!(props = property_bag(p + 16)))
		return err_set(DH_EINVAL, "malformed property bag");
	if (x->pkt->retain)
		json_object_set_new(props, "mqtt-retain", json_string("true"));
	telemetry_record(c->device_id, c->module_id, props, x->pkt->payload.p, x->pkt->payload.len);
	metrics_count(METRIC_DEVICE_TELEMETRY, 1);
	if (x->pkt->qos == 1) {
		edge_msg *ack = outmsg_new(c->node.id, 0);
		mqtt_encode_puback(&ack->frame, x->pkt->packet_id);
		conn_send(x->c, ack);
	}
	return 0;
}

static const struct {
	const char *prefix;
	const char *metric; /* the type label of METRIC_DEVICE_RECEIVED */
	int (*handle)(publish_ctx *);
} publish_routes[] = {
    {"$iothub/twin/GET/", "mqtt.twin.get", on_twin_get},
    {"$iothub/twin/PATCH/properties/reported/", "mqtt.reported.patch", on_reported},
    {"$iothub/methods/res/", "mqtt.method.response", on_method_response},
    {"devices/", "mqtt.telemetry", on_telemetry},
};

/* ---- packets: one table ---- */

static int str_is(mqtt_str s, const char *text)
{
	return s.len == strlen(text) && memcmp(s.p, text, s.len) == 0;
}

static void send_connack(mqtt_conn *c, int code)
{
	edge_msg *m = outmsg_new(c->node.id, 0);

	mqtt_encode_connack(&m->frame, 0, code);
	conn_send(c, m);
	if (code)
		conn_close(c, 1, "CONNECT refused");
}

/* The identity of a CONNECT: user name "{host}/{deviceId}[/{moduleId}]/?api-version=..", client id
 * "{deviceId}[/{moduleId}]". Returns a CONNACK code (0 when the identity is well formed). */
static int connect_identity(mqtt_conn *c, const mqtt_packet *pkt)
{
	char user[512], *part[4] = {0};
	const char *q = pkt->has_username ? memchr(pkt->username.p, '?', pkt->username.len) : NULL;
	size_t n = q ? (size_t)(q - pkt->username.p) : pkt->has_username ? pkt->username.len : 0;
	int nparts = 0;
	char client[260];

	if (n == 0 || n >= sizeof(user))
		return MQTT_CONNACK_BAD_CREDENTIALS;
	memcpy(user, pkt->username.p, n);
	user[n] = '\0';
	if (user[n - 1] == '/')
		user[n - 1] = '\0';
	for (char *save = NULL, *tok = strtok_r(user, "/", &save); tok; tok = strtok_r(NULL, "/", &save))
		if (nparts < 4)
			part[nparts++] = tok;
	if (nparts < 2 || nparts > 3 || strlen(part[1]) > 128 || (nparts == 3 && strlen(part[2]) > 128) ||
	    !registry_id_valid(part[1]) || (nparts == 3 && !registry_id_valid(part[2])))
		return MQTT_CONNACK_BAD_CREDENTIALS;
	snprintf(c->device_id, sizeof(c->device_id), "%s", part[1]);
	snprintf(c->module_id, sizeof(c->module_id), "%s", nparts == 3 ? part[2] : "");
	snprintf(client, sizeof(client), "%s%s%s", c->device_id, *c->module_id ? "/" : "", c->module_id);
	if (!str_is(pkt->client_id, client))
		return MQTT_CONNACK_BAD_CLIENT_ID;
	return 0;
}

static int connect_auth(mqtt_conn *c, const mqtt_packet *pkt)
{
	char sha1[TLS_SHA1_HEX], sha256[TLS_SHA256_HEX];

	if (pkt->has_password && pkt->password.len)
		return auth_check_device(pkt->password.p, pkt->password.len, c->device_id, c->module_id);
	if (ws_device_peer_thumbprints(c->wsi, sha1, sha256) == 0)
		return auth_check_device_x509(c->device_id, c->module_id, sha1, sha256);
	return err_set(DH_EUNAUTH, "no password and no client certificate");
}

static int on_connect(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	int code, rc;

	if (c->connected)
		return err_set(DH_EINVAL, "a second CONNECT");
	if (!str_is(pkt->protocol_name, "MQTT") || pkt->protocol_level != 4) {
		send_connack(c, MQTT_CONNACK_BAD_PROTOCOL);
		return 0;
	}
	if ((code = connect_identity(c, pkt)) != 0) {
		log_debug("mqtt: CONNECT refused (%d): bad user name or client id", code);
		send_connack(c, code);
		return 0;
	}
	err_clear();
	if ((rc = connect_auth(c, pkt)) != 0) {
		log_debug("mqtt: CONNECT of %s refused: %s", c->device_id, err_message());
		send_connack(c, rc == DH_EUNAUTH || rc == DH_EEXPIRED || rc == DH_ERIGHT ? MQTT_CONNACK_NOT_AUTHORIZED
											    : MQTT_CONNACK_UNAVAILABLE);
		return 0;
	}
	c->connected = 1;
	/* IoT Hub drops a client silent for 1.5x its keepalive (0 = none asked: the cap applies). */
	c->keepalive_ms = pkt->keepalive ? (int64_t)pkt->keepalive * 1500 : KEEPALIVE_MAX_MS;
	if (c->keepalive_ms > KEEPALIVE_MAX_MS)
		c->keepalive_ms = KEEPALIVE_MAX_MS;
	if (session_open(c->device_id, c->module_id, &mqtt_session_ops, m, c->node.id) != 0) {
		log_warn("mqtt: session for %s could not open: %s", c->device_id, err_message());
		send_connack(c, MQTT_CONNACK_UNAVAILABLE);
		return 0;
	}
	c->opened = 1;
	metrics_count(METRIC_DEVICE_CONNECTIONS, 1);
	send_connack(c, MQTT_CONNACK_ACCEPTED);
	log_debug("mqtt: %s%s%s connected over %s (conn %llu)", c->device_id, *c->module_id ? "/" : "", c->module_id,
		  c->is_ws ? "WebSocket" : "TCP", (unsigned long long)c->node.id);
	return 0;
}

static int on_publish(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	publish_ctx x = {m, c, pkt, NULL, NULL};
	char *topic;
	int rc = -1;

	if (pkt->qos == 2)
		return err_set(DH_EINVAL, "QoS 2 PUBLISH (IoT Hub closes the connection)");
	topic = xstrndup(pkt->topic.p, pkt->topic.len);
	x.topic = topic;
	for (size_t i = 0; i < sizeof(publish_routes) / sizeof(publish_routes[0]); i++) {
		size_t n = strlen(publish_routes[i].prefix);
		if (strncmp(topic, publish_routes[i].prefix, n) == 0) {
			x.rest = topic + n;
			metrics_count(METRIC_DEVICE_RECEIVED, 1, publish_routes[i].metric);
			rc = publish_routes[i].handle(&x);
			break;
		}
	}
	if (rc < 0 && !x.rest)
		rc = err_set(DH_EINVAL, "PUBLISH to a topic IoT Hub does not serve: %.80s", topic);
	free(topic);
	return rc;
}

/* The subscription a topic filter names, or 0 when IoT Hub serves no such topic. */
static int filter_sub(const mqtt_conn *c, mqtt_str f)
{
	char c2d[400];

	if (str_is(f, "$iothub/twin/res/#"))
		return SUB_TWIN_RES;
	if (str_is(f, "$iothub/twin/PATCH/properties/desired/#"))
		return SUB_DESIRED;
	if (str_is(f, "$iothub/methods/POST/#"))
		return SUB_METHODS;
	if (*c->module_id)
		snprintf(c2d, sizeof(c2d), "devices/%s/modules/%s/inputs/#", c->device_id, c->module_id);
	else
		snprintf(c2d, sizeof(c2d), "devices/%s/messages/devicebound/#", c->device_id);
	return str_is(f, c2d) ? SUB_C2D : 0;
}

static int on_subscribe(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	uint8_t codes[MQTT_SUBSCRIBE_MAX];
	edge_msg *ack = outmsg_new(c->node.id, 0), *held;

	(void)m;
	for (int i = 0; i < pkt->nfilters; i++) {
		int sub = filter_sub(c, pkt->filters[i]);
		c->subs |= sub;
		/* QoS 2 is granted 1 (IoT Hub's quirk); unknown topics fail. */
		codes[i] = sub ? (pkt->filter_qos[i] > 1 ? 1 : pkt->filter_qos[i]) : 0x80;
	}
	mqtt_encode_suback(&ack->frame, pkt->packet_id, codes, pkt->nfilters);
	conn_send(c, ack);
	if ((c->subs & SUB_METHODS) && edge_outq_peek(&c->held)) {
		held = edge_outq_take_all(&c->held);
		for (edge_msg *next; held; held = next) {
			next = held->next;
			conn_queue(c, held);
		}
	}
	return 0;
}

static int on_unsubscribe(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	edge_msg *ack = outmsg_new(c->node.id, 0);

	(void)m;
	for (int i = 0; i < pkt->nfilters; i++)
		c->subs &= ~filter_sub(c, pkt->filters[i]);
	mqtt_encode_unsuback(&ack->frame, pkt->packet_id);
	conn_send(c, ack);
	return 0;
}

static int on_pingreq(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	edge_msg *pong = outmsg_new(c->node.id, 0);

	(void)m, (void)pkt;
	mqtt_encode_pingresp(&pong->frame);
	conn_send(c, pong);
	return 0;
}

static int on_disconnect(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	(void)m, (void)pkt;
	conn_close(c, 0, "DISCONNECT");
	return 0;
}

/* Nothing is sent at QoS 1 yet (no cloud-to-device messages), so a PUBACK settles nothing. */
static int on_puback(mqtt_device *m, mqtt_conn *c, const mqtt_packet *pkt)
{
	(void)m, (void)c, (void)pkt;
	return 0;
}

static int (*const packet_handlers[16])(mqtt_device *, mqtt_conn *, const mqtt_packet *) = {
    [MQTT_CONNECT] = on_connect,     [MQTT_PUBLISH] = on_publish,         [MQTT_PUBACK] = on_puback,
    [MQTT_SUBSCRIBE] = on_subscribe, [MQTT_UNSUBSCRIBE] = on_unsubscribe, [MQTT_PINGREQ] = on_pingreq,
    [MQTT_DISCONNECT] = on_disconnect,
};

/* The one gate for a connection's bytes: parse, dispatch; a malformed packet, a protocol violation or
 * a topic IoT Hub does not serve closes this connection (as IoT Hub does) and nothing else. */
static void conn_receive(mqtt_device *m, mqtt_conn *c, const uint8_t *data, size_t len)
{
	mqtt_packet pkt;
	int rc;

	if (c->closing)
		return;
	c->last_rx_ms = now_ms();
	err_clear();
	while ((rc = mqtt_parser_next(&c->parser, &data, &len, &pkt)) == 1) {
		if (!c->connected && pkt.type != MQTT_CONNECT) {
			rc = err_set(DH_EINVAL, "%s before CONNECT", mqtt_type_name(pkt.type));
		} else if (!packet_handlers[pkt.type]) {
			rc = err_set(DH_EINVAL, "%s is not served", mqtt_type_name(pkt.type));
		} else {
			rc = packet_handlers[pkt.type](m, c, &pkt);
		}
		if (rc < 0 || c->closing)
			break;
		if (c->connected)
			session_activity(c->device_id, c->module_id);
	}
	if (rc < 0) {
		metrics_count(METRIC_DEVICE_RECEIVED, 1, "invalid");
		metrics_count(METRIC_DEVICE_ERRORS, 1);
		conn_close(c, 0, err_message());
	}
}

/* ---- connection life (service thread) ---- */

static void conn_opened(mqtt_device *m, struct lws *wsi, mqtt_conn *c, int is_ws)
{
	c->wsi = wsi;
	c->node.id = ++m->next_id;
	c->is_ws = is_ws;
	c->created_ms = c->last_rx_ms = now_ms();
	mqtt_parser_init(&c->parser);
	connmap_insert(&m->conns, &c->node);
}

static void conn_closed(mqtt_device *m, mqtt_conn *c)
{
	if (!c || !c->node.id)
		return;
	connmap_remove(&m->conns, &c->node);
	if (c->opened)
		session_closed(c->device_id, c->module_id, c->node.id);
	edge_outq_release(&c->out);
	edge_outq_release(&c->held);
	mqtt_parser_release(&c->parser);
	if (c->connected)
		log_debug("mqtt: %s%s%s disconnected (conn %llu)", c->device_id, *c->module_id ? "/" : "",
			  c->module_id, (unsigned long long)c->node.id);
	c->node.id = 0;
}

/* Once a second for every connection (one timer: see ws_device's sweep): CONNECT and keepalive limits. */
static void sweep_keepalive(lws_sorted_usec_list_t *sul)
{
	mqtt_device *m = lws_container_of(sul, mqtt_device, sweep);
	int64_t now = now_ms();

	connmap_for_each(c, mqtt_conn, node, &m->conns) {
		if (c->closing)
			continue;
		if (!c->connected && now - c->created_ms >= CONNECT_WAIT_MS)
			conn_close(c, 0, "no CONNECT in time");
		else if (c->connected && now - c->last_rx_ms >= c->keepalive_ms)
			conn_close(c, 0, "keepalive timeout");
	}
	lws_sul_schedule(m->context, 0, &m->sweep, sweep_keepalive, LWS_US_PER_SEC);
}

/* A client certificate is asked for but not required; its thumbprint is checked at CONNECT, so only
 * one outside its validity period is refused here (as on the devicehub.v1 port). */
static int verify_client_cert(X509_STORE_CTX *chain_ctx)
{
	int err = X509_STORE_CTX_get_error(chain_ctx);

	return err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID;
}

static int common_callback(mqtt_device *m, enum lws_callback_reasons reason)
{
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED && m)
		drain_inbox(m);
	return 0;
}

static int raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *proto = wsi ? lws_get_protocol(wsi) : NULL;
	mqtt_device *m = proto ? proto->user : NULL;
	mqtt_conn *c = user;
	int one = 1, fd;

	switch (reason) {
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* At the creation of the MQTT vhost (attach). wsi is a stand-in with no protocol, so m is NULL
		 * here: the vhost (in) carries m as its user. */
		if (in && (m = lws_vhost_user(in)) != NULL)
			m->ssl_ctx = user;
		return 0;
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		return verify_client_cert(user);
	case LWS_CALLBACK_RAW_ADOPT:
		if (!m || !c)
			return -1;
		fd = lws_get_socket_fd(wsi);
		/* Nagle plus delayed ACK turns a request/response into 40 ms. */
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		conn_opened(m, wsi, c, 0);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		if (c && c->node.id)
			conn_receive(m, c, in, len);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		return c && c->node.id ? conn_writeable(c) : 0;
	case LWS_CALLBACK_RAW_CLOSE:
		conn_closed(m, c);
		return 0;
	default:
		return common_callback(m, reason);
	}
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *proto = wsi ? lws_get_protocol(wsi) : NULL;
	mqtt_device *m = proto ? proto->user : NULL;
	mqtt_conn *c = user;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (!m || !c)
			return -1;
		conn_opened(m, wsi, c, 1);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		/* MQTT over WebSocket is a byte stream in binary frames: packets may span or share frames. */
		if (c && c->node.id)
			conn_receive(m, c, in, len);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c && c->node.id ? conn_writeable(c) : 0;
	case LWS_CALLBACK_CLOSED:
		conn_closed(m, c);
		return 0;
	default:
		return common_callback(m, reason);
	}
}

/* ---- start and stop ---- */

/* ws_device_ext.attach: on the starting thread, before the service thread runs. */
static int attach(void *arg, struct lws_context *context)
{
	mqtt_device *m = arg;
	struct lws_context_creation_info info;
	struct in_addr v4;

	m->context = context;
	lws_sul_schedule(context, 0, &m->sweep, sweep_keepalive, LWS_US_PER_SEC);
	if (!m->port)
		return 0;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "mqtt";
	info.user = m; /* the vhost's user: how raw_callback finds m while the vhost is being created */
	info.port = m->port;
	info.iface = m->addr && *m->addr && strcmp(m->addr, "0.0.0.0") != 0 ? m->addr : NULL;
	info.protocols = m->raw_protocols;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = m->raw_protocols[0].name;
	info.options = LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG;
	if (m->addr && inet_pton(AF_INET, m->addr, &v4) == 1)
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (m->cert_path) {
		info.ssl_cert_filepath = m->cert_path;
		info.ssl_private_key_filepath = m->key_path;
		info.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
				LWS_SERVER_OPTION_PEER_CERT_NOT_REQUIRED;
	}
	if (!lws_create_vhost(context, &info))
		return err_set(DH_EIO, "mqtt: cannot listen on %s:%d%s", m->addr ? m->addr : "*", m->port,
			       m->cert_path ? " (or OpenSSL refused the certificate)" : "");
	/* Without it a certificate reload would silently pass this port by. */
	if (m->cert_path && !m->ssl_ctx)
		return err_set(DH_EINTERNAL, "mqtt: libwebsockets did not expose its TLS context");
	return 0;
}

/* ws_device_ext.tls_context: the MQTT port's SSL_CTX, for the device edge's certificate reload. */
static struct ssl_ctx_st *tls_context(void *arg)
{
	mqtt_device *m = arg;

	return m->ssl_ctx;
}

mqtt_device *mqtt_device_new(const char *addr, int port, const char *cert_path, const char *key_path)
{
	mqtt_device *m = xcalloc(1, sizeof(*m));
	const struct lws_protocols ws = {"mqtt", ws_callback, sizeof(mqtt_conn), RX_CHUNK, 0, m, 0};
	const struct lws_protocols raw = {"iothub-mqtt-raw", raw_callback, sizeof(mqtt_conn), RX_CHUNK, 0, m, 0};

	m->addr = addr ? xstrdup(addr) : NULL;
	m->port = port;
	m->cert_path = cert_path ? xstrdup(cert_path) : NULL;
	m->key_path = key_path ? xstrdup(key_path) : NULL;
	edge_inbox_init(&m->inbox, inbox_wake, m);
	/* The Node SDK offers `mqtt`, the C SDK `MQTT`; lws echoes the one matched. */
	m->ws_protocols[0] = ws;
	m->ws_protocols[1] = ws;
	m->ws_protocols[1].name = "MQTT";
	m->raw_protocols[0] = raw;
	m->ext.protocols = m->ws_protocols;
	m->ext.path = MQTT_WS_PATH;
	m->ext.attach = attach;
	m->ext.tls_context = tls_context;
	m->ext.arg = m;
	connmap_init(&m->conns);
	return m;
}

const ws_device_ext *mqtt_device_ext(mqtt_device *m)
{
	return &m->ext;
}

void mqtt_device_free(mqtt_device *m)
{
	if (!m)
		return;
	edge_inbox_release(&m->inbox);
	connmap_release(&m->conns);
	free(m->addr);
	free(m->cert_path);
	free(m->key_path);
	free(m);
}
