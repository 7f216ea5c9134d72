/*
 * http_backup: the REST handler of POST /devicehub/backup (owner only; its row is in http_routes.c). It
 * translates between HTTP and backup.c and answers when the copy is done, without holding a worker thread
 * meanwhile. Must never touch files or SQL.
 */
#ifndef DH_HTTP_BACKUP_H
#define DH_HTTP_BACKUP_H

#include "http.h"

/* Body empty or {"path": "<file name inside <data-dir>/backups>"}: 200 {path, sizeBytes, durationMs, pages}.
 * 400 for a name that would leave the backups directory or exists, 503 while another backup runs. */
int http_backup_create(const http_request *req, http_response *res);

#endif
