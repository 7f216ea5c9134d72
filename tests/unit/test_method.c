/*
 * Unit tests for server/session.c and server/method.c with a recording edge: the session layer's contract
 * with edges is the session_ops table, so the test plays the edge and checks what it is asked to do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "method.h"
#include "registry.h"
#include "session.h"
#include "store.h"
#include "test_util.h"
#include "twin.h"

typedef struct edge_log {
	pthread_mutex_t lock;
	char last_rid[32];
	char last_method[64];
	int methods, desired, closes, last_close_code;
	uint64_t last_close_conn;
	int64_t last_desired_version;
} edge_log;

static edge_log edge = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void rec_desired(void *e, uint64_t conn, const json_t *patch, int64_t version)
{
	pthread_mutex_lock(&edge.lock);
	edge.desired++;
	edge.last_desired_version = version;
	pthread_mutex_unlock(&edge.lock);
}

static void rec_method(void *e, uint64_t conn, const char *rid, const char *name, const json_t *payload)
{
	pthread_mutex_lock(&edge.lock);
	edge.methods++;
	snprintf(edge.last_rid, sizeof(edge.last_rid), "%s", rid);
	snprintf(edge.last_method, sizeof(edge.last_method), "%s", name);
	pthread_mutex_unlock(&edge.lock);
}

static void rec_close(void *e, uint64_t conn, int code, const char *reason)
{
	pthread_mutex_lock(&edge.lock);
	edge.closes++;
	edge.last_close_code = code;
	edge.last_close_conn = conn;
	pthread_mutex_unlock(&edge.lock);
}

static const session_ops rec_ops = {rec_desired, rec_method, rec_close};

typedef struct outcome {
	int calls, code, status;
	json_t *payload;
} outcome;

static void on_done(void *ctx, int code, int status, json_t *payload)
{
	outcome *o = ctx;

	o->calls++;
	o->code = code;
	o->status = status;
	o->payload = payload;
}

static char dir[256];

static int setup(void **state)
{
	char path[300];
	json_t *body = json_object(), *out = NULL;
	int created;

	memset(&edge.last_rid, 0, sizeof(edge) - offsetof(edge_log, last_rid));
	test_tmpdir(dir);
	snprintf(path, sizeof(path), "%s/db", dir);
	crypto_init();
	if (store_global_init(path) || session_init() || method_init())
		return -1;
	registry_put("dev1", "", body, NULL, &out, &created);
	json_decref(out);
	json_decref(body);
	return 0;
}

static int teardown(void **state)
{
	method_shutdown();
	session_shutdown();
	store_global_shutdown();
	test_rmdir(dir);
	return 0;
}

static json_t *request(const char *text)
{
	json_t *v = NULL;

	assert_int_equal(json_util_parse(text, strlen(text), 16, &v), 0);
	return v;
}

static void test_method__offline_device_fails_at_once(void **state)
{
	json_t *req = request("{\"methodName\":\"reboot\"}");
	outcome o = {0};

	assert_int_equal(method_invoke("dev1", "", req, on_done, &o), DH_EOFFLINE);
	assert_int_equal(o.calls, 0);
	assert_int_equal(method_invoke("nobody", "", req, on_done, &o), DH_ENODEVICE);
	json_decref(req);
}

static void test_method__bad_requests_are_refused(void **state)
{
	static const char *bad[] = {
		"{}", "{\"methodName\":\"a/b\"}", "{\"methodName\":\"x\",\"responseTimeoutInSeconds\":4}",
		"{\"methodName\":\"x\",\"responseTimeoutInSeconds\":301}", "{\"methodName\":\"x\",\"connectTimeoutInSeconds\":-1}",
		"{\"methodName\":\"x\",\"responseTimeoutInSeconds\":\"30\"}",
	};
	outcome o = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *req = request(bad[i]);
		assert_int_equal(method_invoke("dev1", "", req, on_done, &o), DH_EINVAL);
		json_decref(req);
	}
	assert_int_equal(o.calls, 0);
}

static void test_method__answer_completes_once(void **state)
{
	json_t *req = request("{\"methodName\":\"reboot\",\"payload\":{\"delay\":1}}");
	outcome o = {0};

	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 7), 0);
	assert_int_equal(session_connected_count(), 1);
	assert_int_equal(method_invoke("dev1", "", req, on_done, &o), 0);
	assert_int_equal(edge.methods, 1);
	assert_string_equal(edge.last_method, "reboot");
	method_response("dev1", "", edge.last_rid, 201, json_pack("{s:b}", "ok", 1));
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, 0);
	assert_int_equal(o.status, 201);
	assert_true(json_is_true(json_object_get(o.payload, "ok")));
	json_decref(o.payload);
	/* A second answer to the same request, or an answer from another identity, is dropped. */
	method_response("dev1", "", edge.last_rid, 500, json_null());
	assert_int_equal(o.calls, 1);
	json_decref(req);
}

static void test_method__waits_for_connect_within_connect_timeout(void **state)
{
	json_t *req = request("{\"methodName\":\"ping\",\"connectTimeoutInSeconds\":5}");
	outcome o = {0};

	assert_int_equal(method_invoke("dev1", "", req, on_done, &o), 0);
	assert_int_equal(edge.methods, 0);
	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 8), 0);
	assert_int_equal(edge.methods, 1);
	method_response("dev1", "", edge.last_rid, 200, NULL);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, 0);
	json_decref(req);
}

static void test_method__no_answer_times_out(void **state)
{
	json_t *req = request("{\"methodName\":\"slow\",\"responseTimeoutInSeconds\":5}");
	outcome o = {0};

	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 9), 0);
	assert_int_equal(method_invoke("dev1", "", req, on_done, &o), 0);
	for (int i = 0; i < 70 && o.calls == 0; i++)
		usleep(100000);
	assert_int_equal(o.calls, 1);
	assert_int_equal(o.code, DH_ETIMEOUT);
	json_decref(req);
}

static void test_session__new_connection_evicts_old(void **state)
{
	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 10), 0);
	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 11), 0);
	assert_int_equal(edge.closes, 1);
	assert_int_equal(edge.last_close_code, SESSION_CLOSE_EVICTED);
	assert_int_equal(edge.last_close_conn, 10);
	assert_true(session_is_current("dev1", "", 11));
	/* The evicted connection's end changes nothing; the current one's end disconnects. */
	session_closed("dev1", "", 10);
	assert_int_equal(session_connected_count(), 1);
	session_closed("dev1", "", 11);
	assert_int_equal(session_connected_count(), 0);
}

static void test_session__disable_kicks_and_desired_is_pushed(void **state)
{
	json_t *patch = request("{\"properties\":{\"desired\":{\"fw\":\"2.0\"}}}");
	json_t *dis = request("{\"status\":\"disabled\"}");
	json_t *out = NULL;
	int created;

	assert_int_equal(session_open("dev1", "", &rec_ops, NULL, 12), 0);
	assert_int_equal(twin_update("dev1", "", patch, 0, NULL, &out), 0);
	json_decref(out);
	assert_int_equal(edge.desired, 1);
	assert_int_equal(edge.last_desired_version, 2);
	assert_int_equal(registry_put("dev1", "", dis, "*", &out, &created), 0);
	json_decref(out);
	assert_int_equal(edge.last_close_code, SESSION_CLOSE_REVOKED);
	json_decref(patch);
	json_decref(dis);
}

int main(void)
{
	json_util_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_method__offline_device_fails_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method__bad_requests_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method__answer_completes_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method__waits_for_connect_within_connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method__no_answer_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session__new_connection_evicts_old, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session__disable_kicks_and_desired_is_pushed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
