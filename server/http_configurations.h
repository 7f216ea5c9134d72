/* http_configurations: handlers of the configuration routes (rows in http_routes.c's table). */
#ifndef DH_HTTP_CONFIGURATIONS_H
#define DH_HTTP_CONFIGURATIONS_H

#include "http.h"

int http_configuration_put(const http_request *req, http_response *res);
int http_configuration_get(const http_request *req, http_response *res);
int http_configuration_delete(const http_request *req, http_response *res);
int http_configuration_list(const http_request *req, http_response *res);
int http_configuration_test_queries(const http_request *req, http_response *res);
/* GET /devicehub/configurations/{id}/drift */
int http_configuration_drift(const http_request *req, http_response *res);

#endif
