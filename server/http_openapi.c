/*
 * http_openapi: the OpenAPI 3 document, generated from the route table so the two cannot disagree.
 */
#include "http.h"

#include "auth.h"
#include "buf.h"

#include <string.h>

/* A path parameter is named after the segment before it: devices/{deviceId}, modules/{moduleId}. */
static const char *param_name(const char *prev, size_t n)
{
	static const struct {
		const char *segment;
		const char *param;
	} names[] = {{"devices", "deviceId"}, {"twins", "deviceId"}, {"modules", "moduleId"},
		     {"policies", "policyName"}, {"rollouts", "rolloutId"}, {"{}", "action"}, {"v2", "jobId"}, {"ui", "file"}, {"artifacts", "artifactId"},
		     {"accounts", "accountName"}};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].segment) == n && strncmp(prev, names[i].segment, n) == 0)
			return names[i].param;
	return "id";
}

/* Rewrites "/twins/{}/modules/{}" as "/twins/{deviceId}/modules/{moduleId}", listing the parameters. */
static void openapi_path(const char *pattern, buf *path, json_t *params)
{
	const char *prev = "", *p = pattern;
	size_t prevlen = 0;

	while (*p) {
		const char *seg = p + 1;
		const char *next = strchr(seg, '/');
		size_t n = next ? (size_t)(next - seg) : strlen(seg);
		if (n == 2 && strncmp(seg, "{}", 2) == 0) {
			const char *name = param_name(prev, prevlen);
			buf_printf(path, "/{%s}", name);
			json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in", "path",
								"required", 1, "schema", "type", "string"));
		} else {
			buf_printf(path, "/%.*s", (int)n, seg);
		}
		prev = seg;
		prevlen = n;
		p = seg + n;
		if (!*p && n == 0)
			break;
	}
	if (path->len == 0)
		buf_putc(path, '/');
}

static json_t *openapi_operation(const http_route *r, json_t *params)
{
	json_t *op = json_pack("{s:s, s:o, s:{s:{s:s}}}", "summary", r->summary, "parameters", params,
			       "responses", "default", "description", "JSON; errors use IoT Hub's error body");

	if (r->flags & HTTP_OWN_AUTH)
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "sas"));
	json_object_set_new(op, "x-devicehub-right", json_integer(r->right));
	/* The least role a signed-in account needs (docs/accounts.md); absent on public and device routes. */
	if (http_route_role(r) != ACCOUNT_NONE)
		json_object_set_new(op, "x-devicehub-role", json_string(account_role_name(http_route_role(r))));
	if (r->flags & (HTTP_SESSION | HTTP_SELF))
		json_object_set_new(op, "security", json_pack("[{s:[]}]", "session"));
	else if (http_route_role(r) != ACCOUNT_NONE)
		json_object_set_new(op, "security", json_pack("[{s:[]}, {s:[]}]", "sas", "session"));
	if (r->flags & HTTP_JSON_BODY)
		json_object_set_new(op, "requestBody",
				    json_pack("{s:b, s:{s:{}}}", "required", 1, "content", "application/json"));
	if (r->flags & HTTP_JSON_OPTIONAL)
		json_object_set_new(op, "requestBody",
				    json_pack("{s:b, s:{s:{}}}", "required", 0, "content", "application/json"));
	if (r->flags & HTTP_RAW_BODY)
		json_object_set_new(op, "requestBody",
				    json_pack("{s:b, s:{s:{}}}", "required", 1, "content", "application/octet-stream"));
	return op;
}

json_t *http_openapi(void)
{
	json_t *paths = json_object();

	for (const http_route *r = http_routes; r->method; r++) {
		buf path = BUF_INIT, method = BUF_INIT;
		json_t *params = json_array(), *item;
		openapi_path(r->pattern, &path, params);
		for (const char *m = r->method; *m; m++)
			buf_putc(&method, (char)(*m - 'A' + 'a'));
		item = json_object_get(paths, buf_cstr(&path));
		if (!item)
			json_object_set_new(paths, buf_cstr(&path), item = json_object());
		json_object_set_new(item, buf_cstr(&method), openapi_operation(r, params));
		buf_release(&path);
		buf_release(&method);
	}
	return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}}}}", "openapi",
			 "3.0.3", "info", "title", "devicehub REST API", "version", "2021-04-12", "paths", paths,
			 "components", "securitySchemes", "sas", "type", "apiKey", "in", "header", "name",
			 "Authorization", "description", "SharedAccessSignature sr=<host>&sig=..&se=..&skn=<policy>",
			 "session", "type", "apiKey", "in", "cookie", "name", "dh_session", "description",
			 "An account's session from POST /devicehub/login; non-GET requests also send X-CSRF-Token; "
			 "x-devicehub-role is the least role the operation needs");
}
