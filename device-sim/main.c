/*
 * devicehub-sim: many simulated devices in one process, speaking devicehub.v1 to devicehubd.
 * Start-up order: options, limits and signals, then provisioning over REST (blocking, before any
 * WebSocket), then the fleet on one lws service thread until SIGINT/SIGTERM or --duration.
 */
#include "buf.h"
#include "crypto.h"
#include "fleet.h"
#include "json_util.h"
#include "options.h"
#include "provision.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	fleet_wake();
}

/* Every device holds a socket: raise the soft open-files limit to the hard one. */
static void raise_nofile(int count)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)count + 64 > rl.rlim_cur)
		fprintf(stderr, "devicehub-sim: warning: %d devices but only %llu open files allowed\n", count,
			(unsigned long long)rl.rlim_cur);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

int main(int argc, char **argv)
{
	sim_options opts;
	hub_credentials hub;
	char **keys = NULL;
	int rc = 1, parsed;

	parsed = options_parse(argc, argv, &opts);
	if (parsed != 0) {
		rc = parsed > 0 ? 0 : 2;
		goto out;
	}
	if (provision_parse_connection_string(opts.connection_string, &hub) < 0) {
		rc = 2;
		goto out;
	}
	json_util_init();
	if (crypto_init() < 0) {
		fprintf(stderr, "devicehub-sim: cannot seed the random generator\n");
		goto out;
	}
	raise_nofile(opts.count);
	install_signals();

	keys = xcalloc((size_t)opts.count, sizeof(*keys));
	fprintf(stderr, "devicehub-sim: %s %d devices %s%05d..%s%05d through %s\n",
		opts.create ? "creating" : "looking up", opts.count, opts.prefix, opts.first, opts.prefix,
		opts.first + opts.count - 1, opts.api_url);
	if (provision_devices(&opts, &hub, keys, &stop_requested) < 0)
		goto out;
	if (stop_requested) {
		rc = 0;
		goto out;
	}
	fprintf(stderr, "devicehub-sim: connecting %d devices to %s\n", opts.count, opts.device_url);
	if (fleet_run(&opts, &hub, keys, &stop_requested) == 0)
		rc = 0;
out:
	for (int i = 0; keys && i < opts.count; i++)
		free(keys[i]);
	free(keys);
	options_release(&opts);
	return rc;
}
