/* http_events: the event ticket and the latest-events list. See http_events.h. */
#include "http_events.h"

#include "err.h"
#include "events.h"
#include "ws_events.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TOP_DEFAULT 50
#define TOP_MAX 1000
#define TYPES_MAX 512

static int channel_port, channel_secure; /* set once before the REST edge starts */

void http_events_set_channel(int port, int secure)
{
	channel_port = port;
	channel_secure = secure;
}

int http_events_ticket(const http_request *req, http_response *res)
{
	char ticket[EVENTS_TICKET_LEN + 1];
	int rc = events_ticket_new(ticket);

	(void)req;
	if (rc)
		return rc;
	res->body = json_pack("{s:s, s:i, s:i, s:s, s:b}", "ticket", ticket, "expiresInSeconds", EVENTS_TICKET_TTL_S,
			      "port", channel_port, "path", WS_EVENTS_PATH, "secure", channel_secure);
	return 0;
}

int http_events_list(const http_request *req, http_response *res)
{
	const char *top_text = http_query_arg(req, "top"), *types = http_query_arg(req, "types");
	long top = TOP_DEFAULT;
	char *end;

	if (top_text) {
		errno = 0;
		top = strtol(top_text, &end, 10);
		if (!*top_text || *end || errno || top < 1 || top > TOP_MAX)
			return err_set(DH_EINVAL, "top must be a number from 1 to %d", TOP_MAX);
	}
	if (types && strlen(types) > TYPES_MAX)
		return err_set(DH_EINVAL, "types is longer than %d characters", TYPES_MAX);
	res->body = events_latest((int)top, types);
	return 0;
}
