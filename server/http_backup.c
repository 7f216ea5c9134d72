/*
 * http_backup: POST /devicehub/backup. Parses the optional body, starts the backup on backup.c's thread
 * and parks the request until it is done (http_defer), so a long copy holds no libmicrohttpd worker and
 * the connections that worker serves. Never touches files or SQL.
 */
#include "http_backup.h"

#include "backup.h"
#include "err.h"
#include "json_util.h"

static void backup_done(void *ctx, int code, json_t *result)
{
	http_deferred_finish(ctx, code, code ? 0 : 200, result);
}

/* The body is optional, which the gate's JSON flag does not allow, so the route takes it raw (bounded
 * by the route's limit, after the owner check) and it is parsed here with the gate's own parser. */
static int body_name(const http_request *req, json_t **body, const char **name)
{
	const json_t *path;
	int rc;

	*name = NULL;
	if (req->raw_len == 0)
		return 0;
	if ((rc = json_util_parse(req->raw_body, req->raw_len, JSON_UTIL_MAX_DEPTH, body)) != 0)
		return rc;
	path = json_object_get(*body, "path");
	if (!json_is_object(*body) || (path && !json_is_null(path) && !json_is_string(path)))
		return err_set(DH_EINVAL, "the body must be empty or {\"path\": \"<file name>\"}");
	*name = json_string_value(path);
	return 0;
}

int http_backup_create(const http_request *req, http_response *res)
{
	json_t *body = NULL;
	const char *name;
	http_deferred *d;
	int rc = body_name(req, &body, &name);

	if (rc == 0)
		rc = name ? backup_name_check(name) : 0;
	if (rc) {
		json_decref(body);
		return rc;
	}
	d = http_defer(req);
	rc = backup_start(name, backup_done, d);   /* copies name: the body can go */
	if (rc)
		http_deferred_finish(d, rc, 0, NULL);
	json_decref(body);
	return HTTP_DEFERRED;
}
