/* firmware: the download pool (see firmware.h). */
#include "firmware.h"

#include "buf.h"
#include "http_client.h"

#include <mbedtls/sha256.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRMWARE_MAX_BYTES (256u * 1024 * 1024)
#define FIRMWARE_TIMEOUT_MS 5000
#define POOL_MAX 8
#define FIRMWARE_ATTEMPTS 3

typedef struct fw_job {
	struct fw_job *next;
	uint32_t device, update;
	char *url;
	char *authorization; /* NULL: none */
} fw_job;

typedef struct fw_done {
	struct fw_done *next;
	firmware_result r;
} fw_done;

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	fw_job *jobs, **jobs_tail;
	fw_done *done;
	int stop;
	pthread_t threads[POOL_MAX];
	int n_threads;
	void (*notify)(void *);
	void *notify_ctx;
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

typedef struct download {
	mbedtls_sha256_context sha;
	size_t bytes;
} download;

static int stopping(void)
{
	int stop;

	pthread_mutex_lock(&pool.lock);
	stop = pool.stop;
	pthread_mutex_unlock(&pool.lock);
	return stop;
}

static int on_body(void *ctx, const void *data, size_t len)
{
	download *d = ctx;

	d->bytes += len;
	return stopping() || mbedtls_sha256_update_ret(&d->sha, data, len) != 0;
}

/* One GET: from the start, or (after a cut-off) from d->bytes on with a Range the server must honour
 * with 206, so the hash goes on over exactly the bytes that follow. OUT: *status. */
static int fetch_once(const fw_job *job, const char *host, int port, const char *path, download *d, int *status,
		      char *err, size_t errsz)
{
	http_conn *c = http_conn_new(host, port, FIRMWARE_TIMEOUT_MS);
	buf headers = BUF_INIT;
	int rc;

	buf_puts(&headers, "Connection: close\r\n");
	if (job->authorization)
		buf_printf(&headers, "Authorization: %s\r\n", job->authorization);
	if (d->bytes)
		buf_printf(&headers, "Range: bytes=%zu-\r\n", d->bytes);
	*status = 0;
	rc = http_request(c, "GET", path, headers.data, NULL, 0, FIRMWARE_MAX_BYTES - d->bytes, on_body, d, status,
			  err, errsz);
	buf_release(&headers);
	http_conn_free(c);
	return rc;
}

static void fetch(const fw_job *job, firmware_result *r)
{
	char host[256], err[160] = "";
	const char *path;
	int port, status = 0, rc = -1, ranged = 0;
	download d = {.bytes = 0};

	mbedtls_sha256_init(&d.sha);
	if (http_url_parse(job->url, host, sizeof(host), &port, &path) < 0) {
		snprintf(r->reason, sizeof(r->reason), "not an http:// URL");
		goto out;
	}
	mbedtls_sha256_starts_ret(&d.sha, 0);
	for (int attempt = 0; attempt < FIRMWARE_ATTEMPTS && !stopping(); attempt++) {
		size_t before = d.bytes;
		ranged = before > 0;
		rc = fetch_once(job, host, port, path, &d, &status, err, sizeof(err));
		/* Resume only a transfer that was under way and cut off: bytes arrived with 200 or 206. */
		if (rc == 0 || d.bytes == before || (status != 200 && status != 206))
			break;
	}
	if (rc < 0)
		snprintf(r->reason, sizeof(r->reason), "download failed: %s", err);
	else if (status != (ranged ? 206 : 200))
		snprintf(r->reason, sizeof(r->reason), "download failed: HTTP %d%s", status,
			 ranged ? " to a resumed download (the server ignored Range)" : "");
	else if (mbedtls_sha256_finish_ret(&d.sha, r->digest) == 0)
		r->ok = 1;
	r->bytes = d.bytes;
out:
	mbedtls_sha256_free(&d.sha);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		fw_job *job;
		fw_done *done;

		pthread_mutex_lock(&pool.lock);
		while (!pool.stop && !pool.jobs)
			pthread_cond_wait(&pool.wake, &pool.lock);
		if (pool.stop) {
			pthread_mutex_unlock(&pool.lock);
			return NULL;
		}
		job = pool.jobs;
		pool.jobs = job->next;
		if (!pool.jobs)
			pool.jobs_tail = &pool.jobs;
		pthread_mutex_unlock(&pool.lock);

		done = xcalloc(1, sizeof(*done));
		done->r.device = job->device;
		done->r.update = job->update;
		fetch(job, &done->r);
		free(job->url);
		free(job->authorization);
		free(job);

		pthread_mutex_lock(&pool.lock);
		done->next = pool.done;
		pool.done = done;
		pthread_mutex_unlock(&pool.lock);
		pool.notify(pool.notify_ctx);
	}
}

int firmware_start(int n, void (*notify)(void *ctx), void *ctx)
{
	pool.jobs = NULL;
	pool.jobs_tail = &pool.jobs;
	pool.notify = notify;
	pool.notify_ctx = ctx;
	pool.stop = 0;
	for (pool.n_threads = 0; pool.n_threads < n && pool.n_threads < POOL_MAX; pool.n_threads++)
		if (pthread_create(&pool.threads[pool.n_threads], NULL, worker, NULL) != 0)
			return -1;
	return 0;
}

void firmware_submit(uint32_t device, uint32_t update, const char *url, const char *authorization)
{
	fw_job *job = xcalloc(1, sizeof(*job));

	job->device = device;
	job->update = update;
	job->url = xstrdup(url);
	job->authorization = authorization ? xstrdup(authorization) : NULL;
	pthread_mutex_lock(&pool.lock);
	*pool.jobs_tail = job;
	pool.jobs_tail = &job->next;
	pthread_cond_signal(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
}

void firmware_drain(void (*fn)(void *ctx, const firmware_result *r), void *ctx)
{
	fw_done *list, *next;

	pthread_mutex_lock(&pool.lock);
	list = pool.done;
	pool.done = NULL;
	pthread_mutex_unlock(&pool.lock);
	for (; list; list = next) {
		next = list->next;
		if (fn)
			fn(ctx, &list->r);
		free(list);
	}
}

void firmware_stop(void)
{
	fw_job *job, *next;

	pthread_mutex_lock(&pool.lock);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.wake);
	pthread_mutex_unlock(&pool.lock);
	for (int i = 0; i < pool.n_threads; i++)
		pthread_join(pool.threads[i], NULL);
	pool.n_threads = 0;
	for (job = pool.jobs; job; job = next) {
		next = job->next;
		free(job->url);
		free(job->authorization);
		free(job);
	}
	pool.jobs = NULL;
	pool.jobs_tail = &pool.jobs;
	firmware_drain(NULL, NULL);
}
