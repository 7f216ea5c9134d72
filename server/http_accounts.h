/*
 * http_accounts: the REST handlers of operator accounts (login, logout, session, accounts, passwords)
 * and of the audit log. Their rows are in the route table (http_routes.c); the gate (http_server.c)
 * checks sessions, roles and CSRF before these run. They translate between HTTP and account.c /
 * audit.c only. Must never hold SQL.
 */
#ifndef DH_HTTP_ACCOUNTS_H
#define DH_HTTP_ACCOUNTS_H

#include "http.h"

int http_login(const http_request *req, http_response *res);
int http_logout(const http_request *req, http_response *res);
int http_session_get(const http_request *req, http_response *res);
int http_account_list(const http_request *req, http_response *res);
int http_account_put(const http_request *req, http_response *res);
int http_account_delete(const http_request *req, http_response *res);
int http_account_password(const http_request *req, http_response *res);
int http_audit_list(const http_request *req, http_response *res);

#endif
