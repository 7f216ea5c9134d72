/*
 * events: the ring of published events and the event-socket tickets.
 *
 * Publishing serialises the event's members outside the lock, then, under the one mutex, takes the next
 * seq and the hub time, writes the item's text once ({"seq":..,"time":..,"type":..,members}) and puts it
 * in the ring, dropping the oldest. Readers take references under the lock and use the text outside it,
 * so N clients share one copy. The subscriber is called outside the lock.
 *
 * Must never block on a reader or touch a socket.
 */
#include "events.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LATEST_MAX 1000

struct events_item {
	atomic_int refs;
	int64_t seq;
	char type[EVENTS_TYPE_MAX];
	size_t len;
	char text[]; /* NUL-terminated */
};

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
/* Guarded by events_lock: ring[seq % EVENTS_RING_SIZE] holds event seq for oldest <= seq <= latest. */
static events_item *ring[EVENTS_RING_SIZE];
static int64_t latest_seq, oldest_seq;
static void (*subscriber)(void *, int64_t);
static void *subscriber_arg;

static void item_ref(events_item *it)
{
	atomic_fetch_add(&it->refs, 1);
}

void events_item_unref(events_item *it)
{
	if (it && atomic_fetch_sub(&it->refs, 1) == 1)
		free(it);
}

int64_t events_item_seq(const events_item *it)
{
	return it->seq;
}

const char *events_item_type(const events_item *it)
{
	return it->type;
}

const char *events_item_text(const events_item *it, size_t *len)
{
	if (len)
		*len = it->len;
	return it->text;
}

/* The members' text without its braces ("" for none), malloc'd. Members named like the envelope's are
 * dropped: the envelope's say what the event is. */
static char *members_text(json_t *data)
{
	char *text;
	size_t n;

	json_object_del(data, "seq");
	json_object_del(data, "time");
	json_object_del(data, "type");
	text = data && json_object_size(data) ? json_dumps(data, JSON_COMPACT) : NULL;

	if (!text)
		return xstrdup("");
	n = strlen(text);
	memmove(text, text + 1, n - 2); /* drop '{' and '}' */
	text[n - 2] = '\0';
	return text;
}

void events_publish(const char *type, json_t *data_take)
{
	/* {"seq":<20>,"time":"<ISO>","type":"<type>",<members>} */
	char *members = members_text(data_take);
	size_t mlen = strlen(members), cap = 64 + CLOCK_ISO_LEN + EVENTS_TYPE_MAX + mlen;
	events_item *it = xmalloc(sizeof(*it) + cap), *dropped = NULL;
	void (*fn)(void *, int64_t);
	char now[CLOCK_ISO_LEN];
	void *arg;
	int64_t seq;
	int n;

	json_decref(data_take);
	atomic_init(&it->refs, 1);
	snprintf(it->type, sizeof(it->type), "%s", type);
	pthread_mutex_lock(&events_lock);
	seq = ++latest_seq;
	it->seq = seq;
	/* The time is read under the lock too, so that time never goes backwards along seq. */
	clock_iso_from_ms(clock_hub_ms(), now);
	n = snprintf(it->text, cap, "{\"seq\":%lld,\"time\":\"%s\",\"type\":\"%s\"%s%s}", (long long)seq, now, it->type,
		     mlen ? "," : "", members);
	it->len = (size_t)n;
	if (seq - oldest_seq >= EVENTS_RING_SIZE || !oldest_seq) {
		dropped = oldest_seq ? ring[oldest_seq % EVENTS_RING_SIZE] : NULL;
		oldest_seq = oldest_seq ? oldest_seq + 1 : seq;
	}
	ring[seq % EVENTS_RING_SIZE] = it;
	fn = subscriber;
	arg = subscriber_arg;
	pthread_mutex_unlock(&events_lock);
	events_item_unref(dropped);
	free(members);
	if (fn)
		fn(arg, seq);
}

void events_subscribe(void (*fn)(void *arg, int64_t seq), void *arg)
{
	pthread_mutex_lock(&events_lock);
	subscriber = fn;
	subscriber_arg = arg;
	pthread_mutex_unlock(&events_lock);
}

void events_bounds(int64_t *oldest, int64_t *latest)
{
	pthread_mutex_lock(&events_lock);
	if (oldest)
		*oldest = oldest_seq;
	if (latest)
		*latest = latest_seq;
	pthread_mutex_unlock(&events_lock);
}

int events_since(int64_t after, events_item **out, int max)
{
	int n = 0;

	pthread_mutex_lock(&events_lock);
	if (after > latest_seq || (after < latest_seq && after + 1 < oldest_seq)) {
		pthread_mutex_unlock(&events_lock);
		return EVENTS_GAP;
	}
	for (int64_t seq = after + 1; seq <= latest_seq && n < max; seq++) {
		out[n] = ring[seq % EVENTS_RING_SIZE];
		item_ref(out[n++]);
	}
	pthread_mutex_unlock(&events_lock);
	return n;
}

/* 1 when type is one of the comma-separated names in types (NULL or "" = every type). */
static int type_listed(const char *types, const char *type)
{
	size_t tlen = strlen(type);

	if (!types || !*types)
		return 1;
	for (const char *p = types; *p;) {
		size_t n = strcspn(p, ",");
		if (n == tlen && strncmp(p, type, n) == 0)
			return 1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

json_t *events_latest(int top, const char *types)
{
	events_item *found[LATEST_MAX];
	json_t *items = json_array();
	int n = 0;
	int64_t latest;

	top = top < 1 ? 1 : top > LATEST_MAX ? LATEST_MAX : top;
	/* References are taken under the lock; parsing happens outside it. */
	pthread_mutex_lock(&events_lock);
	latest = latest_seq;
	/* At most the whole ring (10,000 short compares) under the lock: cheap enough. */
	for (int64_t seq = latest_seq; seq >= oldest_seq && seq > 0 && n < top; seq--) {
		events_item *it = ring[seq % EVENTS_RING_SIZE];
		if (type_listed(types, it->type)) {
			item_ref(it);
			found[n++] = it;
		}
	}
	pthread_mutex_unlock(&events_lock);
	for (int i = 0; i < n; i++) {
		json_t *v = json_loadb(found[i]->text, found[i]->len, 0, NULL);
		if (v)
			json_array_append_new(items, v);
		events_item_unref(found[i]);
	}
	return json_pack("{s:o, s:I}", "items", items, "seq", (json_int_t)latest);
}

/* ---- tickets ---- */

typedef struct ticket {
	char text[EVENTS_TICKET_LEN + 1];
	int64_t expires_ms; /* monotonic: the hub clock may be moved by tests */
} ticket;

static pthread_mutex_t ticket_lock = PTHREAD_MUTEX_INITIALIZER;
static ticket tickets[EVENTS_TICKETS_MAX]; /* guarded by ticket_lock; expires_ms 0 = free */
static unsigned next_ticket;

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int events_ticket_new(char out[EVENTS_TICKET_LEN + 1])
{
	unsigned char raw[33]; /* 33 bytes: 44 base64 characters, no padding */
	char text[EVENTS_TICKET_LEN + 8];

	if (crypto_random(raw, sizeof(raw)) != 0 || crypto_base64_encode(raw, sizeof(raw), text, sizeof(text)) != 0)
		return err_set(DH_EINTERNAL, "no randomness for an event ticket");
	/* URL-safe, so it travels in a query string without encoding. */
	for (char *p = text; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	memcpy(out, text, EVENTS_TICKET_LEN);
	out[EVENTS_TICKET_LEN] = '\0';
	pthread_mutex_lock(&ticket_lock);
	/* A ring: when more than EVENTS_TICKETS_MAX are outstanding, the oldest is forgotten. */
	ticket *t = &tickets[next_ticket++ % EVENTS_TICKETS_MAX];
	memcpy(t->text, out, sizeof(t->text));
	t->expires_ms = monotonic_ms() + EVENTS_TICKET_TTL_S * 1000;
	pthread_mutex_unlock(&ticket_lock);
	return 0;
}

int events_ticket_take(const char *text)
{
	int64_t now = monotonic_ms();
	int found = 0;

	if (!text || strlen(text) != EVENTS_TICKET_LEN)
		return err_set(DH_EUNAUTH, "the event ticket is not valid");
	pthread_mutex_lock(&ticket_lock);
	for (int i = 0; i < EVENTS_TICKETS_MAX; i++) {
		ticket *t = &tickets[i];
		if (t->expires_ms && crypto_equal(t->text, text, EVENTS_TICKET_LEN)) {
			found = t->expires_ms > now;
			memset(t, 0, sizeof(*t)); /* single use, and an expired one is cleared too */
			break;
		}
	}
	pthread_mutex_unlock(&ticket_lock);
	return found ? 0 : err_set(DH_EUNAUTH, "the event ticket is not valid, used already or expired");
}

void events_reset(void)
{
	pthread_mutex_lock(&events_lock);
	for (int64_t seq = oldest_seq; seq && seq <= latest_seq; seq++)
		events_item_unref(ring[seq % EVENTS_RING_SIZE]);
	memset(ring, 0, sizeof(ring));
	latest_seq = oldest_seq = 0;
	pthread_mutex_unlock(&events_lock);
	pthread_mutex_lock(&ticket_lock);
	memset(tickets, 0, sizeof(tickets));
	pthread_mutex_unlock(&ticket_lock);
}
