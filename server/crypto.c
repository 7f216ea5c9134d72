/* crypto: mbedtls wrappers. Includes nothing of the server but err. */
#include "crypto.h"

#include "err.h"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <pthread.h>

static mbedtls_entropy_context crypto_entropy;
static mbedtls_ctr_drbg_context crypto_drbg;
static pthread_mutex_t crypto_lock = PTHREAD_MUTEX_INITIALIZER;
static int crypto_ready;

int crypto_init(void)
{
	static const char personal[] = "devicehub";
	int rc = 0;

	pthread_mutex_lock(&crypto_lock);
	if (!crypto_ready) {
		mbedtls_entropy_init(&crypto_entropy);
		mbedtls_ctr_drbg_init(&crypto_drbg);
		if (mbedtls_ctr_drbg_seed(&crypto_drbg, mbedtls_entropy_func, &crypto_entropy,
					  (const unsigned char *)personal, sizeof(personal) - 1) != 0)
			rc = err_set(DH_EINTERNAL, "cannot seed the random generator");
		else
			crypto_ready = 1;
	}
	pthread_mutex_unlock(&crypto_lock);
	return rc;
}

int crypto_random(void *out, size_t n)
{
	int rc;

	if (!crypto_ready && crypto_init() != 0)
		return DH_EINTERNAL;
	pthread_mutex_lock(&crypto_lock);
	rc = mbedtls_ctr_drbg_random(&crypto_drbg, out, n);
	pthread_mutex_unlock(&crypto_lock);
	return rc == 0 ? 0 : err_set(DH_EINTERNAL, "random generator failed");
}

int crypto_new_key(char out[45])
{
	uint8_t raw[32];
	int rc = crypto_random(raw, sizeof(raw));

	if (rc)
		return rc;
	return crypto_base64_encode(raw, sizeof(raw), out, 45);
}

int crypto_base64_encode(const void *in, size_t n, char *out, size_t outsz)
{
	size_t olen = 0;

	if (mbedtls_base64_encode((unsigned char *)out, outsz, &olen, in, n) != 0)
		return err_set(DH_EINVAL, "base64 output too small");
	return 0;
}

int crypto_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outsz, size_t *outlen)
{
	if (mbedtls_base64_decode(out, outsz, outlen, (const unsigned char *)in, inlen) != 0)
		return err_set(DH_EINVAL, "invalid base64");
	return 0;
}

void crypto_hmac_sha256(const uint8_t *key, size_t keylen, const void *msg, size_t msglen, uint8_t mac[32])
{
	mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, keylen, msg, msglen, mac);
}

void crypto_sha256(const void *msg, size_t len, uint8_t digest[32])
{
	mbedtls_sha256_ret(msg, len, digest, 0);
}

int crypto_equal(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}
