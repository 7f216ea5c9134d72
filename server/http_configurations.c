/*
 * http_configurations: REST handlers for IoT Hub configurations (automatic device management). They
 * translate between HTTP and configuration.h only; the gate has checked auth, limits and JSON.
 */
#include "http_configurations.h"

#include "configuration.h"

#include <stdio.h>
#include <stdlib.h>

/* The configuration's etag into the response's ETag header. */
static void set_etag(http_response *res)
{
	const char *etag = json_string_value(json_object_get(res->body, "etag"));

	if (etag)
		snprintf(res->etag, sizeof(res->etag), "%s", etag);
}

int http_configuration_put(const http_request *req, http_response *res)
{
	int rc = configuration_put(req->segs[1], req->body, req->if_match, &res->body);

	set_etag(res);
	return rc;
}

int http_configuration_get(const http_request *req, http_response *res)
{
	int rc = configuration_get(req->segs[1], &res->body);

	set_etag(res);
	return rc;
}

int http_configuration_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return configuration_delete(req->segs[1], req->if_match);
}

int http_configuration_list(const http_request *req, http_response *res)
{
	const char *top = http_query_arg(req, "top");

	return configuration_list(top ? atoi(top) : CONFIGURATION_MAX_COUNT, &res->body);
}

int http_configuration_test_queries(const http_request *req, http_response *res)
{
	return configuration_test_queries(req->body, &res->body);
}

int http_configuration_drift(const http_request *req, http_response *res)
{
	return configuration_drift(req->segs[2], &res->body);
}
