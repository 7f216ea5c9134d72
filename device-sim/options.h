/*
 * options: the simulator's settings, one table (name, type, bounds, default, help) that the parser,
 * --help and docs/simulator.md follow. Owns nothing after options_release.
 */
#ifndef SIM_OPTIONS_H
#define SIM_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sim_options {
	char *connection_string; /* owner (or registryReadWrite) connection string */
	char *device_url;        /* ws://host:port of the device channel */
	char *api_url;           /* http://host:port of the REST API */
	char *prefix;            /* device ids are prefix + zero-padded number */
	int count;
	int first;        /* number of the first device */
	int create;       /* create (or replace) the devices through the REST API first */
	double fail_rate; /* fraction of method calls answered 500 */
	double drop_rate; /* per second per device probability of dropping the connection */
	int latency_ms;   /* delay before answering a method */
	int duration_s;   /* 0: run until SIGINT/SIGTERM */
	int report_interval_ms;
	int max_connecting; /* connects in flight at most */
	int token_ttl_s;    /* device SAS token lifetime; reconnects before it expires */
	int reboot_ms;      /* offline time of a reboot */
	int fw_step_ms;     /* time between firmware update stages */
	int64_t seed;       /* 0: from the clock */
	int verbose;
} sim_options;

/* Parses argv into opts (defaults first). Returns 0, 1 when --help was printed, or -1 after printing an
 * error to stderr. Strings in opts are owned by opts (options_release). */
int options_parse(int argc, char **argv, sim_options *opts);
void options_release(sim_options *opts);

/* The id of simulated device number index (0-based): prefix + (first + index), at least 5 digits.
 * OUT: out (size outsz). */
void options_device_id(const sim_options *opts, int index, char *out, size_t outsz);

#endif
