/*
 * backup: names and runs backups of the live database into <data-dir>/backups/.
 * Owns that directory's names and the one-backup-at-a-time rule; store_backup does the copying. Never
 * speaks HTTP, never holds SQL.
 */
#include "backup.h"

#include "buf.h"
#include "err.h"
#include "log.h"
#include "store_backup.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BACKUP_NAME_MAX 128

typedef struct backup_job {
	char name[BACKUP_NAME_MAX + 1];   /* "" = the timestamped default */
	backup_done_fn done;
	void *ctx;
} backup_job;

static char backup_dir[PATH_MAX];
static char backup_source[PATH_MAX];
static pthread_mutex_t backup_lock = PTHREAD_MUTEX_INITIALIZER;
static int backup_running, backup_joinable, backup_stopping;   /* guarded by backup_lock */
static pthread_t backup_thread;

int backup_init(const char *data_dir)
{
	if (strlen(data_dir) + sizeof("/backups/") + BACKUP_NAME_MAX + sizeof(".tmp") >= PATH_MAX)
		return err_set(DH_EINVAL, "the data directory path is too long");
	snprintf(backup_dir, sizeof(backup_dir), "%s/backups", data_dir);
	pthread_mutex_lock(&backup_lock);
	backup_stopping = 0;
	pthread_mutex_unlock(&backup_lock);
	return store_backup_live_path(backup_source, sizeof(backup_source));
}

static int name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-';
}

/* No '/' and no leading '.' means no "..", no absolute path and no hidden file: the name stays a plain
 * file inside the backups directory whatever follows. */
int backup_name_check(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > BACKUP_NAME_MAX)
		return err_set(DH_EINVAL, "a backup name has 1 to %d characters", BACKUP_NAME_MAX);
	if (name[0] == '.')
		return err_set(DH_EINVAL, "a backup name must not start with '.'");
	for (const char *p = name; *p; p++)
		if (!name_char_ok(*p))
			return err_set(DH_EINVAL, "a backup name is a file name inside the backups directory: letters,"
						  " digits, '.', '_' and '-' only");
	if (len >= 4 && strcmp(name + len - 4, ".tmp") == 0)
		return err_set(DH_EINVAL, "a backup name must not end in .tmp");
	return 0;
}

/* devicehub-20250102T030405.678Z.db: sorts by time, unique unless two backups start in the same ms (and
 * only one runs at a time). */
static void default_name(char out[BACKUP_NAME_MAX + 1])
{
	struct timespec now;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &now);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", gmtime_r(&now.tv_sec, &tm));
	snprintf(out, BACKUP_NAME_MAX + 1, "devicehub-%s.%03ldZ.db", stamp, now.tv_nsec / 1000000);
}

/* Takes the one-backup slot. DH_EBUSY when it is taken or the hub is stopping. Call with backup_lock. */
static int claim_locked(void)
{
	if (backup_stopping)
		return err_set(DH_EBUSY, "the server is shutting down");
	if (backup_running)
		return err_set(DH_EBUSY, "a backup is already running; try again when it has finished");
	backup_running = 1;
	return 0;
}

static void release(void)
{
	pthread_mutex_lock(&backup_lock);
	backup_running = 0;
	pthread_mutex_unlock(&backup_lock);
}

/* The copy itself, with the slot held. name was checked (or is NULL). */
static int run(const char *name, json_t **out)
{
	char given[BACKUP_NAME_MAX + 1];
	store_backup_stats st;
	buf path = BUF_INIT;
	int rc;

	*out = NULL;
	if (!backup_dir[0])
		return err_set(DH_EIO, "backups are not initialised (backup_init was not called)");
	if (!name) {
		default_name(given);
		name = given;
	}
	if (mkdir(backup_dir, 0700) != 0 && errno != EEXIST)
		return err_set(DH_EIO, "cannot create %s: %s", backup_dir, strerror(errno));
	buf_printf(&path, "%s/%s", backup_dir, name);
	rc = store_backup_copy(backup_source, buf_cstr(&path), &st);
	if (rc == 0) {
		*out = json_pack("{s:s, s:I, s:I, s:i}", "path", buf_cstr(&path), "sizeBytes", (json_int_t)st.size_bytes,
				 "durationMs", (json_int_t)st.duration_ms, "pages", st.pages);
		log_info("backup: %s written (%lld bytes, %d pages, %lld ms, %d steps)", buf_cstr(&path),
			 (long long)st.size_bytes, st.pages, (long long)st.duration_ms, st.steps);
	}
	buf_release(&path);
	return rc;
}

int backup_create(const char *name, json_t **out)
{
	int rc;

	*out = NULL;
	if (name && (rc = backup_name_check(name)) != 0)
		return rc;
	pthread_mutex_lock(&backup_lock);
	rc = claim_locked();
	pthread_mutex_unlock(&backup_lock);
	if (rc)
		return rc;
	rc = run(name, out);
	release();
	return rc;
}

static void *backup_main(void *arg)
{
	backup_job *job = arg;
	json_t *result = NULL;
	int rc = run(job->name[0] ? job->name : NULL, &result);

	/* Released before the answer, so a caller that starts the next backup on reading it finds the slot
	 * free; backup_start joins this thread then, and nothing here takes backup_lock again. */
	release();
	job->done(job->ctx, rc, result);
	free(job);
	return NULL;
}

int backup_start(const char *name, backup_done_fn done, void *ctx)
{
	backup_job *job;
	int rc;

	if (name && (rc = backup_name_check(name)) != 0)
		return rc;
	pthread_mutex_lock(&backup_lock);
	if ((rc = claim_locked()) != 0)
		goto out;
	if (backup_joinable) { /* the previous backup released the slot: its thread is done or nearly */
		pthread_join(backup_thread, NULL);
		backup_joinable = 0;
	}
	job = xcalloc(1, sizeof(*job));
	snprintf(job->name, sizeof(job->name), "%s", name ? name : "");
	job->done = done;
	job->ctx = ctx;
	if (pthread_create(&backup_thread, NULL, backup_main, job) != 0) {
		free(job);
		backup_running = 0;
		rc = err_set(DH_EINTERNAL, "cannot start the backup thread");
		goto out;
	}
	backup_joinable = 1;
out:
	pthread_mutex_unlock(&backup_lock);
	return rc;
}

void backup_shutdown(void)
{
	int join;

	pthread_mutex_lock(&backup_lock);
	backup_stopping = 1;
	join = backup_joinable;
	backup_joinable = 0;
	pthread_mutex_unlock(&backup_lock);
	if (join)
		pthread_join(backup_thread, NULL);
}
