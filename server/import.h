/*
 * import: bulk import as an asynchronous job (docs/import-export.md). A file of JSON lines or CSV is
 * applied by one worker thread in batches, one write transaction per batch and a savepoint per line
 * (registry_bulk_apply): a failing line is recorded with its line number and leaves nothing behind, the
 * others apply. Progress and errors live in the store, so GET works while it runs and after a restart.
 * Never speaks HTTP; never holds SQL.
 */
#ifndef DH_IMPORT_H
#define DH_IMPORT_H

#include <jansson.h>
#include <stddef.h>

#define IMPORT_MAX_BYTES ((size_t)512 * 1024 * 1024)
#define IMPORT_BATCH 5000 /* lines per write transaction */

/* Start-up: imports a previous run left 'running' were interrupted: they are marked failed. */
int import_init(void);
/* Stops the running import after the batch in progress (it is marked failed: "the server stopped")
 * and joins its thread. Call before store_global_shutdown. Safe when none runs. */
void import_shutdown(void);

/* Starts an import of body[0..len) (copied). content_type: application/x-ndjson (also
 * application/jsonl, application/json-lines) or text/csv. One import runs at a time (DH_EJOBEXISTS).
 * OUT: *out the import as import_get shows it (new reference). DH_EMEDIA for another type, DH_EINVAL for
 * a bad CSV header. */
int import_start(const char *body, size_t len, const char *content_type, json_t **out);

/* {id, status, format, totalLines, processedLines, succeeded, failed, startedTime, endTime,
 * failureReason}. DH_ENOJOB when unknown. OUT: *out (new reference). */
int import_get(const char *import_id, json_t **out);

/* The import's line errors as JSON lines {line, deviceId, errorCode, message}, in line order.
 * OUT: *out (malloc'd, caller frees) and *len. DH_ENOJOB when unknown. */
int import_errors(const char *import_id, char **out, size_t *len);

#endif
