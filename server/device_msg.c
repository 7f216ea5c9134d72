/* device_msg: parse and encode `devicehub.v1` messages. Includes nothing of the server but leaves. */
#include "device_msg.h"

#include "err.h"
#include "json_util.h"
#include "url.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

/* Fields of each device message past `type` and `rid`; the table below is the one list of types. */
typedef int (*field_parser)(const json_t *root, device_msg *msg);

static int parse_twin_get(const json_t *root, device_msg *msg)
{
	const json_t *v = json_object_get(root, "ifNewerThan");

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return err_set(DH_EINVAL, "twin.get: ifNewerThan must be a non-negative integer");
	msg->if_newer_than = json_integer_value(v);
	return 0;
}

static int parse_reported_patch(const json_t *root, device_msg *msg)
{
	const json_t *v = json_object_get(root, "body");

	if (!v)
		return err_set(DH_EINVAL, "reported.patch: body is missing");
	if (!json_is_object(v))
		return err_set(DH_EINVAL, "reported.patch: body must be a JSON object");
	msg->body = v;
	return 0;
}

static int parse_method_response(const json_t *root, device_msg *msg)
{
	const json_t *status = json_object_get(root, "status");
	const json_t *payload = json_object_get(root, "payload");

	if (!status)
		return err_set(DH_EINVAL, "method.response: status is missing");
	if (!json_is_integer(status) || json_integer_value(status) < INT_MIN || json_integer_value(status) > INT_MAX)
		return err_set(DH_EINVAL, "method.response: status must be an integer");
	msg->status = (int)json_integer_value(status);
	msg->payload = payload; /* NULL stands for JSON null; the edge substitutes */
	return 0;
}

static const struct {
	const char *name;
	device_msg_type type;
	field_parser parse;
} message_types[DEVICE_MSG_TYPE_COUNT] = {
	{"twin.get", DEVICE_MSG_TWIN_GET, parse_twin_get},
	{"reported.patch", DEVICE_MSG_REPORTED_PATCH, parse_reported_patch},
	{"method.response", DEVICE_MSG_METHOD_RESPONSE, parse_method_response},
};

const char *device_msg_type_name(device_msg_type type)
{
	return (unsigned)type < DEVICE_MSG_TYPE_COUNT ? message_types[type].name : "?";
}

/* A usable rid: a string of 1..DEVICE_MSG_RID_MAX bytes without NUL, or an integer. */
static const json_t *usable_rid(const json_t *rid)
{
	if (json_is_integer(rid))
		return rid;
	if (json_is_string(rid) && json_string_length(rid) > 0 && json_string_length(rid) <= DEVICE_MSG_RID_MAX &&
	    strlen(json_string_value(rid)) == json_string_length(rid))
		return rid;
	return NULL;
}

int device_msg_parse(const char *text, size_t len, device_msg *msg)
{
	const json_t *type, *rid;
	const char *name;
	size_t i;
	int rc;

	memset(msg, 0, sizeof(*msg));
	msg->if_newer_than = -1;
	rc = json_util_parse(text, len, JSON_UTIL_MAX_DEPTH, &msg->root);
	if (rc)
		return rc;
	if (!json_is_object(msg->root))
		return err_set(DH_EINVAL, "a message must be a JSON object");
	rid = json_object_get(msg->root, "rid");
	msg->rid = usable_rid(rid);
	type = json_object_get(msg->root, "type");
	if (!json_is_string(type))
		return err_set(DH_EINVAL, "the message has no string 'type'");
	name = json_string_value(type);
	for (i = 0; i < DEVICE_MSG_TYPE_COUNT; i++)
		if (strcmp(name, message_types[i].name) == 0)
			break;
	if (i == DEVICE_MSG_TYPE_COUNT)
		return err_set(DH_EINVAL, "unknown message type '%.64s'", name);
	msg->type = message_types[i].type;
	if (!rid)
		return err_set(DH_EINVAL, "%s: rid is missing", name);
	if (!msg->rid)
		return err_set(DH_EINVAL, "%s: rid must be a string of 1 to %d characters or an integer", name,
			       DEVICE_MSG_RID_MAX);
	return message_types[i].parse(msg->root, msg);
}

void device_msg_release(device_msg *msg)
{
	json_decref(msg->root);
	memset(msg, 0, sizeof(*msg));
	msg->if_newer_than = -1;
}

int device_msg_rid_text(const device_msg *msg, char out[DEVICE_MSG_RID_MAX + 1])
{
	if (!msg->rid)
		return -1;
	if (json_is_integer(msg->rid))
		snprintf(out, DEVICE_MSG_RID_MAX + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(msg->rid));
	else
		snprintf(out, DEVICE_MSG_RID_MAX + 1, "%s", json_string_value(msg->rid));
	return 0;
}

/* Copies one path segment into out[129], percent-decoded when decode is set. */
static int path_segment(const char *seg, size_t n, int decode, char out[129])
{
	int decoded;

	if (n == 0)
		return err_set(DH_EINVAL, "empty id in the connect path");
	if (!decode) {
		if (n > 128)
			return err_set(DH_EINVAL, "id in the connect path is longer than 128 characters");
		memcpy(out, seg, n);
		out[n] = '\0';
		return 0;
	}
	decoded = url_decode(seg, n, out, 129);
	if (decoded <= 0 || strlen(out) != (size_t)decoded)
		return err_set(DH_EINVAL, "bad id in the connect path");
	return 0;
}

int device_msg_parse_path(const char *path, size_t len, int decode, char device_id[129], char module_id[129])
{
	static const char devices[] = "/devices/", modules[] = "/modules/";
	const char *q = memchr(path, '?', len);
	const char *end = q ? q : path + len;
	const char *id, *slash;
	int rc;

	device_id[0] = module_id[0] = '\0';
	if ((size_t)(end - path) <= sizeof(devices) - 1 || memcmp(path, devices, sizeof(devices) - 1) != 0)
		return err_set(DH_EINVAL, "the connect path must be /devices/{id} or /devices/{id}/modules/{mid}");
	id = path + sizeof(devices) - 1;
	slash = memchr(id, '/', (size_t)(end - id));
	rc = path_segment(id, (size_t)((slash ? slash : end) - id), decode, device_id);
	if (rc || !slash)
		return rc;
	if ((size_t)(end - slash) <= sizeof(modules) - 1 || memcmp(slash, modules, sizeof(modules) - 1) != 0)
		return err_set(DH_EINVAL, "the connect path must be /devices/{id} or /devices/{id}/modules/{mid}");
	id = slash + sizeof(modules) - 1;
	if (memchr(id, '/', (size_t)(end - id)))
		return err_set(DH_EINVAL, "the connect path must be /devices/{id} or /devices/{id}/modules/{mid}");
	return path_segment(id, (size_t)(end - id), decode, module_id);
}

/* Encoding: build a jansson object (insertion order is kept, so `type` comes first) and dump it
 * straight into the caller's buffer. */
static int append_to_buf(const char *text, size_t size, void *data)
{
	buf_append(data, text, size);
	return 0;
}

static void dump_take(buf *out, json_t *message)
{
	json_dump_callback(message, append_to_buf, out, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(message);
}

static json_t *message_new(const char *type, const json_t *rid)
{
	json_t *m = json_object();

	json_object_set_new(m, "type", json_string(type));
	if (rid)
		json_object_set(m, "rid", (json_t *)rid);
	return m;
}

void device_msg_encode_hello(buf *out, const char *device_id, const char *module_id, int64_t desired_version,
			     int64_t reported_version)
{
	json_t *m = message_new("hello", NULL);

	json_object_set_new(m, "protocol", json_string(DEVICE_MSG_PROTOCOL));
	json_object_set_new(m, "deviceId", json_string(device_id));
	if (module_id && *module_id)
		json_object_set_new(m, "moduleId", json_string(module_id));
	json_object_set_new(m, "desiredVersion", json_integer(desired_version));
	json_object_set_new(m, "reportedVersion", json_integer(reported_version));
	dump_take(out, m);
}

void device_msg_encode_twin(buf *out, const json_t *rid, int status, const json_t *properties)
{
	json_t *m = message_new("twin", rid);

	json_object_set_new(m, "status", json_integer(status));
	if (properties)
		json_object_set(m, "body", (json_t *)properties);
	dump_take(out, m);
}

void device_msg_encode_reported_ack(buf *out, const json_t *rid, int64_t version)
{
	json_t *m = message_new("reported.ack", rid);

	json_object_set_new(m, "status", json_integer(204));
	json_object_set_new(m, "version", json_integer(version));
	dump_take(out, m);
}

void device_msg_encode_desired_patch(buf *out, const json_t *patch, int64_t version)
{
	json_t *m = message_new("desired.patch", NULL);

	json_object_set_new(m, "version", json_integer(version));
	json_object_set_new(m, "body", patch ? json_incref((json_t *)patch) : json_object());
	dump_take(out, m);
}

void device_msg_encode_method_request(buf *out, const char *rid, const char *name, const json_t *payload)
{
	json_t *m = message_new("method.request", NULL);

	json_object_set_new(m, "rid", json_string(rid));
	json_object_set_new(m, "name", json_string(name));
	json_object_set_new(m, "payload", payload ? json_incref((json_t *)payload) : json_null());
	dump_take(out, m);
}

void device_msg_encode_error(buf *out, const json_t *rid, int status, int error_code, const char *message)
{
	json_t *m = message_new("error", rid);
	/* json_string refuses invalid UTF-8; a message quoting hostile input must still go out. */
	json_t *text = json_string(message ? message : "");

	json_object_set_new(m, "status", json_integer(status));
	json_object_set_new(m, "errorCode", json_integer(error_code));
	json_object_set_new(m, "message", text ? text : json_string("invalid message"));
	dump_take(out, m);
}
