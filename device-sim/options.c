/* options: the settings table and its parser (see options.h). */
#include "options.h"

#include "buf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT, OPT_DOUBLE, OPT_I64, OPT_FLAG };

typedef struct opt_def {
	const char *name;
	enum opt_type type;
	size_t offset;
	const char *def;
	double min, max;
	const char *help;
} opt_def;

#define O(f) offsetof(sim_options, f)
static const opt_def opt_defs[] = {
    {"connection-string", OPT_STR, O(connection_string), NULL, 0, 0,
     "service connection string with registry rights (HostName=..;SharedAccessKeyName=..;SharedAccessKey=..); "
     "also DEVICEHUB_CONNECTION_STRING"},
    {"device-url", OPT_STR, O(device_url), "ws://127.0.0.1:8081", 0, 0, "device channel (devicehub.v1 WebSocket)"},
    {"api-url", OPT_STR, O(api_url), "http://127.0.0.1:8080", 0, 0, "REST API, for --create and device keys"},
    {"count", OPT_INT, O(count), "10", 1, 100000, "number of simulated devices"},
    {"prefix", OPT_STR, O(prefix), "sim-", 0, 0, "device id prefix; ids are <prefix><number, 5 digits>"},
    {"first", OPT_INT, O(first), "1", 0, 99999999, "number of the first device"},
    {"create", OPT_FLAG, O(create), "0", 0, 1, "create or replace the devices first (bulk, 100 per call)"},
    {"fail-rate", OPT_DOUBLE, O(fail_rate), "0", 0, 1, "fraction of method calls answered 500"},
    {"drop-rate", OPT_DOUBLE, O(drop_rate), "0", 0, 1,
     "per second per device probability of dropping the connection (then reconnecting)"},
    {"latency-ms", OPT_INT, O(latency_ms), "0", 0, 600000, "delay before answering a method"},
    {"duration", OPT_INT, O(duration_s), "0", 0, 86400 * 365, "stop after this many seconds (0: on SIGINT)"},
    {"report-interval-ms", OPT_INT, O(report_interval_ms), "1000", 100, 3600000, "summary line interval"},
    {"max-connecting", OPT_INT, O(max_connecting), "500", 1, 20000, "connects in flight at most"},
    {"token-ttl", OPT_INT, O(token_ttl_s), "3600", 30, 86400 * 365,
     "device SAS token lifetime in seconds; devices reconnect with a new token before expiry"},
    {"reboot-ms", OPT_INT, O(reboot_ms), "2000", 0, 600000, "how long a reboot keeps a device offline"},
    {"fw-step-ms", OPT_INT, O(fw_step_ms), "500", 0, 600000, "time between firmware update stages"},
    {"seed", OPT_I64, O(seed), "0", 0, 9e15, "random seed for failures and device attributes (0: clock)"},
    {"verbose", OPT_FLAG, O(verbose), "0", 0, 1, "log every connection error and hub error frame"},
};
#define N_OPTS (sizeof(opt_defs) / sizeof(opt_defs[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: devicehub-sim --connection-string \"<owner connection string>\" [options]\n\n"
		   "Simulates many devices speaking devicehub.v1 to devicehubd, from one process.\n\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const opt_def *d = &opt_defs[i];

		fprintf(f, "  --%s%s\n      %s", d->name, d->type == OPT_FLAG ? "" : " <value>", d->help);
		if (d->def && d->type != OPT_FLAG)
			fprintf(f, " (default %s)", d->def);
		fputc('\n', f);
	}
	fprintf(f, "  --help\n");
}

static int set_value(sim_options *o, const opt_def *d, const char *v)
{
	char *p = (char *)o + d->offset, *end;
	double x;

	if (d->type == OPT_STR) {
		free(*(char **)p);
		*(char **)p = v ? xstrdup(v) : NULL;
		return 0;
	}
	x = strtod(v, &end);
	if (end == v || *end || x < d->min || x > d->max || (d->type != OPT_DOUBLE && x != (double)(long long)x)) {
		fprintf(stderr, "devicehub-sim: --%s: '%s' is not a %s in [%g, %g]\n", d->name, v,
			d->type == OPT_DOUBLE ? "number" : "whole number", d->min, d->max);
		return -1;
	}
	if (d->type == OPT_DOUBLE)
		*(double *)p = x;
	else if (d->type == OPT_I64)
		*(int64_t *)p = (int64_t)x;
	else
		*(int *)p = (int)x;
	return 0;
}

static const opt_def *find(const char *name, size_t len)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (strlen(opt_defs[i].name) == len && strncmp(opt_defs[i].name, name, len) == 0)
			return &opt_defs[i];
	return NULL;
}

int options_parse(int argc, char **argv, sim_options *o)
{
	const char *env = getenv("DEVICEHUB_CONNECTION_STRING");
	int i;

	memset(o, 0, sizeof(*o));
	for (size_t k = 0; k < N_OPTS; k++)
		if (opt_defs[k].def && set_value(o, &opt_defs[k], opt_defs[k].def) < 0)
			return -1;
	if (env && *env)
		set_value(o, &opt_defs[0], env);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *v;
		const opt_def *d;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		}
		if (strncmp(a, "--", 2) != 0)
			goto bad;
		a += 2;
		eq = strchr(a, '=');
		d = find(a, eq ? (size_t)(eq - a) : strlen(a));
		if (!d)
			goto bad;
		if (d->type == OPT_FLAG && !eq) {
			*(int *)((char *)o + d->offset) = 1;
			continue;
		}
		v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!v) {
			fprintf(stderr, "devicehub-sim: --%s needs a value\n", d->name);
			return -1;
		}
		if (set_value(o, d, v) < 0)
			return -1;
	}
	if (!o->connection_string || !*o->connection_string) {
		fprintf(stderr, "devicehub-sim: --connection-string is required (see --help)\n");
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "devicehub-sim: unknown argument '%s' (see --help)\n", argv[i]);
	return -1;
}

void options_release(sim_options *o)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (opt_defs[i].type == OPT_STR) {
			char **p = (char **)((char *)o + opt_defs[i].offset);

			free(*p);
			*p = NULL;
		}
}

void options_device_id(const sim_options *o, int index, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s%05d", o->prefix, o->first + index);
}
