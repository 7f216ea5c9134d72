/*
 * ws_events: `devicehub.events.v1` on the device edge's lws context.
 *
 * Threads: the events subscriber (any publishing thread) only sets a flag and, when the flag was clear
 * and someone listens, calls lws_cancel_service; the service thread, in LWS_CALLBACK_EVENT_WAIT_CANCELLED,
 * asks every client behind the newest seq for a writeable callback, where one frame per callback is
 * written. Nothing is queued per client: the client's cursor into the events ring is its queue.
 *
 * Lifetimes: lws allocates and frees each ev_conn; it is linked into the client list at ESTABLISHED and
 * unlinked at CLOSED, the one point that forgets it. A connection is never freed here: a write error
 * returns -1 from the writeable callback and lws closes it after the callback returns.
 *
 * Cross-site use: no Origin check. A browser page can open this socket only with a ticket, which only a
 * POST carrying the session's CSRF token (or a SAS token) obtains; another site's page can do neither,
 * and a WebSocket cannot send an Authorization header. So cross-site WebSocket hijacking has nothing to
 * ride on, and the dashboard (served from the REST port, another origin) needs no allow-list.
 */
#include "ws_events.h"

#include "auth.h"
#include "buf.h"
#include "err.h"
#include "events.h"
#include "log.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_TEXT_MAX 2048
#define ARG_MAX 128
#define RX_CHUNK 512   /* clients send nothing that matters */
#define WRITE_BATCH 64 /* frames per writeable callback at most */

typedef struct ev_conn {
	struct lws *wsi;
	struct ev_conn *prev, *next; /* the client list; linked while live */
	int64_t cursor;              /* the seq last written (or skipped) */
	int64_t since;               /* from the query, -1 when absent */
	int64_t hello_seq, hello_oldest;
	unsigned linked : 1, hello_due : 1, resync_due : 1;
} ev_conn;

struct ws_events {
	struct lws_protocols protocols[2];
	ws_device_ext ext;
	struct lws_context *context;
	atomic_int clients;      /* live clients, read by the subscriber */
	atomic_int wake_pending; /* a wakeup is on its way to the service thread */
	atomic_int attached;     /* subscribed to events */
	/* Service thread only. */
	ev_conn *head;
	char *scratch; /* LWS_PRE bytes of headroom plus the frame */
	size_t scratch_cap;
};

/* ---- wakeups: any thread ---- */

static void on_published(void *arg, int64_t seq)
{
	ws_events *ev = arg;

	(void)seq;
	/* Cheap when nobody listens (connect storms publish here), and one wakeup per drain otherwise. */
	if (atomic_load(&ev->clients) == 0 || atomic_exchange(&ev->wake_pending, 1))
		return;
	lws_cancel_service(ev->context);
}

/* ---- the upgrade ---- */

/* The `since` query argument: 0 and *since = -1 when absent, *since >= 0 when a whole decimal number,
 * else DH_EINVAL. */
static int query_since(struct lws *wsi, int64_t *since)
{
	char text[ARG_MAX], *end;
	const char *v = lws_get_urlarg_by_name(wsi, "since=", text, sizeof(text));
	long long n;

	*since = -1;
	if (!v)
		return 0;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n < 0 || *v == '+' || *v == ' ')
		return err_set(DH_EINVAL, "since must be a sequence number (0 or more)");
	*since = n;
	return 0;
}

/* 1 when the client offered devicehub.events.v1. */
static int offers_protocol(struct lws *wsi)
{
	char list[256];
	int n = lws_hdr_copy(wsi, list, sizeof(list), WSI_TOKEN_PROTOCOL);
	const size_t plen = strlen(WS_EVENTS_PROTOCOL);

	for (char *p = list; n > 0 && *p;) {
		size_t tok;
		p += strspn(p, " \t,");
		tok = strcspn(p, " \t,");
		if (tok == plen && strncmp(p, WS_EVENTS_PROTOCOL, plen) == 0)
			return 1;
		p += tok;
	}
	return 0;
}

/* ws_device_ext.confirm_upgrade: a service SAS token with ServiceConnect, else a ticket (spent here). */
static unsigned int confirm_upgrade(void *arg, struct lws *wsi)
{
	char text[AUTH_TEXT_MAX];
	const char *ticket;
	int64_t since;
	int n;

	(void)arg;
	if (!offers_protocol(wsi)) {
		err_set(DH_EINVAL, "subprotocol " WS_EVENTS_PROTOCOL " not offered");
		return HTTP_STATUS_BAD_REQUEST;
	}
	if (query_since(wsi, &since))
		return HTTP_STATUS_BAD_REQUEST;
	n = lws_hdr_copy(wsi, text, sizeof(text), WSI_TOKEN_HTTP_AUTHORIZATION);
	if (n > 0)
		return auth_check(text, (size_t)n, AUTH_SERVICE_CONNECT) ? HTTP_STATUS_UNAUTHORIZED : 0;
	ticket = lws_get_urlarg_by_name(wsi, "ticket=", text, sizeof(text));
	if (!ticket) {
		err_set(DH_EUNAUTH, "no ticket and no Authorization header");
		return HTTP_STATUS_UNAUTHORIZED;
	}
	return events_ticket_take(ticket) ? HTTP_STATUS_UNAUTHORIZED : 0;
}

/* 1 when the connection came through this edge's path, so confirm_upgrade authenticated it: a client
 * could ask for this subprotocol on another path (the device or MQTT one). */
static int on_own_path(struct lws *wsi)
{
	char uri[256];
	int n = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);

	return n > 0 && strcmp(uri, WS_EVENTS_PATH) == 0;
}

/* ---- connections (service thread) ---- */

static void on_established(ws_events *ev, struct lws *wsi, ev_conn *c)
{
	int64_t oldest, latest;

	c->wsi = wsi;
	events_bounds(&oldest, &latest);
	c->hello_seq = latest;
	c->hello_oldest = oldest;
	c->hello_due = 1;
	c->cursor = latest;
	if (c->since >= 0 && (c->since > latest || (c->since < latest && c->since + 1 < oldest)))
		c->resync_due = 1; /* the missed events are gone (or the seq is from before a restart) */
	else if (c->since >= 0)
		c->cursor = c->since;
	c->next = ev->head;
	if (ev->head)
		ev->head->prev = c;
	ev->head = c;
	c->linked = 1;
	atomic_fetch_add(&ev->clients, 1);
	lws_callback_on_writable(wsi);
}

static void on_closed(ws_events *ev, ev_conn *c)
{
	if (!c || !c->linked)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		ev->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->linked = 0;
	atomic_fetch_sub(&ev->clients, 1);
}

/* Writes text as one text frame. Returns what the writeable callback returns. */
static int write_text(ws_events *ev, struct lws *wsi, const char *text, size_t len)
{
	if (LWS_PRE + len > ev->scratch_cap) {
		ev->scratch_cap = LWS_PRE + len + 1024;
		ev->scratch = xrealloc(ev->scratch, ev->scratch_cap);
	}
	memcpy(ev->scratch + LWS_PRE, text, len);
	return lws_write(wsi, (unsigned char *)ev->scratch + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len ? -1 : 0;
}

static int write_resync(ws_events *ev, ev_conn *c, int64_t latest)
{
	static const char resync[] = "{\"type\":\"resync\"}";

	c->resync_due = 0;
	c->cursor = latest;
	return write_text(ev, c->wsi, resync, sizeof(resync) - 1);
}

/* One frame: hello, a resync, or the next event after the cursor. Returns 0 (written), 1 (nothing to
 * write) or -1 (the connection failed). */
static int write_one(ws_events *ev, ev_conn *c)
{
	events_item *it = NULL;
	char hello[128];
	int64_t latest;
	size_t len;
	int n, rc;

	if (c->hello_due) {
		c->hello_due = 0;
		n = snprintf(hello, sizeof(hello), "{\"type\":\"hello\",\"seq\":%lld,\"oldest\":%lld}",
			     (long long)c->hello_seq, (long long)c->hello_oldest);
		return write_text(ev, c->wsi, hello, (size_t)n);
	}
	events_bounds(NULL, &latest);
	if (c->resync_due || latest - c->cursor > WS_EVENTS_BEHIND_MAX)
		return write_resync(ev, c, latest);
	if ((n = events_since(c->cursor, &it, 1)) == EVENTS_GAP)
		return write_resync(ev, c, latest);
	if (n == 0)
		return 1;
	const char *text = events_item_text(it, &len);
	c->cursor = events_item_seq(it);
	rc = write_text(ev, c->wsi, text, len);
	events_item_unref(it);
	return rc;
}

/* Up to WRITE_BATCH frames while the socket takes them (lws allows several writes per callback when
 * lws_partial_buffered() is checked after each): one frame per callback starves a client while a
 * connect storm keeps the service loop busy. Then asks for another callback if more is waiting. */
static int on_writeable(ws_events *ev, ev_conn *c)
{
	int64_t latest;
	int rc = 0;

	for (int i = 0; i < WRITE_BATCH && rc == 0; i++) {
		if ((rc = write_one(ev, c)) < 0)
			return -1;
		if (lws_partial_buffered(c->wsi) || lws_send_pipe_choked(c->wsi))
			break;
	}
	events_bounds(NULL, &latest);
	if (c->hello_due || c->resync_due || c->cursor < latest)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* A wakeup: every client behind the newest event asks for a writeable callback. */
static void on_wakeup(ws_events *ev)
{
	int64_t latest;

	/* Cleared before reading latest, so an event published meanwhile wakes us again. */
	atomic_store(&ev->wake_pending, 0);
	events_bounds(NULL, &latest);
	for (ev_conn *c = ev->head; c; c = c->next)
		if (c->cursor < latest)
			lws_callback_on_writable(c->wsi);
}

static int events_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *proto = wsi ? lws_get_protocol(wsi) : NULL;
	ws_events *ev = proto ? proto->user : NULL;
	ev_conn *c = user;

	(void)in;
	(void)len;
	switch (reason) {
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		if (!c || !on_own_path(wsi))
			return -1;
		return query_since(wsi, &c->since) ? -1 : 0;
	case LWS_CALLBACK_ESTABLISHED:
		if (!ev || !c)
			return -1;
		on_established(ev, wsi, c);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return ev && c && c->linked ? on_writeable(ev, c) : 0;
	case LWS_CALLBACK_RECEIVE:
		return 0; /* the stream is one-way; whatever a client sends is ignored */
	case LWS_CALLBACK_CLOSED:
		if (ev)
			on_closed(ev, c);
		return 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (ev && atomic_load(&ev->wake_pending))
			on_wakeup(ev);
		return 0;
	default:
		return 0;
	}
}

/* ---- start and stop ---- */

/* ws_device_ext.attach: the context exists; events may now wake it. */
static int attach(void *arg, struct lws_context *context)
{
	ws_events *ev = arg;

	ev->context = context;
	events_subscribe(on_published, ev);
	atomic_store(&ev->attached, 1);
	return 0;
}

ws_events *ws_events_new(void)
{
	ws_events *ev = xcalloc(1, sizeof(*ev));
	const struct lws_protocols proto = {WS_EVENTS_PROTOCOL, events_callback, sizeof(ev_conn), RX_CHUNK, 0, ev, 0};

	ev->protocols[0] = proto;
	ev->ext.protocols = ev->protocols;
	ev->ext.path = WS_EVENTS_PATH;
	ev->ext.attach = attach;
	ev->ext.confirm_upgrade = confirm_upgrade;
	ev->ext.arg = ev;
	return ev;
}

const ws_device_ext *ws_events_ext(ws_events *ev)
{
	return &ev->ext;
}

void ws_events_detach(ws_events *ev)
{
	if (ev && atomic_exchange(&ev->attached, 0))
		events_subscribe(NULL, NULL);
}

void ws_events_free(ws_events *ev)
{
	if (!ev)
		return;
	ws_events_detach(ev);
	free(ev->scratch);
	free(ev);
}
