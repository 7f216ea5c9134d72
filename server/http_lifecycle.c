/* http_lifecycle: enrollment, registration, retire and archive handlers. Must never hold SQL. */
#include "http_lifecycle.h"

#include "enrollment.h"
#include "err.h"
#include "retire.h"

#include <stdlib.h>
#include <string.h>

/* segs: devicehub, enrollment-groups|enrollments, {id} */
int http_enrollment_group_put(const http_request *req, http_response *res)
{
	return enrollment_put(STORE_ENROLL_GROUP, req->segs[2], req->body, &res->body);
}

int http_enrollment_group_get(const http_request *req, http_response *res)
{
	return enrollment_get(STORE_ENROLL_GROUP, req->segs[2], &res->body);
}

int http_enrollment_group_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return enrollment_delete(STORE_ENROLL_GROUP, req->segs[2]);
}

int http_enrollment_group_list(const http_request *req, http_response *res)
{
	(void)req;
	return enrollment_list(STORE_ENROLL_GROUP, &res->body);
}

int http_enrollment_put(const http_request *req, http_response *res)
{
	return enrollment_put(STORE_ENROLL_INDIVIDUAL, req->segs[2], req->body, &res->body);
}

int http_enrollment_get(const http_request *req, http_response *res)
{
	return enrollment_get(STORE_ENROLL_INDIVIDUAL, req->segs[2], &res->body);
}

int http_enrollment_delete(const http_request *req, http_response *res)
{
	res->status = 204;
	return enrollment_delete(STORE_ENROLL_INDIVIDUAL, req->segs[2]);
}

int http_enrollment_list(const http_request *req, http_response *res)
{
	(void)req;
	return enrollment_list(STORE_ENROLL_INDIVIDUAL, &res->body);
}

int http_registrations_list(const http_request *req, http_response *res)
{
	return enrollment_registrations(http_query_arg(req, "group"), &res->body);
}

/* segs: devicehub, registrations, {registrationId}, register */
int http_register(const http_request *req, http_response *res)
{
	const char *auth = http_header(req, "Authorization");
	char peer[64];

	http_peer_address(req, peer, sizeof(peer));
	return enrollment_register(auth, auth ? strlen(auth) : 0, req->segs[2], peer, &res->body);
}

/* segs: devicehub, devices, {id}, retire|replace */
int http_device_retire(const http_request *req, http_response *res)
{
	return retire_device(req->segs[2], req->body, &res->body);
}

int http_device_replace(const http_request *req, http_response *res)
{
	return retire_replace(req->segs[2], req->body, &res->body);
}

static int int_arg(const http_request *req, const char *name, int dflt)
{
	const char *v = http_query_arg(req, name);

	return v && *v ? atoi(v) : dflt;
}

int http_archive_list(const http_request *req, http_response *res)
{
	return retire_archive_list(http_query_arg(req, "deviceId"), http_query_arg(req, "reason"),
				   int_arg(req, "top", 100), int_arg(req, "skip", 0), &res->body);
}

/* segs: devicehub, archive, {id}: every archived twin of that device id (one unless the id was reused). */
int http_archive_get(const http_request *req, http_response *res)
{
	json_t *list = NULL;
	int rc = retire_archive_list(req->segs[2], NULL, 1000, 0, &list);

	if (rc)
		return rc;
	if (json_array_size(list) == 0) {
		json_decref(list);
		return err_set(DH_ENODEVICE, "no archived twin for device '%s'", req->segs[2]);
	}
	/* The latest retirement is the one to show; earlier ones are in the list. */
	res->body = json_incref(json_array_get(list, json_array_size(list) - 1));
	json_decref(list);
	return 0;
}

int http_archive_export(const http_request *req, http_response *res)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	(void)req;
	if ((rc = retire_archive_export(&text, &len)) != 0)
		return rc;
	res->content_type = "application/x-ndjson";
	res->raw = text ? (const unsigned char *)text : (const unsigned char *)"";
	res->raw_len = len;
	res->raw_free = text != NULL;
	return 0;
}

int http_archive_purge(const http_request *req, http_response *res)
{
	const char *days = http_query_arg(req, "olderThanDays");
	int64_t purged = 0;
	int rc;

	if (!days || !*days || strspn(days, "0123456789") != strlen(days) || strlen(days) > 6)
		return err_set(DH_EINVAL, "olderThanDays must be a whole number of days");
	if ((rc = retire_archive_purge(atoi(days), &purged)) != 0)
		return rc;
	res->body = json_pack("{s:I}", "purged", (json_int_t)purged);
	return 0;
}
