/*
 * crypto: the few primitives devicehub needs, on mbedtls: random bytes (CTR_DRBG seeded from the
 * platform's entropy), base64, HMAC-SHA256, SHA-256 and a constant-time compare. Leaf module.
 */
#ifndef DH_CRYPTO_H
#define DH_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* Seeds the generator. Call once before any thread uses crypto_random. Returns 0 or DH_EINTERNAL. */
int crypto_init(void);

/* Fills out with n random bytes. Thread-safe (a lock around the shared DRBG). Returns 0 or DH_EINTERNAL. */
int crypto_random(void *out, size_t n);

/* A new symmetric key: 32 random bytes as base64 (44 characters + NUL) in out[45]. */
int crypto_new_key(char out[45]);

/* base64 of in[0..n) into out (size outsz, NUL-terminated). Returns 0 or DH_EINVAL if out is too small. */
int crypto_base64_encode(const void *in, size_t n, char *out, size_t outsz);

/* Decodes base64 text into out (size outsz). OUT: *outlen. Returns 0 or DH_EINVAL for bad base64. */
int crypto_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz, size_t *outlen);

/* HMAC-SHA256(key, msg) into mac[32]. */
void crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t msglen, uint8_t mac[32]);

void crypto_sha256(const void *msg, size_t len, uint8_t digest[32]);

/* 1 when a[0..n) equals b[0..n), taking the same time whatever the contents. */
int crypto_equal(const void *a, const void *b, size_t n);

#endif
