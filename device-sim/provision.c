/* provision: device creation and key look-up over the REST API (see provision.h). */
#include "provision.h"

#include "buf.h"
#include "crypto.h"
#include "http_client.h"
#include "json_util.h"
#include "sas.h"
#include "url.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BULK_MAX 100
#define WORKERS 4
#define API_VERSION "api-version=2021-04-12"
#define REST_TIMEOUT_MS 30000
#define REST_BODY_MAX (8 * 1024 * 1024)

int provision_parse_connection_string(const char *text, hub_credentials *out)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	while (*p) {
		size_t n = strcspn(p, ";"), klen;
		const char *eq = memchr(p, '=', n);
		char *dst = NULL;
		size_t dstsz = 0;

		if (eq) {
			klen = (size_t)(eq - p);
			if (klen == 8 && strncasecmp(p, "HostName", 8) == 0)
				dst = out->host, dstsz = sizeof(out->host);
			else if (klen == 19 && strncasecmp(p, "SharedAccessKeyName", 19) == 0)
				dst = out->key_name, dstsz = sizeof(out->key_name);
			else if (klen == 15 && strncasecmp(p, "SharedAccessKey", 15) == 0)
				dst = out->key, dstsz = sizeof(out->key);
			if (dst && (size_t)(p + n - eq - 1) < dstsz)
				memcpy(dst, eq + 1, (size_t)(p + n - eq - 1));
		}
		p += n;
		if (*p == ';')
			p++;
	}
	if (!out->host[0] || !out->key_name[0] || !out->key[0]) {
		fprintf(stderr, "devicehub-sim: the connection string needs HostName, SharedAccessKeyName and "
				"SharedAccessKey (a service policy such as iothubowner)\n");
		return -1;
	}
	return 0;
}

/* What every worker shares. */
typedef struct provision_job {
	const sim_options *opts;
	const hub_credentials *hub;
	char api_host[256];
	int api_port;
	const char *api_path; /* base path without a trailing '/' */
	size_t api_path_len;
	char **keys;
	volatile sig_atomic_t *stop;
	atomic_int failed; /* set by any worker, polled by the others */
	pthread_mutex_t lock;
	char error[512];
} provision_job;

typedef struct worker {
	provision_job *job;
	int nth;
	pthread_t thread;
} worker;

static void job_fail(provision_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_fail(provision_job *job, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&job->lock);
	if (!job->failed) {
		va_start(ap, fmt);
		vsnprintf(job->error, sizeof(job->error), fmt, ap);
		va_end(ap);
	}
	job->failed = 1;
	pthread_mutex_unlock(&job->lock);
}

/* Authorization and content-type header lines for one call; a fresh token each time (cheap). */
static void service_headers(const hub_credentials *hub, buf *out)
{
	buf sr = BUF_INIT;

	url_encode(hub->host, &sr);
	buf_puts(out, "Authorization: ");
	sas_build(buf_cstr(&sr), hub->key, hub->key_name, (int64_t)time(NULL) + 3600, out);
	buf_puts(out, "\r\nContent-Type: application/json; charset=utf-8\r\nAccept: application/json\r\n");
	buf_release(&sr);
}

/* One REST call. OUT: *status, *answer (new reference, NULL when the body is not JSON). */
static int rest_call(provision_job *job, http_conn *c, const char *method, const char *path, const char *body,
		     int *status, json_t **answer)
{
	buf headers = BUF_INIT, url = BUF_INIT, resp = BUF_INIT;
	char err[256];
	int rc;

	*answer = NULL;
	service_headers(job->hub, &headers);
	buf_printf(&url, "%.*s%s%c" API_VERSION, (int)job->api_path_len, job->api_path, path,
		   strchr(path, '?') ? '&' : '?');
	rc = http_request(c, method, url.data, headers.data, body, body ? strlen(body) : 0, REST_BODY_MAX,
			  http_body_to_buf, &resp, status, err, sizeof(err));
	if (rc < 0)
		job_fail(job, "%s %s: %s", method, path, err);
	else if (resp.len)
		*answer = json_loadb(resp.data, resp.len, 0, NULL);
	if (rc == 0 && *status >= 300)
		job_fail(job, "%s %s: HTTP %d %.300s%s", method, path, *status, buf_cstr(&resp),
			 *status == 404 && strcmp(method, "GET") == 0 ? " (add --create to make the devices)" : "");
	buf_release(&headers);
	buf_release(&url);
	buf_release(&resp);
	return rc == 0 && *status < 300 ? 0 : -1;
}

/* Batch b of --create: devices [b*100, b*100+100) with keys made here. */
static int create_batch(provision_job *job, http_conn *c, int b)
{
	const sim_options *o = job->opts;
	int lo = b * BULK_MAX, hi = lo + BULK_MAX < o->count ? lo + BULK_MAX : o->count, status, rc;
	json_t *entries = json_array(), *answer = NULL;
	char id[160], primary[45], secondary[45], *body;

	for (int i = lo; i < hi; i++) {
		options_device_id(o, i, id, sizeof(id));
		if (crypto_new_key(primary) < 0 || crypto_new_key(secondary) < 0) {
			json_decref(entries);
			job_fail(job, "no random bytes for device keys");
			return -1;
		}
		json_array_append_new(entries,
				      json_pack("{s:s, s:s, s:s, s:{s:s, s:{s:s, s:s}}}", "id", id, "importMode",
						"createOrUpdate", "status", "enabled", "authentication", "type", "sas",
						"symmetricKey", "primaryKey", primary, "secondaryKey", secondary));
		job->keys[i] = xstrdup(primary);
	}
	body = json_util_dump(entries);
	rc = rest_call(job, c, "POST", "/devices", body, &status, &answer);
	if (rc == 0 && !json_is_true(json_object_get(answer, "isSuccessful"))) {
		job_fail(job, "bulk create: %s", body);
		rc = -1;
	}
	free(body);
	json_decref(entries);
	json_decref(answer);
	return rc;
}

static int fetch_key(provision_job *job, http_conn *c, int i)
{
	char id[160];
	buf path = BUF_INIT;
	json_t *dev = NULL;
	const char *key;
	int status, rc;

	options_device_id(job->opts, i, id, sizeof(id));
	buf_puts(&path, "/devices/");
	url_encode(id, &path);
	rc = rest_call(job, c, "GET", path.data, NULL, &status, &dev);
	key = json_string_value(
	    json_object_get(json_object_get(json_object_get(dev, "authentication"), "symmetricKey"), "primaryKey"));
	if (rc == 0 && (!key || !*key)) {
		job_fail(job, "device '%s' has no symmetric key (authentication type is not sas?)", id);
		rc = -1;
	} else if (rc == 0)
		job->keys[i] = xstrdup(key);
	json_decref(dev);
	buf_release(&path);
	return rc;
}

/* Worker n takes every WORKERS-th unit of work: batches with --create, devices otherwise. */
static void *worker_main(void *arg)
{
	worker *w = arg;
	provision_job *job = w->job;
	http_conn *c = http_conn_new(job->api_host, job->api_port, REST_TIMEOUT_MS);
	int units = job->opts->create ? (job->opts->count + BULK_MAX - 1) / BULK_MAX : job->opts->count;

	for (int u = w->nth; u < units && !job->failed && !*job->stop; u += WORKERS)
		if ((job->opts->create ? create_batch(job, c, u) : fetch_key(job, c, u)) < 0)
			break;
	http_conn_free(c);
	return NULL;
}

int provision_devices(const sim_options *o, const hub_credentials *hub, char **keys, volatile sig_atomic_t *stop)
{
	provision_job job = {.opts = o, .hub = hub, .keys = keys, .stop = stop};
	worker workers[WORKERS];
	int started = 0;

	if (http_url_parse(o->api_url, job.api_host, sizeof(job.api_host), &job.api_port, &job.api_path) < 0) {
		fprintf(stderr, "devicehub-sim: --api-url '%s' is not an http:// URL\n", o->api_url);
		return -1;
	}
	job.api_path_len = strcspn(job.api_path, "?#");
	while (job.api_path_len > 0 && job.api_path[job.api_path_len - 1] == '/')
		job.api_path_len--;
	pthread_mutex_init(&job.lock, NULL);
	for (int n = 0; n < WORKERS; n++) {
		workers[n] = (worker){.job = &job, .nth = n};
		if (pthread_create(&workers[n].thread, NULL, worker_main, &workers[n]) != 0) {
			job_fail(&job, "cannot start a thread");
			break;
		}
		started++;
	}
	for (int n = 0; n < started; n++)
		pthread_join(workers[n].thread, NULL);
	pthread_mutex_destroy(&job.lock);
	if (!job.failed && *stop)
		job_fail(&job, "interrupted");
	if (job.failed) {
		fprintf(stderr, "devicehub-sim: %s\n", job.error);
		for (int i = 0; i < o->count; i++) {
			free(keys[i]);
			keys[i] = NULL;
		}
		return -1;
	}
	return 0;
}
