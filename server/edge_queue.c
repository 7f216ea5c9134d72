/*
 * edge_queue: outbound messages, per-connection queues and the locked inbox of the device edges (see
 * edge_queue.h for the ownership and thread rules).
 */
#include "edge_queue.h"

#include <stdlib.h>

edge_msg *edge_msg_new(uint64_t conn, size_t headroom)
{
	static const char zeros[64];
	edge_msg *m = xcalloc(1, sizeof(*m));

	m->conn = conn;
	m->headroom = headroom;
	while (m->frame.len < headroom) {
		size_t n = headroom - m->frame.len;
		buf_append(&m->frame, zeros, n < sizeof(zeros) ? n : sizeof(zeros));
	}
	return m;
}

edge_msg *edge_msg_new_close(uint64_t conn, size_t headroom, int code, const char *reason)
{
	edge_msg *m = edge_msg_new(conn, headroom);

	m->close = 1;
	m->close_code = code;
	buf_puts(&m->frame, reason ? reason : "");
	return m;
}

char *edge_msg_body(const edge_msg *m)
{
	return m->frame.data ? m->frame.data + m->headroom : (char *)"";
}

size_t edge_msg_body_len(const edge_msg *m)
{
	return m->frame.len - m->headroom;
}

void edge_msg_free_list(edge_msg *m)
{
	while (m) {
		edge_msg *next = m->next;
		buf_release(&m->frame);
		free(m);
		m = next;
	}
}

/* ---- edge_outq: one thread ---- */

int edge_outq_push(edge_outq *q, edge_msg *m, size_t max_bytes)
{
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->frame.len;
	q->count++;
	return max_bytes && q->bytes > max_bytes;
}

edge_msg *edge_outq_pop(edge_outq *q)
{
	edge_msg *m = q->head;

	if (!m)
		return NULL;
	q->head = m->next;
	if (!q->head)
		q->tail = NULL;
	q->bytes -= m->frame.len;
	q->count--;
	m->next = NULL;
	return m;
}

edge_msg *edge_outq_peek(const edge_outq *q)
{
	return q->head;
}

edge_msg *edge_outq_take_all(edge_outq *q)
{
	edge_msg *list = q->head;

	q->head = q->tail = NULL;
	q->bytes = q->count = 0;
	return list;
}

void edge_outq_release(edge_outq *q)
{
	edge_msg_free_list(edge_outq_take_all(q));
}

/* ---- edge_inbox: pushed by any thread, drained by the service thread ---- */

void edge_inbox_init(edge_inbox *inbox, edge_inbox_wake_fn *wake, void *wake_arg)
{
	pthread_mutex_init(&inbox->lock, NULL);
	inbox->head = inbox->tail = NULL;
	inbox->wake = wake;
	inbox->wake_arg = wake_arg;
}

void edge_inbox_release(edge_inbox *inbox)
{
	edge_msg_free_list(inbox->head);
	inbox->head = inbox->tail = NULL;
	pthread_mutex_destroy(&inbox->lock);
}

void edge_inbox_push(edge_inbox *inbox, edge_msg *m)
{
	int was_empty;

	m->next = NULL;
	pthread_mutex_lock(&inbox->lock);
	was_empty = inbox->head == NULL;
	if (inbox->tail)
		inbox->tail->next = m;
	else
		inbox->head = m;
	inbox->tail = m;
	pthread_mutex_unlock(&inbox->lock);
	if (was_empty && inbox->wake)
		inbox->wake(inbox->wake_arg);
}

size_t edge_inbox_drain(edge_inbox *inbox, const connmap *conns, edge_inbox_route_fn *route, void *route_arg)
{
	edge_msg *m, *next;
	size_t dropped = 0;

	pthread_mutex_lock(&inbox->lock);
	m = inbox->head;
	inbox->head = inbox->tail = NULL;
	pthread_mutex_unlock(&inbox->lock);
	for (; m; m = next) {
		connmap_node *conn = connmap_find(conns, m->conn);
		next = m->next;
		m->next = NULL;
		if (conn) {
			route(route_arg, conn, m);
		} else {
			edge_msg_free_list(m); /* the connection has gone */
			dropped++;
		}
	}
	return dropped;
}
