/*
 * method: direct method calls in flight, keyed by the hub's request id in a jansson object (a well-kept
 * hashtable), expired by one timer thread. Completions always run outside the lock. Must never touch a
 * socket or an HTTP connection: sessions deliver, completion functions answer.
 */
#include "method.h"

#include "buf.h"
#include "err.h"
#include "json_util.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "store.h"
#include "store_device.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define METHOD_TICK_MS 20
#define METHOD_NAME_MAX 128

typedef struct method_call {
	char rid[24];
	char device_id[STORE_ID_MAX + 1];
	char module_id[STORE_ID_MAX + 1];
	char name[METHOD_NAME_MAX + 1];
	json_t *payload;
	int response_timeout_ms;
	int64_t deadline_ms;          /* connect deadline until delivered, then response deadline */
	int delivered;
	method_done_fn done;
	void *ctx;
	struct method_call *next;     /* only while collected for completion */
} method_call;

static pthread_mutex_t method_lock = PTHREAD_MUTEX_INITIALIZER;
static json_t *method_calls;
static atomic_ullong method_rid_counter;
static pthread_t method_timer;
static atomic_int method_running;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static method_call *call_of(json_t *v)
{
	return (method_call *)(intptr_t)json_integer_value(v);
}

/* The outcome label of a call that ended with code (0: the device answered). */
static const char *outcome_of(int code)
{
	switch (code) {
	case 0: return "answered";
	case DH_EOFFLINE: return "DeviceNotOnline";
	case DH_ETIMEOUT: return "GatewayTimeout";
	case DH_EBUSY: return "shutdown";
	default: return "rejected";
	}
}

static void complete(method_call *c, int code, int status, json_t *payload)
{
	metrics_count(METRIC_METHOD_CALLS, 1, outcome_of(code));
	c->done(c->ctx, code, status, payload);
	json_decref(c->payload);
	free(c);
}

/* Removes and returns the calls whose deadline passed. Caller holds the lock. */
static method_call *collect_expired(int64_t t)
{
	method_call *expired = NULL;
	const char *key;
	json_t *v;
	void *tmp;

	json_object_foreach_safe(method_calls, tmp, key, v) {
		method_call *c = call_of(v);
		if (c->deadline_ms > t)
			continue;
		json_object_del(method_calls, key);
		c->next = expired;
		expired = c;
	}
	return expired;
}

static void *timer_main(void *arg)
{
	while (atomic_load(&method_running)) {
		struct timespec pause = {0, METHOD_TICK_MS * 1000000L};
		nanosleep(&pause, NULL);
		pthread_mutex_lock(&method_lock);
		method_call *c = collect_expired(now_ms());
		pthread_mutex_unlock(&method_lock);
		while (c) {
			method_call *next = c->next;
			if (c->delivered)
				err_set(DH_ETIMEOUT, "Timed out waiting for the response from device.");
			else
				err_set(DH_EOFFLINE, "Timed out waiting for device to connect.");
			complete(c, c->delivered ? DH_ETIMEOUT : DH_EOFFLINE, 0, NULL);
			c = next;
		}
	}
	return NULL;
}

int method_init(void)
{
	method_calls = json_object();
	atomic_store(&method_running, 1);
	if (pthread_create(&method_timer, NULL, timer_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the method timer");
	return 0;
}

void method_shutdown(void)
{
	method_call *c;

	if (!atomic_exchange(&method_running, 0))
		return;
	pthread_join(method_timer, NULL);
	pthread_mutex_lock(&method_lock);
	c = collect_expired(INT64_MAX);
	json_decref(method_calls);
	method_calls = NULL;
	pthread_mutex_unlock(&method_lock);
	while (c) {
		method_call *next = c->next;
		err_set(DH_EBUSY, "the server is shutting down");
		complete(c, DH_EBUSY, 0, NULL);
		c = next;
	}
}

/* Reads an optional integer member within [lo, hi]. */
static int int_member(const json_t *req, const char *name, int def, int lo, int hi, int *out)
{
	const json_t *v = json_object_get(req, name);

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return err_set(DH_EINVAL, "%s must be a whole number from %d to %d", name, lo, hi);
	*out = (int)json_integer_value(v);
	return 0;
}

/* Checks the request body and fills c's name, payload and timeouts. */
static int parse_request(const json_t *req, method_call *c, int *connect_timeout)
{
	const char *name = json_util_str(req, "methodName");
	const json_t *payload = json_object_get(req, "payload");
	char *dump;
	size_t size;
	int rc;

	if (!json_is_object(req))
		return err_set(DH_EINVAL, "the body must be a JSON object");
	if (!name || !*name || strlen(name) > METHOD_NAME_MAX || strchr(name, '/'))
		return err_set(DH_EINVAL, "methodName must be 1 to %d characters without '/'", METHOD_NAME_MAX);
	if ((rc = int_member(req, "responseTimeoutInSeconds", 30, 5, 300, &c->response_timeout_ms)) != 0 ||
	    (rc = int_member(req, "connectTimeoutInSeconds", 0, 0, 300, connect_timeout)) != 0)
		return rc;
	dump = json_util_dump(payload ? payload : json_null());
	size = strlen(dump);
	free(dump);
	if (size > METHOD_PAYLOAD_MAX)
		return err_set(DH_ETOOBIG, "the method payload is %zu bytes; at most %d", size, METHOD_PAYLOAD_MAX);
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->payload = payload ? json_incref((json_t *)payload) : json_null();
	c->response_timeout_ms *= 1000;
	return 0;
}

static int identity_exists(const char *device_id, const char *module_id)
{
	store *s = store_thread();

	return s ? store_device_exists(s, device_id, module_id) : DH_EIO;
}

/* Hands c to its session; marks it delivered with its response deadline. Called without the lock. */
static int deliver(method_call *c)
{
	return session_send_method(c->device_id, c->module_id, c->rid, c->name, c->payload);
}

int method_invoke(const char *device_id, const char *module_id, const json_t *request, method_done_fn done,
		  void *ctx)
{
	method_call *c = xcalloc(1, sizeof(*c));
	int connect_timeout = 0, rc;

	if ((rc = parse_request(request, c, &connect_timeout)) != 0 || (rc = identity_exists(device_id, module_id)) != 0)
		goto fail;
	if (!atomic_load(&method_running)) {
		rc = err_set(DH_EBUSY, "the server is shutting down");
		goto fail;
	}
	snprintf(c->rid, sizeof(c->rid), "%llu", (unsigned long long)atomic_fetch_add(&method_rid_counter, 1) + 1);
	snprintf(c->device_id, sizeof(c->device_id), "%s", device_id);
	snprintf(c->module_id, sizeof(c->module_id), "%s", module_id ? module_id : "");
	c->done = done;
	c->ctx = ctx;
	/* Registered as delivered before the send, so an answer racing the send finds it. */
	c->delivered = 1;
	c->deadline_ms = now_ms() + c->response_timeout_ms;
	pthread_mutex_lock(&method_lock);
	json_object_set_new(method_calls, c->rid, json_integer((json_int_t)(intptr_t)c));
	pthread_mutex_unlock(&method_lock);
	if (deliver(c) == 0)
		return 0;
	pthread_mutex_lock(&method_lock);
	json_t *still = json_object_get(method_calls, c->rid);
	if (still && connect_timeout > 0) {
		c->delivered = 0;
		c->deadline_ms = now_ms() + (int64_t)connect_timeout * 1000;
		pthread_mutex_unlock(&method_lock);
		return 0;
	}
	if (still)
		json_object_del(method_calls, c->rid);
	pthread_mutex_unlock(&method_lock);
	if (!still)
		return 0; /* the timer or an answer already completed it */
	rc = err_set(DH_EOFFLINE, "Timed out waiting for device to connect.");
fail:
	metrics_count(METRIC_METHOD_CALLS, 1, outcome_of(rc));
	json_decref(c->payload);
	free(c);
	return rc;
}

void method_response(const char *device_id, const char *module_id, const char *rid, int status, json_t *payload)
{
	method_call *c = NULL;
	json_t *v;

	pthread_mutex_lock(&method_lock);
	v = method_calls ? json_object_get(method_calls, rid) : NULL;
	if (v && call_of(v)->delivered && strcmp(call_of(v)->device_id, device_id) == 0 &&
	    strcmp(call_of(v)->module_id, module_id ? module_id : "") == 0) {
		c = call_of(v);
		json_object_del(method_calls, rid);
	}
	pthread_mutex_unlock(&method_lock);
	if (!c) {
		log_debug("method: dropping an answer to unknown or expired request %s", rid);
		json_decref(payload);
		return;
	}
	complete(c, 0, status, payload);
}

void method_identity_connected(const char *device_id, const char *module_id)
{
	const char *key;
	json_t *v;
	method_call *waiting[256];
	int n = 0;

	pthread_mutex_lock(&method_lock);
	json_object_foreach(method_calls, key, v) {
		method_call *c = call_of(v);
		if (c->delivered || strcmp(c->device_id, device_id) || strcmp(c->module_id, module_id ? module_id : ""))
			continue;
		if (n == (int)(sizeof(waiting) / sizeof(waiting[0])))
			break; /* the rest go on the next connect or time out */
		c->delivered = 1;
		c->deadline_ms = now_ms() + c->response_timeout_ms;
		waiting[n++] = c;
	}
	/* Sent under the lock so a completion cannot free c meanwhile; deliver only queues on the edge. */
	for (int i = 0; i < n; i++)
		deliver(waiting[i]);
	pthread_mutex_unlock(&method_lock);
}
