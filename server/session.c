/*
 * session: which connection is live for each identity. The table is a jansson object keyed by
 * "deviceId/moduleId" ('/' cannot occur in ids), holding pointers: jansson's hashtable is a well-kept
 * one already linked, so no hand-written hash table is needed. One mutex guards it; edge callbacks and
 * store writes happen outside the lock. Must never touch a socket: edges do, through session_ops.
 */
#include "session.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "events.h"
#include "log.h"
#include "method.h"
#include "store.h"
#include "store_device.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct session_entry {
	const session_ops *ops;
	void *edge;
	uint64_t conn;
	int64_t activity_written;     /* unix seconds of the last lastActivityTime write */
} session_entry;

/* lastActivityTime is written at most this often per identity: each write is a transaction on the device
 * edge's thread, and a busy device sends many messages a second. */
#define SESSION_ACTIVITY_EVERY_S 60

static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *session_table;
static atomic_llong session_count;

static void session_key(const char *device_id, const char *module_id, char out[2 * 130])
{
	snprintf(out, 2 * 130, "%s/%s", device_id, module_id ? module_id : "");
}

static session_entry *entry_of(json_t *v)
{
	return (session_entry *)(intptr_t)json_integer_value(v);
}

int session_init(void)
{
	store *s = store_thread();

	session_table = json_object();
	atomic_store(&session_count, 0);
	return s ? store_device_reset_connections(s) : DH_EIO;
}

void session_shutdown(void)
{
	const char *key;
	json_t *v;

	pthread_mutex_lock(&session_lock);
	json_object_foreach(session_table, key, v) {
		session_entry *e = entry_of(v);
		e->ops->close(e->edge, e->conn, SESSION_CLOSE_SHUTDOWN, "server shutting down");
		free(e);
	}
	json_decref(session_table);
	session_table = NULL;
	pthread_mutex_unlock(&session_lock);
}

/* Writes the connection state; a failure is logged, not fatal: the session itself is in memory. */
static void record_connected(const char *device_id, const char *module_id, int connected)
{
	store *s = store_thread();
	char now[CLOCK_ISO_LEN];

	clock_iso_now(now);
	if (!s || store_device_set_connected(s, device_id, module_id, connected, now) != 0)
		log_warn("session: cannot record %s of %s/%s: %s", connected ? "connect" : "disconnect", device_id,
			 module_id, err_message());
}

/* device.connected / device.disconnected for the live event stream (events.md). */
static void publish_connection(const char *type, const char *device_id, const char *module_id)
{
	json_t *data = json_pack("{s:s}", "deviceId", device_id);

	if (module_id && *module_id)
		json_object_set_new(data, "moduleId", json_string(module_id));
	events_publish(type, data);
}

int session_open(const char *device_id, const char *module_id, const session_ops *ops, void *edge, uint64_t conn)
{
	char key[2 * 130];
	session_entry *e = xcalloc(1, sizeof(*e)), *old = NULL;
	json_t *prev;

	e->ops = ops;
	e->edge = edge;
	e->conn = conn;
	e->activity_written = clock_unix_now();
	session_key(device_id, module_id, key);
	pthread_mutex_lock(&session_lock);
	prev = json_object_get(session_table, key);
	if (prev)
		old = entry_of(prev);
	else
		atomic_fetch_add(&session_count, 1);
	json_object_set_new(session_table, key, json_integer((json_int_t)(intptr_t)e));
	pthread_mutex_unlock(&session_lock);
	if (old) {
		old->ops->close(old->edge, old->conn, SESSION_CLOSE_EVICTED, "another connection opened for this identity");
		free(old);
	}
	record_connected(device_id, module_id, 1);
	publish_connection("device.connected", device_id, module_id);
	method_identity_connected(device_id, module_id);
	return 0;
}

void session_closed(const char *device_id, const char *module_id, uint64_t conn)
{
	char key[2 * 130];
	session_entry *e = NULL;
	json_t *v;

	session_key(device_id, module_id, key);
	pthread_mutex_lock(&session_lock);
	v = json_object_get(session_table, key);
	if (v && entry_of(v)->conn == conn) {
		e = entry_of(v);
		json_object_del(session_table, key);
		atomic_fetch_sub(&session_count, 1);
	}
	pthread_mutex_unlock(&session_lock);
	if (!e)
		return;
	free(e);
	record_connected(device_id, module_id, 0);
	publish_connection("device.disconnected", device_id, module_id);
}

int session_is_current(const char *device_id, const char *module_id, uint64_t conn)
{
	char key[2 * 130];
	json_t *v;
	int current;

	session_key(device_id, module_id, key);
	pthread_mutex_lock(&session_lock);
	v = json_object_get(session_table, key);
	current = v && entry_of(v)->conn == conn;
	pthread_mutex_unlock(&session_lock);
	return current;
}

void session_activity(const char *device_id, const char *module_id)
{
	char key[2 * 130], now[CLOCK_ISO_LEN];
	int64_t t = clock_unix_now();
	int write = 0;
	json_t *v;
	store *s;

	session_key(device_id, module_id, key);
	pthread_mutex_lock(&session_lock);
	v = json_object_get(session_table, key);
	if (v && entry_of(v)->activity_written + SESSION_ACTIVITY_EVERY_S <= t) {
		entry_of(v)->activity_written = t;
		write = 1;
	}
	pthread_mutex_unlock(&session_lock);
	if (!write || !(s = store_thread()))
		return;
	clock_iso_now(now);
	if (store_device_set_activity(s, device_id, module_id, now) != 0)
		log_warn("session: cannot record activity of %s/%s", device_id, module_id);
}

/* Copies the identity's entry out under the lock, so the edge is called without it. */
static int find(const char *device_id, const char *module_id, session_entry *out)
{
	char key[2 * 130];
	json_t *v;

	session_key(device_id, module_id, key);
	pthread_mutex_lock(&session_lock);
	v = session_table ? json_object_get(session_table, key) : NULL;
	if (v)
		*out = *entry_of(v);
	pthread_mutex_unlock(&session_lock);
	return v != NULL;
}

void session_push_desired(const char *device_id, const char *module_id, const json_t *patch, int64_t version)
{
	session_entry e;

	if (find(device_id, module_id, &e))
		e.ops->deliver_desired(e.edge, e.conn, patch, version);
}

int session_send_method(const char *device_id, const char *module_id, const char *rid, const char *name,
			const json_t *payload)
{
	session_entry e;

	if (!find(device_id, module_id, &e))
		return err_set(DH_EOFFLINE, "device '%s' is not online", device_id);
	e.ops->deliver_method(e.edge, e.conn, rid, name, payload);
	return 0;
}

/* Closes every session of the device (module_id NULL) or of one identity. The entries stay until the
 * edge reports the close, so the registry sees Disconnected through the usual path. A device has few
 * modules; the scan of the table for them runs only when a device is deleted or disabled. */
void session_kick(const char *device_id, const char *module_id, int code, const char *reason)
{
	char prefix[2 * 130];
	size_t plen;
	const char *key;
	json_t *v;
	session_entry kicked[64];
	int n = 0;

	if (module_id) {
		if (find(device_id, module_id, &kicked[0]))
			kicked[0].ops->close(kicked[0].edge, kicked[0].conn, code, reason);
		return;
	}
	snprintf(prefix, sizeof(prefix), "%s/", device_id);
	plen = strlen(prefix);
	pthread_mutex_lock(&session_lock);
	json_object_foreach(session_table, key, v) {
		if (strncmp(key, prefix, plen) == 0 && n < (int)(sizeof(kicked) / sizeof(kicked[0])))
			kicked[n++] = *entry_of(v);
	}
	pthread_mutex_unlock(&session_lock);
	for (int i = 0; i < n; i++)
		kicked[i].ops->close(kicked[i].edge, kicked[i].conn, code, reason);
}

int session_connected(const char *device_id, const char *module_id)
{
	session_entry e;

	return find(device_id, module_id, &e);
}

int64_t session_connected_count(void)
{
	return atomic_load(&session_count);
}
