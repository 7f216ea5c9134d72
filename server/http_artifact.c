/* http_artifact: REST handlers for firmware artifacts (see http_artifact.h). */
#include "http_artifact.h"

#include "artifact.h"
#include "auth.h"
#include "err.h"
#include "sas.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ARG_MAX 1200 /* a decoded query argument: 8 models of 128 characters and their commas fit */

static int decoded_arg(const http_request *req, const char *name, char out[ARG_MAX])
{
	const char *arg = http_query_arg(req, name);

	if (!arg)
		return err_set(DH_EINVAL, "the query argument '%s' is required", name);
	if (!*arg || strlen(arg) >= ARG_MAX)
		return err_set(DH_EINVAL, "the query argument '%s' is empty or too long", name);
	memcpy(out, arg, strlen(arg) + 1);
	return 0;
}

/* "a" → "a"; "a,b" → ["a","b"]. artifact.c judges the names. OUT: *out new reference. */
static int models_from_arg(const char *text, json_t **out)
{
	json_t *arr;
	const char *p = text;

	*out = NULL;
	if (!strchr(text, ','))
		return (*out = json_string(text)) ? 0 : err_set(DH_EINVAL, "model must be UTF-8");
	arr = json_array();
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		json_t *name = json_stringn(p, n);
		if (!name) {
			json_decref(arr);
			return err_set(DH_EINVAL, "model must be UTF-8");
		}
		json_array_append_new(arr, name);
		if (!comma)
			break;
		p = comma + 1;
	}
	*out = arr;
	return 0;
}

int http_artifact_upload(const http_request *req, http_response *res)
{
	char version[ARG_MAX], model[ARG_MAX];
	json_t *models = NULL;
	artifact_spec spec;
	int rc;

	if ((rc = decoded_arg(req, "version", version)) != 0 || (rc = decoded_arg(req, "model", model)) != 0 ||
	    (rc = models_from_arg(model, &models)) != 0)
		return rc;
	spec.id = req->nsegs == 3 ? req->segs[2] : NULL;
	spec.version = version;
	spec.compatible_model = models;
	spec.content_type = http_header(req, "Content-Type");
	rc = artifact_create(&spec, req->raw_body, req->raw_len, &res->body);
	json_decref(models);
	res->status = 201;
	return rc;
}

int http_artifact_list(const http_request *req, http_response *res)
{
	return artifact_list(&res->body);
}

int http_artifact_get(const http_request *req, http_response *res)
{
	return artifact_get(req->segs[2], &res->body);
}

int http_artifact_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return artifact_delete(req->segs[2]);
}

/* A device downloads with its own token (the identity is the one its sr names; it must be enabled); a
 * policy token needs ServiceConnect (operators, scripts) or DeviceConnect (a gateway acting for devices,
 * which may connect as any of them anyway). */
static int check_download_auth(const http_request *req)
{
	const char *h = http_header(req, "Authorization");
	size_t len = h ? strlen(h) : 0;
	char device_id[129], module_id[129];
	sas_token t;
	int rc;

	if (h && sas_parse(h, len, &t) == 0 && t.skn[0]) {
		if ((rc = auth_check(h, len, AUTH_SERVICE_CONNECT)) == DH_ERIGHT)
			rc = auth_check(h, len, AUTH_DEVICE_CONNECT);
		return rc;
	}
	return auth_check_device_token(h, len, device_id, module_id);
}

/* Digits to a number; NULL on no digits or overflow. */
static const char *parse_u64(const char *p, uint64_t *out)
{
	uint64_t v = 0;
	const char *start = p;

	for (; isdigit((unsigned char)*p); p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*out = v;
	return p == start ? NULL : p;
}

/* RFC 9110 §14: a syntax we do not serve is ignored (the whole file goes out), a range that starts past
 * the end is 416. */
int http_artifact__range(const char *header, uint64_t size, uint64_t *first, uint64_t *last)
{
	const char *p = header;
	uint64_t a = 0, b = UINT64_MAX;

	if (!p || strncasecmp(p, "bytes=", 6) != 0 || strchr(p, ',') || size == 0)
		return 0;
	p += 6;
	while (*p == ' ')
		p++;
	if (*p == '-') { /* the last n bytes */
		if (!(p = parse_u64(p + 1, &b)) || *p)
			return 0;
		if (b == 0)
			return DH_ERANGE;
		*first = b >= size ? 0 : size - b;
		*last = size - 1;
		return 1;
	}
	if (!(p = parse_u64(p, &a)) || *p++ != '-')
		return 0;
	if (*p && (!(p = parse_u64(p, &b)) || *p || b < a))
		return 0;
	if (a >= size)
		return DH_ERANGE;
	*first = a;
	*last = b < size - 1 ? b : size - 1;
	return 1;
}

/* If-Range names the version the client holds: a range of a different package would corrupt it. */
static int if_range_matches(const char *value, const char *sha256)
{
	size_t n = value ? strlen(value) : 0;

	if (!value)
		return 1;
	if (n >= 2 && value[0] == '"' && value[n - 1] == '"')
		return n - 2 == strlen(sha256) && strncmp(value + 1, sha256, n - 2) == 0;
	return 0; /* a date: we keep no modification times, so send the whole file */
}

int http_artifact_content(const http_request *req, http_response *res)
{
	artifact_ref ref;
	uint64_t first = 0, last;
	int fd = -1, rc;

	if ((rc = check_download_auth(req)) != 0 || (rc = artifact_open(req->segs[2], &fd, &ref)) != 0)
		return rc;
	last = ref.size - 1;
	http_response_header(res, "Accept-Ranges", "bytes");
	http_response_header(res, "ETag", "\"%s\"", ref.sha256);
	rc = if_range_matches(http_header(req, "If-Range"), ref.sha256)
		 ? http_artifact__range(http_header(req, "Range"), ref.size, &first, &last)
		 : 0;
	if (rc < 0) {
		close(fd);
		http_response_header(res, "Content-Range", "bytes */%llu", (unsigned long long)ref.size);
		return err_set(rc, "the range is outside the %llu bytes of artifact '%s'", (unsigned long long)ref.size,
			       ref.id);
	}
	if (rc == 1) {
		res->status = 206;
		http_response_header(res, "Content-Range", "bytes %llu-%llu/%llu", (unsigned long long)first,
				     (unsigned long long)last, (unsigned long long)ref.size);
	}
	http_response_header(res, "Content-Type", "%s", ref.content_type);
	res->send_file = 1;
	res->file_fd = fd;
	res->file_offset = first;
	res->file_len = last - first + 1;
	return 0;
}
