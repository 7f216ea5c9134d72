/* telemetry: the last messages per device, in memory (see telemetry.h). */
#include "telemetry.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"

#include <pthread.h>
#include <stdatomic.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *by_device; /* device id -> array of at most TELEMETRY_KEEP messages; guarded by lock */
static atomic_uint_fast64_t recorded;

/* The body as JSON text when it is UTF-8, else base64. */
static void set_body(json_t *msg, const void *body, size_t len)
{
	json_t *text = json_stringn(body, len); /* NULL when not UTF-8 */
	size_t cap;
	char *b64;

	if (text) {
		json_object_set_new(msg, "body", text);
		json_object_set_new(msg, "bodyEncoding", json_string("utf-8"));
		return;
	}
	cap = (len + 2) / 3 * 4 + 1;
	b64 = xmalloc(cap);
	crypto_base64_encode(body, len, b64, cap);
	json_object_set_new(msg, "body", json_string(b64));
	json_object_set_new(msg, "bodyEncoding", json_string("base64"));
	free(b64);
}

void telemetry_record(const char *device_id, const char *module_id, json_t *properties, const void *body,
		      size_t len)
{
	char now[CLOCK_ISO_LEN];
	json_t *msg = json_object(), *list;
	size_t keep = len > TELEMETRY_BODY_KEEP ? TELEMETRY_BODY_KEEP : len;

	atomic_fetch_add(&recorded, 1);
	clock_iso_now(now);
	json_object_set_new(msg, "enqueuedTime", json_string(now));
	if (module_id && *module_id)
		json_object_set_new(msg, "moduleId", json_string(module_id));
	json_object_set_new(msg, "properties", properties ? properties : json_object());
	set_body(msg, body, keep);
	json_object_set_new(msg, "size", json_integer((json_int_t)len));
	if (keep < len)
		json_object_set_new(msg, "truncated", json_true());

	pthread_mutex_lock(&lock);
	if (!by_device)
		by_device = json_object();
	list = json_object_get(by_device, device_id);
	if (!list) {
		list = json_array();
		json_object_set_new(by_device, device_id, list);
	}
	json_array_append_new(list, msg);
	while (json_array_size(list) > TELEMETRY_KEEP)
		json_array_remove(list, 0);
	pthread_mutex_unlock(&lock);
}

json_t *telemetry_list(const char *device_id)
{
	json_t *list, *copy;

	pthread_mutex_lock(&lock);
	list = by_device ? json_object_get(by_device, device_id) : NULL;
	copy = list ? json_deep_copy(list) : json_array();
	pthread_mutex_unlock(&lock);
	return copy;
}

uint64_t telemetry_count(void)
{
	return atomic_load(&recorded);
}

void telemetry_reset(void)
{
	pthread_mutex_lock(&lock);
	json_decref(by_device);
	by_device = NULL;
	pthread_mutex_unlock(&lock);
	atomic_store(&recorded, 0);
}
