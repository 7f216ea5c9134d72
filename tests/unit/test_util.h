/* Shared by the unit tests: a fresh temporary directory and database per test. */
#ifndef DH_TEST_UTIL_H
#define DH_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Makes a new empty directory and writes its path into out[256]. Aborts on failure (tests only). */
static inline void test_tmpdir(char out[256])
{
	const char *base = getenv("DH_TEST_TMP");
	char tmpl[256];

	if (base && *base) {
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", base);
		if (system(cmd) != 0)
			abort();
	}
	snprintf(tmpl, sizeof(tmpl), "%s/dhtest-XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpl))
		abort();
	snprintf(out, 256, "%s", tmpl);
}

/* Removes a directory made by test_tmpdir. */
static inline void test_rmdir(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		abort();
}

#endif
