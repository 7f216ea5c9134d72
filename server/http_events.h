/*
 * http_events: the REST side of the live event stream (docs/events.md): POST /devicehub/events/ticket
 * and GET /devicehub/events. Rows are in the route table (http_routes.c); they translate between HTTP
 * and events.c only. Must never hold SQL.
 */
#ifndef DH_HTTP_EVENTS_H
#define DH_HTTP_EVENTS_H

#include "http.h"

/* Where the event socket listens, for the ticket's answer: the device port and whether it is TLS. Call
 * once at start-up, before the REST edge serves. */
void http_events_set_channel(int port, int secure);

/* POST /devicehub/events/ticket → {ticket, expiresInSeconds, port, path, secure}. */
int http_events_ticket(const http_request *req, http_response *res);
/* GET /devicehub/events?top=&types= → {items (newest first), seq}. */
int http_events_list(const http_request *req, http_response *res);

#endif
