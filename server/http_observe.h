/* http_observe: handlers of GET /metrics and GET /readyz (rows in http_routes.c's table). */
#ifndef DH_HTTP_OBSERVE_H
#define DH_HTTP_OBSERVE_H

#include "http.h"

/* Prometheus text exposition of every metric. Asks for a ServiceConnect token unless metrics are public. */
int http_metrics(const http_request *req, http_response *res);
/* 200 {"status": "ready", "checks": {...}} or 503 ServiceUnavailable naming what is not ready. */
int http_readyz(const http_request *req, http_response *res);

/* Whether GET /metrics is served without authorization (the --metrics-public setting). */
void http_observe_metrics_public(int public_);

#endif
