/*
 * firmware: package downloads for simulated firmware updates. A small pool of threads fetches
 * http:// URLs with the blocking client and hashes them (SHA-256, mbedtls) as the bytes arrive, so the
 * lws service thread never blocks. Results come back through a locked queue; the pool calls the notify
 * function given at start (the fleet's lws_cancel_service) and the service thread drains the queue.
 */
#ifndef SIM_FIRMWARE_H
#define SIM_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

typedef struct firmware_result {
	uint32_t device; /* the index given to firmware_submit */
	uint32_t update; /* the update's serial number given to firmware_submit */
	int ok;          /* 1 when the package downloaded (its hash is in digest) */
	uint8_t digest[32];
	size_t bytes;
	char reason[200]; /* why the download failed, when !ok */
} firmware_result;

/* Starts n download threads. notify(ctx) is called from a download thread after each result. */
int firmware_start(int n, void (*notify)(void *ctx), void *ctx);

/* Queues a download of url (copied) for device/update. authorization (copied; NULL for none) is sent as
 * the Authorization header: the device's token, for packages on the hub. A download cut off part-way is
 * resumed with a Range request (up to FIRMWARE_ATTEMPTS tries), hashing on from where it stopped. */
void firmware_submit(uint32_t device, uint32_t update, const char *url, const char *authorization);

/* Calls fn for every finished download, in the caller's thread, and forgets them. */
void firmware_drain(void (*fn)(void *ctx, const firmware_result *r), void *ctx);

/* Stops the threads (a download in progress is abandoned at its next read) and frees every queued job
 * and result. */
void firmware_stop(void);

#endif
