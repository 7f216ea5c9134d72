/*
 * observe: readiness and the scrape-time gauges. Never writes to the database, never holds a lock across
 * a query: a scrape or a probe must not slow the requests it observes.
 */
#include "observe.h"

#include "err.h"
#include "log.h"
#include "metrics.h"
#include "session.h"
#include "store.h"
#include "store_job.h"

#include <stdatomic.h>

static atomic_int observe_listening;

void observe_set_listening(int up)
{
	atomic_store(&observe_listening, up);
}

int observe_ready(json_t **checks)
{
	store *s = store_thread();
	int db = s ? store_ping(s) : DH_EIO;
	int up = atomic_load(&observe_listening);

	*checks = json_pack("{s:s, s:s}", "database", db ? "unavailable" : "ok", "listeners", up ? "up" : "down");
	if (db || !up)
		return err_set(DH_EBUSY, "not ready:%s%s", db ? " the database does not answer;" : "",
			       up ? "" : " the listeners are not up");
	return 0;
}

static void set_job_gauge(const char *kind, const char *status, int64_t count, void *ctx)
{
	metrics_gauge_set(METRIC_JOBS, count, kind, status);
}

void observe_collect(void)
{
	/* Every status a job or rollout can have, so a scraper sees zeros rather than missing series. */
	static const char *const statuses[] = {"queued", "scheduled", "running", "completed", "failed", "cancelled"};
	store *s = store_thread();

	metrics_gauge_set(METRIC_DEVICES_CONNECTED, session_connected_count());
	metrics_gauge_zero(METRIC_JOBS);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		set_job_gauge("job", statuses[i], 0, NULL);
		set_job_gauge("rollout", statuses[i], 0, NULL);
	}
	if (!s || store_job_status_counts(s, set_job_gauge, NULL) != 0)
		log_warn("metrics: cannot count jobs: %s", err_message());
	err_clear();
}
