/* config: the settings table and its readers. Includes nothing of the server but leaves. */
#include "config.h"

#include "buf.h"
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef enum { CONFIG_STRING, CONFIG_INT, CONFIG_LIST } config_type;

typedef struct config_setting {
	const char *name;       /* flag without dashes; the env var is DEVICEHUB_ + upper(name) with _ for - */
	config_type type;
	size_t offset;          /* into struct config */
	size_t size;            /* of a string field */
	const char *def;        /* default as text */
	long min, max;          /* bounds of an int */
	const char *help;
} config_setting;


static const config_setting config_settings[] = {
	{"config", CONFIG_STRING, offsetof(config, config_file), sizeof(((config *)0)->config_file), "", 0, 0,
	 "a file of `name = value` lines with these names; the environment and flags win over it"},
	{"data-dir", CONFIG_STRING, offsetof(config, data_dir), sizeof(((config *)0)->data_dir), "./data", 0, 0,
	 "directory holding the SQLite database (created if missing)"},
	{"http-addr", CONFIG_STRING, offsetof(config, http_addr), sizeof(((config *)0)->http_addr), "0.0.0.0", 0,
	 0, "address the REST API and dashboard listen on"},
	{"http-port", CONFIG_INT, offsetof(config, http_port), 0, "8080", 1, 65535, "port of the REST API"},
	{"device-addr", CONFIG_STRING, offsetof(config, device_addr), sizeof(((config *)0)->device_addr),
	 "0.0.0.0", 0, 0, "address the device channel listens on"},
	{"device-port", CONFIG_INT, offsetof(config, device_port), 0, "8081", 1, 65535,
	 "port of the device channel (WebSocket)"},
	{"mqtt-port", CONFIG_INT, offsetof(config, mqtt_port), 0, "8883", 0, 65535,
	 "port of IoT Hub's device MQTT on device-addr (MQTTS with tls-cert, plain MQTT without; 0 = off)"},
	{"hostname", CONFIG_STRING, offsetof(config, hostname), sizeof(((config *)0)->hostname), "localhost", 0,
	 0, "the hub's HostName: the SAS resource and the host in connection strings"},
	{"owner-key", CONFIG_STRING, offsetof(config, owner_key), sizeof(((config *)0)->owner_key), "", 0, 0,
	 "base64 key of the iothubowner policy (generated and stored at first start when empty)"},
	{"admin-password", CONFIG_STRING, offsetof(config, admin_password), sizeof(((config *)0)->admin_password), "",
	 0, 0, "password of the account 'admin' made at first start (12+ characters; empty: random, printed once)"},
	{"log-level", CONFIG_STRING, offsetof(config, log_level), sizeof(((config *)0)->log_level), "info", 0, 0,
	 "debug, info, warn or error"},
	{"log-format", CONFIG_STRING, offsetof(config, log_format), sizeof(((config *)0)->log_format), "text", 0, 0,
	 "text, or json for one JSON object per line"},
	{"http-threads", CONFIG_INT, offsetof(config, http_threads), 0, "2", 1, 64,
	 "threads serving the REST API (one SQLite connection each)"},
	{"public-url", CONFIG_STRING, offsetof(config, public_url), sizeof(((config *)0)->public_url), "", 0, 0,
	 "the REST API's base URL as devices reach it, for firmware download links (default http://HOSTNAME:HTTP-PORT)"},
	{"test-clock", CONFIG_INT, offsetof(config, test_clock), 0, "0", 0, 1,
	 "1 lets the owner move the hub clock (PUT /devicehub/clock) for tests of schedules and windows"},
	{"tls-cert", CONFIG_STRING, offsetof(config, tls_cert), sizeof(((config *)0)->tls_cert), "", 0, 0,
	 "PEM certificate (chain) file: with tls-key, the REST port serves HTTPS and the device port WSS"},
	{"tls-key", CONFIG_STRING, offsetof(config, tls_key), sizeof(((config *)0)->tls_key), "", 0, 0,
	 "PEM private key file of tls-cert (unencrypted RSA or EC)"},
	{"http-redirect-port", CONFIG_INT, offsetof(config, http_redirect_port), 0, "0", 0, 65535,
	 "with TLS: a plain-HTTP port that answers 308 to the https:// URL (0 = off)"},
	{"metrics-public", CONFIG_INT, offsetof(config, metrics_public), 0, "0", 0, 1,
	 "1 serves GET /metrics without authorization (for a scraper); 0 asks for a ServiceConnect token"},
	{"archive-retention-days", CONFIG_INT, offsetof(config, archive_retention_days), 0, "0", 0, 36500,
	 "days archived twins of retired devices are kept (purged at start and on each retirement; 0 = forever)"},
	{"fleet-history-interval", CONFIG_INT, offsetof(config, fleet_history_interval), 0, "60", 1, 86400,
	 "seconds between samples of the fleet counts (total, enabled, connected) kept for GET /devicehub/fleet/history"},
	{"fleet-history-days", CONFIG_INT, offsetof(config, fleet_history_days), 0, "30", 1, 3650,
	 "days fleet history samples are kept"},
	{"health-interval", CONFIG_INT, offsetof(config, health_interval), 0, "30", 1, 86400,
	 "seconds between evaluations of the health rules (GET /devicehub/health)"},
	{"index", CONFIG_LIST, offsetof(config, indexes), 0, "", 0, 0,
	 "twin path to keep a query index on, e.g. tags.location.region (repeatable; env: comma-separated)"},
};

#define NSETTINGS (sizeof(config_settings) / sizeof(config_settings[0]))

static void env_name(const char *name, char out[64])
{
	size_t o = (size_t)snprintf(out, 64, "DEVICEHUB_");

	for (const char *p = name; *p && o < 63; p++)
		out[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
	out[o] = '\0';
}

static void list_add(config *cfg, const char *value)
{
	if (cfg->nindexes < CONFIG_MAX_INDEXES && *value)
		cfg->indexes[cfg->nindexes++] = xstrdup(value);
}

/* Sets one setting from text. Returns 0 or -1 with a message. */
static int config_set(config *cfg, const config_setting *s, const char *value, const char *source, FILE *err_out)
{
	char *field = (char *)cfg + s->offset;

	if (s->type == CONFIG_STRING) {
		if (strlen(value) >= s->size) {
			fprintf(err_out, "devicehubd: %s from %s is too long (at most %zu characters)\n", s->name,
				source, s->size - 1);
			return -1;
		}
		memcpy(field, value, strlen(value) + 1);
		return 0;
	}
	if (s->type == CONFIG_LIST) {
		char *copy = xstrdup(value), *save = NULL;
		for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			list_add(cfg, tok);
		free(copy);
		return 0;
	}
	char *end;
	long v = strtol(value, &end, 10);
	if (*value == '\0' || *end != '\0' || v < s->min || v > s->max) {
		fprintf(err_out, "devicehubd: %s from %s must be a whole number from %ld to %ld, not '%s'\n",
			s->name, source, s->min, s->max, value);
		return -1;
	}
	*(int *)field = (int)v;
	return 0;
}

static const config_setting *config_find(const char *name, size_t len)
{
	for (size_t i = 0; i < NSETTINGS; i++)
		if (strlen(config_settings[i].name) == len && strncmp(config_settings[i].name, name, len) == 0)
			return &config_settings[i];
	return NULL;
}

/* Reads "--name value" and "--name=value" flags; only the setting `only` when it is not NULL (the first
 * pass, which finds --config before the file is read). Returns 0, 1 for --help, -1 on error. */
static int config_flags(config *cfg, int argc, char **argv, const config_setting *only, FILE *err_out)
{
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return 1;
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(err_out, "devicehubd: unexpected argument '%s' (see --help)\n", arg);
			return -1;
		}
		const char *eq = strchr(arg + 2, '=');
		size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		const config_setting *s = config_find(arg + 2, len);
		if (!s) {
			fprintf(err_out, "devicehubd: unknown setting '%s' (see --help)\n", arg);
			return -1;
		}
		const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
		if (!value) {
			fprintf(err_out, "devicehubd: %s needs a value\n", arg);
			return -1;
		}
		if ((!only || s == only) && config_set(cfg, s, value, "the command line", err_out) != 0)
			return -1;
	}
	return 0;
}

/* Removes leading and trailing white space in place. */
static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* One line of a configuration file: blank, `# comment`, or `name = value` (value optionally in double
 * quotes, to keep surrounding spaces or a leading #). source is "FILE:LINE". Returns 0 or -1. */
static int config_file_line(config *cfg, char *line, const char *source, FILE *err_out)
{
	char *text = trim(line), *eq, *value;
	const config_setting *s;
	size_t n;

	if (*text == '\0' || *text == '#')
		return 0;
	if (!(eq = strchr(text, '='))) {
		fprintf(err_out, "devicehubd: %s: expected `name = value`\n", source);
		return -1;
	}
	*eq = '\0';
	text = trim(text);
	value = trim(eq + 1);
	n = strlen(value);
	if (n >= 2 && value[0] == '"' && value[n - 1] == '"') {
		value[n - 1] = '\0';
		value++;
	}
	s = config_find(text, strlen(text));
	if (!s || s->offset == offsetof(config, config_file)) {
		fprintf(err_out, "devicehubd: %s: %s setting '%s' (see --help)\n", source,
			s ? "a configuration file cannot name another with the" : "unknown", text);
		return -1;
	}
	return config_set(cfg, s, value, source, err_out);
}

/* Applies the configuration file at path. Returns 0 or -1 with a message naming the file (and line). */
static int config_file(config *cfg, const char *path, FILE *err_out)
{
	char line[4096], source[600];
	FILE *f = fopen(path, "r");
	int lineno = 0, rc = 0;

	if (!f) {
		fprintf(err_out, "devicehubd: cannot read configuration file %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		snprintf(source, sizeof(source), "%s:%d", path, ++lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			fprintf(err_out, "devicehubd: %s: line longer than %zu bytes\n", source, sizeof(line) - 2);
			rc = -1;
			break;
		}
		rc = config_file_line(cfg, line, source, err_out);
	}
	fclose(f);
	return rc;
}

/* Sets every setting (or only `only`) from its DEVICEHUB_* variable. Returns 0 or -1. */
static int config_env(config *cfg, const config_setting *only, FILE *err_out)
{
	for (size_t i = 0; i < NSETTINGS; i++) {
		const config_setting *s = &config_settings[i];
		char env[64];
		const char *v;
		if (only && s != only)
			continue;
		env_name(s->name, env);
		if ((v = getenv(env)) != NULL && config_set(cfg, s, v, env, err_out) != 0)
			return -1;
	}
	return 0;
}

/* Checks what one setting's bounds cannot: choices among names, settings that go together. */
static int config_check(const config *cfg, FILE *err_out)
{
	log_level level;
	log_format format;

	if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
		fprintf(err_out, "devicehubd: tls-cert and tls-key go together: set both or neither\n");
		return -1;
	}
	if (log_level_parse(cfg->log_level, &level) != 0) {
		fprintf(err_out, "devicehubd: log-level must be debug, info, warn or error, not '%s'\n",
			cfg->log_level);
		return -1;
	}
	if (log_format_parse(cfg->log_format, &format) != 0) {
		fprintf(err_out, "devicehubd: log-format must be text or json, not '%s'\n", cfg->log_format);
		return -1;
	}
	return 0;
}

/* Order: defaults < file < environment < flags. The file's own name comes from the environment or the
 * flags, so a first pass reads just that setting from both. */
int config_load(config *cfg, int argc, char **argv, FILE *err_out)
{
	const config_setting *file_setting = &config_settings[0];
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NSETTINGS; i++)
		if (config_set(cfg, &config_settings[i], config_settings[i].def, "the default", err_out) != 0)
			return -1;
	rc = config_env(cfg, file_setting, err_out);
	if (rc == 0)
		rc = config_flags(cfg, argc, argv, file_setting, err_out);
	if (rc == 0 && cfg->config_file[0])
		rc = config_file(cfg, cfg->config_file, err_out);
	if (rc == 0)
		rc = config_env(cfg, NULL, err_out);
	if (rc == 0)
		rc = config_flags(cfg, argc, argv, NULL, err_out);
	if (rc == 1)
		config_print_help(stdout);
	if (rc == 0)
		rc = config_check(cfg, err_out);
	return rc;
}

void config_release(config *cfg)
{
	for (int i = 0; i < cfg->nindexes; i++)
		free(cfg->indexes[i]);
	cfg->nindexes = 0;
}

void config_print_help(FILE *out)
{
	fprintf(out, "usage: devicehubd [--setting value ...]\n\n"
		     "Each setting is also read from its environment variable and from the --config file (same names,\n"
		     "`name = value` lines); a flag wins over the variable, which wins over the file.\n\n");
	for (size_t i = 0; i < NSETTINGS; i++) {
		const config_setting *s = &config_settings[i];
		char env[64];
		env_name(s->name, env);
		fprintf(out, "  --%-14s %-26s %s (default: %s)\n", s->name, env, s->help,
			*s->def ? s->def : "none");
	}
}
