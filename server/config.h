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
	int mqtt_port;
	char hostname[256];
	char owner_key[128];
	char admin_password[257];            /* the first admin account's password; "" = random, printed */
	char log_level[16];
	char log_format[8];
	int metrics_public;
	char config_file[512];               /* --config / DEVICEHUB_CONFIG; "" = none */
	int http_threads;
	int test_clock;
	char public_url[256];
	char tls_cert[512];              /* PEM file; with tls_key, REST is HTTPS and devices use WSS */
	char tls_key[512];
	int archive_retention_days;       /* retired twins older than this are purged; 0 = keep forever */
	int http_redirect_port;          /* 0 = off; with TLS, plain HTTP answering 308 to https:// */
	int fleet_history_interval;      /* seconds between fleet_history samples */
	int fleet_history_days;          /* fleet_history rows older than this are pruned */
	int health_interval;             /* seconds between health rule evaluations */
	char *indexes[CONFIG_MAX_INDEXES];   /* owned; --index may repeat; env takes a comma-separated list */
	int nindexes;
} config;

/* Fills cfg from defaults, then the configuration file (--config or DEVICEHUB_CONFIG: `name = value`
 * lines with the flags' names), then DEVICEHUB_* environment variables, then argv flags (later wins;
 * --index adds from every source). Returns 0, 1 when --help was printed (the caller exits 0), or -1
 * with a message on err_out; a message about the file names it and the line, as FILE:LINE. */
int config_load(config *cfg, int argc, char **argv, FILE *err_out);

/* Frees what config_load allocated; cfg stays valid as an empty config. */
void config_release(config *cfg);

/* Writes the settings table (flag, environment variable, default, help) to out. */
void config_print_help(FILE *out);

#endif
