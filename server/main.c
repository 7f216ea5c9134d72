/*
 * devicehubd: wires the parts together and owns start-up and shutdown order.
 *
 *   settings → logging → JSON and crypto → store (migrations, indexes) → auth (policies) → HTTP
 *
 * and the reverse on SIGINT / SIGTERM. Two subcommands read the database and exit without serving:
 * `devicehubd owner-connection-string` prints the owner's connection string (for `make run`), and
 * `devicehubd sas-token` prints a one-hour owner SAS token (for curl and scripts).
 */
#include "artifact.h"
#include "auth.h"
#include "buf.h"
#include "config.h"
#include "configuration.h"
#include "crypto.h"
#include "err.h"
#include "http.h"
#include "http_jobs.h"
#include "job.h"
#include "json_util.h"
#include "log.h"
#include "method.h"
#include "session.h"
#include "store.h"
#include "store_index.h"
#include "twin_batch.h"
#include "ws_device.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int make_data_dir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(DH_EIO, "cannot create data directory %s: %s", dir, strerror(errno));
	return 0;
}

/* Store, indexes and policies. OUT: *first_start when the policies were made now. Subcommands leave the
 * indexes and the connection states alone: they run beside a server whose settings they do not know. */
static int open_state(const config *cfg, int serving, int *first_start)
{
	buf path = BUF_INIT;
	int rc;

	if ((rc = make_data_dir(cfg->data_dir)) != 0)
		goto out;
	buf_printf(&path, "%s/devicehub.db", cfg->data_dir);
	if ((rc = store_global_init(buf_cstr(&path))) != 0)
		goto out;
	if (serving && (rc = store_index_sync(store_thread(), cfg->indexes, cfg->nindexes)) != 0)
		goto out;
	if ((rc = auth_init(cfg->hostname, cfg->owner_key, first_start)) != 0)
		goto out;
	/* Only a serving process tidies unfinished uploads: a subcommand may run beside a live server. */
	if (serving && (rc = artifact_init(cfg->data_dir)) != 0)
		goto out;
	rc = serving ? session_init() : 0;
out:
	buf_release(&path);
	return rc;
}

/* Blocks until SIGINT or SIGTERM; the signals were blocked in every thread before any started. */
static void wait_for_stop(const sigset_t *stop)
{
	int sig = 0;

	sigwait(stop, &sig);
	log_info("received signal %d; shutting down", sig);
}

/* Firmware links name the REST API as devices reach it: --public-url, else http://HOSTNAME:HTTP-PORT. */
static void set_public_url(const config *cfg)
{
	char url[320];

	if (cfg->public_url[0])
		snprintf(url, sizeof(url), "%s", cfg->public_url);
	else
		snprintf(url, sizeof(url), "http://%s:%d", cfg->hostname, cfg->http_port);
	job_set_public_url(url);
}

typedef enum { RUN_SERVE, RUN_CONNECTION_STRING, RUN_TOKEN } run_mode;

/* Takes a subcommand off argv. */
static run_mode take_subcommand(int *argc, char ***argv)
{
	static const struct {
		const char *name;
		run_mode mode;
	} subcommands[] = {{"owner-connection-string", RUN_CONNECTION_STRING}, {"sas-token", RUN_TOKEN}};

	for (size_t i = 0; *argc > 1 && i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		if (strcmp((*argv)[1], subcommands[i].name) == 0) {
			(*argv)[1] = (*argv)[0];
			(*argc)--;
			(*argv)++;
			return subcommands[i].mode;
		}
	}
	return RUN_SERVE;
}

static void print_owner(const char *label, run_mode mode)
{
	char *cs = mode == RUN_TOKEN ? auth_owner_token(3600) : auth_owner_connection_string();

	printf("%s%s\n", label, cs);
	fflush(stdout);
	free(cs);
}

int main(int argc, char **argv)
{
	config cfg;
	http_server *http = NULL;
	ws_device *devices = NULL;
	sigset_t stop;
	int first_start = 0, rc;
	run_mode mode = take_subcommand(&argc, &argv);

	rc = config_load(&cfg, argc, argv, stderr);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	log_level lvl = LOG_INFO;
	log_level_parse(cfg.log_level, &lvl);
	log_set_level(mode != RUN_SERVE ? LOG_WARN : lvl);
	json_util_init();
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = crypto_init()) != 0 || (rc = open_state(&cfg, mode == RUN_SERVE, &first_start)) != 0) {
		log_error("cannot start: %s", err_message());
		goto out;
	}
	if (mode != RUN_SERVE) {
		print_owner("", mode);
		goto out;
	}
	http_jobs_allow_clock(cfg.test_clock);
	set_public_url(&cfg);
	if ((rc = method_init()) != 0 || (rc = twin_batch_start()) != 0 || (rc = job_engine_start()) != 0 ||
	    (rc = configuration_reconciler_start()) != 0 ||
	    (rc = http_server_start(cfg.http_addr, cfg.http_port, cfg.http_threads, &http)) != 0 ||
	    (rc = ws_device_start(cfg.device_addr, cfg.device_port, &devices)) != 0) {
		log_error("cannot start: %s", err_message());
		goto out;
	}
	log_info("devicehubd listening: REST API and dashboard on http://%s:%d/, devices on ws://%s:%d/ (hostname %s)",
		 cfg.http_addr, cfg.http_port, cfg.device_addr, cfg.device_port, cfg.hostname);
	if (first_start)
		print_owner("First start: the owner connection string (shown once; keep it safe):\n  ", mode);
	wait_for_stop(&stop);
out:
	/* The job engine stops first (its devices in flight are settled at the next start); waiting method
	 * calls are answered next, so no HTTP request stays suspended at the stop; sessions are closed (1000)
	 * before their edge goes, and nothing calls the edge after ws_device_stop. */
	job_engine_stop();
	configuration_reconciler_stop();
	method_shutdown();
	http_server_stop(http);
	if (mode == RUN_SERVE)
		session_shutdown();
	twin_batch_stop(); /* its completions write to the device edge: stop it first */
	ws_device_stop(devices);
	auth_shutdown();
	store_global_shutdown();
	config_release(&cfg);
	return rc ? 1 : 0;
}
