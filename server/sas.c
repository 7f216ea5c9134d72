/* sas: SAS token handling. Includes nothing of the server but leaves (buf, crypto, err). */
#include "sas.h"

#include "crypto.h"
#include "err.h"
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char sas_prefix[] = "SharedAccessSignature ";

/* Stores one key=value pair of the token into t. */
static int sas_field(sas_token *t, const char *key, size_t klen, const char *val, size_t vlen)
{
	if (klen == 2 && strncmp(key, "sr", 2) == 0) {
		if (vlen >= sizeof(t->sr_raw) || url_decode(val, vlen, t->sr, sizeof(t->sr)) < 0)
			return err_set(DH_EUNAUTH, "malformed sr in shared access signature");
		memcpy(t->sr_raw, val, vlen);
		t->sr_raw[vlen] = '\0';
	} else if (klen == 3 && strncmp(key, "sig", 3) == 0) {
		if (url_decode(val, vlen, t->sig, sizeof(t->sig)) < 0)
			return err_set(DH_EUNAUTH, "malformed sig in shared access signature");
	} else if (klen == 2 && strncmp(key, "se", 2) == 0) {
		char num[24];
		char *end;
		if (vlen == 0 || vlen >= sizeof(num))
			return err_set(DH_EUNAUTH, "malformed se in shared access signature");
		memcpy(num, val, vlen);
		num[vlen] = '\0';
		t->se = strtoll(num, &end, 10);
		if (*end != '\0' || t->se <= 0)
			return err_set(DH_EUNAUTH, "malformed se in shared access signature");
	} else if (klen == 3 && strncmp(key, "skn", 3) == 0) {
		if (url_decode(val, vlen, t->skn, sizeof(t->skn)) < 0)
			return err_set(DH_EUNAUTH, "malformed skn in shared access signature");
	}
	/* Unknown fields are ignored, as IoT Hub does. */
	return 0;
}

int sas_parse(const char *text, size_t len, sas_token *t)
{
	size_t plen = sizeof(sas_prefix) - 1;
	const char *p, *end = text + len;
	int rc;

	memset(t, 0, sizeof(*t));
	if (len < plen || strncasecmp(text, sas_prefix, plen) != 0)
		return err_set(DH_EUNAUTH, "authorization is not a SharedAccessSignature");
	for (p = text + plen; p < end;) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (!eq)
			return err_set(DH_EUNAUTH, "malformed shared access signature field");
		if ((rc = sas_field(t, p, (size_t)(eq - p), eq + 1, (size_t)(stop - eq - 1))) != 0)
			return rc;
		p = amp ? amp + 1 : end;
	}
	if (!t->sr_raw[0] || !t->sig[0] || !t->se)
		return err_set(DH_EUNAUTH, "shared access signature lacks sr, sig or se");
	return 0;
}

/* base64(HMAC-SHA256(base64decode(key), sr "\n" se)) into out[64]. */
static int sas_sign(const char *sr_raw, int64_t se, const char *key_b64, char out[64])
{
	uint8_t key[128], mac[32];
	size_t keylen = 0;
	char msg[SAS_FIELD_MAX + 32];
	int n;

	if (crypto_base64_decode(key_b64, strlen(key_b64), key, sizeof(key), &keylen) != 0 || keylen == 0)
		return err_set(DH_EINVAL, "the key is not valid base64");
	n = snprintf(msg, sizeof(msg), "%s\n%lld", sr_raw, (long long)se);
	crypto_hmac_sha256(key, keylen, msg, (size_t)n, mac);
	return crypto_base64_encode(mac, sizeof(mac), out, 64);
}

/* Older clients sign the lower-cased, re-encoded resource instead of the text they send. */
static void sas_alt_resource(const char *sr, char *out, size_t n)
{
	buf b = BUF_INIT;

	url_encode(sr, &b);
	snprintf(out, n, "%s", buf_cstr(&b));
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	buf_release(&b);
}

int sas_verify(const sas_token *t, const char *key_b64, int64_t now)
{
	char expect[64], alt[SAS_FIELD_MAX * 3];
	size_t siglen = strlen(t->sig);

	if (sas_sign(t->sr_raw, t->se, key_b64, expect) != 0)
		return err_set(DH_EUNAUTH, "the signing key is invalid");
	int ok = siglen == strlen(expect) && crypto_equal(expect, t->sig, siglen);
	if (!ok) {
		sas_alt_resource(t->sr, alt, sizeof(alt));
		if (strcmp(alt, t->sr_raw) != 0 && sas_sign(alt, t->se, key_b64, expect) == 0)
			ok = siglen == strlen(expect) && crypto_equal(expect, t->sig, siglen);
	}
	if (!ok)
		return err_set(DH_EUNAUTH, "the shared access signature is not valid");
	if (t->se <= now)
		return err_set(DH_EEXPIRED, "the shared access signature expired at %lld", (long long)t->se);
	return 0;
}

int sas_build(const char *sr_raw, const char *key_b64, const char *skn, int64_t se, buf *out)
{
	char sig[64];
	int rc = sas_sign(sr_raw, se, key_b64, sig);

	if (rc)
		return rc;
	buf_printf(out, "SharedAccessSignature sr=%s&sig=", sr_raw);
	url_encode(sig, out);
	buf_printf(out, "&se=%lld", (long long)se);
	if (skn && *skn)
		buf_printf(out, "&skn=%s", skn);
	return 0;
}

int sas_scope_covers(const char *sr, const char *resource)
{
	size_t n = strlen(sr);

	while (n > 0 && sr[n - 1] == '/')
		n--;
	if (strncasecmp(sr, resource, n) != 0)
		return 0;
	return resource[n] == '\0' || resource[n] == '/';
}
