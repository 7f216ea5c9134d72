/*
 * tls: loads and checks the hub's PEM certificate and key with mbedtls (X.509 and pk parsing), and
 * computes certificate thumbprints. Leaf: mbedtls, buf and err only. Never opens a socket.
 */
#include "tls.h"

#include "buf.h"
#include "err.h"

#include <errno.h>
#include <mbedtls/md.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex_upper(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void tls_thumbprints(const unsigned char *der, size_t len, char sha1[TLS_SHA1_HEX], char sha256[TLS_SHA256_HEX])
{
	unsigned char digest[32];

	if (sha1) {
		mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA1), der, len, digest);
		hex_upper(digest, 20, sha1);
	}
	if (sha256) {
		mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), der, len, digest);
		hex_upper(digest, 32, sha256);
	}
}

/* mbedtls parses PEM only from a NUL-terminated buffer whose length counts the NUL. */
static unsigned char *nul_terminated(const char *text, size_t len)
{
	unsigned char *copy = xmalloc(len + 1);

	memcpy(copy, text, len);
	copy[len] = '\0';
	return copy;
}

/* Parses the first certificate of pem into crt (initialised by the caller). */
static int parse_first_cert(mbedtls_x509_crt *crt, const char *pem, size_t len)
{
	unsigned char *text = nul_terminated(pem, len);
	int rc = mbedtls_x509_crt_parse(crt, text, len + 1);

	free(text);
	/* A positive result counts certificates of the chain that failed; the first one parsed if any did. */
	if (rc < 0 || crt->raw.len == 0)
		return err_set(DH_EINVAL, "no PEM certificate could be read (-0x%04x)", (unsigned)-rc);
	return 0;
}

int tls_pem_thumbprints(const char *pem, size_t len, char sha1[TLS_SHA1_HEX], char sha256[TLS_SHA256_HEX])
{
	mbedtls_x509_crt crt;
	int rc;

	mbedtls_x509_crt_init(&crt);
	if ((rc = parse_first_cert(&crt, pem, len)) == 0)
		tls_thumbprints(crt.raw.p, crt.raw.len, sha1, sha256);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

int tls_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		   char sha256[TLS_SHA256_HEX])
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context key;
	unsigned char *key_text = NULL;
	int rc;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&key);
	if ((rc = parse_first_cert(&crt, cert_pem, cert_len)) != 0)
		goto out;
	key_text = nul_terminated(key_pem, key_len);
	if ((rc = mbedtls_pk_parse_key(&key, key_text, key_len + 1, NULL, 0)) != 0) {
		rc = err_set(DH_EINVAL,
			     "the private key could not be read: it must be an unencrypted PEM RSA or EC key (-0x%04x)",
			     (unsigned)-rc);
		goto out;
	}
	if (mbedtls_pk_check_pair(&crt.pk, &key) != 0) {
		rc = err_set(DH_EINVAL, "the private key does not belong to the certificate");
		goto out;
	}
	if (sha256)
		tls_thumbprints(crt.raw.p, crt.raw.len, NULL, sha256);
out:
	if (key_text) {
		mbedtls_platform_zeroize(key_text, key_len + 1);
		free(key_text);
	}
	mbedtls_pk_free(&key);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

/* Reads a whole file of at most TLS_PEM_MAX bytes. OUT: *out (caller frees), *len. */
static int read_file(const char *path, char **out, size_t *len)
{
	buf text = BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f = fopen(path, "rb");
	int rc = 0;

	*out = NULL;
	if (!f)
		return err_set(DH_EIO, "cannot open %s: %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (text.len + n > TLS_PEM_MAX) {
			rc = err_set(DH_EINVAL, "%s is larger than %d bytes", path, TLS_PEM_MAX);
			goto out;
		}
		buf_append(&text, chunk, n);
	}
	if (ferror(f)) {
		rc = err_set(DH_EIO, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if (text.len == 0) {
		rc = err_set(DH_EINVAL, "%s is empty", path);
		goto out;
	}
	*len = text.len;
	*out = buf_detach(&text);
out:
	fclose(f);
	buf_release(&text);
	return rc;
}

int tls_pair_load(const char *cert_path, const char *key_path, tls_pair *out)
{
	size_t cert_len = 0, key_len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = read_file(cert_path, &out->cert_pem, &cert_len)) != 0 ||
	    (rc = read_file(key_path, &out->key_pem, &key_len)) != 0)
		goto fail;
	if ((rc = tls_pair_check(out->cert_pem, cert_len, out->key_pem, key_len, out->sha256)) != 0) {
		char why[400];
		snprintf(why, sizeof(why), "%s", err_message());
		rc = err_set(rc, "tls-cert %s / tls-key %s: %s", cert_path, key_path, why);
		goto fail;
	}
	return 0;
fail:
	tls_pair_release(out);
	return rc;
}

void tls_pair_release(tls_pair *p)
{
	if (p->key_pem) {
		mbedtls_platform_zeroize(p->key_pem, strlen(p->key_pem));
		free(p->key_pem);
	}
	free(p->cert_pem);
	memset(p, 0, sizeof(*p));
}
