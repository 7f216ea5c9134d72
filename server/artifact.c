/*
 * artifact: firmware packages as files plus metadata rows (see artifact.h).
 *
 * Write order, so a crash at any point leaves either nothing or a complete artifact:
 *   create: temporary file ".tmp-<random>" written and fsynced → (lock) BEGIN IMMEDIATE, INSERT, rename
 *           to <id>, fsync the directory, COMMIT (unlink <id> again if COMMIT fails) (unlock)
 *   delete: (lock) DELETE, COMMIT, unlink <id> (unlock)
 * artifact_init removes temporary files and files without a row. The lock serialises the step that
 * pairs a row with its file (create, delete, open), so a download never gets one artifact's metadata with
 * another's bytes when an id is deleted and uploaded again. Writing the bytes happens outside it.
 */
#include "artifact.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "json_util.h"
#include "log.h"
#include "registry.h"
#include "store.h"
#include "store_artifact.h"
#include "url.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARTIFACT_TMP_PREFIX ".tmp-"
#define ARTIFACT_DEFAULT_TYPE "application/octet-stream"

static pthread_mutex_t artifact_lock = PTHREAD_MUTEX_INITIALIZER;
static char artifact_dir[PATH_MAX];

/* ---- validation --------------------------------------------------------------------------------------- */

/* Ids follow the registry's rules; a leading '.' is refused too, so an id is never ".", ".." or one of
 * our temporary names: the id is the file name. */
static int check_id(const char *id)
{
	if (!registry_id_valid(id) || id[0] == '.')
		return err_set(
		    DH_EINVAL,
		    "'%s' is not a valid artifact id: 1 to 128 characters of letters, digits and - . %% _ * ? ! "
		    "( ) , : = @ $ ', not starting with '.'",
		    id);
	return 0;
}

/* 1..max printable ASCII characters, none of `forbidden`. Printable also keeps CR/LF out of the
 * Content-Type header the download answers with. */
static int text_ok(const char *s, size_t max, const char *forbidden)
{
	size_t n = 0;

	for (; s && s[n]; n++)
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || strchr(forbidden, s[n]))
			return 0;
	return s && n > 0 && n <= max;
}

/* The compatible models as stored: the JSON text of a string or a 1..ARTIFACT_MAX_MODELS array. */
static int models_text(const json_t *models, char out[STORE_ARTIFACT_MODELS_MAX])
{
	size_t i, n = json_is_array(models) ? json_array_size(models) : 1;
	const json_t *m;
	char *text;

	if (!json_is_string(models) && !(json_is_array(models) && n >= 1 && n <= ARTIFACT_MAX_MODELS))
		return err_set(DH_EINVAL, "compatibleModel must be a model name or a list of 1 to %d",
			       ARTIFACT_MAX_MODELS);
	if (json_is_string(models) && !text_ok(json_string_value(models), STORE_ARTIFACT_TEXT_MAX, "\"\\,"))
		return err_set(DH_EINVAL, "a model name is 1 to 128 printable ASCII characters without \" \\ or ,");
	json_array_foreach(models, i, m)
	{
		if (!json_is_string(m) || !text_ok(json_string_value(m), STORE_ARTIFACT_TEXT_MAX, "\"\\,"))
			return err_set(DH_EINVAL,
				       "a model name is 1 to 128 printable ASCII characters without \" \\ or ,");
	}
	text = json_util_dump(models);
	snprintf(out, STORE_ARTIFACT_MODELS_MAX, "%s", text); /* fits: 8 × (128 + 3) + 2 */
	free(text);
	return 0;
}

/* Fills a's descriptive fields from spec (not the hash, size or time). */
static int spec_to_row(const artifact_spec *spec, store_artifact *a)
{
	uint8_t random[16];
	int rc;

	memset(a, 0, sizeof(*a));
	if (spec->id && *spec->id) {
		if ((rc = check_id(spec->id)) != 0)
			return rc;
		snprintf(a->id, sizeof(a->id), "%s", spec->id);
	} else {
		if ((rc = crypto_random(random, sizeof(random))) != 0)
			return rc;
		for (size_t i = 0; i < sizeof(random); i++)
			snprintf(a->id + 2 * i, 3, "%02x", random[i]);
	}
	if (!spec->version || !*spec->version)
		return err_set(DH_EINVAL, "an artifact needs a version");
	if (!text_ok(spec->version, STORE_ARTIFACT_TEXT_MAX, ""))
		return err_set(DH_EINVAL, "version is 1 to 128 printable ASCII characters");
	snprintf(a->version, sizeof(a->version), "%s", spec->version);
	if (!spec->compatible_model)
		return err_set(DH_EINVAL, "an artifact needs a compatible model");
	if ((rc = models_text(spec->compatible_model, a->compatible_model)) != 0)
		return rc;
	if (spec->content_type && !text_ok(spec->content_type, STORE_ARTIFACT_TEXT_MAX, ""))
		return err_set(DH_EINVAL, "the content type is 1 to 128 printable ASCII characters");
	snprintf(a->content_type, sizeof(a->content_type), "%s",
		 spec->content_type ? spec->content_type : ARTIFACT_DEFAULT_TYPE);
	return 0;
}

/* ---- files -------------------------------------------------------------------------------------------- */

/* Fits: artifact_init refused data directories too long for an id or a temporary name. */
static void artifact_path(const char *name, char out[PATH_MAX])
{
	int n = snprintf(out, PATH_MAX, "%s/%s", artifact_dir, name);

	/* Not an assert: with NDEBUG (release builds) gcc sees the result unused and fails the build with
	 * -Wformat-truncation. */
	if (n <= 0 || n >= PATH_MAX)
		abort();
}

/* Makes the directory entries (a rename, a new file) durable. */
static int sync_dir(void)
{
	int fd = open(artifact_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0 || fsync(fd) != 0)
		rc = err_set(DH_EIO, "cannot sync %s: %s", artifact_dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/* Writes data to a new temporary file and fsyncs it. OUT: tmp (its path). On failure nothing remains. */
static int write_temp(const void *data, size_t len, char tmp[PATH_MAX])
{
	uint8_t random[8];
	char name[64];
	const char *p = data;
	int fd = -1, rc;

	if ((rc = crypto_random(random, sizeof(random))) != 0)
		return rc;
	snprintf(name, sizeof(name), ARTIFACT_TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", random[0], random[1],
		 random[2], random[3], random[4], random[5], random[6], random[7]);
	artifact_path(name, tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_set(DH_EIO, "cannot create %s: %s", tmp, strerror(errno));
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(DH_EIO, "cannot write %s: %s", tmp, n < 0 ? strerror(errno) : "no space");
			goto out;
		}
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0)
		rc = err_set(DH_EIO, "cannot sync %s: %s", tmp, strerror(errno));
out:
	if (close(fd) != 0 && rc == 0)
		rc = err_set(DH_EIO, "cannot close %s: %s", tmp, strerror(errno));
	if (rc)
		unlink(tmp);
	return rc;
}

/* Removes temporary files and files whose row is gone. A row without its file is only reported: the
 * file is the operator's to restore, and the download answers 500 meanwhile. */
static int clean_dir(store *s)
{
	DIR *d = opendir(artifact_dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (!d)
		return err_set(DH_EIO, "cannot read %s: %s", artifact_dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		int exists = 0;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (strncmp(e->d_name, ARTIFACT_TMP_PREFIX, strlen(ARTIFACT_TMP_PREFIX)) != 0 &&
		    (exists = store_artifact_exists(s, e->d_name)) != 0)
			continue; /* an artifact's file, or a read error (keep the file) */
		artifact_path(e->d_name, path);
		log_info("artifact: removing %s, left by an interrupted upload or delete", path);
		if (unlink(path) != 0)
			log_warn("artifact: cannot remove %s: %s", path, strerror(errno));
	}
	closedir(d);
	return 0;
}

int artifact_init(const char *data_dir)
{
	store *s = store_thread();
	char dir[PATH_MAX];

	artifact_dir[0] = '\0';
	if (!s)
		return DH_EIO;
	if (strlen(data_dir) + sizeof("/artifacts/") + STORE_ARTIFACT_ID_MAX >= PATH_MAX)
		return err_set(DH_EINVAL, "the data directory path is too long");
	snprintf(dir, sizeof(dir), "%s/artifacts", data_dir);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_set(DH_EIO, "cannot create %s: %s", dir, strerror(errno));
	memcpy(artifact_dir, dir, sizeof(dir));
	return clean_dir(s);
}

/* ---- operations --------------------------------------------------------------------------------------- */

/* The calling thread's store, once artifact_init has named the directory (before that, paths would be
 * relative to "/"). NULL with a message otherwise; callers answer DH_EIO (500, like a store failure). */
static store *artifact_store(void)
{
	if (!artifact_dir[0]) {
		err_set(DH_EIO, "artifacts are not initialised (artifact_init was not called)");
		return NULL;
	}
	return store_thread();
}

static void hex_digest(const void *data, size_t len, char out[65])
{
	uint8_t digest[32];

	crypto_sha256(data, len, digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static void fill_ref(const store_artifact *a, artifact_ref *out)
{
	buf path = BUF_INIT;

	memset(out, 0, sizeof(*out));
	buf_puts(&path, "/devicehub/artifacts/");
	url_encode(a->id, &path);
	buf_puts(&path, "/content");
	snprintf(out->id, sizeof(out->id), "%s", a->id);
	snprintf(out->version, sizeof(out->version), "%s", a->version);
	snprintf(out->download_path, sizeof(out->download_path), "%s", buf_cstr(&path)); /* ≤ 30 + 3 × 128 */
	snprintf(out->sha256, sizeof(out->sha256), "%s", a->sha256);
	out->size = (uint64_t)a->size;
	snprintf(out->content_type, sizeof(out->content_type), "%s", a->content_type);
	buf_release(&path);
}

static json_t *render(const store_artifact *a)
{
	artifact_ref ref;
	json_t *models = json_loads(a->compatible_model, JSON_DECODE_ANY, NULL);

	fill_ref(a, &ref);
	return json_pack("{s:s, s:s, s:o, s:s, s:I, s:s, s:s, s:s}", "id", a->id, "version", a->version,
			 "compatibleModel", models ? models : json_string(a->compatible_model), "sha256", a->sha256,
			 "size", (json_int_t)a->size, "createdTimeUtc", a->created_time, "contentType", a->content_type,
			 "downloadPath", ref.download_path);
}

/* Under the lock: the row and the file appear together or not at all. */
static int publish(store *s, const store_artifact *a, const char *tmp)
{
	char path[PATH_MAX];
	int rc;

	artifact_path(a->id, path);
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_artifact_insert(s, a)) != 0)
		goto fail;
	if (rename(tmp, path) != 0) {
		rc = err_set(DH_EIO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
		goto fail;
	}
	if ((rc = sync_dir()) != 0 || (rc = store_commit(s)) != 0) {
		unlink(path);
		goto fail;
	}
	return 0;
fail:
	store_rollback(s);
	return rc;
}

int artifact_create(const artifact_spec *spec, const void *data, size_t len, json_t **out)
{
	store *s = artifact_store();
	store_artifact a;
	char tmp[PATH_MAX] = "";
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = spec_to_row(spec, &a)) != 0)
		return rc;
	if (len == 0)
		return err_set(DH_ENULL, "the package is empty");
	if (len > ARTIFACT_MAX_BYTES)
		return err_set(DH_ETOOBIG, "a package is at most %u bytes", ARTIFACT_MAX_BYTES);
	/* A taken id is refused before the bytes are written; publish checks again under the lock. */
	if ((rc = store_artifact_exists(s, a.id)) != 0)
		return rc < 0 ? rc : err_set(DH_EARTEXISTS, "artifact '%s' already exists", a.id);
	hex_digest(data, len, a.sha256);
	a.size = (int64_t)len;
	clock_iso_now(a.created_time);
	if ((rc = write_temp(data, len, tmp)) != 0)
		return rc;
	pthread_mutex_lock(&artifact_lock);
	rc = publish(s, &a, tmp);
	pthread_mutex_unlock(&artifact_lock);
	if (rc) {
		unlink(tmp); /* gone already when the rename happened */
		return rc;
	}
	*out = render(&a);
	return 0;
}

int artifact_get(const char *id, json_t **out)
{
	store *s = artifact_store();
	store_artifact a;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = check_id(id)) != 0 || (rc = store_artifact_get(s, id, &a)) != 0)
		return rc;
	*out = render(&a);
	return 0;
}

static int append_rendered(const store_artifact *a, void *ctx)
{
	json_array_append_new(ctx, render(a));
	return 0;
}

int artifact_list(json_t **out)
{
	store *s = artifact_store();
	json_t *arr;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	arr = json_array();
	/* One SELECT: SQLite reads it from one snapshot without an explicit transaction. */
	if ((rc = store_artifact_each(s, append_rendered, arr)) != 0) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return 0;
}

int artifact_delete(const char *id)
{
	store *s = artifact_store();
	char path[PATH_MAX];
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = check_id(id)) != 0)
		return rc;
	artifact_path(id, path);
	pthread_mutex_lock(&artifact_lock);
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	if ((rc = store_artifact_delete(s, id)) != 0 || (rc = store_commit(s)) != 0) {
		store_rollback(s);
		goto out;
	}
	/* After COMMIT: a crash before this unlink leaves a file without a row, which artifact_init removes. */
	if (unlink(path) != 0 && errno != ENOENT)
		log_warn("artifact: cannot remove %s: %s", path, strerror(errno));
out:
	pthread_mutex_unlock(&artifact_lock);
	return rc;
}

int artifact_ref_get(const char *id, artifact_ref *out)
{
	store *s = artifact_store();
	store_artifact a;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!s)
		return DH_EIO;
	if ((rc = check_id(id)) != 0 || (rc = store_artifact_get(s, id, &a)) != 0)
		return rc;
	fill_ref(&a, out);
	return 0;
}

int artifact_open(const char *id, int *fd, artifact_ref *out)
{
	store *s = artifact_store();
	store_artifact a;
	char path[PATH_MAX];
	struct stat st;
	int rc;

	*fd = -1;
	if (!s)
		return DH_EIO;
	if ((rc = check_id(id)) != 0)
		return rc;
	artifact_path(id, path);
	pthread_mutex_lock(&artifact_lock);
	if ((rc = store_artifact_get(s, id, &a)) == 0 && (*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		rc = err_set(DH_EIO, "artifact '%s' has no file: %s", id, strerror(errno));
	pthread_mutex_unlock(&artifact_lock);
	if (rc)
		return rc;
	if (fstat(*fd, &st) != 0 || st.st_size != a.size) {
		close(*fd);
		*fd = -1;
		return err_set(DH_EIO, "artifact '%s' file is not the recorded %lld bytes", id, (long long)a.size);
	}
	fill_ref(&a, out);
	return 0;
}
