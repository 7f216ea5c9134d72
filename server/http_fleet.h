/*
 * http_fleet: the REST handlers of /devicehub/fleet, /devicehub/fleet/history, /devicehub/health,
 * /devicehub/health-rules and /devicehub/twin-paths. Their rows are in the route table (http_routes.c);
 * they translate between HTTP and fleet.c / health.c only. Must never hold SQL.
 */
#ifndef DH_HTTP_FLEET_H
#define DH_HTTP_FLEET_H

#include "http.h"

int http_fleet_get(const http_request *req, http_response *res);
/* ?since=ISO&until=ISO */
int http_fleet_history(const http_request *req, http_response *res);
int http_twin_paths(const http_request *req, http_response *res);
int http_health_get(const http_request *req, http_response *res);
int http_health_rule_list(const http_request *req, http_response *res);
/* 201 when the rule is new, 200 when it replaced one. */
int http_health_rule_put(const http_request *req, http_response *res);
int http_health_rule_delete(const http_request *req, http_response *res);

#endif
