/*
 * http_import: the REST handlers of bulk import and export (docs/import-export.md; rows in
 * http_routes.c). They translate between HTTP and import.c / export.c. Must never touch SQL.
 */
#ifndef DH_HTTP_IMPORT_H
#define DH_HTTP_IMPORT_H

#include "http.h"
#include "import.h"

/* POST /devicehub/imports: raw body (application/x-ndjson or text/csv) → 202 with the import. */
int http_import_start(const http_request *req, http_response *res);
/* GET /devicehub/imports/{id} → the import's progress. */
int http_import_get(const http_request *req, http_response *res);
/* GET /devicehub/imports/{id}/errors → application/x-ndjson, one failed line each. */
int http_import_errors(const http_request *req, http_response *res);
/* GET /devicehub/exports?keys=true|false → streamed application/x-ndjson. keys=true needs
 * RegistryWrite (or the owner) besides the route's RegistryRead. */
int http_export(const http_request *req, http_response *res);

#endif
