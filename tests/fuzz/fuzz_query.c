/*
 * fuzz_query: the query language parser and compiler. Every input is parsed as a full query and as a bare
 * WHERE condition; whatever parses is compiled for the SQLite dialect, with and without a page, and
 * everything is freed (the sanitizers catch leaks, overflows and undefined behaviour).
 *
 * Invariant (a violation aborts, which libFuzzer reports as a crash): every SQL text the compiler emits
 * prepares in SQLite against the real schema, with exactly as many parameters as it declares. A query the
 * parser accepts must never turn into SQL that SQLite rejects.
 */
#include "embed.h"
#include "query.h"

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const char *fuzz_target_name = "fuzz_query";

/* One in-memory database with the migrations applied, kept for the whole run. */
static sqlite3 *schema_db(void)
{
	static sqlite3 *db;

	if (db)
		return db;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		abort();
	for (const embed_file *m = embed_migrations; m->name; m++)
		if (sqlite3_exec(db, (const char *)m->data, NULL, NULL, NULL) != SQLITE_OK)
			abort();
	return db;
}

static void check_prepares(const query_sql *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(schema_db(), sql->sql, -1, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "compiled SQL does not prepare: %s\n%s\n", sqlite3_errmsg(schema_db()), sql->sql);
		abort();
	}
	if ((size_t)sqlite3_bind_parameter_count(st) > sql->nparams)
		abort();
	sqlite3_finalize(st);
}

static void compile_all(const query *q)
{
	query_page page = {100, 7, 200};
	query_sql sql;
	query_error err;

	if (query_compile(q, store_dialect_sqlite(), &page, &sql, &err) == 0) {
		check_prepares(&sql);
		query_sql_release(&sql);
	}
	if (query_compile(q, store_dialect_sqlite(), NULL, &sql, &err) == 0) {
		check_prepares(&sql);
		query_sql_release(&sql);
	}
	(void)query_top(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	query *q = NULL;
	query_error err;

	if (query_parse((const char *)data, size, &q, &err) == 0) {
		compile_all(q);
		query_free(q);
	}
	if (query_parse_condition((const char *)data, size, &q, &err) == 0) {
		compile_all(q);
		query_free(q);
	}
	return 0;
}
