/*
 * query: runs one page of a query for POST /devices/query (reference §1.4, §2): parse, compile for the
 * SQLite dialect, execute in one read transaction on the calling thread's store, render rows, and hand
 * out an opaque continuation token for the next page.
 *
 * The token is base64 of {"k":<last row key>,"n":<items so far>,"h":"<query hash>"} (SELECT * over twins
 * or job rows, keyset) or {"o":<offset>,"h":..} (projections); the hash rejects a token replayed against
 * another query. Never speaks HTTP.
 */
#include "query.h"

#include "query_int.h"

#include "buf.h"
#include "err.h"
#include "store.h"
#include "store_configuration.h"
#include "store_device.h"
#include "store_job.h"
#include "twin.h"

#include <mbedtls/base64.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUERY_DEFAULT_PAGE 100
#define QUERY_MAX_PAGE 1000
#define QUERY_TOKEN_MAX 512

/* Where the previous page stopped. */
typedef struct query_cursor {
	int64_t after_key;    /* keyset: last row key returned */
	int64_t returned;     /* items returned by earlier pages (TOP counts them; the offset for raw) */
} query_cursor;

/* FNV-1a of the query text: enough to tell queries apart, not a security boundary (tokens are not
 * secret; a forged one only pages a query the caller could run anyway). */
static uint64_t text_hash(const char *text, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)text[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* OUT: a new token (caller frees). */
static char *token_encode(const char *text, size_t len, int keyset, const query_cursor *cur)
{
	char json[160];
	unsigned char out[QUERY_TOKEN_MAX];
	size_t olen = 0;
	int n;

	if (keyset)
		n = snprintf(json, sizeof(json), "{\"k\":%lld,\"n\":%lld,\"h\":\"%016llx\"}", (long long)cur->after_key,
			     (long long)cur->returned, (unsigned long long)text_hash(text, len));
	else
		n = snprintf(json, sizeof(json), "{\"o\":%lld,\"h\":\"%016llx\"}", (long long)cur->returned,
			     (unsigned long long)text_hash(text, len));
	if (mbedtls_base64_encode(out, sizeof(out), &olen, (const unsigned char *)json, (size_t)n) != 0)
		abort();  /* cannot happen: the JSON is under 160 bytes */
	return xstrndup((const char *)out, olen);
}

static int json_int(const json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = json_integer_value(v);
	return 0;
}

static int token_decode(const char *token, const char *text, size_t len, int keyset, query_cursor *cur)
{
	unsigned char raw[QUERY_TOKEN_MAX];
	size_t rlen = 0, tlen = strlen(token);
	char want[17];
	json_t *obj = NULL;
	const char *h;
	int rc = err_set(DH_EQUERY, "invalid continuation token");

	memset(cur, 0, sizeof(*cur));
	if (tlen >= QUERY_TOKEN_MAX ||
	    mbedtls_base64_decode(raw, sizeof(raw), &rlen, (const unsigned char *)token, tlen) != 0)
		goto out;
	obj = json_loadb((const char *)raw, rlen, 0, NULL);
	h = json_string_value(json_object_get(obj, "h"));
	snprintf(want, sizeof(want), "%016llx", (unsigned long long)text_hash(text, len));
	if (!h || strcmp(h, want) != 0)
		goto out;
	if (keyset ? json_int(obj, "k", &cur->after_key) || json_int(obj, "n", &cur->returned)
		   : json_int(obj, "o", &cur->returned))
		goto out;
	rc = 0;
	err_clear();
out:
	json_decref(obj);
	return rc;
}

static int page_size(int max_items)
{
	if (max_items <= 0)
		return QUERY_DEFAULT_PAGE;
	return max_items > QUERY_MAX_PAGE ? QUERY_MAX_PAGE : max_items;
}

static int bind_params(sqlite3_stmt *st, const query_sql *qs)
{
	return store_bind_params(st, qs->params, qs->nparams);
}

/* One raw row: {column: value} with NULL columns left out. */
static json_t *raw_row(sqlite3_stmt *st, const query_sql *qs)
{
	json_t *row = json_object();

	for (size_t i = 0; i < qs->ncolumns; i++) {
		const char *text = (const char *)sqlite3_column_text(st, (int)i);
		json_t *v = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		/* A value that is not JSON (a non-finite aggregate) is left out like undefined. */
		if (v)
			json_object_set_new(row, qs->column_names[i], v);
	}
	return row;
}

/* Appends one result row to items; for twins and job rows remembers the row key. */
static int take_row(sqlite3_stmt *st, const query_sql *qs, json_t *items, int64_t *last_key)
{
	store_identity id;
	store_twin tw;
	int rc;

	if (qs->shape == QUERY_SHAPE_RAW) {
		json_array_append_new(items, raw_row(st, qs));
		return 0;
	}
	if (qs->shape == QUERY_SHAPE_JOBS) {
		*last_key = sqlite3_column_int64(st, 0);
		json_array_append_new(items, store_job_row_json(st, 1));
		return 0;
	}
	memset(&tw, 0, sizeof(tw));
	rc = store_device_read_row(st, 0, &id, &tw);
	if (rc)
		return rc;
	json_array_append_new(items, twin_render(&id, &tw));
	*last_key = id.row;
	store_twin_release(&tw);
	return 0;
}

/* The page's twins with their row keys, in the same order, for attaching configuration statuses. */
typedef struct page_twins {
	json_t *items;
	int64_t *keys;
	size_t n;
	size_t next; /* just after the previous match: json_each hands the rows back in page order, so
		      * each search succeeds at its first probe */
} page_twins;

static int on_statuses(int64_t row, const char *statuses, void *ctx)
{
	page_twins *p = ctx;
	json_t *parsed;

	for (size_t k = 0; k < p->n; k++) {
		size_t i = (p->next + k) % p->n;
		if (p->keys[i] != row)
			continue;
		p->next = i + 1;
		parsed = json_loads(statuses, 0, NULL);
		twin_render_configurations(json_array_get(p->items, i), parsed);
		json_decref(parsed);
		break;
	}
	return 0;
}

/* IoT Hub's twins carry the configurations that target them: one lookup for the whole page rather than
 * a subquery in the compiled SQL, which jobs, configurations and health rules wrap and never render. */
static int add_configurations(store *s, json_t *items, int64_t *keys)
{
	page_twins p = {.items = items, .keys = keys, .n = json_array_size(items)};
	buf rows = BUF_INIT;
	int rc;

	if (p.n == 0)
		return 0;
	for (size_t i = 0; i < p.n; i++)
		buf_printf(&rows, "%s%lld", i ? "," : "[", (long long)keys[i]);
	buf_putc(&rows, ']');
	rc = store_configuration_statuses_in(s, buf_cstr(&rows), on_statuses, &p);
	buf_release(&rows);
	return rc;
}

/* Executes qs; collects up to limit rows into items. OUT: *more when a further row exists. */
static int execute(const query_sql *qs, int limit, json_t *items, int64_t *last_key, int *more)
{
	store *s = store_thread();
	sqlite3_stmt *st = NULL;
	int64_t *keys = NULL; /* twins: the row key of each item */
	int rc, step = SQLITE_DONE;

	*more = 0;
	if (!s)
		return DH_EIO;
	rc = store_begin_read(s);
	if (rc)
		return rc;
	rc = store_prepare(s, qs->sql, &st);
	if (rc && sqlite3_errcode(store_db(s)) == SQLITE_ERROR) {
		/* The compiler only emits valid SQL, so a plain error here means SQLite's own limits. */
		rc = err_set(DH_EQUERY, "query is too complex");
		goto out;
	}
	if (rc)
		goto out;
	rc = bind_params(st, qs);
	if (qs->shape == QUERY_SHAPE_TWINS)
		keys = xcalloc((size_t)limit, sizeof(*keys));
	while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if ((int)json_array_size(items) == limit) {
			*more = 1;
			break;
		}
		rc = take_row(st, qs, items, last_key);
		if (!rc && keys)
			keys[json_array_size(items) - 1] = *last_key;
	}
	if (!rc && !*more && step != SQLITE_DONE)
		rc = store_fail(s, "running a query");
	if (!rc && keys)
		rc = add_configurations(s, items, keys);
out:
	free(keys);
	sqlite3_finalize(st);
	if (rc)
		store_rollback(s);
	else
		rc = store_commit(s);
	return rc;
}

static int fail_query(const char *what, const query_error *qe)
{
	return err_set(DH_EQUERY, "%s at position %zu: %s", what, qe->position, qe->message);
}

static const char *item_type_of(const query *q)
{
	return q->source == QUERY_JOBS ? "deviceJob" : q->star ? "twin" : "raw";
}

int query_run(const char *text, size_t len, int max_items, const char *continuation, json_t **items,
	      char **next, const char **item_type)
{
	query *q = NULL;
	query_sql qs = {0};
	query_error qe;
	query_cursor cur = {0};
	query_page page = {0};
	json_t *rows = json_array();
	int rc, more = 0;

	*items = NULL;
	*next = NULL;
	*item_type = NULL;
	rc = query_parse(text, len, &q, &qe);
	if (rc) {
		rc = fail_query("syntax error", &qe);
		goto out;
	}
	*item_type = item_type_of(q);
	if (continuation && *continuation && (rc = token_decode(continuation, text, len, q->star, &cur)))
		goto out;
	page.limit = page_size(max_items);
	if (q->top >= 0 && q->top - cur.returned < page.limit)
		page.limit = (int)(q->top > cur.returned ? q->top - cur.returned : 0);
	page.after_key = cur.after_key;
	page.offset = cur.returned;
	rc = query_compile(q, store_dialect_sqlite(), &page, &qs, &qe);
	if (rc) {
		rc = fail_query("query error", &qe);
		goto out;
	}
	/* TOP reached means nothing is left. */
	if (page.limit > 0)
		rc = execute(&qs, page.limit, rows, &cur.after_key, &more);
	if (rc)
		goto out;
	cur.returned += (int64_t)json_array_size(rows);
	if (more && (q->top < 0 || cur.returned < q->top))
		*next = token_encode(text, len, q->star, &cur);
	*items = rows;
	rows = NULL;
out:
	json_decref(rows);
	query_sql_release(&qs);
	query_free(q);
	return rc;
}
