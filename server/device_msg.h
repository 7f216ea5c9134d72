/*
 * device_msg: the `devicehub.v1` messages (docs/device-protocol.md) as text and as typed values.
 *
 * Parses one WebSocket frame's text into a device_msg and encodes the hub's messages. Pure: no sockets,
 * no lws types, no domain calls, so it is unit-tested and fuzzed alone. Never decides what a message
 * does (ws_device does); never trusts its input (every field is type-checked, errors say which).
 */
#ifndef DH_DEVICE_MSG_H
#define DH_DEVICE_MSG_H

#include "buf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define DEVICE_MSG_PROTOCOL "devicehub.v1"
/* Longest rid echoed back or passed to the domain (the hub's own rids are far shorter). */
#define DEVICE_MSG_RID_MAX 128

/* The messages a device sends. */
typedef enum device_msg_type {
	DEVICE_MSG_TWIN_GET,
	DEVICE_MSG_REPORTED_PATCH,
	DEVICE_MSG_METHOD_RESPONSE,
	DEVICE_MSG_TYPE_COUNT
} device_msg_type;

/* One parsed frame. Every json_t member but root is borrowed from root. */
typedef struct device_msg {
	device_msg_type type;
	json_t *root;          /* owned: the whole frame */
	const json_t *rid;     /* a string or an integer; NULL when absent or not usable */
	int64_t if_newer_than; /* twin.get: the desired version the device has, -1 when absent */
	const json_t *body;    /* reported.patch: the merge patch (an object) */
	int status;            /* method.response: the device's status */
	const json_t *payload; /* method.response: any JSON (json null when absent) */
} device_msg;

/* The name of a type on the wire ("twin.get", ...). Static storage. */
const char *device_msg_type_name(device_msg_type type);

/* Parses text[0..len) as one device message. Returns 0, or DH_EINVAL with err_message() saying what is
 * wrong (malformed JSON, not an object, unknown type, missing or mistyped field). Either way msg->rid is
 * set when the frame had a usable rid (so an error reply can echo it), and the caller releases msg with
 * device_msg_release. */
int device_msg_parse(const char *text, size_t len, device_msg *msg);

/* Frees what parse allocated; msg is left empty. Safe on an empty or partly parsed msg. */
void device_msg_release(device_msg *msg);

/* The rid as text (a string as is, an integer in decimal) into out[DEVICE_MSG_RID_MAX + 1].
 * Returns 0, or -1 when msg has no rid. */
int device_msg_rid_text(const device_msg *msg, char out[DEVICE_MSG_RID_MAX + 1]);

/* Splits a connect path "/devices/{id}" or "/devices/{id}/modules/{mid}" (a query string, if any, is
 * ignored), percent-decoding each id when decode is set (pass 0 when the server already decoded the
 * path). OUT: device_id, module_id ("" for a device), each at most 128 bytes. Returns 0 or DH_EINVAL.
 * Ids are only split here; the caller checks them against IoT Hub's id rules. */
int device_msg_parse_path(const char *path, size_t len, int decode, char device_id[129], char module_id[129]);

/* Encoders: each appends one message's JSON text to out (the caller may have put headroom in out
 * first). Values are borrowed; rid may be NULL where the reply has none. */
void device_msg_encode_hello(buf *out, const char *device_id, const char *module_id, int64_t desired_version,
			     int64_t reported_version);
/* status 200 with properties {"desired":..,"reported":..}, or 304 with properties NULL. */
void device_msg_encode_twin(buf *out, const json_t *rid, int status, const json_t *properties);
void device_msg_encode_reported_ack(buf *out, const json_t *rid, int64_t version);
void device_msg_encode_desired_patch(buf *out, const json_t *patch, int64_t version);
/* payload NULL is sent as JSON null. */
void device_msg_encode_method_request(buf *out, const char *rid, const char *name, const json_t *payload);
void device_msg_encode_error(buf *out, const json_t *rid, int status, int error_code, const char *message);

#endif
