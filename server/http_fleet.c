/* http_fleet: REST handlers for the fleet view, health rules and twin paths (http_fleet.h). */
#include "http_fleet.h"

#include "fleet.h"
#include "health.h"

int http_fleet_get(const http_request *req, http_response *res)
{
	return fleet_get(&res->body);
}

int http_fleet_history(const http_request *req, http_response *res)
{
	return fleet_history(http_query_arg(req, "since"), http_query_arg(req, "until"), &res->body);
}

int http_twin_paths(const http_request *req, http_response *res)
{
	return fleet_twin_paths(&res->body);
}

int http_health_get(const http_request *req, http_response *res)
{
	return health_get(&res->body);
}

int http_health_rule_list(const http_request *req, http_response *res)
{
	return health_rule_list(&res->body);
}

int http_health_rule_put(const http_request *req, http_response *res)
{
	int created = 0;
	int rc = health_rule_put(req->segs[2], req->body, &res->body, &created);

	if (rc == 0 && created)
		res->status = 201;
	return rc;
}

int http_health_rule_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return health_rule_delete(req->segs[2]);
}
