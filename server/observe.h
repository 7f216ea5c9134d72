/*
 * observe: what the hub reports about itself beyond the counters its modules keep: readiness (the
 * database answers, the listeners are up) and the gauges read at scrape time (connected identities,
 * jobs and rollouts by status). Domain: reads session and store; knows no HTTP type.
 */
#ifndef DH_OBSERVE_H
#define DH_OBSERVE_H

#include <jansson.h>

/* main.c's word that every listener started (1) or that shutdown began (0). Any thread. */
void observe_set_listening(int up);

/* Checks readiness. OUT: *checks, a new object {"database": "ok" | why not, "listeners": "up" | "down"}
 * owned by the caller, filled whatever the result. Returns 0 when ready, else DH_EBUSY with
 * err_message() naming what failed. */
int observe_ready(json_t **checks);

/* Sets the scrape-time gauges (METRIC_DEVICES_CONNECTED, METRIC_JOBS) before metrics_render. A failed
 * job count leaves the job gauges at their last values and is logged. */
void observe_collect(void);

#endif
