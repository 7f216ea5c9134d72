/*
 * store_import: rows of the imports and import_errors tables (migrations/008_imports.sql), and the
 * export cursor: every device with its twin from one read transaction on a connection of its own.
 * Holds SQL only; the import rules are import.c's.
 */
#ifndef DH_STORE_IMPORT_H
#define DH_STORE_IMPORT_H

#include "store.h"
#include "store_device.h"

#include <stdint.h>

typedef struct store_import {
	char import_id[40];
	char status[16]; /* running | completed | failed */
	char format[8];  /* jsonl | csv */
	int64_t total_lines, processed_lines, succeeded, failed;
	char started_time[STORE_TIME_MAX];
	char end_time[STORE_TIME_MAX]; /* "" while running */
	char failure_reason[256];
} store_import;

/* All run inside the caller's transaction. */
int store_import_insert(store *s, const store_import *imp);
/* Writes processed_lines, succeeded, failed, status, end_time and failure_reason of imp's row. */
int store_import_update(store *s, const store_import *imp);
/* DH_ENOJOB when absent. OUT: *out. */
int store_import_get(store *s, const char *import_id, store_import *out);
int store_import_error_add(store *s, const char *import_id, int64_t line, const char *device_id, const char *error_code,
			   const char *message);
/* Calls fn for each error of the import in line order; stops with fn's non-zero result. */
typedef int (*store_import_error_fn)(int64_t line, const char *device_id, const char *error_code, const char *message,
				     void *ctx);
int store_import_errors(store *s, const char *import_id, store_import_error_fn fn, void *ctx);
/* Marks every 'running' import failed with reason at end_time now (start-up: they were interrupted). */
int store_import_fail_running(store *s, const char *reason, const char *now);

/* The export cursor: a new connection to the process's database with a read transaction open, so the
 * rows it yields are one point in time whatever commits meanwhile. OUT: *out, owned by the caller
 * (store_export_end, which ends the transaction and closes the connection). */
typedef struct store_export store_export;
int store_export_begin(store_export **out);
/* The next device (modules are not exported) in device id order. Returns 1 with *id and *tw filled
 * (tw's references owned by the caller), 0 at the end, or a negative error. */
int store_export_next(store_export *x, store_identity *id, store_twin *tw);
void store_export_end(store_export *x);

#endif
