/*
 * store_configuration: rows of the configurations table and the per-device tables the reconciler keeps
 * (configuration_devices: status per targeted device; configuration_settings: what it wrote to each
 * twin; configuration_dirty: devices to look at again). All functions run inside the caller's
 * transaction; none decides anything about priorities or content (configuration.c does).
 *
 * Device sets travel as JSON arrays of identity row keys ("[3,7,9]"), so a batch is one statement with
 * json_each instead of one statement per device.
 */
#ifndef DH_STORE_CONFIGURATION_H
#define DH_STORE_CONFIGURATION_H

#include "store.h"
#include "store_dialect.h"

#include <jansson.h>
#include <stdint.h>

#define STORE_CONFIG_ID_MAX 128
#define STORE_CONFIG_TIME_MAX 32

/* A configuration. json_t members and target_condition are owned (store_configuration_release). */
typedef struct store_configuration {
	char id[STORE_CONFIG_ID_MAX + 1];
	char schema_version[32];
	json_t *labels;  /* object */
	json_t *content; /* object {"deviceContent": {..}} */
	char *target_condition;
	int64_t priority;
	json_t *metric_queries; /* object {name: query} */
	json_t *metric_results; /* object {name: count} */
	int64_t targeted_count;
	int64_t applied_count;
	char created_time[STORE_CONFIG_TIME_MAX];
	int64_t created_seq; /* set by insert */
	char last_updated_time[STORE_CONFIG_TIME_MAX];
	int64_t etag;
	int64_t evaluated_etag;
} store_configuration;

void store_configuration_release(store_configuration *c);

/* One configuration. OUT: *out (caller releases). DH_ENOCONFIG when absent. */
int store_configuration_get(store *s, const char *id, store_configuration *out);

/* Calls fn for up to top configurations in creation order; stops with fn's result when it is non-zero.
 * The record passed to fn is released after fn returns (fn may take members by setting them NULL). */
typedef int (*store_configuration_fn)(store_configuration *c, void *ctx);
int store_configuration_each(store *s, int top, store_configuration_fn fn, void *ctx);

/* How many configurations exist. OUT: *n. */
int store_configuration_count(store *s, int64_t *n);

/* Inserts c and sets c->created_seq. DH_ECONFIGEXISTS when the id exists. */
int store_configuration_insert(store *s, store_configuration *c);
/* Writes labels, target condition, priority, metric queries, last update time and etag of c. */
int store_configuration_update(store *s, const store_configuration *c);
/* Deletes one configuration (its device statuses go with it; its settings stay for the reconciler to
 * take back). DH_ENOCONFIG when absent. */
int store_configuration_delete(store *s, const char *id);
/* Records that the target set of etag has been evaluated. */
int store_configuration_set_evaluated(store *s, const char *id, int64_t etag);
/* Writes the metrics when they differ from the stored ones (the etag does not change). */
int store_configuration_set_metrics(store *s, const char *id, int64_t targeted, int64_t applied, const json_t *results);

/* Marks dirty every device configuration id targets now. */
int store_configuration_dirty_members(store *s, const char *id);
/* Marks dirty every device row selected by target_sql (a compiled SELECT * query with its parameters). */
int store_configuration_dirty_targets(store *s, const char *target_sql, const store_param *params, size_t n);

/* Marks dirty every device holding settings of a configuration that no longer exists. Reads the whole
 * settings table: for start-up and after deletions. */
int store_configuration_dirty_orphans(store *s);

/* Up to limit dirty devices with row keys above after, in row order. OUT: *rows and *marks (caller
 * frees), *n. */
int store_configuration_dirty_batch(store *s, int64_t after, int limit, int64_t **rows, int64_t **marks, size_t *n);

/* Calls fn for each device of the batch (JSON array of row keys) that target_sql selects. */
typedef int (*store_configuration_row_fn)(int64_t row, void *ctx);
int store_configuration_targets_in(store *s, const char *target_sql, const store_param *params, size_t n,
				   const char *rows_json, store_configuration_row_fn fn, void *ctx);

/* For each device of the batch that still exists: its device id and recorded settings (NULL = none). */
typedef int (*store_configuration_device_fn)(int64_t row, const char *device_id, const char *settings, void *ctx);
int store_configuration_devices_in(store *s, const char *rows_json, store_configuration_device_fn fn, void *ctx);

/* Saves the reconciler's result for one device: settings (NULL = none), statuses as JSON object text
 * {config id: "Targeted"|"Applied"} (configurations deleted meanwhile are skipped), and clears its dirty
 * mark unless the device changed again since mark was read. */
int store_configuration_save_device(store *s, int64_t row, const char *settings, const char *statuses, int64_t mark);

/* SQL expression for the statuses of the configurations targeting the identity whose row key is the SQL
 * expression `row`: JSON object text {config id: "Targeted"|"Applied"} in config id order, NULL when
 * none. One probe of configuration_devices_by_identity; store_device_get_twin and
 * store_configuration_statuses_in use it. */
#define STORE_CONFIGURATION_STATUSES_OF(row)                                                           \
	"(SELECT nullif(json_group_object(configuration_id, status), '{}') FROM configuration_devices" \
	" WHERE identity_id = " row ")"

/* For each identity of the batch (JSON array of row keys) that configurations target: fn(row, statuses)
 * with statuses as STORE_CONFIGURATION_STATUSES_OF gives them (valid during the call). One statement for
 * the whole batch (a page of query results). */
typedef int (*store_configuration_statuses_fn)(int64_t row, const char *statuses, void *ctx);
int store_configuration_statuses_in(store *s, const char *rows_json, store_configuration_statuses_fn fn, void *ctx);

/* Targeted and Applied device counts of one configuration. */
int store_configuration_status_counts(store *s, const char *id, int64_t *targeted, int64_t *applied);

/* Drift of one desired leaf among the configuration's targeted devices (configuration_devices rows):
 * json_path is the SQLite path of the leaf below desired / reported ("$.\"fw\".\"version\""), value the
 * desired value (a string, number, boolean, null or array; null matches a reported value that is absent
 * or null). OUT: *matched devices reporting an equal value (same JSON type and value), *drifting the
 * others, oldest_since[n] the oldest desired $lastUpdated of that leaf among the drifting ("" when none). */
int store_configuration_drift_path(store *s, const char *id, const char *json_path, const json_t *value,
				   int64_t *matched, int64_t *drifting, char *oldest_since, size_t n);

/* Rows a compiled query returns (SELECT count(*) over it). */
int store_configuration_count_rows(store *s, const char *sql, const store_param *params, size_t n, int64_t *count);

#endif
