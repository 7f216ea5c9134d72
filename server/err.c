/* err: error codes, their REST mapping and the per-thread message. Includes nothing of the server. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char err_msg[512];

int err_set(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
	va_end(ap);
	return code;
}

const char *err_message(void)
{
	return err_msg;
}

void err_clear(void)
{
	err_msg[0] = '\0';
}

/* One row per code: the table is the mapping (git's error-code tables, not a switch of returns). */
static const struct {
	int code;
	err_http_info info;
} err_table[] = {
	{DH_EINVAL, {400, 400004, "ArgumentInvalid"}},
	{DH_ENULL, {400, 400005, "ArgumentNull"}},
	{DH_EDUPLICATE, {400, 400011, "DeviceDefinedMultipleTimes"}},
	{DH_EQUERY, {400, 400004, "ArgumentInvalid"}},
	{DH_EBULK, {400, 400004, "ArgumentInvalid"}},
	{DH_EUNAUTH, {401, 401002, "IotHubUnauthorizedAccess"}},
	{DH_EEXPIRED, {401, 401003, "IotHubUnauthorized"}},
	{DH_ERIGHT, {401, 401002, "IotHubUnauthorizedAccess"}},
	{DH_EQUOTA, {403, 403002, "IotHubQuotaExceeded"}},
	{DH_EFORBIDDEN, {403, 403000, "Forbidden"}},
	{DH_ECONFLICT, {409, 409000, "Conflict"}},
	{DH_ETHROTTLE, {429, 429001, "ThrottlingException"}},
	{DH_ENODEVICE, {404, 404001, "DeviceNotFound"}},
	{DH_ENOMODULE, {404, 404010, "ModuleNotFound"}},
	{DH_ENOROUTE, {404, 404000, "NotFound"}},
	{DH_ENOPOLICY, {404, 404000, "NotFound"}},
	{DH_EOFFLINE, {404, 404103, "DeviceNotOnline"}},
	{DH_ENOJOB, {404, 404002, "JobNotFound"}},
	{DH_ENOCONFIG, {404, 404000, "ConfigurationNotFound"}},
	{DH_EMETHOD, {405, 405000, "MethodNotAllowed"}},
	{DH_EEXISTS, {409, 409001, "DeviceAlreadyExists"}},
	{DH_EMODEXISTS, {409, 409301, "ModuleAlreadyExistsOnDevice"}},
	{DH_EETAG, {412, 412002, "PreconditionFailed"}},
	{DH_EJOBEXISTS, {409, 409002, "JobAlreadyExists"}},
	{DH_ECONFIGEXISTS, {409, 409000, "ConfigurationAlreadyExists"}},
	{DH_ETOOBIG, {413, 413001, "MessageTooLarge"}},
	{DH_EMEDIA, {415, 415000, "UnsupportedMediaType"}},
	{DH_ENOARTIFACT, {404, 404000, "ArtifactNotFound"}},
	{DH_EARTEXISTS, {409, 409000, "ArtifactAlreadyExists"}},
	{DH_ERANGE, {416, 416000, "RequestedRangeNotSatisfiable"}},
	{DH_ENOMEM, {500, 500001, "ServerError"}},
	{DH_EIO, {500, 500001, "ServerError"}},
	{DH_EINTERNAL, {500, 500001, "ServerError"}},
	{DH_EBUSY, {503, 503000, "ServiceUnavailable"}},
	{DH_ETIMEOUT, {504, 504101, "GatewayTimeout"}},
};

err_http_info err_http(int code)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == code)
			return err_table[i].info;
	return (err_http_info){500, 500001, "ServerError"};
}
