/*
 * sas: IoT Hub shared access signature tokens (reference §4): parsing, signing and verifying.
 * Leaf module: knows keys and strings, not policies or devices (auth decides whose key to try).
 */
#ifndef DH_SAS_H
#define DH_SAS_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

#define SAS_FIELD_MAX 512

typedef struct sas_token {
	char sr_raw[SAS_FIELD_MAX];   /* sr exactly as it appears in the token (what was signed) */
	char sr[SAS_FIELD_MAX];       /* sr URL-decoded: "host" or "host/devices/id" */
	char sig[128];                /* signature, URL-decoded base64 */
	int64_t se;                   /* expiry, Unix seconds */
	char skn[128];                /* policy name; "" when signed with a device key */
} sas_token;

/* Parses "SharedAccessSignature sr=..&sig=..&se=..[&skn=..]" (the prefix is required; field order is
 * free). OUT: *out. Returns 0 or DH_EUNAUTH with a message naming what is malformed. */
int sas_parse(const char *text, size_t len, sas_token *out);

/* Checks t's signature with key_b64 (the base64 key) and its expiry against now. Returns 0, DH_EUNAUTH
 * (wrong signature / bad key) or DH_EEXPIRED. Signature compare is constant-time. */
int sas_verify(const sas_token *t, const char *key_b64, int64_t now);

/* Appends a token for resource sr_raw (already URL-encoded as it should appear), signed with key_b64,
 * expiring at se, with skn when non-NULL. Returns 0 or DH_EINVAL for a bad key. */
int sas_build(const char *sr_raw, const char *key_b64, const char *skn, int64_t se, buf *out);

/* 1 when the decoded sr scopes to resource ("host/devices/id"): sr equals it or is a prefix of it by whole
 * '/' segments, compared case-insensitively. */
int sas_scope_covers(const char *sr, const char *resource);

#endif
