/* Unit tests for server/tls.c: thumbprints and the check that a key belongs to its certificate. The PEM
 * texts below are throw-away test fixtures (a self-signed P-256 certificate valid until 2126 and keys),
 * made with the openssl CLI, whose fingerprints the expected thumbprints are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"
#include "test_util.h"
#include "tls.h"

static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\n"
			       "MIIBdTCCARugAwIBAgIUYMMAy5npSuYkcBANrBi1100n1n4wCgYIKoZIzj0EAwIw\n"
			       "DzENMAsGA1UEAwwEdW5pdDAgFw0yNjExMjYxNTExNTRaGA8yMTI2MTEwMjE1MTE1\n"
			       "NFowDzENMAsGA1UEAwwEdW5pdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABENC\n"
			       "BJFL3GR0/Hz4NSA2/UQHFQp8YbWWpElNxSlwT/MrPaL1GuLzour2kJ6ret6FyWT9\n"
			       "/vf7KzsDtTcHHn0QTtejUzBRMB0GA1UdDgQWBBR6/ZiZG5tQ0AHjhnZoEG2Ml+NF\n"
			       "5DAfBgNVHSMEGDAWgBR6/ZiZG5tQ0AHjhnZoEG2Ml+NF5DAPBgNVHRMBAf8EBTAD\n"
			       "AQH/MAoGCCqGSM49BAMCA0gAMEUCIQDp9t/M5HR9ZM3YFjhdnLuxTZt/lBcASE9C\n"
			       "w1EimNnn3wIgC8hofExBuM8g1sFjEeaGyK3i3CPqqF4rW6pGjJeCdnU=\n"
			       "-----END CERTIFICATE-----\n";
/* The certificate's key as PKCS#8 and as SEC1 ("EC PRIVATE KEY"). */
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
			      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgUonwq8gXCiAwwDEI\n"
			      "Ld6/ZpfUIM0VetEzx5F6Sh7IvgihRANCAARDQgSRS9xkdPx8+DUgNv1EBxUKfGG1\n"
			      "lqRJTcUpcE/zKz2i9Rri86Lq9pCeq3rehclk/f73+ys7A7U3Bx59EE7X\n"
			      "-----END PRIVATE KEY-----\n";
static const char key_sec1_pem[] = "-----BEGIN EC PRIVATE KEY-----\n"
				   "MHcCAQEEIFKJ8KvIFwogMMAxCC3ev2aX1CDNFXrRM8eRekoeyL4IoAoGCCqGSM49\n"
				   "AwEHoUQDQgAEQ0IEkUvcZHT8fPg1IDb9RAcVCnxhtZakSU3FKXBP8ys9ovUa4vOi\n"
				   "6vaQnqt63oXJZP3+9/srOwO1NwcefRBO1w==\n"
				   "-----END EC PRIVATE KEY-----\n";
/* Another P-256 key. */
static const char other_key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
				    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgiJ/idmuOch7B/YTc\n"
				    "8Rll3hV0I7UN6XtSlfji+W9dWVehRANCAAR1fi91xyd65SWx+XFVltXQLrA1UE6J\n"
				    "mmvXHLhUxRGSmohTyw24XSFBg7J+DIiny+z8VdEMnuigPcOwzQTxcjWg\n"
				    "-----END PRIVATE KEY-----\n";
/* key_pem encrypted with a passphrase: devicehubd has no way to ask for one. */
static const char encrypted_key_pem[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
					"MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiS3oxJWE4jMQICCAAw\n"
					"DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEIYgCp5NyYu8Di7OJPmZW9MEgZBl\n"
					"hka/qhRTkK9kNJn7qTTpYkWtDMQ1wsgETGHDqKVMZwRSrzFU2l/t5g1VyhriLjHn\n"
					"Q9XG3Vf2rZHn4KR64Rcs+rQyz7xZPIRfnIHmNFTEpjT3f0f3u5Pxd9Cq76GmpUcr\n"
					"SthqZGyiahUD5cjnjQPbCl+hnThuGKUvOpfBpzBynMga7fFNPogZt5DgVVAn9bk=\n"
					"-----END ENCRYPTED PRIVATE KEY-----\n";

/* openssl x509 -noout -fingerprint -sha1 / -sha256, without the colons. */
static const char cert_sha1[] = "EDF8473D809B31627C77EACD83D7DE811E8385EE";
static const char cert_sha256[] = "C867820A1E8CB5904A88E626D8DB87E33104E35628945904FE9A1EEBD3EAD951";

static void test_tls__thumbprints_of_bytes_are_upper_case_sha1_and_sha256(void **state)
{
	char sha1[TLS_SHA1_HEX], sha256[TLS_SHA256_HEX];

	tls_thumbprints((const unsigned char *)"abc", 3, sha1, sha256);
	assert_string_equal(sha1, "A9993E364706816ABA3E25717850C26C9CD0D89D");
	assert_string_equal(sha256, "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD");
	tls_thumbprints((const unsigned char *)"abc", 3, NULL, sha256); /* either output may be left out */
	tls_thumbprints((const unsigned char *)"abc", 3, sha1, NULL);
}

static void test_tls__thumbprints_of_a_certificate_match_openssl(void **state)
{
	char sha1[TLS_SHA1_HEX], sha256[TLS_SHA256_HEX];

	assert_int_equal(tls_pem_thumbprints(cert_pem, strlen(cert_pem), sha1, sha256), 0);
	assert_string_equal(sha1, cert_sha1);
	assert_string_equal(sha256, cert_sha256);
	assert_int_equal(tls_pem_thumbprints("not a certificate", 17, sha1, sha256), DH_EINVAL);
}

static void test_tls__key_of_the_certificate_passes(void **state)
{
	char sha256[TLS_SHA256_HEX];

	assert_int_equal(tls_pair_check(cert_pem, strlen(cert_pem), key_pem, strlen(key_pem), sha256), 0);
	assert_string_equal(sha256, cert_sha256);
	assert_int_equal(tls_pair_check(cert_pem, strlen(cert_pem), key_sec1_pem, strlen(key_sec1_pem), NULL), 0);
}

static void test_tls__other_key_is_refused(void **state)
{
	assert_int_equal(tls_pair_check(cert_pem, strlen(cert_pem), other_key_pem, strlen(other_key_pem), NULL),
			 DH_EINVAL);
	assert_non_null(strstr(err_message(), "does not belong to the certificate"));
}

static void test_tls__unreadable_input_is_refused(void **state)
{
	assert_int_equal(tls_pair_check("garbage", 7, key_pem, strlen(key_pem), NULL), DH_EINVAL);
	assert_non_null(strstr(err_message(), "certificate"));
	/* A key where the certificate belongs, and a certificate where the key belongs. */
	assert_int_equal(tls_pair_check(key_pem, strlen(key_pem), key_pem, strlen(key_pem), NULL), DH_EINVAL);
	assert_int_equal(tls_pair_check(cert_pem, strlen(cert_pem), cert_pem, strlen(cert_pem), NULL), DH_EINVAL);
	assert_int_equal(tls_pair_check(cert_pem, strlen(cert_pem), encrypted_key_pem, strlen(encrypted_key_pem), NULL),
			 DH_EINVAL);
	assert_non_null(strstr(err_message(), "unencrypted"));
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
}

static void test_tls__load_reads_both_files_and_names_them_in_errors(void **state)
{
	char dir[256], cert_path[300], key_path[300], other_path[300], empty_path[300], missing[300];
	tls_pair pair;

	test_tmpdir(dir);
	snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
	snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
	snprintf(other_path, sizeof(other_path), "%s/other.pem", dir);
	snprintf(empty_path, sizeof(empty_path), "%s/empty.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	write_file(cert_path, cert_pem);
	write_file(key_path, key_pem);
	write_file(other_path, other_key_pem);
	write_file(empty_path, "");

	assert_int_equal(tls_pair_load(cert_path, key_path, &pair), 0);
	assert_string_equal(pair.cert_pem, cert_pem);
	assert_string_equal(pair.key_pem, key_pem);
	assert_string_equal(pair.sha256, cert_sha256);
	tls_pair_release(&pair);
	assert_null(pair.cert_pem);
	assert_null(pair.key_pem);

	assert_int_equal(tls_pair_load(cert_path, other_path, &pair), DH_EINVAL);
	assert_non_null(strstr(err_message(), other_path));
	assert_null(pair.cert_pem); /* empty after an error */
	assert_int_equal(tls_pair_load(missing, key_path, &pair), DH_EIO);
	assert_non_null(strstr(err_message(), missing));
	assert_int_equal(tls_pair_load(cert_path, empty_path, &pair), DH_EINVAL);
	assert_non_null(strstr(err_message(), "empty"));
	tls_pair_release(&pair); /* harmless on an empty pair */
	test_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls__thumbprints_of_bytes_are_upper_case_sha1_and_sha256),
	    cmocka_unit_test(test_tls__thumbprints_of_a_certificate_match_openssl),
	    cmocka_unit_test(test_tls__key_of_the_certificate_passes),
	    cmocka_unit_test(test_tls__other_key_is_refused),
	    cmocka_unit_test(test_tls__unreadable_input_is_refused),
	    cmocka_unit_test(test_tls__load_reads_both_files_and_names_them_in_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
