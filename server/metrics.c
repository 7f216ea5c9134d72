/*
 * metrics: one table of metrics, lock-free series, Prometheus text rendering. Leaf: includes nothing of
 * the server but buf. Must never take a lock or allocate while counting.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define METRICS_KEY_MAX 160       /* label values joined by \x1f */
#define METRICS_LABELS_MAX 3
#define METRICS_NBUCKETS 14

typedef enum { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type;

enum { SLOT_EMPTY, SLOT_CLAIMING, SLOT_READY };

/* One labelled series. A histogram keeps per-bucket (not cumulative) counts, the last one for values
 * above every bound; its count is their sum, so _count always equals the +Inf bucket. */
typedef struct metric_series {
	atomic_int state;
	uint32_t hash;
	char key[METRICS_KEY_MAX];
	atomic_uint_fast64_t value;       /* counter; gauge (int64 bits) */
	atomic_uint_fast64_t sum_bits;    /* histogram: the sum as double bits */
	atomic_uint_fast64_t buckets[METRICS_NBUCKETS + 1];
} metric_series;

typedef struct metric_def {
	const char *name;
	metric_type type;
	const char *help;
	const char *labels[METRICS_LABELS_MAX];
	int nlabels;
	metric_series *slots;
	size_t nslots;                    /* a power of two */
} metric_def;

/* Seconds: half a millisecond (a cached read) to ten seconds (a method call waiting for a device). */
static const double metrics_bounds[METRICS_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
							0.1,    0.25,  0.5,    1,     2.5,  5,    10};

static metric_series slots_http_requests[1024], slots_http_duration[256], slots_device_received[16],
	slots_method_calls[8], slots_jobs[32], slots_store_tx[4], slots_single[6],
	slots_telemetry[1];

#define SLOTS(a) a, sizeof(a) / sizeof(a[0])

/* The one table. Names follow Prometheus conventions: _total for counters, base units (seconds). */
static const metric_def metrics_table[METRIC_COUNT] = {
	[METRIC_HTTP_REQUESTS] = {"devicehub_http_requests_total", METRIC_COUNTER,
				  "REST requests answered, by route pattern and status code",
				  {"method", "route", "code"}, 3, SLOTS(slots_http_requests)},
	[METRIC_HTTP_DURATION] = {"devicehub_http_request_duration_seconds", METRIC_HISTOGRAM,
				  "REST request time from its first byte in the gate to its answer being queued",
				  {"method", "route"}, 2, SLOTS(slots_http_duration)},
	[METRIC_DEVICES_CONNECTED] = {"devicehub_devices_connected", METRIC_GAUGE,
				      "Identities (devices and modules) with a live connection", {0}, 0,
				      &slots_single[0], 1},
	[METRIC_DEVICE_CONNECTIONS] = {"devicehub_device_connections_total", METRIC_COUNTER,
				       "Device channel sessions established", {0}, 0, &slots_single[1], 1},
	[METRIC_DEVICE_RECEIVED] = {"devicehub_device_messages_received_total", METRIC_COUNTER,
				    "Device channel messages received, by type (invalid: did not parse)", {"type"}, 1,
				    SLOTS(slots_device_received)},
	[METRIC_DEVICE_SENT] = {"devicehub_device_messages_sent_total", METRIC_COUNTER,
				"Device channel messages written to devices", {0}, 0, &slots_single[2], 1},
	[METRIC_DEVICE_ERRORS] = {"devicehub_device_errors_total", METRIC_COUNTER,
				  "Error replies sent on the device channel", {0}, 0, &slots_single[3], 1},
	[METRIC_DEVICE_TELEMETRY] = {"devicehub_device_telemetry_messages_total", METRIC_COUNTER,
				     "Device-to-cloud (telemetry) messages accepted", {0}, 0, SLOTS(slots_telemetry)},
	[METRIC_METHOD_CALLS] = {"devicehub_method_calls_total", METRIC_COUNTER,
				 "Direct method calls by outcome (answered, DeviceNotOnline, GatewayTimeout, shutdown, "
				 "rejected)",
				 {"outcome"}, 1, SLOTS(slots_method_calls)},
	[METRIC_JOBS] = {"devicehub_jobs", METRIC_GAUGE, "Jobs and rollouts by status",
			 {"kind", "status"}, 2, SLOTS(slots_jobs)},
	[METRIC_STORE_TX_DURATION] = {"devicehub_store_transaction_duration_seconds", METRIC_HISTOGRAM,
				      "SQLite transaction time from BEGIN to COMMIT or ROLLBACK", {"kind"}, 1,
				      SLOTS(slots_store_tx)},
	[METRIC_STORE_BUSY] = {"devicehub_store_busy_errors_total", METRIC_COUNTER,
			       "SQLite operations that failed with SQLITE_BUSY or SQLITE_LOCKED", {0}, 0,
			       &slots_single[4], 1},
	[METRIC_DROPPED_SERIES] = {"devicehub_metrics_dropped_series_total", METRIC_COUNTER,
				   "Observations dropped because their metric had no free series slot", {0}, 0,
				   &slots_single[5], 1},
};

static uint32_t hash_key(const char *key)
{
	uint32_t h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

/* Joins m's label values from ap into key. Returns 0, or -1 when they do not fit. */
static int build_key(const metric_def *m, va_list ap, char key[METRICS_KEY_MAX])
{
	size_t len = 0;

	key[0] = '\0';
	for (int i = 0; i < m->nlabels; i++) {
		const char *v = va_arg(ap, const char *);
		size_t n = strlen(v ? v : "");
		if (len + n + 2 > METRICS_KEY_MAX)
			return -1;
		if (i)
			key[len++] = '\x1f';
		memcpy(key + len, v ? v : "", n);
		len += n;
		key[len] = '\0';
	}
	return 0;
}

/* The series for key, claimed on first sight. Lock-free: a slot goes EMPTY -> CLAIMING -> READY once and
 * never back (until metrics_reset); readers skip to the next slot only after a READY slot's key differs. */
static metric_series *series_find(const metric_def *m, const char *key)
{
	uint32_t h = hash_key(key);
	size_t mask = m->nslots - 1;

	for (size_t i = 0, at = h & mask; i < m->nslots; i++, at = (at + 1) & mask) {
		metric_series *s = &m->slots[at];
		int st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st == SLOT_EMPTY) {
			if (atomic_compare_exchange_strong(&s->state, &st, SLOT_CLAIMING)) {
				s->hash = h;
				snprintf(s->key, sizeof(s->key), "%s", key);
				atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
				return s;
			}
		}
		while (st == SLOT_CLAIMING) /* another thread is copying a key: a few hundred bytes */
			st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (s->hash == h && strcmp(s->key, key) == 0)
			return s;
	}
	return NULL;
}

static metric_series *series_of(metric_id id, va_list ap)
{
	const metric_def *m = &metrics_table[id];
	char key[METRICS_KEY_MAX];
	metric_series *s = NULL;

	if (build_key(m, ap, key) == 0)
		s = series_find(m, key);
	if (!s && id != METRIC_DROPPED_SERIES)
		metrics_count(METRIC_DROPPED_SERIES, 1);
	return s;
}

void metrics_count(metric_id id, uint64_t n, ...)
{
	va_list ap;
	metric_series *s;

	va_start(ap, n);
	s = series_of(id, ap);
	va_end(ap);
	if (s)
		atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void metrics_gauge_set(metric_id id, int64_t value, ...)
{
	va_list ap;
	metric_series *s;

	va_start(ap, value);
	s = series_of(id, ap);
	va_end(ap);
	if (s)
		atomic_store_explicit(&s->value, (uint64_t)value, memory_order_relaxed);
}

void metrics_gauge_zero(metric_id id)
{
	const metric_def *m = &metrics_table[id];

	for (size_t i = 0; i < m->nslots; i++)
		if (atomic_load_explicit(&m->slots[i].state, memory_order_acquire) == SLOT_READY)
			atomic_store_explicit(&m->slots[i].value, 0, memory_order_relaxed);
}

/* C11 has no atomic add for doubles: a compare-and-swap loop on the bits. */
static void add_double(atomic_uint_fast64_t *bits, double v)
{
	uint64_t old = atomic_load_explicit(bits, memory_order_relaxed), next;
	double d;

	do {
		memcpy(&d, &old, sizeof(d));
		d += v;
		memcpy(&next, &d, sizeof(next));
	} while (!atomic_compare_exchange_weak_explicit(bits, &old, next, memory_order_relaxed, memory_order_relaxed));
}

void metrics_observe(metric_id id, double value, ...)
{
	va_list ap;
	metric_series *s;
	int b = 0;

	va_start(ap, value);
	s = series_of(id, ap);
	va_end(ap);
	if (!s)
		return;
	while (b < METRICS_NBUCKETS && value > metrics_bounds[b])
		b++;
	atomic_fetch_add_explicit(&s->buckets[b], 1, memory_order_relaxed);
	add_double(&s->sum_bits, value);
}

double metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rendering ---- */

/* Label values escape backslash, double quote and newline; HELP text escapes backslash and newline. */
static void put_escaped(buf *out, const char *s, size_t n, int quote)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			buf_puts(out, "\\\\");
		else if (s[i] == '\n')
			buf_puts(out, "\\n");
		else if (s[i] == '"' && quote)
			buf_puts(out, "\\\"");
		else
			buf_putc(out, s[i]);
	}
}

/* {name="value",...[,le="bound"]} or nothing when there are no labels at all. */
static void put_labels(buf *out, const metric_def *m, const char *key, const char *le)
{
	const char *v = key;

	if (m->nlabels == 0 && !le)
		return;
	buf_putc(out, '{');
	for (int i = 0; i < m->nlabels; i++) {
		size_t n = strcspn(v, "\x1f");
		buf_printf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
		put_escaped(out, v, n, 1);
		buf_putc(out, '"');
		v += n + (v[n] ? 1 : 0);
	}
	if (le)
		buf_printf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
	buf_putc(out, '}');
}

static void render_histogram(buf *out, const metric_def *m, metric_series *s)
{
	uint64_t cumulative = 0, bits = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	char le[32];
	double sum;

	for (int b = 0; b <= METRICS_NBUCKETS; b++) {
		cumulative += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
		if (b < METRICS_NBUCKETS)
			snprintf(le, sizeof(le), "%g", metrics_bounds[b]);
		buf_printf(out, "%s_bucket", m->name);
		put_labels(out, m, s->key, b < METRICS_NBUCKETS ? le : "+Inf");
		buf_printf(out, " %llu\n", (unsigned long long)cumulative);
	}
	memcpy(&sum, &bits, sizeof(sum));
	buf_printf(out, "%s_sum", m->name);
	put_labels(out, m, s->key, NULL);
	buf_printf(out, " %.9g\n%s_count", sum, m->name);
	put_labels(out, m, s->key, NULL);
	buf_printf(out, " %llu\n", (unsigned long long)cumulative);
}

static void render_series(buf *out, const metric_def *m, metric_series *s)
{
	uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);

	if (m->type == METRIC_HISTOGRAM) {
		render_histogram(out, m, s);
		return;
	}
	buf_puts(out, m->name);
	put_labels(out, m, s->key, NULL);
	if (m->type == METRIC_GAUGE)
		buf_printf(out, " %lld\n", (long long)(int64_t)v);
	else
		buf_printf(out, " %llu\n", (unsigned long long)v);
}

void metrics_render(buf *out)
{
	static const char *const type_names[] = {"counter", "gauge", "histogram"};

	for (int id = 0; id < METRIC_COUNT; id++) {
		const metric_def *m = &metrics_table[id];
		int any = 0;
		buf_printf(out, "# HELP %s ", m->name);
		put_escaped(out, m->help, strlen(m->help), 0);
		buf_printf(out, "\n# TYPE %s %s\n", m->name, type_names[m->type]);
		for (size_t i = 0; i < m->nslots; i++) {
			if (atomic_load_explicit(&m->slots[i].state, memory_order_acquire) != SLOT_READY)
				continue;
			render_series(out, m, &m->slots[i]);
			any = 1;
		}
		/* An unlabelled counter or gauge exists from the start: a scraper sees 0, not a missing series. */
		if (!any && m->nlabels == 0 && m->type != METRIC_HISTOGRAM)
			buf_printf(out, "%s 0\n", m->name);
	}
}

void metrics_reset(void)
{
	for (int id = 0; id < METRIC_COUNT; id++) {
		const metric_def *m = &metrics_table[id];
		for (size_t i = 0; i < m->nslots; i++) {
			metric_series *s = &m->slots[i];
			atomic_store(&s->state, SLOT_EMPTY);
			atomic_store(&s->value, 0);
			atomic_store(&s->sum_bits, 0);
			for (int b = 0; b <= METRICS_NBUCKETS; b++)
				atomic_store(&s->buckets[b], 0);
		}
	}
}
