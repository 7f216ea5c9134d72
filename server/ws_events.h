/*
 * ws_events: the live event stream's WebSocket edge (docs/events.md). Subprotocol `devicehub.events.v1`
 * at /devicehub/events on the device port, carried by the device edge's lws context and service thread
 * as a ws_device_ext. Authenticates the upgrade (a single-use ticket from POST /devicehub/events/ticket,
 * or a service SAS token with ServiceConnect), then writes hello, catch-up and live events from the
 * events ring.
 *
 * Holds no event of its own: each client is a cursor (the last seq written) into the shared ring, so a
 * slow client costs nothing until it is more than WS_EVENTS_BEHIND_MAX behind, when it gets a resync and
 * skips ahead. Only the service thread writes; the events subscriber only wakes it.
 */
#ifndef DH_WS_EVENTS_H
#define DH_WS_EVENTS_H

#include "ws_device.h"

#define WS_EVENTS_PATH "/devicehub/events"
#define WS_EVENTS_PROTOCOL "devicehub.events.v1"
#define WS_EVENTS_BEHIND_MAX 5000

typedef struct ws_events ws_events;

/* Prepares the edge (it subscribes to events when the device edge attaches it). Caller frees. */
ws_events *ws_events_new(void);

/* What ws_device_start_ext needs to carry this edge. Owned by ev. */
const ws_device_ext *ws_events_ext(ws_events *ev);

/* Unsubscribes from events: call before ws_device_stop, so nothing wakes a context that is going. NULL is
 * a no-op. */
void ws_events_detach(ws_events *ev);

/* Frees the edge. Call after ws_device_stop (its connections ended with the context). NULL is a no-op. */
void ws_events_free(ws_events *ev);

#endif
