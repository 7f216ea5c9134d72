/*
 * devicehubd: wires the parts together and owns start-up and shutdown order.
 *
 *   settings → logging → JSON and crypto → store (migrations, indexes) → auth (policies) → HTTP
 *
 * and the reverse on SIGINT / SIGTERM. Two subcommands read the database and exit without serving:
 * `devicehubd owner-connection-string` prints the owner's connection string (for `make run`), and
 * `devicehubd sas-token` prints a one-hour owner SAS token (for curl and scripts). A third,
 * `devicehubd healthcheck`, opens no database: it asks the server on the configured REST port for
 * GET /healthz and exits 0 when it answers 200 (the container image's HEALTHCHECK). `devicehubd backup
 * --to FILE` and `devicehubd restore --from FILE` copy the database out and in without opening the store
 * (docs/backup.md).
 */
#include "artifact.h"
#include "auth.h"
#include "backup.h"
#include "buf.h"
#include "config.h"
#include "configuration.h"
#include "crypto.h"
#include "account.h"
#include "audit.h"
#include "err.h"
#include "fleet.h"
#include "health.h"
#include "healthcheck.h"
#include "http.h"
#include "http_events.h"
#include "http_jobs.h"
#include "http_observe.h"
#include "import.h"
#include "job.h"
#include "json_util.h"
#include "log.h"
#include "method.h"
#include "observe.h"
#include "session.h"
#include "store.h"
#include "store_backup.h"
#include "store_index.h"
#include "retire.h"
#include "tag_schema.h"
#include "tls.h"
#include "twin_batch.h"
#include "ws_device.h"
#include "mqtt_device.h"
#include "ws_events.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* How long a SIGTERM waits for REST requests in flight (a direct method waiting on its device, a backup)
 * before answering what is left with 503: under the 30 s that container runtimes and systemd allow for a
 * stop by default. */
#define SHUTDOWN_DRAIN_MS 10000

static int make_data_dir(const char *dir)
{
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(DH_EIO, "cannot create data directory %s: %s", dir, strerror(errno));
	return 0;
}

/* A random password given to the first admin account, printed once at start (docs/accounts.md). */
static char first_admin_password[64];

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
	/* Every process that may write a twin enforces the tag schema, subcommands included. */
	if ((rc = tag_schema_init()) != 0)
		goto out;
	/* Only a serving process tidies unfinished uploads: a subcommand may run beside a live server. */
	if (serving && (rc = artifact_init(cfg->data_dir)) != 0)
		goto out;
	if (serving && (rc = backup_init(cfg->data_dir)) != 0)
		goto out;
	if (serving && (rc = import_init()) != 0)
		goto out;
	/* The first admin account: a subcommand must not make one (its random password would go unseen). */
	if (serving && (rc = account_init(cfg->admin_password, first_admin_password, sizeof(first_admin_password))) != 0)
		goto out;
	rc = serving ? session_init() : 0;
out:
	buf_release(&path);
	return rc;
}

/* The REST and device listeners, over TLS when tls-cert is set (the pair is checked first, so a bad file
 * stops the start with one clear message), and the plain-HTTP redirect listener when asked for. */
static int start_edges(const config *cfg, http_server **http, http_server **redirect, ws_device **devices,
		       mqtt_device **mqtt, ws_events **events_edge)
{
	const ws_device_ext *exts[3];
	tls_pair pair;
	int rc;

	/* IoT Hub's MQTT shares the device edge's context and service thread (mqtt.md). */
	*mqtt = mqtt_device_new(cfg->device_addr, cfg->mqtt_port, cfg->tls_cert[0] ? cfg->tls_cert : NULL,
				cfg->tls_cert[0] ? cfg->tls_key : NULL);
	/* The live event stream too (events.md), at /devicehub/events on the device port. */
	*events_edge = ws_events_new();
	exts[0] = mqtt_device_ext(*mqtt);
	exts[1] = ws_events_ext(*events_edge);
	exts[2] = NULL;
	http_events_set_channel(cfg->device_port, cfg->tls_cert[0] != 0);

	if (!cfg->tls_cert[0]) {
		if (cfg->http_redirect_port)
			log_warn("http-redirect-port is ignored without tls-cert and tls-key");
		if ((rc = http_server_start(cfg->http_addr, cfg->http_port, cfg->http_threads, http)) != 0)
			return rc;
		return ws_device_start_ext(cfg->device_addr, cfg->device_port, NULL, NULL, exts, devices);
	}
	if ((rc = tls_pair_load(cfg->tls_cert, cfg->tls_key, &pair)) != 0)
		return rc;
	if ((rc = http_server_start_tls(cfg->http_addr, cfg->http_port, cfg->http_threads, pair.cert_pem,
					pair.key_pem, http)) == 0 &&
	    (rc = ws_device_start_ext(cfg->device_addr, cfg->device_port, cfg->tls_cert, cfg->tls_key, exts,
				      devices)) == 0 &&
	    cfg->http_redirect_port)
		rc = http_redirect_start(cfg->http_addr, cfg->http_redirect_port, cfg->hostname, cfg->http_port,
					 redirect);
	if (rc == 0)
		log_info("TLS certificate %s (SHA-256 %s)", cfg->tls_cert, pair.sha256);
	tls_pair_release(&pair);
	return rc;
}

/* SIGHUP: reads the settings again (the --config file, environment, flags: config_load) and
 * applies what may change while running: the log level, and the certificate and key read afresh from
 * their files (REST: a new daemon takes over the listening socket; the device and MQTT ports: their
 * SSL_CTXs get the new pair). Open connections keep the certificate they have. Anything wrong is logged
 * and changes nothing. */
static void reload(int argc, char **argv, const config *cfg, http_server *http, ws_device *devices)
{
	config fresh;
	tls_pair pair;
	log_level lvl;

	if (config_load(&fresh, argc, argv, stderr) != 0) {
		log_error("SIGHUP: the settings do not load; nothing changed");
		return;
	}
	if (log_level_parse(fresh.log_level, &lvl) == 0)
		log_set_level(lvl);
	if (!cfg->tls_cert[0] != !fresh.tls_cert[0])
		log_warn("SIGHUP: turning TLS on or off needs a restart");
	else if (cfg->tls_cert[0] && tls_pair_load(fresh.tls_cert, fresh.tls_key, &pair) != 0)
		log_error("SIGHUP: %s; the old certificate stays in use", err_message());
	else if (cfg->tls_cert[0]) {
		if (http_server_reload_tls(http, pair.cert_pem, pair.key_pem) != 0)
			log_error("SIGHUP: REST API: %s", err_message());
		ws_device_reload_tls(devices, pair.cert_pem, pair.key_pem);
		log_info("SIGHUP: TLS certificate %s (SHA-256 %s) in use for new connections", fresh.tls_cert,
			 pair.sha256);
		tls_pair_release(&pair);
	}
	log_info("SIGHUP: settings reloaded (log level %s)", fresh.log_level);
	config_release(&fresh);
}

/* Blocks until SIGINT or SIGTERM, reloading at each SIGHUP; the signals were blocked in every thread
 * before any started, so only this thread sees them. */
static void wait_for_stop(const sigset_t *stop, int argc, char **argv, const config *cfg, http_server *http,
			  ws_device *devices)
{
	int sig = 0;

	while (sigwait(stop, &sig) == 0 && sig == SIGHUP)
		reload(argc, argv, cfg, http, devices);
	log_info("received signal %d; shutting down", sig);
}

/* Firmware links name the REST API as devices reach it: --public-url, else http://HOSTNAME:HTTP-PORT. */
static void set_public_url(const config *cfg)
{
	char url[320];

	if (cfg->public_url[0])
		snprintf(url, sizeof(url), "%s", cfg->public_url);
	else
		snprintf(url, sizeof(url), "%s://%s:%d", cfg->tls_cert[0] ? "https" : "http", cfg->hostname,
			 cfg->http_port);
	job_set_public_url(url);
}

typedef enum { RUN_SERVE, RUN_CONNECTION_STRING, RUN_TOKEN, RUN_HEALTHCHECK, RUN_BACKUP, RUN_RESTORE } run_mode;

/* Takes a subcommand off argv. */
static run_mode take_subcommand(int *argc, char ***argv)
{
	static const struct {
		const char *name;
		run_mode mode;
	} subcommands[] = {{"owner-connection-string", RUN_CONNECTION_STRING},
			   {"sas-token", RUN_TOKEN},
			   {"healthcheck", RUN_HEALTHCHECK},
			   {"backup", RUN_BACKUP},
			   {"restore", RUN_RESTORE}};

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

/* Takes "--to FILE" (backup) or "--from FILE" (restore), also as --to=FILE, off argv: config_load knows
 * only the server's settings. Returns the file, or NULL. */
static const char *take_file_flag(run_mode mode, int *argc, char **argv)
{
	const char *flag = mode == RUN_BACKUP ? "--to" : mode == RUN_RESTORE ? "--from" : NULL;
	size_t n = flag ? strlen(flag) : 0;

	for (int i = 1; flag && i < *argc; i++) {
		const char *file = NULL;
		int used = 0;
		if (strcmp(argv[i], flag) == 0 && i + 1 < *argc) {
			file = argv[i + 1];
			used = 2;
		} else if (strncmp(argv[i], flag, n) == 0 && argv[i][n] == '=') {
			file = argv[i] + n + 1;
			used = 1;
		}
		if (!used)
			continue;
		memmove(&argv[i], &argv[i + used], (size_t)(*argc - i - used + 1) * sizeof(*argv)); /* with the NULL */
		*argc -= used;
		return file;
	}
	return NULL;
}

/* `backup` copies <data-dir>/devicehub.db to file beside a running server (or none); `restore` installs a
 * backup in its place and refuses while a server or subcommand holds it (docs/backup.md). Neither opens
 * the store: no migrations, no policies made. Prints what it did; returns 0 or an error code. */
static int run_backup_command(run_mode mode, const config *cfg, const char *file)
{
	store_backup_stats st;
	char aside[1024];
	buf db = BUF_INIT;
	int rc;

	buf_printf(&db, "%s/devicehub.db", cfg->data_dir);
	if (!file)
		rc = err_set(DH_EINVAL, "give the file with %s FILE", mode == RUN_BACKUP ? "--to" : "--from");
	else if (mode == RUN_BACKUP)
		rc = store_backup_copy(buf_cstr(&db), file, &st);
	else if ((rc = make_data_dir(cfg->data_dir)) == 0)
		rc = store_backup_restore(buf_cstr(&db), file, aside, sizeof(aside));
	if (rc)
		fprintf(stderr, "devicehubd %s: %s\n", mode == RUN_BACKUP ? "backup" : "restore", err_message());
	else if (mode == RUN_BACKUP)
		printf("backed up %s to %s: %lld bytes, %d pages, %lld ms\n", buf_cstr(&db), file,
		       (long long)st.size_bytes, st.pages, (long long)st.duration_ms);
	else
		printf("restored %s from %s%s%s\n", buf_cstr(&db), file, *aside ? "; the old database is now " : "",
		       aside);
	buf_release(&db);
	return rc;
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
	http_server *http = NULL, *redirect = NULL;
	ws_device *devices = NULL;
	mqtt_device *mqtt = NULL;
	ws_events *events_edge = NULL;
	sigset_t stop;
	int first_start = 0, rc;
	run_mode mode = take_subcommand(&argc, &argv);
	const char *file = take_file_flag(mode, &argc, argv);

	rc = config_load(&cfg, argc, argv, stderr);
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (mode == RUN_HEALTHCHECK) {
		rc = healthcheck_run(cfg.http_addr, cfg.http_port, cfg.tls_cert[0] != 0, 3000);
		if (rc != 0)
			fprintf(stderr, "unhealthy: %s\n", err_message());
		config_release(&cfg);
		return rc ? 1 : 0;
	}
	log_level lvl = LOG_INFO;
	log_level_parse(cfg.log_level, &lvl);
	log_set_level(mode != RUN_SERVE ? LOG_WARN : lvl);
	log_format fmt = LOG_FORMAT_TEXT;
	log_format_parse(cfg.log_format, &fmt);
	log_set_format(fmt);
	json_util_init();
	if (mode == RUN_BACKUP || mode == RUN_RESTORE) {
		rc = run_backup_command(mode, &cfg, file);
		config_release(&cfg);
		return rc ? 1 : 0;
	}
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
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
	http_observe_metrics_public(cfg.metrics_public);
	retire_set_retention_days(cfg.archive_retention_days);
	if (retire_purge_expired() != 0)
		log_warn("archive retention: %s", err_message());
	set_public_url(&cfg);
	if ((rc = audit_start()) != 0 || (rc = method_init()) != 0 || (rc = twin_batch_start()) != 0 || (rc = job_engine_start()) != 0 ||
	    (rc = configuration_reconciler_start()) != 0 ||
	    (rc = fleet_sampler_start(cfg.fleet_history_interval, cfg.fleet_history_days)) != 0 ||
	    (rc = health_evaluator_start(cfg.health_interval)) != 0 ||
	    (rc = start_edges(&cfg, &http, &redirect, &devices, &mqtt, &events_edge)) != 0) {
		log_error("cannot start: %s", err_message());
		goto out;
	}
	log_info("devicehubd listening: REST API and dashboard on %s://%s:%d/, devices on %s://%s:%d/ (hostname %s)",
		 cfg.tls_cert[0] ? "https" : "http", cfg.http_addr, cfg.http_port, cfg.tls_cert[0] ? "wss" : "ws",
		 cfg.device_addr, cfg.device_port, cfg.hostname);
	if (cfg.mqtt_port)
		log_info("IoT Hub MQTT on %s://%s:%d and %s://%s:%d" MQTT_WS_PATH, cfg.tls_cert[0] ? "mqtts" : "mqtt",
			 cfg.device_addr, cfg.mqtt_port, cfg.tls_cert[0] ? "wss" : "ws", cfg.device_addr, cfg.device_port);
	if (first_start)
		print_owner("First start: the owner connection string (shown once; keep it safe):\n  ", mode);
	if (first_admin_password[0]) {
		printf("First start: account 'admin' has the password (shown once; change it after signing in):\n  %s\n",
		       first_admin_password);
		fflush(stdout);
	}
	observe_set_listening(1); /* /readyz: every listener is up (and the first-start text is out) */
	wait_for_stop(&stop, argc, argv, &cfg, http, devices);
out:
	observe_set_listening(0);
	/* The job engine stops first, between steps (its devices in flight are settled at the next start).
	 * The REST API then drains: no new connections, and the requests in flight get their answers, direct
	 * methods included, as the device edge still runs; a backup in progress finishes. Method calls still
	 * waiting after that are answered 503, so no HTTP request stays suspended at the stop; sessions are
	 * closed (1000) before their edge goes, and nothing calls the edge after ws_device_stop. */
	job_engine_stop();
	configuration_reconciler_stop();
	fleet_sampler_stop();
	health_evaluator_stop();
	import_shutdown();
	http_server_drain(http, SHUTDOWN_DRAIN_MS);
	backup_shutdown();
	method_shutdown();
	http_server_stop(redirect);
	http_server_stop(http);
	audit_stop(); /* every request has been answered: the queue holds all there will be */
	if (mode == RUN_SERVE)
		session_shutdown();
	twin_batch_stop(); /* its completions write to the device edge: stop it first */
	ws_events_detach(events_edge); /* no more wakeups of a context about to go */
	ws_device_stop(devices);
	mqtt_device_free(mqtt); /* its connections ended with the device edge's context */
	ws_events_free(events_edge); /* likewise */
	auth_shutdown();
	tag_schema_shutdown();
	store_global_shutdown();
	config_release(&cfg);
	return rc ? 1 : 0;
}
