/* Fuzz target: the Cookie header parser of operator sessions must never crash or read out of bounds,
 * and what it accepts is always 64 lowercase hex digits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "account.h"

const char *fuzz_target_name = "fuzz_cookie";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char token[65];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (account_cookie_token(text, token) == 0 && (strlen(token) != 64 || strspn(token, "0123456789abcdef") != 64))
		abort();
	account_cookie_present(text);
	free(text);
	return 0;
}
