/*
 * query: IoT Hub's query language (reference §2): parser, AST, and compiler to parameterised SQL
 * through a store_dialect. No user text is ever spliced into SQL: literals become bound parameters and
 * names are checked against the grammar before they are quoted as JSON paths.
 */
#ifndef DH_QUERY_H
#define DH_QUERY_H

#include "store_dialect.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define QUERY_MAX_LENGTH 8192

typedef struct query query;  /* opaque parsed query */

/* Where a syntax error is and what the parser wanted there. */
typedef struct query_error {
	size_t position;          /* 0-based byte offset in the query text */
	char message[256];        /* e.g. "expected FROM after the projection, found 'WHERE'" */
} query_error;

/* Parses text[0..len). OUT: *out (caller frees with query_free) or *err on DH_EQUERY. Texts longer than
 * QUERY_MAX_LENGTH are DH_EQUERY too. */
int query_parse(const char *text, size_t len, query **out, query_error *err);
void query_free(query *q);

/* Parses a bare WHERE condition (job queryCondition, health rules) as if it followed
 * "SELECT * FROM devices WHERE ". */
int query_parse_condition(const char *text, size_t len, query **out, query_error *err);

typedef enum query_source { QUERY_DEVICES, QUERY_MODULES, QUERY_JOBS } query_source;
typedef enum query_shape {
	QUERY_SHAPE_TWINS,     /* SELECT *: rows are STORE_DEVICE_COLUMNS, item type "twin" */
	QUERY_SHAPE_RAW,       /* projections / aggregates: each column is JSON text or NULL, item type "raw" */
	QUERY_SHAPE_JOBS,      /* SELECT * FROM devices.jobs: the row key, then STORE_JOB_ROW_COLUMNS, item type
				* "deviceJob" */
} query_shape;

/* A bound parameter (the store's type: the store binds them). Text is owned by the compiled query. */
typedef store_param_kind query_param_kind;
#define QUERY_PARAM_INT STORE_PARAM_INT
#define QUERY_PARAM_REAL STORE_PARAM_REAL
#define QUERY_PARAM_TEXT STORE_PARAM_TEXT
#define QUERY_PARAM_NULL STORE_PARAM_NULL
typedef store_param query_param;

/* The compiled query. For QUERY_SHAPE_TWINS the SQL selects STORE_DEVICE_COLUMNS; for QUERY_SHAPE_RAW it
 * selects ncolumns columns, each JSON text (or NULL = leave the member out), named column_names[i].
 * For QUERY_SHAPE_JOBS it selects the job row key and then STORE_JOB_ROW_COLUMNS (store_job.h).
 * Paging: when keyset is set, the first selected column of TWINS and JOBS rows is the row key and the caller
 * continues after the last key it saw; otherwise continuation is by offset. Both are already bound into
 * the SQL through the page argument of query_compile. */
typedef struct query_sql {
	char *sql;
	query_param *params;
	size_t nparams;
	query_source source;
	query_shape shape;
	char **column_names;
	size_t ncolumns;
	int keyset;
} query_sql;

/* Paging input: limit rows (the compiled SQL asks for limit + 1 to learn whether more remain), and where
 * to continue: after_key (keyset) or offset. TOP n caps the total across pages. */
typedef struct query_page {
	int limit;
	int64_t after_key;
	int64_t offset;
} query_page;

/* Compiles q for dialect d. OUT: *out (release with query_sql_release). DH_EQUERY with err for semantic
 * errors (aggregates over devices.jobs, a twin field in a devices.jobs filter, GROUP BY without an
 * aggregate, unknown function, ...). */
int query_compile(const query *q, const store_dialect *d, const query_page *page, query_sql *out,
		  query_error *err);
void query_sql_release(query_sql *out);

/* The TOP n of q, or -1. */
int64_t query_top(const query *q);

/* One page of results as the REST API answers POST /devices/query. Runs on the calling thread's store
 * inside one read transaction. continuation is the opaque token from the previous page or NULL.
 * OUT: *items (array, new reference), *next (caller frees; NULL on the last page), *item_type (static:
 * "twin", "raw" or "deviceJob"). Syntax errors are DH_EQUERY with err_message() giving position and what
 * was expected. */
int query_run(const char *text, size_t len, int max_items, const char *continuation, json_t **items,
	      char **next, const char **item_type);

#endif
