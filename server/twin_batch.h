/*
 * twin_batch: reported-property patches from devices, applied by one writer thread in batches.
 *
 * A device channel must not stall every connection on a database write, and one transaction per patch
 * caps throughput far below what SQLite does when writes are grouped. So edges submit patches here; the
 * writer takes everything queued (up to TWIN_BATCH_MAX), applies each in its own savepoint inside one
 * transaction, commits, and only then completes each patch: an acknowledgement always means durable.
 * Patches of one identity are applied in submission order.
 */
#ifndef DH_TWIN_BATCH_H
#define DH_TWIN_BATCH_H

#include <jansson.h>
#include <stdint.h>

#define TWIN_BATCH_MAX 512

/* Completion, on the writer thread (or the submitter's, when stopped): code 0 with the new reported
 * $version, or an error code with message (e.g. a limit broken). Must not block for long. */
typedef void (*twin_batch_done_fn)(void *ctx, int code, int64_t version, const char *message);

int twin_batch_start(void);
/* Applies what is queued, completes it, and stops the writer. Later submissions fail with DH_EBUSY. */
void twin_batch_stop(void);

/* Queues a reported patch (taken) for device_id/module_id ("" for the device). done is called once. */
void twin_batch_submit(const char *device_id, const char *module_id, json_t *patch, twin_batch_done_fn done,
		       void *ctx);

#endif
