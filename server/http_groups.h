/*
 * http_groups: the REST handlers of /devicehub/groups (device groups) and /devicehub/tag-schema. Their
 * rows are in the route table (http_routes.c); they translate between HTTP and group.c / tag_schema.c
 * only. Must never hold SQL.
 */
#ifndef DH_HTTP_GROUPS_H
#define DH_HTTP_GROUPS_H

#include "http.h"

int http_group_list(const http_request *req, http_response *res);
int http_group_put(const http_request *req, http_response *res);
int http_group_get(const http_request *req, http_response *res);
int http_group_delete(const http_request *req, http_response *res);
/* GET /devicehub/groups/{name}/devices: pages like POST /devices/query (x-ms-max-item-count,
 * x-ms-continuation). */
int http_group_devices(const http_request *req, http_response *res);

int http_tag_schema_put(const http_request *req, http_response *res);
int http_tag_schema_get(const http_request *req, http_response *res);
int http_tag_schema_delete(const http_request *req, http_response *res);
int http_tag_schema_violations(const http_request *req, http_response *res);

#endif
