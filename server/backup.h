/*
 * backup: the hub's database backups. Owns <data-dir>/backups/ and the names in it: a caller names a file
 * inside it (or takes the timestamped default) and can never reach outside it. One backup runs at a time,
 * on a thread of its own so that no request thread is held for the length of a copy. The copying is
 * store_backup's. Never speaks HTTP.
 */
#ifndef DH_BACKUP_H
#define DH_BACKUP_H

#include <jansson.h>

/* Remembers data_dir and the live database's file (from the calling thread's store, so call it after
 * store_global_init). <data_dir>/backups is made at the first backup. Returns 0 or DH_EIO. */
int backup_init(const char *data_dir);

/* 0 when name may name a backup: 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.' and not
 * ending in ".tmp" (a copy in progress). Otherwise DH_EINVAL with a message. */
int backup_name_check(const char *name);

/* Copies the live database to <data-dir>/backups/<name> (NULL: "devicehub-<UTC time>.db") and checks the
 * copy (store_backup_copy). OUT: *out {path, sizeBytes, durationMs, pages}, a new reference.
 * Returns 0, DH_EINVAL (bad or taken name), DH_EBUSY (another backup is running) or DH_EIO. */
int backup_create(const char *name, json_t **out);

/* The same on the backup thread: name is checked (DH_EINVAL) and copied, and DH_EBUSY is answered, before
 * anything starts; on 0, done(ctx, code, result) is called once from that thread, result taken by done
 * (NULL on error, with err_message() on that thread). */
typedef void (*backup_done_fn)(void *ctx, int code, json_t *result);
int backup_start(const char *name, backup_done_fn done, void *ctx);

/* Waits for a running backup to finish (its done has then been called). Call before stopping the edge
 * that done answers through. */
void backup_shutdown(void);

#endif
