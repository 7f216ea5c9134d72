/*
 * tls: the hub's certificate and key as PEM text, checked before any edge uses them, and certificate
 * thumbprints. Both TLS edges (REST on libmicrohttpd/GnuTLS, devices on libwebsockets/OpenSSL) read the
 * pair through here, so a bad file is refused with one clear message before a listener sees it, and an
 * X.509 device is matched by the same thumbprint code the unit tests check. Leaf module (mbedtls only):
 * it never opens a socket and never includes a server header.
 */
#ifndef DH_TLS_H
#define DH_TLS_H

#include <stddef.h>

#define TLS_SHA1_HEX 41   /* 40 hex digits + NUL */
#define TLS_SHA256_HEX 65 /* 64 hex digits + NUL */
#define TLS_PEM_MAX (1024 * 1024)

/* A checked certificate (chain) and private key. */
typedef struct tls_pair {
	char *cert_pem;              /* owned, NUL-terminated: the certificate, then any intermediates */
	char *key_pem;               /* owned, NUL-terminated: the unencrypted private key (RSA or EC) */
	char sha256[TLS_SHA256_HEX]; /* SHA-256 thumbprint of the leaf certificate, upper-case hex */
} tls_pair;

/* Checks PEM text already in memory: the first certificate parses, the key parses (unencrypted), and the
 * key belongs to the certificate. Lengths exclude any NUL. OUT: sha256 of the leaf (may be NULL).
 * Returns 0 or DH_EINVAL with a message naming what is wrong. */
int tls_pair_check(const char *cert_pem, size_t cert_len, const char *key_pem, size_t key_len,
		   char sha256[TLS_SHA256_HEX]);

/* Reads cert_path and key_path (each at most TLS_PEM_MAX bytes) and checks them as tls_pair_check does.
 * OUT: *out, released with tls_pair_release (also on error: it is then empty). Returns 0, DH_EIO when a
 * file cannot be read, or DH_EINVAL; the message names the file. */
int tls_pair_load(const char *cert_path, const char *key_path, tls_pair *out);

/* Frees the PEM texts; the struct stays valid and empty. */
void tls_pair_release(tls_pair *p);

/* Thumbprints of a DER certificate as IoT Hub shows them: upper-case hex of SHA-1 and of SHA-256 over the
 * DER bytes. Either output may be NULL. */
void tls_thumbprints(const unsigned char *der, size_t len, char sha1[TLS_SHA1_HEX], char sha256[TLS_SHA256_HEX]);

/* Thumbprints of the first certificate in PEM text. Returns 0 or DH_EINVAL. */
int tls_pem_thumbprints(const char *pem, size_t len, char sha1[TLS_SHA1_HEX], char sha256[TLS_SHA256_HEX]);

#endif
