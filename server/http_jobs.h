/* http_jobs: handlers of the jobs v2 and rollout routes (rows in http_routes.c's table). */
#ifndef DH_HTTP_JOBS_H
#define DH_HTTP_JOBS_H

#include "http.h"

int http_job_put(const http_request *req, http_response *res);
int http_job_get(const http_request *req, http_response *res);
int http_job_cancel(const http_request *req, http_response *res);
int http_job_query(const http_request *req, http_response *res);
int http_rollout_put(const http_request *req, http_response *res);
int http_rollout_control(const http_request *req, http_response *res);
int http_rollout_dry_run(const http_request *req, http_response *res);
int http_rollout_compliance(const http_request *req, http_response *res);
int http_rollout_devices(const http_request *req, http_response *res);
int http_clock_put(const http_request *req, http_response *res);

/* Whether PUT /devicehub/clock is allowed (the --test-clock setting). */
void http_jobs_allow_clock(int allowed);

#endif
