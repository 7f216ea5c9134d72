/*
 * err: the one error vocabulary of devicehub.
 *
 * Every fallible function returns 0 or a negative dh_err. A thread-local message says what went wrong in
 * words a caller can show (err_set), and err_http() turns a code into the HTTP status and the IoT Hub error
 * name and number that the REST API answers with. This module includes nothing of the server.
 */
#ifndef DH_ERR_H
#define DH_ERR_H

typedef enum dh_err {
	DH_OK = 0,
	/* 400: the caller's input */
	DH_EINVAL = -1,        /* 400004 ArgumentInvalid */
	DH_ENULL = -2,         /* 400005 ArgumentNull */
	DH_EDUPLICATE = -3,    /* 400011 DeviceDefinedMultipleTimes */
	DH_EQUERY = -4,        /* 400004 query syntax or semantic error */
	DH_EBULK = -5,         /* 400 bulk registry operation with per-device errors */
	/* 401 */
	DH_EUNAUTH = -10,      /* 401002 IotHubUnauthorizedAccess */
	DH_EEXPIRED = -11,     /* 401003 IotHubUnauthorized (expired token) */
	DH_ERIGHT = -12,       /* 401 the policy lacks the right */
	/* 403 */
	DH_EQUOTA = -20,       /* 403002 IotHubQuotaExceeded */
	DH_EFORBIDDEN = -21,   /* 403 Forbidden: the signed-in account's role is not enough, or no CSRF token */
	/* 404 */
	DH_ENODEVICE = -30,    /* 404001 DeviceNotFound */
	DH_ENOMODULE = -31,    /* 404010 ModuleNotFound */
	DH_ENOROUTE = -32,     /* 404 no such resource */
	DH_ENOPOLICY = -33,    /* 404 no such shared access policy */
	DH_EOFFLINE = -34,     /* 404103 DeviceNotOnline */
	DH_ENOARTIFACT = -38,  /* 404 ArtifactNotFound */
	DH_ENOJOB = -35,       /* 404 JobNotFound */
	DH_ENOCONFIG = -39,    /* 404 ConfigurationNotFound */
	/* 405, 409, 412, 413, 415 */
	DH_EMETHOD = -40,      /* 405 method not allowed on this path */
	DH_EEXISTS = -41,      /* 409001 DeviceAlreadyExists */
	DH_EMODEXISTS = -42,   /* 409301 ModuleAlreadyExistsOnDevice */
	DH_EETAG = -43,        /* 412002 PreconditionFailed */
	DH_EJOBEXISTS = -46,   /* 409 JobAlreadyExists */
	DH_ECONFIGEXISTS = -47, /* 409 ConfigurationAlreadyExists */
	DH_ETOOBIG = -44,      /* 413001 MessageTooLarge */
	DH_EMEDIA = -45,       /* 415 unsupported content type */
	DH_EARTEXISTS = -48,   /* 409 ArtifactAlreadyExists */
	DH_ERANGE = -49,       /* 416 RequestedRangeNotSatisfiable */
	DH_ECONFLICT = -60,    /* 409 Conflict (e.g. deleting the last admin account) */
	DH_ETHROTTLE = -61,    /* 429001 ThrottlingException (too many failed logins) */
	/* 5xx */
	DH_ENOMEM = -50,       /* 500001 ServerError (out of memory) */
	DH_EIO = -51,          /* 500001 ServerError (storage failed) */
	DH_EINTERNAL = -52,    /* 500001 ServerError */
	DH_EBUSY = -53,        /* 503 ServiceUnavailable (database busy beyond its timeout, shutting down) */
	DH_ETIMEOUT = -54,     /* 504101 GatewayTimeout (the device did not answer in time) */
} dh_err;

/* What the REST API answers for an error code. Static storage; never freed. */
typedef struct err_http_info {
	int status;           /* HTTP status */
	int number;           /* IoT Hub's six-digit code, e.g. 404001 */
	const char *name;     /* IoT Hub's error name, e.g. "DeviceNotFound" */
} err_http_info;

/* Records a message for the calling thread and returns code, so error paths stay one line:
 * `return err_set(DH_EINVAL, "deviceId '%s' is too long", id);` */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message ("" if none). Valid until the next err_set on this thread. */
const char *err_message(void);

/* Clears the calling thread's message. */
void err_clear(void);

/* Status, number and name for code. Unknown codes map to 500 ServerError. */
err_http_info err_http(int code);

#endif
