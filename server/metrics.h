/*
 * metrics: the process's counters, gauges and histograms, and their Prometheus text exposition.
 *
 * Leaf module: every metric is a row of one table (metrics.c) with its name, type, help and label names;
 * callers name a metric by its metric_id and pass label values. Updates are lock-free (C11 atomics): a
 * series is found (or claimed) in the metric's fixed open-addressed slot array by a hash of its label
 * values, then incremented in place. Never holds a lock, never allocates on the hot path, never knows
 * which module feeds it.
 *
 * Cardinality is the caller's duty: label values must come from bounded sets (a route's pattern, a status
 * code, a message type), never from ids or raw paths. A metric whose slots are all taken drops new series
 * (counted in devicehub_metrics_dropped_series_total) rather than growing.
 */
#ifndef DH_METRICS_H
#define DH_METRICS_H

#include "buf.h"

#include <stdint.h>

typedef enum metric_id {
	METRIC_HTTP_REQUESTS,          /* counter {method, route, code} */
	METRIC_HTTP_DURATION,          /* histogram {method, route}, seconds */
	METRIC_DEVICES_CONNECTED,      /* gauge, set at scrape time */
	METRIC_DEVICE_CONNECTIONS,     /* counter: WebSocket sessions established */
	METRIC_DEVICE_RECEIVED,        /* counter {type} */
	METRIC_DEVICE_SENT,            /* counter: frames written to devices */
	METRIC_DEVICE_ERRORS,          /* counter: error replies to devices */
	METRIC_DEVICE_TELEMETRY,       /* counter: device-to-cloud messages accepted (MQTT) */
	METRIC_METHOD_CALLS,           /* counter {outcome} */
	METRIC_JOBS,                   /* gauge {kind, status}, set at scrape time */
	METRIC_STORE_TX_DURATION,      /* histogram {kind}, seconds from BEGIN to COMMIT/ROLLBACK */
	METRIC_STORE_BUSY,             /* counter: SQLITE_BUSY / SQLITE_LOCKED failures */
	METRIC_DROPPED_SERIES,         /* counter: observations dropped because a metric's slots are full */
	METRIC_COUNT
} metric_id;

/* Adds n to a counter. The varargs are the metric's label values (const char *), exactly as many as its
 * table row declares; they are copied when a series is first seen. Any thread. */
void metrics_count(metric_id id, uint64_t n, ...);

/* Sets a gauge series to value. Label values as for metrics_count. Any thread. */
void metrics_gauge_set(metric_id id, int64_t value, ...);

/* Sets every series of a gauge to 0, so a scrape-time collector that only sets what it finds leaves no
 * stale value behind (a job status with no jobs left reads 0). */
void metrics_gauge_zero(metric_id id);

/* Records one observation (in the histogram's unit, seconds for all of ours). Label values as above. */
void metrics_observe(metric_id id, double value, ...);

/* Monotonic seconds, for durations passed to metrics_observe. */
double metrics_now(void);

/* Appends every metric in Prometheus text exposition format 0.0.4 (HELP and TYPE lines, escaped label
 * values, cumulative histogram buckets with +Inf, _sum and _count) to out. */
void metrics_render(buf *out);

/* Forgets every series. For unit tests; not safe while other threads update metrics. */
void metrics_reset(void);

#endif
