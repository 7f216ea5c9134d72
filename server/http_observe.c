/*
 * http_observe: the scrape and probe endpoints. Translates only: the numbers come from metrics (the
 * counters) and observe (readiness, scrape-time gauges). Must never hold SQL.
 */
#include "http_observe.h"

#include "auth.h"
#include "buf.h"
#include "err.h"
#include "metrics.h"
#include "observe.h"

#include <stdatomic.h>
#include <string.h>

static atomic_int metrics_public;

void http_observe_metrics_public(int public_)
{
	atomic_store(&metrics_public, public_ ? 1 : 0);
}

/* The route is HTTP_OWN_AUTH so that --metrics-public can open it; closed, it asks what the gate would. */
int http_metrics(const http_request *req, http_response *res)
{
	const char *auth_value = http_header(req, "Authorization");
	buf text = BUF_INIT;
	int rc;

	if (!atomic_load(&metrics_public) &&
	    (rc = auth_check(auth_value, auth_value ? strlen(auth_value) : 0, AUTH_SERVICE_CONNECT)) != 0)
		return rc;
	observe_collect();
	metrics_render(&text);
	res->raw_len = text.len;
	res->raw = (const unsigned char *)buf_detach(&text);
	res->raw_free = 1;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

int http_readyz(const http_request *req, http_response *res)
{
	json_t *checks = NULL;
	int rc = observe_ready(&checks);

	if (rc) {
		json_decref(checks);
		return rc;
	}
	res->body = json_pack("{s:s, s:o}", "status", "ready", "checks", checks);
	return 0;
}
