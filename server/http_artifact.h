/*
 * http_artifact: the REST handlers of /devicehub/artifacts (firmware packages). Their rows are in the
 * route table (http_routes.c); they translate between HTTP and artifact.c: query arguments to an
 * artifact_spec, Range headers to a slice of the file, and device tokens to a download permission.
 * Must never touch the files or SQL.
 */
#ifndef DH_HTTP_ARTIFACT_H
#define DH_HTTP_ARTIFACT_H

#include "artifact.h"
#include "http.h"

#include <stdint.h>

/* PUT /devicehub/artifacts/{id} and POST /devicehub/artifacts (a generated id), ?version=&model=a[,b]
 * with the package as the raw body: 201 + metadata. */
int http_artifact_upload(const http_request *req, http_response *res);
int http_artifact_list(const http_request *req, http_response *res);
int http_artifact_get(const http_request *req, http_response *res);
int http_artifact_delete(const http_request *req, http_response *res);

/* GET /devicehub/artifacts/{id}/content: the bytes, for the device's own SAS token or a policy token with
 * ServiceConnect or DeviceConnect; Range (one range), If-Range, 206 / 416. Route flag HTTP_OWN_AUTH. */
int http_artifact_content(const http_request *req, http_response *res);

/* Parses a Range header value against a file of size bytes (size > 0). Returns 1 with the inclusive
 * range in *first, *last; 0 when the whole file is to be sent (no header, a syntax this does not serve,
 * several ranges); DH_ERANGE when the range starts past the end. Exposed for the fuzz target. */
int http_artifact__range(const char *header, uint64_t size, uint64_t *first, uint64_t *last);

#endif
