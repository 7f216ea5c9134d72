/*
 * http_lifecycle: REST handlers for enrollments, registration, retirement and the archive. They only
 * translate between HTTP and the enrollment / retire domain modules; the rows are in http_routes.c.
 */
#ifndef DH_HTTP_LIFECYCLE_H
#define DH_HTTP_LIFECYCLE_H

#include "http.h"

int http_enrollment_group_put(const http_request *req, http_response *res);
int http_enrollment_group_get(const http_request *req, http_response *res);
int http_enrollment_group_delete(const http_request *req, http_response *res);
int http_enrollment_group_list(const http_request *req, http_response *res);
int http_enrollment_put(const http_request *req, http_response *res);
int http_enrollment_get(const http_request *req, http_response *res);
int http_enrollment_delete(const http_request *req, http_response *res);
int http_enrollment_list(const http_request *req, http_response *res);
int http_registrations_list(const http_request *req, http_response *res);
/* HTTP_OWN_AUTH: the registration token is checked by enrollment_register. */
int http_register(const http_request *req, http_response *res);
int http_device_retire(const http_request *req, http_response *res);
int http_device_replace(const http_request *req, http_response *res);
int http_archive_list(const http_request *req, http_response *res);
int http_archive_get(const http_request *req, http_response *res);
int http_archive_export(const http_request *req, http_response *res);
int http_archive_purge(const http_request *req, http_response *res);

#endif
