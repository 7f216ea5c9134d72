/*
 * store_backup: online backup with sqlite3_backup_*, verification of a copy, and restore.
 *
 * Why the copy never blocks writers and always terminates: the source is a connection of its own that
 * opens a read transaction before the first step and keeps it to the last. Under WAL a reader holds only
 * a snapshot (a WAL read mark): writers go on appending to the WAL, and the automatic checkpoints they run
 * are PASSIVE, so they copy what they can and never wait for the reader. Because the source connection
 * sees one snapshot for the whole copy, the backup is never restarted by other connections' commits (a
 * backup restarts only when the source connection notices a changed database at the start of a step's own
 * read transaction, which a held transaction rules out). The price is that the WAL cannot be checkpointed
 * past the snapshot until the copy ends, so it grows by the writes made meanwhile.
 *
 * The copy is made under "<dest>.tmp", turned into a single-file database, checked with integrity_check,
 * fsynced and renamed, so a file at the final name is always a complete, checked copy. Must never choose
 * backup names or places (backup.c) or hold the process write lock (store.c).
 */
#include "store_backup.h"

#include "buf.h"
#include "embed.h"
#include "err.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKUP_STEP_PAGES 256      /* 1 MiB of 4 KiB pages per step */
#define BACKUP_PAUSE_US 1000       /* between steps, to leave the disk to the server; writers never wait */
#define BACKUP_BUSY_STEPS 5000     /* busy steps tolerated (each followed by a pause) before giving up */

static int64_t monotonic_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int db_fail(sqlite3 *db, const char *what, const char *path)
{
	return err_set(DH_EIO, "%s %s: %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* fsync of a file or, for the renames to be durable, of a directory. */
static int sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return err_set(DH_EIO, "cannot open %s: %s", path, strerror(errno));
	if (fsync(fd) != 0)
		rc = err_set(DH_EIO, "cannot sync %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

static int sync_parent(const char *path)
{
	buf dir = BUF_INIT;
	const char *slash = strrchr(path, '/');
	int rc;

	if (!slash)
		buf_puts(&dir, ".");
	else
		buf_printf(&dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	rc = sync_path(buf_cstr(&dir));
	buf_release(&dir);
	return rc;
}

/* 0 when "PRAGMA integrity_check" answers the single row "ok", else DH_EINVAL naming the first problem. */
static int integrity_ok(sqlite3 *db, const char *path)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
		return err_set(DH_EINVAL, "%s is not a usable database: %s", path, sqlite3_errmsg(db));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0)
		rc = 0;
	else if (rc == SQLITE_ROW)
		rc = err_set(DH_EINVAL, "%s fails integrity_check: %s", path, sqlite3_column_text(st, 0));
	else
		rc = err_set(DH_EINVAL, "%s is not a usable database: %s", path, sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Copies src's pages into dest in batches. src is inside a read transaction (see the file comment). */
static int copy_pages(sqlite3 *src, sqlite3 *dest, const char *dest_path, store_backup_stats *st)
{
	sqlite3_backup *b = sqlite3_backup_init(dest, "main", src, "main");
	int rc, busy = 0;

	if (!b)
		return db_fail(dest, "cannot start a backup into", dest_path);
	for (;;) {
		rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
		st->steps++;
		if (rc == SQLITE_DONE)
			break;
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			if (++busy > BACKUP_BUSY_STEPS)
				break;
		} else if (rc != SQLITE_OK) {
			break;
		}
		usleep(BACKUP_PAUSE_US);
	}
	st->pages = sqlite3_backup_pagecount(b);
	if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_DONE)
		rc = sqlite3_errcode(dest);
	if (rc != SQLITE_DONE)
		return err_set(DH_EIO, "backup into %s failed: %s", dest_path, sqlite3_errstr(rc));
	return 0;
}

/* The copy's header still says WAL (it is the source's page 1): make it one self-contained file, then
 * check it. */
static int finish_copy(const char *tmp_path)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open_v2(tmp_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot reopen", tmp_path);
		goto out;
	}
	if (sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot finish", tmp_path);
		goto out;
	}
	rc = integrity_ok(db, tmp_path);
out:
	sqlite3_close(db);
	return rc;
}

/* Opens src read-only inside a read transaction: the snapshot the whole copy reads. */
static int open_snapshot(const char *src_path, sqlite3 **src)
{
	if (sqlite3_open_v2(src_path, src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return db_fail(*src, "cannot open", src_path);
	sqlite3_busy_timeout(*src, 5000);
	/* BEGIN alone takes no snapshot; the first read does. */
	if (sqlite3_exec(*src, "BEGIN; SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(*src, "cannot read", src_path);
	return 0;
}

int store_backup_copy(const char *src_path, const char *dest_path, store_backup_stats *stats)
{
	store_backup_stats st = {0};
	sqlite3 *src = NULL, *dest = NULL;
	buf tmp = BUF_INIT;
	struct stat sb;
	int64_t started = monotonic_ms();
	int rc;

	buf_printf(&tmp, "%s.tmp", dest_path);
	if (lstat(dest_path, &sb) == 0) {
		rc = err_set(DH_EINVAL, "%s already exists", dest_path);
		goto out;
	}
	unlink(buf_cstr(&tmp)); /* what a copy that crashed left behind */
	if ((rc = open_snapshot(src_path, &src)) != 0)
		goto fail;
	if (sqlite3_open_v2(buf_cstr(&tmp), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
			    NULL) != SQLITE_OK) {
		rc = db_fail(dest, "cannot create", buf_cstr(&tmp));
		goto fail;
	}
	/* The copy is fsynced once at the end; a crash before the rename leaves only a .tmp. */
	sqlite3_exec(dest, "PRAGMA synchronous=OFF", NULL, NULL, NULL);
	if ((rc = copy_pages(src, dest, buf_cstr(&tmp), &st)) != 0)
		goto fail;
	sqlite3_close(dest);
	dest = NULL;
	sqlite3_close(src); /* ends the read transaction: checkpoints can pass the snapshot again */
	src = NULL;
	if ((rc = finish_copy(buf_cstr(&tmp))) != 0 || (rc = sync_path(buf_cstr(&tmp))) != 0)
		goto fail;
	if (rename(buf_cstr(&tmp), dest_path) != 0) {
		rc = err_set(DH_EIO, "cannot rename %s: %s", buf_cstr(&tmp), strerror(errno));
		goto fail;
	}
	if ((rc = sync_parent(dest_path)) != 0)
		goto out;
	if (stat(dest_path, &sb) == 0)
		st.size_bytes = (int64_t)sb.st_size;
	st.duration_ms = monotonic_ms() - started;
	if (stats)
		*stats = st;
	goto out;
fail:
	sqlite3_close(dest);
	dest = NULL;
	unlink(buf_cstr(&tmp));
out:
	sqlite3_close(dest);
	sqlite3_close(src);
	buf_release(&tmp);
	return rc;
}

int store_backup_live_path(char *out, size_t n)
{
	store *s = store_thread();
	const char *path = s ? sqlite3_db_filename(store_db(s), "main") : NULL;

	if (!path || !*path)
		return s ? err_set(DH_EIO, "the live database has no file") : DH_EIO;
	if ((size_t)snprintf(out, n, "%s", path) >= n)
		return err_set(DH_EIO, "the database path is too long");
	return 0;
}

static int newest_migration(void)
{
	int newest = 0;

	for (const embed_file *m = embed_migrations; m->name; m++)
		newest = atoi(m->name) > newest ? atoi(m->name) : newest;
	return newest;
}

int store_backup_verify(const char *path, int *schema_version)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc, version = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = err_set(DH_EINVAL, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	if ((rc = integrity_ok(db, path)) != 0)
		goto out;
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW || (version = sqlite3_column_int(st, 0)) <= 0) {
		rc = err_set(DH_EINVAL, "%s is not a devicehub database (no schema_migrations)", path);
		goto out;
	}
	if (version > newest_migration()) {
		rc = err_set(DH_EINVAL, "%s has schema version %d; this devicehubd knows up to %d", path, version,
			     newest_migration());
		goto out;
	}
	if (schema_version)
		*schema_version = version;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* DH_EBUSY while another connection has db_path open. A WAL connection holds a shared lock on the
 * database file for as long as it is open, and a connection in exclusive locking mode needs the file's
 * exclusive lock to open the WAL, so this fails as long as any server or subcommand is attached. Closing
 * this connection, the last one, checkpoints the WAL into the file. */
static int ensure_unused(const char *db_path)
{
	sqlite3 *db = NULL;
	int rc = 0;

	if (access(db_path, F_OK) != 0)
		return 0;
	if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		rc = db_fail(db, "cannot open", db_path);
		goto out;
	}
	if (sqlite3_exec(db, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int code = sqlite3_errcode(db);
		rc = code == SQLITE_BUSY || code == SQLITE_LOCKED
			     ? err_set(DH_EBUSY, "%s is in use: stop the server first", db_path)
			     : db_fail(db, "cannot lock", db_path);
	}
out:
	sqlite3_close(db);
	return rc;
}

/* Renames from + suffix to to + suffix when the former exists. */
static int move_aside(const char *from, const char *to, const char *suffix)
{
	buf a = BUF_INIT, b = BUF_INIT;
	int rc = 0;

	buf_printf(&a, "%s%s", from, suffix);
	buf_printf(&b, "%s%s", to, suffix);
	if (rename(buf_cstr(&a), buf_cstr(&b)) != 0 && errno != ENOENT)
		rc = err_set(DH_EIO, "cannot move %s aside: %s", buf_cstr(&a), strerror(errno));
	buf_release(&a);
	buf_release(&b);
	return rc;
}

int store_backup_restore(const char *db_path, const char *from_path, char *aside, size_t n)
{
	buf tmp = BUF_INIT, old = BUF_INIT;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	int rc;

	snprintf(aside, n, "%s", "");
	buf_printf(&tmp, "%s.restore", db_path);
	/* Verify first (a newer schema is refused before anything is copied), then copy with the backup API
	 * so that a source with its own -wal is read as it should be; the copy is checked again. */
	if ((rc = store_backup_verify(from_path, NULL)) != 0)
		goto out;
	unlink(buf_cstr(&tmp));
	if ((rc = store_backup_copy(from_path, buf_cstr(&tmp), NULL)) != 0 ||
	    (rc = store_backup_verify(buf_cstr(&tmp), NULL)) != 0 || (rc = ensure_unused(db_path)) != 0)
		goto fail;
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&now, &tm));
	buf_printf(&old, "%s.before-restore-%s", db_path, stamp);
	if (access(db_path, F_OK) == 0) {
		if ((rc = move_aside(db_path, buf_cstr(&old), "")) != 0)
			goto fail;
		snprintf(aside, n, "%s", buf_cstr(&old));
	}
	/* Left by a server that was killed: they belong to the old database, so they go with it. */
	if ((rc = move_aside(db_path, buf_cstr(&old), "-wal")) != 0 ||
	    (rc = move_aside(db_path, buf_cstr(&old), "-shm")) != 0)
		goto fail;
	if (rename(buf_cstr(&tmp), db_path) != 0) {
		rc = err_set(DH_EIO, "cannot install %s: %s", db_path, strerror(errno));
		goto fail;
	}
	rc = sync_parent(db_path);
	log_info("store: restored %s from %s (the old database is %s)", db_path, from_path, *aside ? aside : "none");
	goto out;
fail:
	unlink(buf_cstr(&tmp));
out:
	buf_release(&tmp);
	buf_release(&old);
	return rc;
}
