/* http_groups: REST handlers for device groups and the tag schema (http_groups.h). */
#include "http_groups.h"

#include "group.h"
#include "tag_schema.h"

#include <stdio.h>
#include <stdlib.h>

static void set_etag(http_response *res)
{
	const char *etag = json_string_value(json_object_get(res->body, "etag"));

	if (etag)
		snprintf(res->etag, sizeof(res->etag), "%s", etag);
}

int http_group_list(const http_request *req, http_response *res)
{
	return group_list(&res->body);
}

int http_group_put(const http_request *req, http_response *res)
{
	int created = 0;
	int rc = group_put(req->segs[2], req->body, req->if_match, &res->body, &created);

	if (rc == 0 && created)
		res->status = 201;
	set_etag(res);
	return rc;
}

int http_group_get(const http_request *req, http_response *res)
{
	int rc = group_get(req->segs[2], &res->body);

	set_etag(res);
	return rc;
}

int http_group_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return group_delete(req->segs[2], req->if_match);
}

int http_group_devices(const http_request *req, http_response *res)
{
	const char *max = http_header(req, "x-ms-max-item-count");

	return group_devices(req->segs[2], max ? atoi(max) : 100, http_header(req, "x-ms-continuation"), &res->body,
			     &res->continuation, &res->item_type);
}

int http_tag_schema_put(const http_request *req, http_response *res)
{
	return tag_schema_put(req->body, &res->body);
}

int http_tag_schema_get(const http_request *req, http_response *res)
{
	return tag_schema_get(&res->body);
}

int http_tag_schema_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return tag_schema_delete();
}

int http_tag_schema_violations(const http_request *req, http_response *res)
{
	return tag_schema_violations(&res->body);
}
