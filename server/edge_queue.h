/*
 * edge_queue: the message queues the device edges (ws_device, mqtt_device) share. Leaf module: it knows no
 * lws type, no framing and no protocol.
 *
 * edge_msg: one encoded frame (or a close request) on its way to one connection, named by its 64-bit conn
 * id (connmap). The frame starts with `headroom` bytes the edge's writer may use (LWS_PRE for lws_write),
 * then the bytes to send; for a close request, the reason text.
 *
 * edge_outq: a connection's outbound queue, in order, with a byte count for the edge's bound. Not
 * thread-safe: only the thread that owns the connection (the edge's service thread) touches it, and it
 * writes from it only in its writeable callback. A zeroed edge_outq is an empty queue.
 *
 * edge_inbox: the edge-wide hand-over from any thread to the service thread. Other threads (session_ops,
 * twin_batch's completions) push under the inbox's mutex and wake the service thread through the edge's
 * wake function (lws_cancel_service); the service thread drains it, routing each message to the live
 * connection with its id, and drops a message whose connection has gone.
 *
 * Every queue owns the messages in it; a message is in at most one queue at a time. Out of memory aborts
 * (buf's xcalloc), like every other allocation in the server. This module never closes a connection: it
 * reports a bound crossed, and the edge decides (close code, log line, metrics).
 */
#ifndef DH_EDGE_QUEUE_H
#define DH_EDGE_QUEUE_H

#include "buf.h"
#include "connmap.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct edge_msg {
	struct edge_msg *next; /* the queue's link */
	uint64_t conn;         /* the id of the connection it goes to */
	int close;             /* 1: a close request, not a frame; the body is the reason */
	int close_code;        /* the code a close request asks for (the edge maps it to its wire) */
	int tag;               /* the edge's own (mqtt_device: the subscription the frame needs); 0 here */
	size_t headroom;       /* bytes at the start of frame before the body */
	buf frame;             /* headroom bytes, then the body (always NUL-terminated) */
} edge_msg;

/* A new message for conn with `headroom` zero bytes in frame; append the body to m->frame. Caller owns it
 * (edge_msg_free_list, or hand it to a queue). */
edge_msg *edge_msg_new(uint64_t conn, size_t headroom);

/* A new close request for conn with code and reason (NULL: ""); caller owns it, as edge_msg_new. */
edge_msg *edge_msg_new_close(uint64_t conn, size_t headroom, int code, const char *reason);

/* The body after the headroom (NUL-terminated), and its length. Borrowed from m. */
char *edge_msg_body(const edge_msg *m);
size_t edge_msg_body_len(const edge_msg *m);

/* Frees m and every message linked after it (NULL is fine). */
void edge_msg_free_list(edge_msg *m);

typedef struct edge_outq {
	edge_msg *head, *tail;
	size_t bytes; /* the frames' lengths, headroom included */
	size_t count;
} edge_outq;

/* Appends m (taken) at the tail. Returns 1 when q now holds more than max_bytes (m is queued all the
 * same: the edge closes the connection, as its bound says), else 0. max_bytes 0: no bound. */
int edge_outq_push(edge_outq *q, edge_msg *m, size_t max_bytes);

/* The head of q, or NULL: caller owns it (unlinked). */
edge_msg *edge_outq_pop(edge_outq *q);

/* The head of q without taking it (borrowed), or NULL. */
edge_msg *edge_outq_peek(const edge_outq *q);

/* Every message of q as one list (caller owns it, in order); q is left empty. */
edge_msg *edge_outq_take_all(edge_outq *q);

/* Frees every message and leaves q empty. */
void edge_outq_release(edge_outq *q);

/* Wakes the edge's service thread (lws_cancel_service); called from any thread, outside the lock. */
typedef void edge_inbox_wake_fn(void *arg);

/* The edge's handling of one drained message for a live connection (service thread): it takes m. */
typedef void edge_inbox_route_fn(void *arg, connmap_node *conn, edge_msg *m);

typedef struct edge_inbox {
	pthread_mutex_t lock;
	edge_msg *head, *tail; /* guarded by lock */
	edge_inbox_wake_fn *wake;
	void *wake_arg;
} edge_inbox;

/* Initialises inbox (caller's memory), empty, with the edge's wake function (NULL: none) and its arg. */
void edge_inbox_init(edge_inbox *inbox, edge_inbox_wake_fn *wake, void *wake_arg);

/* Frees the messages still waiting and the mutex. No other thread may push any more. */
void edge_inbox_release(edge_inbox *inbox);

/* Any thread: appends m (taken) and wakes the service thread when the inbox was empty (it takes the
 * whole inbox per wakeup, so only the first message needs one). */
void edge_inbox_push(edge_inbox *inbox, edge_msg *m);

/* Service thread: takes every waiting message, in push order, and hands each to route with the node
 * in conns that has its id; a message whose id is not in conns (the connection has gone) is freed.
 * Returns how many were dropped that way. */
size_t edge_inbox_drain(edge_inbox *inbox, const connmap *conns, edge_inbox_route_fn *route, void *route_arg);

#endif
