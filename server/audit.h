/*
 * audit: the record of every change made through the REST API (every non-GET request that reached a
 * handler, whatever its outcome): who, what (method + route pattern), the concrete path, the status and
 * the client address. Requests queue their entry in memory; one writer thread stores the queue every
 * ~200 ms in one transaction, so no request waits for an audit write. Knows nothing of HTTP.
 */
#ifndef DH_AUDIT_H
#define DH_AUDIT_H

#include <jansson.h>

#define AUDIT_QUEUE_MAX 2048
#define AUDIT_LIST_MAX 1000

/* Starts the writer thread. Before it (and after audit_stop) audit_record drops nothing: it writes the
 * entry itself, synchronously. Returns 0 or DH_EINTERNAL. */
int audit_start(void);
/* Writes what is queued and stops the writer. Safe when not started. */
void audit_stop(void);

/* Queues one entry (strings copied, truncated to their columns). When the queue is full the caller
 * waits (up to 2 s) for the writer to make room; only past that is the entry dropped, with a warning. */
void audit_record(const char *who, const char *method, const char *pattern, const char *path, int status,
		  const char *from);

/* Waits (up to 2 s) until every entry queued before the call is stored. */
void audit_flush(void);

/* Entries newest first: filters who, action ("PUT /devices/{}"), since/until (ISO 8601; NULL = none),
 * top (1..1000; 0 = 100), continuation (from a previous page, NULL = first). Pending entries are flushed
 * first, so a change is listed as soon as its answer was sent. OUT: *out {items, continuationToken}.
 * DH_EINVAL for a bad time, top or token. */
int audit_list(const char *who, const char *action, const char *since, const char *until, int top,
	       const char *continuation, json_t **out);

#endif
