/*
 * fleet: the simulated devices' connections, on one libwebsockets client context and one service thread.
 * Owns the lws context, connect pacing (a queue and a cap on connects in flight), per-connection frame
 * queues, reconnects with backoff, token renewal, injected drops, timers, the statistics and the summary
 * lines. Device behaviour lives in device.c and reaches the network only through the functions below.
 */
#ifndef SIM_FLEET_H
#define SIM_FLEET_H

#include "device.h"
#include "options.h"
#include "provision.h"

#include <jansson.h>
#include <signal.h>
#include <stdint.h>

typedef struct sim_stats {
	uint64_t connects, reconnects, connect_errors, hub_closes, drops;
	uint64_t methods, methods_failed; /* answered; answered 500 by --fail-rate */
	uint64_t reported_sent, reported_acked, desired_applied, hub_errors;
	uint64_t fw_ok, fw_failed;
	int connected, connecting;
} sim_stats;

/* Connects opts->count devices with keys[] (taken: freed by the fleet) and runs until *stop is set (by a
 * signal handler, which also calls fleet_wake) or --duration passes, then closes every connection with
 * 1000 and prints the final summary. Returns 0, or -1 when the fleet could not start. */
int fleet_run(const sim_options *opts, const hub_credentials *hub, char **keys, volatile sig_atomic_t *stop);

/* Wakes the service thread (async-signal-safe enough: lws writes to its wake pipe). */
void fleet_wake(void);

/* For device.c ---------------------------------------------------------------------------------------- */

/* Serialises msg (taken) and queues it on d's connection. Returns 0, or -1 when d is not connected (the
 * message is dropped). */
int fleet_send_take(sim_device *d, json_t *msg);
int fleet_is_connected(const sim_device *d);
/* Closes d's connection with code after the frames already queued, then reconnects after reconnect_ms. */
void fleet_close(sim_device *d, int code, const char *reason, uint32_t reconnect_ms);
/* Calls device_on_action(d, kind, msg) after delay_ms, whatever the connection does meanwhile. */
void fleet_after(sim_device *d, uint32_t delay_ms, int kind, json_t *msg_take);

/* Appends d's device SAS token (sr = urlencode(host/devices/id), no skn) expiring at expiry (Unix
 * seconds) to out. Returns 0, or non-zero for a bad key. */
int fleet_device_token(const sim_device *d, int64_t expiry, buf *out);
const sim_options *fleet_options(void);
sim_stats *fleet_stats(void);
/* Uniform in [0, 1), from the --seed generator. */
double fleet_random(void);

#endif
