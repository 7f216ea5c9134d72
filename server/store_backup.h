/*
 * store_backup: online copies of the database with SQLite's backup API, their checks, and installing one
 * in place of the live file (restore). Owns the SQLite file naming (-wal, -shm) and the locking test that
 * tells whether a server holds the database. Must never decide where backups live or who may take them
 * (that is backup.c).
 */
#ifndef DH_STORE_BACKUP_H
#define DH_STORE_BACKUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct store_backup_stats {
	int64_t size_bytes;     /* of the finished copy */
	int64_t duration_ms;    /* from opening the source to the copy's rename */
	int pages;              /* database pages copied */
	int steps;              /* sqlite3_backup_step calls */
} store_backup_stats;

/* Copies the database at src_path into dest_path while other connections (this process or another) keep
 * writing. The copy is the snapshot of the moment the copy started: it is read inside one read transaction
 * of a connection of its own, which under WAL neither blocks writers nor is blocked by them. Pages are
 * copied in small batches with short pauses so the copy does not hog the disk. The copy is written to
 * "<dest_path>.tmp", switched to a single-file database (journal_mode=DELETE), checked with
 * PRAGMA integrity_check, fsynced and renamed to dest_path; on failure nothing is left at dest_path and
 * the .tmp is removed. dest_path must not exist (DH_EINVAL). OUT: *stats (may be NULL).
 * Returns 0, DH_EINVAL, or DH_EIO with err_message(). */
int store_backup_copy(const char *src_path, const char *dest_path, store_backup_stats *stats);

/* The file of the calling thread's live database (store_thread()), copied into out[n]. 0 or DH_EIO. */
int store_backup_live_path(char *out, size_t n);

/* Checks that path is a devicehub database this binary can open: integrity_check answers ok and
 * schema_migrations has a version no newer than the newest embedded migration. Opens it read-only.
 * OUT: *schema_version (may be NULL). Returns 0, DH_EINVAL (not a usable backup) or DH_EIO. */
int store_backup_verify(const char *path, int *schema_version);

/* Replaces the database at db_path with a copy of from_path (which stays as it is): verifies from_path,
 * copies it beside db_path, refuses with DH_EBUSY while any connection (a running server, a subcommand)
 * holds db_path, moves the old database and its -wal/-shm aside as "<db_path>.before-restore-<UTC time>"
 * (+ "-wal"/"-shm"), and renames the copy into place. db_path need not exist. OUT: aside[n], the name the
 * old database got ("" when there was none). Returns 0, DH_EINVAL, DH_EBUSY or DH_EIO. */
int store_backup_restore(const char *db_path, const char *from_path, char *aside, size_t n);

#endif
