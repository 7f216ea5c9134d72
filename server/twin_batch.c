/* twin_batch: the writer thread for device reported patches. Holds no SQL (twin and store_device do). */
#include "twin_batch.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "log.h"
#include "store.h"
#include "store_device.h"
#include "twin.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch_item {
	struct batch_item *next;
	char device_id[STORE_ID_MAX + 1];
	char module_id[STORE_ID_MAX + 1];
	json_t *patch;
	twin_batch_done_fn done;
	void *ctx;
	int code;
	int64_t version;
	char message[256];
} batch_item;

static pthread_mutex_t batch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t batch_wake = PTHREAD_COND_INITIALIZER;
static batch_item *batch_head, *batch_tail;
static int batch_running, batch_stopping;
static pthread_t batch_thread;

/* Takes up to TWIN_BATCH_MAX queued items, in order. Caller holds the lock. */
static batch_item *take_batch(void)
{
	batch_item *first = batch_head, *last = batch_head;
	int n = 1;

	if (!first)
		return NULL;
	while (last->next && n < TWIN_BATCH_MAX) {
		last = last->next;
		n++;
	}
	batch_head = last->next;
	if (!batch_head)
		batch_tail = NULL;
	last->next = NULL;
	return first;
}

/* Applies one item inside the open transaction, in its own savepoint. */
static void apply_item(store *s, batch_item *it, const char *now)
{
	int rc = store_savepoint(s);

	if (rc == 0) {
		rc = twin_report_locked(s, it->device_id, it->module_id, it->patch, now, &it->version);
		if (rc == 0)
			rc = store_savepoint_release(s);
		else
			store_savepoint_rollback(s);
	}
	it->code = rc;
	if (rc)
		snprintf(it->message, sizeof(it->message), "%s", err_message());
}

static void complete_all(batch_item *it, int code, const char *message)
{
	while (it) {
		batch_item *next = it->next;
		if (code) {
			it->code = code;
			snprintf(it->message, sizeof(it->message), "%s", message);
		}
		if (!it->code)
			twin_publish_updated(it->device_id, it->module_id, "reported", it->version);
		it->done(it->ctx, it->code, it->version, it->message);
		json_decref(it->patch);
		free(it);
		it = next;
	}
}

static void run_batch(store *s, batch_item *items)
{
	char now[CLOCK_ISO_LEN];
	int rc;

	clock_iso_now(now);
	if ((rc = store_begin_write(s)) != 0) {
		complete_all(items, rc, err_message());
		return;
	}
	for (batch_item *it = items; it; it = it->next)
		apply_item(s, it, now);
	/* Nothing is acknowledged unless the commit is. */
	rc = store_commit(s);
	complete_all(items, rc, rc ? err_message() : "");
}

static void *writer_main(void *arg)
{
	store *s = store_thread();

	for (;;) {
		pthread_mutex_lock(&batch_lock);
		while (!batch_head && !batch_stopping)
			pthread_cond_wait(&batch_wake, &batch_lock);
		batch_item *items = take_batch();
		int stop = batch_stopping && !items;
		pthread_mutex_unlock(&batch_lock);
		if (stop)
			break;
		if (!s)
			complete_all(items, DH_EIO, "the store is not available");
		else
			run_batch(s, items);
	}
	return NULL;
}

int twin_batch_start(void)
{
	batch_stopping = 0;
	if (pthread_create(&batch_thread, NULL, writer_main, NULL) != 0)
		return err_set(DH_EINTERNAL, "cannot start the reported-properties writer");
	batch_running = 1;
	return 0;
}

void twin_batch_stop(void)
{
	if (!batch_running)
		return;
	pthread_mutex_lock(&batch_lock);
	batch_stopping = 1;
	pthread_cond_signal(&batch_wake);
	pthread_mutex_unlock(&batch_lock);
	pthread_join(batch_thread, NULL);
	batch_running = 0;
}

void twin_batch_submit(const char *device_id, const char *module_id, json_t *patch, twin_batch_done_fn done,
		       void *ctx)
{
	batch_item *it = xcalloc(1, sizeof(*it));
	int refused;

	snprintf(it->device_id, sizeof(it->device_id), "%s", device_id);
	snprintf(it->module_id, sizeof(it->module_id), "%s", module_id ? module_id : "");
	it->patch = patch;
	it->done = done;
	it->ctx = ctx;
	pthread_mutex_lock(&batch_lock);
	refused = !batch_running || batch_stopping;
	if (!refused) {
		if (batch_tail)
			batch_tail->next = it;
		else
			batch_head = it;
		batch_tail = it;
		pthread_cond_signal(&batch_wake);
	}
	pthread_mutex_unlock(&batch_lock);
	if (refused)
		complete_all(it, DH_EBUSY, "the server is shutting down");
}
