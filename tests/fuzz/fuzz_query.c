/*
 * fuzz_query: the query language parser and compiler. Every input is parsed as a full query and as a bare
 * WHERE condition; whatever parses is compiled for the SQLite dialect, with and without a page, and
 * everything is freed (the sanitizers catch leaks, overflows and undefined behaviour).
 */
#include "query.h"

#include <stddef.h>
#include <stdint.h>

const char *fuzz_target_name = "fuzz_query";

static void compile_all(const query *q)
{
	query_page page = {100, 7, 200};
	query_sql sql;
	query_error err;

	if (query_compile(q, store_dialect_sqlite(), &page, &sql, &err) == 0)
		query_sql_release(&sql);
	if (query_compile(q, store_dialect_sqlite(), NULL, &sql, &err) == 0)
		query_sql_release(&sql);
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
