/*
 * session: the live device connections, whatever encoding they speak (devicehub.v1 JSON over WebSocket
 * now, IoT Hub's MQTT later). One session per identity; a new connection evicts the old one.
 *
 * The domain talks to a connection only through the session_ops its edge registered, and every op is
 * thread-safe: the edge queues the message and wakes its own service thread (libwebsockets is not
 * thread-safe, so only that thread writes). Knows no lws or MHD type.
 */
#ifndef DH_SESSION_H
#define DH_SESSION_H

#include <jansson.h>
#include <stdint.h>

/* What an edge provides for its connections. `edge` is the edge's own context; `conn` names one
 * connection and stays unique for the process's life, so a late message for a closed connection is
 * recognised and dropped by the edge. Every function may be called from any thread. */
typedef struct session_ops {
	/* A desired-properties patch (the service's patch, or the whole section for a replace). */
	void (*deliver_desired)(void *edge, uint64_t conn, const json_t *patch, int64_t version);
	/* A direct method request; rid is the hub's request id. */
	void (*deliver_method)(void *edge, uint64_t conn, const char *rid, const char *name, const json_t *payload);
	/* Close the connection with a WebSocket-style close code (4000 evicted, 4003 revoked, 1000 shutdown). */
	void (*close)(void *edge, uint64_t conn, int code, const char *reason);
} session_ops;

#define SESSION_CLOSE_SHUTDOWN 1000
#define SESSION_CLOSE_EVICTED 4000
#define SESSION_CLOSE_REVOKED 4003
#define SESSION_CLOSE_KEEPALIVE 4008

int session_init(void);
/* Closes every session with 1000 through its edge. */
void session_shutdown(void);

/* Registers conn as the live connection of the identity (module_id "" for a device), evicting any
 * earlier one (close 4000), marks it Connected in the registry and lets waiting method calls go.
 * Returns 0 or a storage error (the edge then refuses the connection). */
int session_open(const char *device_id, const char *module_id, const session_ops *ops, void *edge, uint64_t conn);

/* The edge's word that conn has ended. Marks the identity Disconnected when conn was its current
 * connection (an evicted connection's end changes nothing). */
void session_closed(const char *device_id, const char *module_id, uint64_t conn);

/* 1 when conn is the identity's current connection. */
int session_is_current(const char *device_id, const char *module_id, uint64_t conn);

/* Records device activity: lastActivityTime is written at most once a minute per identity (and at connect). */
void session_activity(const char *device_id, const char *module_id);

/* Domain events toward devices. No-ops when the identity is not connected. */
void session_push_desired(const char *device_id, const char *module_id, const json_t *patch, int64_t version);
/* Closes the identity's connection (module_id NULL: the device and all its modules). */
void session_kick(const char *device_id, const char *module_id, int code, const char *reason);
/* Sends a method request; DH_EOFFLINE when not connected. */
int session_send_method(const char *device_id, const char *module_id, const char *rid, const char *name,
			const json_t *payload);

/* 1 when the identity has a live connection. */
int session_connected(const char *device_id, const char *module_id);

/* Identities connected now. */
int64_t session_connected_count(void);

#endif
