/*
 * events: the hub's live event stream for dashboards and scripts (docs/events.md). The domain publishes
 * small JSON events (device.connected, twin.updated, job.progress, ...); this module numbers them (seq
 * from 1 at start), stamps the hub clock, serialises each one ONCE to text and keeps the last
 * EVENTS_RING_SIZE in a ring that every reader shares. One subscriber (the WebSocket edge, registered at
 * start-up) is told after each publish so that it can wake its own thread.
 *
 * Also the single-use tickets that let a browser open the event socket (a WebSocket cannot carry headers).
 *
 * Knows no lws or MHD type and never touches a socket. Thread-safe: one mutex, held only to number an
 * event and put it in the ring (or to take references out of it).
 */
#ifndef DH_EVENTS_H
#define DH_EVENTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define EVENTS_RING_SIZE 10000
#define EVENTS_TYPE_MAX 32 /* longest event type name, NUL included */
#define EVENTS_GAP (-1)    /* events_since: the reader missed events that the ring no longer holds */

/* One published event: immutable, reference-counted (the ring holds one reference). */
typedef struct events_item events_item;

/* Publishes an event of `type` (a short ASCII name such as "device.connected") whose members are those of
 * data_take (a JSON object, taken; NULL = no members; members named seq, time or type are dropped: those
 * are the envelope's). Any thread. Never fails: out of memory aborts
 * like everywhere in the server (docs/architecture.md). Cheap enough for connect storms. */
void events_publish(const char *type, json_t *data_take);

/* The one subscriber: fn(arg, seq) runs after every publish, on the publishing thread, outside the lock.
 * It must only queue or wake (e.g. lws_cancel_service), never block. NULL fn unsubscribes. Call at
 * start-up before events flow, or at shutdown after the subscriber's thread stopped reading. */
void events_subscribe(void (*fn)(void *arg, int64_t seq), void *arg);

/* The seq of the newest event (0: none yet) and of the oldest kept (0: none). Any thread. */
void events_bounds(int64_t *oldest, int64_t *latest);

/* References to up to max events with seq > after, oldest first, into out[] (the caller unrefs each).
 * Returns how many (0: nothing newer), or EVENTS_GAP when the ring no longer holds the event after
 * `after` (or `after` is ahead of the newest seq, e.g. from before a restart): the reader must resync. */
int events_since(int64_t after, events_item **out, int max);

/* The newest `top` events (1..1000; others are clamped), newest first, keeping only those whose type is
 * in the comma-separated list `types` (NULL or "" = all). New reference: {"items":[...], "seq":latest}. */
json_t *events_latest(int top, const char *types);

/* An item's seq, type, and its JSON text (NUL-terminated; OUT: *len its length). Valid while referenced. */
int64_t events_item_seq(const events_item *it);
const char *events_item_type(const events_item *it);
const char *events_item_text(const events_item *it, size_t *len);
void events_item_unref(events_item *it);

/* Forgets every event and ticket and restarts seq at 1 (tests; call with no reader active). */
void events_reset(void);

/* ---- tickets ---- */

#define EVENTS_TICKET_LEN 44 /* URL-safe base64 of 33 random bytes, NUL excluded */
#define EVENTS_TICKET_TTL_S 60
#define EVENTS_TICKETS_MAX 1024 /* outstanding tickets; the oldest is dropped when more are made */

/* Makes a single-use ticket valid for EVENTS_TICKET_TTL_S seconds into out. Returns 0 or DH_EINTERNAL
 * (no randomness). Thread-safe. */
int events_ticket_new(char out[EVENTS_TICKET_LEN + 1]);

/* Spends a ticket: 0 when it was issued, unused and unexpired (it is gone afterwards), else DH_EUNAUTH
 * with a message. Compares in constant time. Thread-safe. */
int events_ticket_take(const char *ticket);

#endif
