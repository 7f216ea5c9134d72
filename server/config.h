/*
 * config: the server's settings. One table (config.c) lists every setting with its type, bounds,
 * default, flag and environment variable; the flag parser, the environment reader, --help and
 * docs/configuration.md are all driven by it.
 */
#ifndef DH_CONFIG_H
#define DH_CONFIG_H

#include <stdio.h>

#define CONFIG_MAX_INDEXES 32

typedef struct config {
	char data_dir[512];
	char http_addr[64];
	int http_port;
	char device_addr[64];
	int device_port;
	char hostname[256];
	char owner_key[128];
	char log_level[16];
	int http_threads;
	int test_clock;
	char public_url[256];
	char *indexes[CONFIG_MAX_INDEXES];   /* owned; --index may repeat; env takes a comma-separated list */
	int nindexes;
} config;

/* Fills cfg from defaults, then DEVICEHUB_* environment variables, then argv flags (later wins).
 * Returns 0, 1 when --help was printed (the caller exits 0), or -1 with a message on err_out. */
int config_load(config *cfg, int argc, char **argv, FILE *err_out);

/* Frees what config_load allocated; cfg stays valid as an empty config. */
void config_release(config *cfg);

/* Writes the settings table (flag, environment variable, default, help) to out. */
void config_print_help(FILE *out);

#endif
