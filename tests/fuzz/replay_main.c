/*
 * Replays fuzz inputs without libFuzzer: each argument is a file or a directory of files, and every file is
 * passed once to LLVMFuzzerTestOneInput. Built with the sanitizers in `make test`, so a crash found by a
 * fuzzer and saved under tests/fuzz/regression/ fails the normal test run. Directories that do not exist
 * are skipped (a target may have no regression files yet); a regression file named for another target
 * (prefix before the first '-') is skipped too.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern const char *fuzz_target_name;

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	uint8_t *data;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc(n > 0 ? (size_t)n : 1);
	if (n > 0 && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)n);
	free(data);
	return 0;
}

static int for_this_target(const char *name)
{
	const char *dash = strchr(name, '-');
	size_t len = dash ? (size_t)(dash - name) : 0;

	return len == strlen(fuzz_target_name) && strncmp(name, fuzz_target_name, len) == 0;
}

int main(int argc, char **argv)
{
	int count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0)
			continue;
		if (!S_ISDIR(st.st_mode)) {
			count += replay_file(argv[i]) == 0;
			continue;
		}
		int regression = strstr(argv[i], "regression") != NULL;
		DIR *d = opendir(argv[i]);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char path[4096];
			if (e->d_name[0] == '.' || (regression && !for_this_target(e->d_name)))
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			count += replay_file(path) == 0;
		}
		if (d)
			closedir(d);
	}
	printf("%s: replayed %d inputs\n", fuzz_target_name, count);
	return 0;
}
