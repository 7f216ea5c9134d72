/*
 * http_backup: POST /devicehub/backup. Reads the optional JSON body, starts the backup on backup.c's thread
 * and parks the request until it is done (http_defer), so a long copy holds no libmicrohttpd worker and
 * the connections that worker serves. Never touches files or SQL.
 */
#include "http_backup.h"

#include "backup.h"
#include "err.h"

static void backup_done(void *ctx, int code, json_t *result)
{
	http_deferred_finish(ctx, code, code ? 0 : 200, result);
}

/* The optional body (HTTP_JSON_OPTIONAL: the gate parsed it when there was one). OUT: *name the file
 * name, NULL for the default; it points into req->body. */
static int body_name(const http_request *req, const char **name)
{
	const json_t *path = json_object_get(req->body, "path");

	*name = NULL;
	if (!req->body)
		return 0;
	if (!json_is_object(req->body) || (path && !json_is_null(path) && !json_is_string(path)))
		return err_set(DH_EINVAL, "the body must be empty or {\"path\": \"<file name>\"}");
	*name = json_string_value(path);
	return 0;
}

int http_backup_create(const http_request *req, http_response *res)
{
	const char *name;
	http_deferred *d;
	int rc = body_name(req, &name);

	if (rc == 0)
		rc = name ? backup_name_check(name) : 0;
	if (rc)
		return rc;
	d = http_defer(req);
	rc = backup_start(name, backup_done, d);   /* copies name before the gate frees the body */
	if (rc)
		http_deferred_finish(d, rc, 0, NULL);
	return HTTP_DEFERRED;
}
