/*
 * http_import: HTTP side of imports and exports. Must never touch SQL.
 */
#include "http_import.h"

#include "auth.h"
#include "err.h"
#include "export.h"

#include <string.h>

int http_import_start(const http_request *req, http_response *res)
{
	int rc = import_start(req->raw_body ? req->raw_body : "", req->raw_len, http_header(req, "Content-Type"),
			      &res->body);

	if (rc == 0) {
		res->status = 202;
		http_response_header(res, "Location", "/devicehub/imports/%s",
				     json_string_value(json_object_get(res->body, "id")));
	}
	return rc;
}

int http_import_get(const http_request *req, http_response *res)
{
	return import_get(req->segs[2], &res->body);
}

int http_import_errors(const http_request *req, http_response *res)
{
	char *text = NULL;
	size_t len = 0;
	int rc = import_errors(req->segs[2], &text, &len);

	if (rc)
		return rc;
	res->raw = (const unsigned char *)text;
	res->raw_len = len;
	res->raw_free = 1;
	res->content_type = "application/x-ndjson";
	return 0;
}

static long export_next(void *stream, char *dst, size_t max)
{
	return (long)export_read(stream, dst, max);
}

static void export_free(void *stream)
{
	export_close(stream);
}

int http_export(const http_request *req, http_response *res)
{
	const char *keys = http_query_arg(req, "keys");
	int with_keys = keys && strcmp(keys, "true") == 0;
	export_stream *x = NULL;
	int rc;

	if (keys && !with_keys && strcmp(keys, "false") != 0)
		return err_set(DH_EINVAL, "keys must be true or false");
	/* Keys are credentials: reading them takes the right to write them (the owner holds every right; of
	 * signed-in accounts, an admin). */
	if (with_keys && !http_caller_may(req, AUTH_REGISTRY_WRITE))
		return http_request_caller(req)->has_session
			       ? err_set(DH_EFORBIDDEN, "keys=true needs the admin role")
			       : err_set(DH_ERIGHT, "keys=true needs RegistryWrite");
	if ((rc = export_open(with_keys, &x)) != 0)
		return rc;
	res->stream_read = export_next;
	res->stream_free = export_free;
	res->stream = x;
	res->content_type = "application/x-ndjson";
	return 0;
}
