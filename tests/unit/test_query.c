/* Unit tests for server/query*.c and server/store_dialect_sqlite.c: parsing, compiling to SQL, and running
 * queries against a real SQLite database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "err.h"
#include "query.h"
#include "store.h"
#include "store_dialect.h"
#include "test_util.h"

#include <jansson.h>
#include <sqlite3.h>

/* ---- helpers ---------------------------------------------------------------------------------------- */

static query *parse_ok(const char *text)
{
	query *q = NULL;
	query_error e;
	int rc = query_parse(text, strlen(text), &q, &e);

	if (rc)
		print_error("unexpected parse error for [%s] at %zu: %s\n", text, e.position, e.message);
	assert_int_equal(rc, 0);
	assert_non_null(q);
	return q;
}

/* Expects a parse error at pos whose message contains want. */
static void parse_fails(const char *text, size_t pos, const char *want)
{
	query *q = NULL;
	query_error e;

	assert_int_equal(query_parse(text, strlen(text), &q, &e), DH_EQUERY);
	assert_null(q);
	if (e.position != pos || !strstr(e.message, want))
		print_error("[%s]: got position %zu message '%s'\n", text, e.position, e.message);
	assert_int_equal(e.position, pos);
	assert_non_null(strstr(e.message, want));
}

/* Compiles text with a first page of 100. OUT: *out (caller releases). */
static void compile_ok(const char *text, query_sql *out)
{
	query *q = parse_ok(text);
	query_page page = {100, 0, 0};
	query_error e;
	int rc = query_compile(q, store_dialect_sqlite(), &page, out, &e);

	if (rc)
		print_error("unexpected compile error for [%s] at %zu: %s\n", text, e.position, e.message);
	assert_int_equal(rc, 0);
	query_free(q);
}

static void compile_fails(const char *text, const char *want)
{
	query *q = parse_ok(text);
	query_sql out;
	query_error e;

	assert_int_equal(query_compile(q, store_dialect_sqlite(), NULL, &out, &e), DH_EQUERY);
	if (!strstr(e.message, want))
		print_error("[%s]: message '%s'\n", text, e.message);
	assert_non_null(strstr(e.message, want));
	assert_null(out.sql);
	query_free(q);
}

static void assert_sql_has(const query_sql *s, const char *part)
{
	if (!strstr(s->sql, part))
		print_error("SQL lacks [%s]:\n%s\n", part, s->sql);
	assert_non_null(strstr(s->sql, part));
}

/* ---- parser ----------------------------------------------------------------------------------------- */

static void test_query__parse_select_star(void **state)
{
	query *q = parse_ok("SELECT * FROM devices");

	assert_int_equal(query_top(q), -1);
	query_free(q);
	q = parse_ok("select top 5 * from DEVICES where TAGS.x = 1 and not (tags.y <> 'a')");
	assert_int_equal(query_top(q), 5);
	query_free(q);
	q = parse_ok("SELECT TOP 0x10 * FROM devices.modules");
	assert_int_equal(query_top(q), 16);
	query_free(q);
	query_free(parse_ok("SELECT * FROM devices.jobs"));
}

static void test_query__parse_projection_aggregates_group_by(void **state)
{
	query_free(parse_ok("SELECT deviceId, tags.location.region AS region FROM devices"));
	query_free(parse_ok("SELECT COUNT() AS numberOfDevices, status FROM devices GROUP BY status"));
	query_free(parse_ok("SELECT AVG(properties.reported.temp), SUM(tags.n), MIN(tags.n) AS lo, max(tags.n) "
			    "FROM devices WHERE tags.n >= 0"));
	query_free(parse_ok("SELECT COUNT() FROM devices GROUP BY tags.a, properties.reported.fw"));
}

static void test_query__parse_operators_and_literals(void **state)
{
	query_free(parse_ok("SELECT * FROM devices WHERE tags.a + 2 * (tags.b - 1) / 3 % 4 > -1.5e3"));
	query_free(parse_ok("SELECT * FROM devices WHERE tags.a IN ['x', \"y\", 1, 0x1F, true, null, undefined]"));
	query_free(parse_ok("SELECT * FROM devices WHERE tags.a NIN [] OR tags.b NOT IN ['q']"));
	query_free(parse_ok("SELECT * FROM devices WHERE tags.s = 'it\\'s \\\"q\\\" \\\\ \\u00e9 \\ud83d\\ude00'"));
	query_free(parse_ok("SELECT * FROM devices WHERE tags.a = false OR tags.b = undefined OR tags.c != null"));
	query_free(parse_ok("SELECT * FROM devices WHERE IS_DEFINED(tags.a) AND STARTSWITH(deviceId, 'x') AND "
			    "endswith(tags.b, 'y') AND IS_NULL(tags.c) AND IS_STRING(tags.d) AND IS_NUMBER(tags.e) AND "
			    "IS_BOOL(tags.f) AND IS_ARRAY(tags.g) AND IS_OBJECT(tags.h) AND IS_PRIMITIVE(tags.i) AND "
			    "LOWER(tags.j) = 'a' AND UPPER(tags.k) = 'B' AND LENGTH(tags.l) > 2 AND "
			    "CONTAINS(tags.m, 'z') AND ARRAY_CONTAINS(tags.n, 'v')"));
}

static void test_query__parse_escaped_names(void **state)
{
	query_free(parse_ok("SELECT * FROM devices WHERE configurations.[[my-config]].status = 'Applied'"));
	query_free(parse_ok("SELECT [[group]] FROM devices"));
	query_free(parse_ok("SELECT * FROM devices WHERE tags.[[group]] = 1 AND tags.group = 2"));
	query_free(parse_ok("SELECT * FROM devices WHERE properties.desired.$metadata.fw.$lastUpdated > '2024'"));
}

static void test_query__parse_errors_report_position(void **state)
{
	parse_fails("SELECT * FROM devices WHRE x = 1", 22, "expected WHERE, GROUP BY or end of query, found 'WHRE'");
	parse_fails("SELECT * devices", 9, "expected FROM");
	parse_fails("SELECT * FROM things", 14, "expected devices");
	parse_fails("SELECT * FROM devices.foo", 22, "modules or jobs");
	parse_fails("SELECT * FROM devices WHERE tags.a = 'abc", 37, "unterminated string");
	parse_fails("SELECT * FROM devices WHERE tags.a = 'a\\qb'", 39, "unknown escape");
	parse_fails("SELECT * FROM devices WHERE tags.a = '\\u12'", 38, "4 hex digits");
	parse_fails("SELECT * FROM devices WHERE tags.a = '\\ud800'", 38, "surrogate");
	parse_fails("SELECT * FROM devices WHERE tags.a = '\\u0000'", 38, "\\u0000");
	parse_fails("SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'a')", 28, "STARTSWITH");
	parse_fails("SELECT * FROM devices WHERE FOO(deviceId)", 28, "unknown function 'FOO'");
	parse_fails("SELECT * FROM devices WHERE IS_DEFINED(a, b)", 28, "takes 1 argument");
	parse_fails("SELECT * FROM devices WHERE COUNT() > 1", 28, "only allowed in the SELECT list");
	parse_fails("SELECT * FROM devices WHERE", 27, "expected an expression, found end of query");
	parse_fails("SELECT * FROM devices WHERE tags.a = 1 tags.b", 39, "expected end of query");
	parse_fails("SELECT * FROM devices WHERE tags.a IN ('x')", 38, "'['");
	parse_fails("SELECT * FROM devices WHERE tags.a IN [tags.b]", 39, "a literal");
	parse_fails("SELECT * FROM devices WHERE group = 1", 28, "expected an expression");
	parse_fails("SELECT * FROM devices WHERE tags.[[x", 33, "]]");
	parse_fails("SELECT * FROM devices WHERE tags.a = 1 # 2", 39, "unexpected character '#'");
	parse_fails("SELECT TOP x * FROM devices", 11, "integer after TOP");
	parse_fails("SELECT LOWER(deviceId) FROM devices", 7, "only property paths");
	parse_fails("SELECT deviceId AS FROM devices", 19, "alias");
	parse_fails("SELECT * FROM devices WHERE tags.a = 99999999999999999999e999", 37, "out of range");
	parse_fails("SELECT * FROM devices WHERE tags.a = 12abc", 37, "malformed number");
}

static void test_query__parse_rejects_hostile_input(void **state)
{
	char text[QUERY_MAX_LENGTH + 64];
	size_t n;

	/* Too long. */
	memset(text, ' ', sizeof(text));
	memcpy(text, "SELECT * FROM devices", 21);
	text[sizeof(text) - 1] = '\0';
	parse_fails(text, QUERY_MAX_LENGTH, "longer than");
	/* Invalid UTF-8 and NUL bytes. */
	parse_fails("SELECT * FROM devices WHERE tags.a = '\xff'", 38, "UTF-8");
	{
		query *q = NULL;
		query_error e;
		assert_int_equal(query_parse("SELECT *\0 FROM devices", 22, &q, &e), DH_EQUERY);
		assert_int_equal(e.position, 8);
	}
	/* Deep nesting is refused instead of recursing without bound. */
	n = (size_t)snprintf(text, sizeof(text), "SELECT * FROM devices WHERE ");
	for (int i = 0; i < 500; i++)
		text[n++] = '(';
	text[n] = '\0';
	{
		query *q = NULL;
		query_error e;
		assert_int_equal(query_parse(text, n, &q, &e), DH_EQUERY);
		assert_non_null(strstr(e.message, "nested too deeply"));
	}
	/* ...but a long chain of one operator is flat, in the AST depth and in the SQL. */
	n = (size_t)snprintf(text, sizeof(text), "SELECT * FROM devices WHERE tags.a = 1");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, " OR tags.a = %d AND tags.b = %d", i, i);
	assert_true(n < QUERY_MAX_LENGTH);
	query_free(parse_ok(text));
	/* The innermost NOT past the limit (12 levels) is reported: the 12th from the end of 25 NOTs. */
	parse_fails("SELECT * FROM devices WHERE NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT NOT "
		    "NOT NOT NOT NOT NOT NOT NOT NOT NOT x", 80, "nested too deeply");
}

static void test_query__parse_condition(void **state)
{
	query *q = NULL;
	query_error e;
	query_sql s;
	const char *cond = "tags.env = 'test' AND deviceId IN ['a','b']";

	assert_int_equal(query_parse_condition(cond, strlen(cond), &q, &e), 0);
	assert_int_equal(query_compile(q, store_dialect_sqlite(), NULL, &s, &e), 0);
	assert_int_equal(s.shape, QUERY_SHAPE_TWINS);
	assert_sql_has(&s, "json_extract(tags, '$.env') = ?1");
	assert_sql_has(&s, "device_id IN (?2, ?3)");
	query_sql_release(&s);
	query_free(q);
	assert_int_equal(query_parse_condition("tags.a = ", 9, &q, &e), DH_EQUERY);
	assert_int_equal(query_parse_condition("SELECT * FROM devices", 21, &q, &e), DH_EQUERY);
}

/* ---- compiler --------------------------------------------------------------------------------------- */

static void test_query__compile_equality_keeps_index_expression(void **state)
{
	query_sql s;

	compile_ok("SELECT * FROM devices WHERE tags.location.region = 'US'", &s);
	assert_int_equal(s.shape, QUERY_SHAPE_TWINS);
	assert_int_equal(s.source, QUERY_DEVICES);
	assert_true(s.keyset);
	assert_true(strncmp(s.sql, "SELECT id, device_id, module_id,", 32) == 0);
	assert_sql_has(&s, "FROM identities WHERE module_id = '' AND json_extract(tags, '$.location.region') = ?1 AND");
	assert_sql_has(&s, "id > ?2 ORDER BY id LIMIT ?3");
	assert_int_equal(s.nparams, 3);
	assert_int_equal(s.params[0].kind, QUERY_PARAM_TEXT);
	assert_string_equal(s.params[0].text, "US");
	assert_int_equal(s.params[1].i, 0);
	assert_int_equal(s.params[2].i, 101);
	assert_null(strstr(s.sql, "json_type"));   /* no guard needed: no index-defeating wrapper */
	query_sql_release(&s);
}

static void test_query__compile_guards_are_separate_conjuncts(void **state)
{
	query_sql s;

	compile_ok("SELECT * FROM devices WHERE properties.reported.temp > 20.5", &s);
	assert_sql_has(&s, "(json_extract(reported, '$.temp') > ?1 AND json_type(reported, '$.temp') IN ('integer','real'))");
	assert_int_equal(s.params[0].kind, QUERY_PARAM_REAL);
	query_sql_release(&s);
	/* Equality with 0/1 must not match true/false (json_extract gives 1/0 for them). */
	compile_ok("SELECT * FROM devices WHERE tags.n = 1", &s);
	assert_sql_has(&s, "(json_extract(tags, '$.n') = ?1 AND json_type(tags, '$.n') IN ('integer','real'))");
	query_sql_release(&s);
	/* A string that looks like JSON could match an object's text. */
	compile_ok("SELECT * FROM devices WHERE tags.o = '{\"a\":1}'", &s);
	assert_sql_has(&s, "(json_extract(tags, '$.o') = ?1 AND json_type(tags, '$.o') = 'text')");
	query_sql_release(&s);
	compile_ok("SELECT * FROM devices WHERE tags.flag = true", &s);
	assert_sql_has(&s, "(json_extract(tags, '$.flag') = ?1 AND json_type(tags, '$.flag') IN ('true','false'))");
	assert_int_equal(s.params[0].kind, QUERY_PARAM_INT);
	assert_int_equal(s.params[0].i, 1);
	query_sql_release(&s);
	/* Literal on the left flips the operator. */
	compile_ok("SELECT * FROM devices WHERE 5 < tags.n", &s);
	assert_sql_has(&s, "json_extract(tags, '$.n') > ?1");
	query_sql_release(&s);
	/* Under NOT, mismatches must stay undefined, so the guard wraps the comparison. */
	compile_ok("SELECT * FROM devices WHERE NOT (tags.n = 5)", &s);
	assert_sql_has(&s, "NOT (CASE WHEN json_type(tags, '$.n') IN ('integer','real') THEN json_extract(tags, '$.n') = ?1 END)");
	query_sql_release(&s);
}

static void test_query__compile_binds_every_value(void **state)
{
	query_sql s;

	compile_ok("SELECT * FROM devices WHERE deviceId = 'x\\' OR 1=1 --' OR tags.a IN ['; DROP TABLE identities']", &s);
	assert_null(strstr(s.sql, "DROP"));
	assert_null(strstr(s.sql, "1=1"));
	assert_string_equal(s.params[0].text, "x' OR 1=1 --");
	query_sql_release(&s);
	/* Names are quoted inside the JSON path literal, never spliced raw. */
	compile_ok("SELECT * FROM devices WHERE tags.[[a b'c]].$x = 1", &s);
	assert_sql_has(&s, "json_extract(tags, '$.\"a b''c\".\"$x\"') = ?1");
	query_sql_release(&s);
	compile_fails("SELECT * FROM devices WHERE tags.[[a\"b]] = 1", "cannot be queried");
}

static void test_query__compile_system_fields(void **state)
{
	query_sql s;

	compile_ok("SELECT * FROM devices WHERE DeviceId = 'd1' AND capabilities.iotEdge = true AND "
		   "properties.desired.$version > 2 AND version >= 1 AND x509Thumbprint.primaryThumbprint = null", &s);
	assert_sql_has(&s, "device_id = ?1");
	assert_sql_has(&s, "iot_edge = ?2");
	assert_sql_has(&s, "desired_version > ?3");
	assert_sql_has(&s, "twin_version >= ?4");
	assert_sql_has(&s, "primary_thumbprint IS NULL");
	query_sql_release(&s);
	compile_ok("SELECT * FROM devices WHERE properties.desired.$metadata.fw.$lastUpdated > '2024'", &s);
	assert_sql_has(&s, "json_extract(desired_meta, '$.fw.\"$lastUpdated\"') > ?1");
	query_sql_release(&s);
	/* A string column compared with a number never matches. */
	compile_ok("SELECT * FROM devices WHERE status = 5", &s);
	assert_sql_has(&s, "WHERE module_id = '' AND NULL AND");
	query_sql_release(&s);
}

static void test_query__compile_in_lists(void **state)
{
	query_sql s;

	compile_ok("SELECT * FROM devices WHERE tags.region IN ['US', 'EU']", &s);
	assert_sql_has(&s, "((json_extract(tags, '$.region') IN (?1, ?2)))");
	query_sql_release(&s);
	compile_ok("SELECT * FROM devices WHERE tags.region NIN ['US']", &s);
	assert_sql_has(&s, "CASE WHEN json_type(tags, '$.region') IS NULL THEN NULL WHEN");
	assert_sql_has(&s, "THEN 0 ELSE 1 END");
	query_sql_release(&s);
	compile_ok("SELECT * FROM devices WHERE deviceId IN ['a', 1]", &s);
	assert_sql_has(&s, "((device_id IN (?1)))");
	query_sql_release(&s);
}

static void test_query__compile_projections_and_aggregates(void **state)
{
	query_sql s;

	compile_ok("SELECT COUNT() AS total FROM devices", &s);
	assert_int_equal(s.shape, QUERY_SHAPE_RAW);
	assert_false(s.keyset);
	assert_sql_has(&s, "SELECT count(*) FROM identities WHERE module_id = '' LIMIT ?1 OFFSET ?2");
	assert_int_equal(s.ncolumns, 1);
	assert_string_equal(s.column_names[0], "total");
	query_sql_release(&s);

	compile_ok("SELECT COUNT() AS numberOfDevices, properties.reported.fw FROM devices.modules "
		   "GROUP BY properties.reported.fw", &s);
	assert_sql_has(&s, "SELECT count(*), (reported -> '$.fw') FROM identities WHERE module_id <> '' "
			   "GROUP BY (reported -> '$.fw') ORDER BY (reported -> '$.fw')");
	assert_string_equal(s.column_names[0], "numberOfDevices");
	assert_string_equal(s.column_names[1], "fw");
	query_sql_release(&s);

	compile_ok("SELECT deviceId, tags.loc.region AS r, capabilities.iotEdge, COUNT() FROM devices "
		   "GROUP BY deviceId, tags.loc.region, capabilities.iotEdge", &s);
	assert_sql_has(&s, "SELECT json_quote(device_id), (tags -> '$.loc.region'), CASE WHEN iot_edge THEN 'true' "
			   "ELSE 'false' END, count(*)");
	assert_sql_has(&s, "GROUP BY device_id, (tags -> '$.loc.region'), iot_edge");
	assert_string_equal(s.column_names[0], "deviceId");
	assert_string_equal(s.column_names[1], "r");
	assert_string_equal(s.column_names[2], "iotEdge");
	assert_string_equal(s.column_names[3], "$1");
	query_sql_release(&s);

	compile_ok("SELECT deviceId, tags FROM devices WHERE status = 'enabled'", &s);
	assert_sql_has(&s, "SELECT json_quote(device_id), tags FROM identities");
	assert_sql_has(&s, "ORDER BY id LIMIT ?2 OFFSET ?3");
	query_sql_release(&s);

	compile_ok("SELECT AVG(properties.reported.temp), MAX(lastActivityTime) AS last FROM devices", &s);
	assert_sql_has(&s, "avg(CASE WHEN json_type(reported, '$.temp') IN ('integer','real') THEN "
			   "json_extract(reported, '$.temp') END)");
	assert_sql_has(&s, "json_quote(max(last_activity_time))");
	assert_string_equal(s.column_names[0], "$1");
	query_sql_release(&s);
}

static void test_query__compile_semantic_errors(void **state)
{
	compile_fails("SELECT deviceId FROM devices GROUP BY status", "GROUP BY needs an aggregate");
	compile_fails("SELECT * FROM devices GROUP BY status", "GROUP BY needs an aggregate");
	compile_fails("SELECT deviceId, COUNT() FROM devices", "cannot be mixed");
	compile_fails("SELECT deviceId, COUNT() FROM devices GROUP BY status", "must appear in GROUP BY");
	compile_fails("SELECT tags.a.x, tags.b.x FROM devices", "duplicate column name");
	compile_fails("SELECT COUNT() FROM devices.jobs", "only SELECT *");
	compile_fails("SELECT deviceId FROM devices.jobs", "only SELECT *");
	compile_fails("SELECT * FROM devices.jobs WHERE tags.a = 1", "not twin fields");
	compile_fails("SELECT * FROM devices.jobs WHERE jobId = 'x' AND properties.reported.fw = '1'", "not twin fields");
	compile_fails("SELECT * FROM devices.jobs WHERE configurations.[[c]].status = 'Applied'", "not twin fields");
	compile_fails("SELECT * FROM devices.jobs WHERE statusReason = 'x' OR IS_DEFINED(connectionState)",
		      "not twin fields");
	compile_fails("SELECT * FROM devices.jobs WHERE STARTSWITH(tags.name, 'a')", "not twin fields");
	compile_fails("SELECT * FROM devices.jobs WHERE status.x = 'a'", "not twin fields");
	compile_fails("SELECT * FROM devices WHERE ARRAY_CONTAINS(tags.a, tags.b)", "literal");
}

static void test_query__compile_jobs_and_paging(void **state)
{
	query *q = parse_ok("SELECT * FROM devices.jobs WHERE jobType = 'scheduleUpdateTwin'");
	query_sql s;
	query_error e;
	query_page page = {10, 42, 0};

	assert_int_equal(query_compile(q, store_dialect_sqlite(), &page, &s, &e), 0);
	assert_int_equal(s.source, QUERY_JOBS);
	assert_int_equal(s.shape, QUERY_SHAPE_JOBS);
	assert_true(s.keyset);
	assert_sql_has(&s, "SELECT d.rowid, d.device_id, d.job_id, j.type,");
	assert_sql_has(&s, " FROM job_devices AS d JOIN jobs AS j ON j.job_id = d.job_id WHERE j.type = ?1 AND "
			   "d.rowid > ?2 ORDER BY d.rowid LIMIT ?3");
	assert_string_equal(s.params[0].text, "scheduleUpdateTwin");
	assert_int_equal(s.params[1].i, 42);
	assert_int_equal(s.params[2].i, 11);
	query_sql_release(&s);
	query_free(q);

	/* System fields of job rows match regardless of case, also under IoT Hub's devices.jobs. prefix. */
	q = parse_ok("SELECT * FROM devices.jobs WHERE DEVICES.Jobs.DeviceId IN ['a', 'b'] AND JOBID = 'j'");
	assert_int_equal(query_compile(q, store_dialect_sqlite(), &page, &s, &e), 0);
	assert_sql_has(&s, "WHERE (((d.device_id IN (?1, ?2))) AND d.job_id = ?3) AND d.rowid > ?4");
	query_sql_release(&s);
	query_free(q);

	q = parse_ok("SELECT TOP 2 * FROM devices.jobs");
	assert_int_equal(query_compile(q, store_dialect_sqlite(), NULL, &s, &e), 0);
	assert_sql_has(&s, "JOIN jobs AS j ON j.job_id = d.job_id ORDER BY d.rowid LIMIT ?1");
	assert_int_equal(s.params[0].i, 2);
	query_sql_release(&s);
	query_free(q);

	q = parse_ok("SELECT * FROM devices.modules");
	assert_int_equal(query_compile(q, store_dialect_sqlite(), &page, &s, &e), 0);
	assert_sql_has(&s, "WHERE module_id <> '' AND id > ?1 ORDER BY id LIMIT ?2");
	assert_int_equal(s.params[0].i, 42);
	assert_int_equal(s.params[1].i, 11);
	query_sql_release(&s);
	/* Without a page, TOP alone limits. */
	query_free(q);
	q = parse_ok("SELECT TOP 3 * FROM devices");
	assert_int_equal(query_compile(q, store_dialect_sqlite(), NULL, &s, &e), 0);
	assert_sql_has(&s, "ORDER BY id LIMIT ?1");
	assert_int_equal(s.params[0].i, 3);
	query_sql_release(&s);
	query_free(q);
}

static void test_query__field_lookup(void **state)
{
	const char *p1[] = {"Properties", "Reported", "$version"};
	const char *p2[] = {"properties", "reported", "a", "b"};
	const char *p3[] = {"statusReason", "x"};
	const char *p4[] = {"Tags"};
	size_t used = 0;
	const store_field *f;

	f = store_field_lookup(p1, 3, &used);
	assert_non_null(f);
	assert_string_equal(f->column, "reported_version");
	f = store_field_lookup(p2, 4, &used);
	assert_string_equal(f->column, "reported");
	assert_int_equal(used, 2);
	assert_null(store_field_lookup(p3, 2, &used));
	f = store_field_lookup(p4, 1, &used);
	assert_int_equal(f->kind, STORE_FIELD_JSON);
	assert_int_equal(used, 1);
}

static void test_query__job_field_lookup(void **state)
{
	const char *p1[] = {"JobID"};
	const char *p2[] = {"outcome", "deviceMethodResponse", "status"};
	const char *p3[] = {"status", "x"};
	const char *p4[] = {"tags", "a"};
	const char *p5[] = {"lastUpdatedDateTimeUtc"};
	size_t used = 0;
	const store_field *f;

	f = store_job_field_lookup(p1, 1, &used);
	assert_non_null(f);
	assert_string_equal(f->column, "d.job_id");
	assert_int_equal(f->kind, STORE_FIELD_TEXT);
	f = store_job_field_lookup(p2, 3, &used);
	assert_int_equal(f->kind, STORE_FIELD_JSON);
	assert_int_equal(used, 1);
	assert_null(store_job_field_lookup(p3, 2, &used));
	assert_null(store_job_field_lookup(p4, 2, &used));
	assert_string_equal(store_job_field_lookup(p5, 1, &used)->column, "d.last_updated_time");
	/* Twin and job fields do not leak into each other's tables. */
	assert_null(store_field_lookup(p1, 1, &used));
	assert_non_null(store_field_lookup(p4, 2, &used));
}

/* ---- execution against SQLite ---------------------------------------------------------------------- */

static char tmp_dir[256];

static const char *const fixture_sql =
	"INSERT INTO identities (device_id, module_id, generation_id, etag, status, status_updated_time, "
	"connection_state_updated_time, last_activity_time, iot_edge, twin_version, twin_etag, tags, reported) VALUES "
	"('d1', '', 'g', 1, 'enabled', 't', 't', '2024-01-01', 1, 1, 1,"
	" '{\"location\":{\"region\":\"US\"},\"n\":5,\"flag\":true,\"name\":\"alpha-x\",\"list\":[\"a\",1]}',"
	" '{\"fw\":\"1.0\",\"temp\":20.5}'),"
	"('d2', '', 'g', 1, 'disabled', 't', 't', '2024-01-02', 0, 1, 1,"
	" '{\"location\":{\"region\":\"EU\"},\"n\":\"5\",\"flag\":1,\"name\":\"beta\"}',"
	" '{\"fw\":\"1.0\",\"temp\":30}'),"
	"('d3', '', 'g', 1, 'enabled', 't', 't', '2024-01-03', 0, 1, 1,"
	" '{\"n\":null,\"name\":\"gamma-x\",\"obj\":{\"a\":1}}', '{\"fw\":\"2.0\"}'),"
	"('d4', '', 'g', 1, 'enabled', 't', 't', '2024-01-04', 0, 1, 1,"
	" '{\"n\":7,\"location\":{\"region\":\"US\"},\"s\":\"{x}\"}', '{}'),"
	"('d5', '', 'g', 1, 'enabled', 't', 't', '2024-01-05', 0, 1, 1, '{}', '{\"fw\":\"2.0\",\"temp\":-1}'),"
	"('d1', 'm1', 'g', 1, 'enabled', 't', 't', 't', 0, 1, 1, '{\"n\":5}', '{}'),"
	"('d1', 'm2', 'g', 1, 'enabled', 't', 't', 't', 0, 1, 1, '{\"n\":6}', '{}');"
	"INSERT INTO jobs (job_id, type, query_condition, created_time, start_time, end_time, max_execution_seconds,"
	" status, spec) VALUES "
	"('j1', 'scheduleUpdateTwin', 'tags.n = 5', '2024-02-01T00:00:00.000Z', '2024-02-01T00:00:00.000Z',"
	" '2024-02-01T00:01:00.000Z', 3600, 'completed', '{}'),"
	"('j2', 'scheduleDeviceMethod', 'tags.n = 7', '2024-02-02T00:00:00.000Z', '2024-02-02T00:00:00.000Z',"
	" NULL, 600, 'running', '{}');"
	"INSERT INTO job_devices (job_id, device_id, module_id, status, created_time, start_time, end_time,"
	" last_updated_time, outcome, error_code, error_description) VALUES "
	"('j1', 'd1', '', 'completed', '2024-02-01T00:00:01.000Z', '2024-02-01T00:00:02.000Z',"
	" '2024-02-01T00:00:03.000Z', '2024-02-01T00:00:03.000Z', NULL, NULL, NULL),"
	"('j1', 'd2', '', 'failed', '2024-02-01T00:00:01.000Z', '2024-02-01T00:00:02.000Z',"
	" '2024-02-01T00:00:04.000Z', '2024-02-01T00:00:04.000Z', NULL, 'DeviceNotOnline', 'offline'),"
	"('j2', 'd1', '', 'completed', '2024-02-02T00:00:01.000Z', '2024-02-02T00:00:02.000Z',"
	" '2024-02-02T00:00:03.000Z', '2024-02-02T00:00:03.000Z',"
	" '{\"deviceMethodResponse\":{\"status\":200,\"payload\":{\"ok\":true}}}', NULL, NULL),"
	"('j2', 'd1', 'm1', 'pending', '2024-02-02T00:00:01.000Z', NULL, NULL, '2024-02-02T00:00:01.000Z', NULL, NULL,"
	" NULL),"
	"('j2', 'd3', '', 'running', '2024-02-02T00:00:01.000Z', '2024-02-02T00:00:05.000Z', NULL,"
	" '2024-02-02T00:00:05.000Z', NULL, NULL, NULL);";

static int group_setup(void **state)
{
	char path[300];
	char *msg = NULL;

	test_tmpdir(tmp_dir);
	snprintf(path, sizeof(path), "%s/query.db", tmp_dir);
	if (store_global_init(path) != 0)
		return -1;
	if (sqlite3_exec(store_db(store_thread()), fixture_sql, NULL, NULL, &msg) != SQLITE_OK) {
		print_error("fixture: %s\n", msg);
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	store_global_shutdown();
	test_rmdir(tmp_dir);
	return 0;
}

/* Runs text and returns the page's items as compact JSON (caller frees); *next as returned. */
static char *run_page(const char *text, int max_items, const char *cont, char **next, const char **type)
{
	json_t *items = NULL;
	char *out;
	int rc = query_run(text, strlen(text), max_items, cont, &items, next, type);

	if (rc)
		print_error("query_run [%s]: %s\n", text, err_message());
	assert_int_equal(rc, 0);
	out = json_dumps(items, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(items);
	return out;
}

/* Runs a SELECT * (or any twin query) and returns the ids of all rows over all pages, "d1,d1/m1,...". */
static char *run_ids(const char *text, int max_items)
{
	static char ids[512];
	char *cont = NULL;
	int pages = 0;

	ids[0] = '\0';
	do {
		json_t *items = NULL;
		char *next = NULL;
		const char *type;
		int rc = query_run(text, strlen(text), max_items, cont, &items, &next, &type);
		if (rc)
			print_error("query_run [%s]: %s\n", text, err_message());
		assert_int_equal(rc, 0);
		assert_string_equal(type, "twin");
		for (size_t i = 0; i < json_array_size(items); i++) {
			json_t *t = json_array_get(items, i);
			const char *mod = json_string_value(json_object_get(t, "moduleId"));
			size_t n = strlen(ids);
			snprintf(ids + n, sizeof(ids) - n, "%s%s%s%s", n ? "," : "",
				 json_string_value(json_object_get(t, "deviceId")), mod && *mod ? "/" : "", mod && *mod ? mod : "");
		}
		json_decref(items);
		free(cont);
		cont = next;
		assert_true(++pages < 20);
	} while (cont);
	return ids;
}

static void assert_ids(const char *text, const char *want)
{
	const char *got = run_ids(text, 0);

	if (strcmp(got, want) != 0)
		print_error("[%s]\n  want %s\n  got  %s\n", text, want, got);
	assert_string_equal(got, want);
}

static void test_query__exec_types_must_match(void **state)
{
	assert_ids("SELECT * FROM devices WHERE tags.n = 5", "d1");
	assert_ids("SELECT * FROM devices WHERE tags.n = '5'", "d2");
	assert_ids("SELECT * FROM devices WHERE tags.n > 4", "d1,d4");
	assert_ids("SELECT * FROM devices WHERE tags.n != 5", "d4");
	assert_ids("SELECT * FROM devices WHERE NOT (tags.n = 5)", "d4");
	assert_ids("SELECT * FROM devices WHERE tags.flag = true", "d1");
	assert_ids("SELECT * FROM devices WHERE tags.flag = 1", "d2");
	assert_ids("SELECT * FROM devices WHERE tags.flag", "d1");
	assert_ids("SELECT * FROM devices WHERE tags.s = '{x}'", "d4");
	assert_ids("SELECT * FROM devices WHERE tags.obj = '{\"a\":1}'", "");
	assert_ids("SELECT * FROM devices WHERE tags.n = tags.n", "d1,d2,d3,d4");
	assert_ids("SELECT * FROM devices WHERE tags.n + 1 = 6 OR tags.n * 2 = 14", "d1,d4");
	assert_ids("SELECT * FROM devices WHERE capabilities.iotEdge = true", "d1");
	assert_ids("SELECT * FROM devices WHERE NOT capabilities.iotEdge", "d2,d3,d4,d5");
	assert_ids("SELECT * FROM devices WHERE properties.reported.temp >= 20.5 AND status = 'disabled'", "d2");
	assert_ids("SELECT * FROM devices WHERE properties.reported.temp < 0", "d5");
	assert_ids("SELECT * FROM devices WHERE tags.nothing = undefined OR tags.n = 'x'", "");
}

static void test_query__exec_null_and_undefined(void **state)
{
	assert_ids("SELECT * FROM devices WHERE tags.n = null", "d3");
	assert_ids("SELECT * FROM devices WHERE tags.n != null", "d1,d2,d4");
	assert_ids("SELECT * FROM devices WHERE IS_DEFINED(tags.n)", "d1,d2,d3,d4");
	assert_ids("SELECT * FROM devices WHERE NOT IS_DEFINED(tags.n)", "d5");
	assert_ids("SELECT * FROM devices WHERE IS_NULL(tags.n)", "d3");
	assert_ids("SELECT * FROM devices WHERE IS_STRING(tags.n)", "d2");
	assert_ids("SELECT * FROM devices WHERE IS_NUMBER(tags.n)", "d1,d4");
	assert_ids("SELECT * FROM devices WHERE IS_BOOL(tags.flag)", "d1");
	assert_ids("SELECT * FROM devices WHERE IS_OBJECT(tags.obj) OR IS_ARRAY(tags.list)", "d1,d3");
	assert_ids("SELECT * FROM devices WHERE IS_PRIMITIVE(tags.n)", "d1,d2,d3,d4");
}

static void test_query__exec_in_nin_and_strings(void **state)
{
	assert_ids("SELECT * FROM devices WHERE tags.n IN [5, '5']", "d1,d2");
	assert_ids("SELECT * FROM devices WHERE tags.n IN [null, 7]", "d3,d4");
	assert_ids("SELECT * FROM devices WHERE tags.n NIN [5]", "d2,d3,d4");
	assert_ids("SELECT * FROM devices WHERE deviceId IN ['d2', 'd5'] AND status NIN ['disabled']", "d5");
	assert_ids("SELECT * FROM devices WHERE STARTSWITH(tags.name, 'al')", "d1");
	assert_ids("SELECT * FROM devices WHERE STARTSWITH(deviceId, 'd')", "d1,d2,d3,d4,d5");
	assert_ids("SELECT * FROM devices WHERE ENDSWITH(tags.name, '-x')", "d1,d3");
	assert_ids("SELECT * FROM devices WHERE ENDSWITH(tags.name, 'much-longer-than-the-name')", "");
	assert_ids("SELECT * FROM devices WHERE CONTAINS(tags.name, 'et')", "d2");
	assert_ids("SELECT * FROM devices WHERE UPPER(tags.name) = 'BETA' AND LENGTH(tags.name) = 4", "d2");
	assert_ids("SELECT * FROM devices WHERE ARRAY_CONTAINS(tags.list, 'a')", "d1");
	assert_ids("SELECT * FROM devices WHERE ARRAY_CONTAINS(tags.list, 1) AND NOT ARRAY_CONTAINS(tags.list, 'b')", "d1");
	assert_ids("SELECT * FROM devices WHERE tags.location.region = 'US'", "d1,d4");
}

static void test_query__exec_modules_vs_devices(void **state)
{
	assert_ids("SELECT * FROM devices WHERE tags.n = 5", "d1");
	assert_ids("SELECT * FROM devices.modules WHERE tags.n = 5", "d1/m1");
	assert_ids("SELECT * FROM devices.modules", "d1/m1,d1/m2");
	assert_ids("SELECT * FROM devices.modules WHERE moduleId = 'm2'", "d1/m2");
}

static void test_query__exec_aggregates_and_projections(void **state)
{
	const char *type = NULL;
	char *next = NULL, *got;

	got = run_page("SELECT COUNT() AS total FROM devices", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"total\":5}]");
	assert_string_equal(type, "raw");
	assert_null(next);
	free(got);
	got = run_page("SELECT COUNT() AS numberOfDevices, properties.reported.fw FROM devices "
		       "GROUP BY properties.reported.fw", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"numberOfDevices\":1},{\"fw\":\"1.0\",\"numberOfDevices\":2},"
				 "{\"fw\":\"2.0\",\"numberOfDevices\":2}]");
	free(got);
	got = run_page("SELECT status, COUNT() FROM devices GROUP BY status", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"$1\":1,\"status\":\"disabled\"},{\"$1\":4,\"status\":\"enabled\"}]");
	free(got);
	got = run_page("SELECT deviceId, tags.location.region AS region, tags.obj, capabilities.iotEdge FROM devices "
		       "WHERE deviceId IN ['d1', 'd3']", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"deviceId\":\"d1\",\"iotEdge\":true,\"region\":\"US\"},"
				 "{\"deviceId\":\"d3\",\"iotEdge\":false,\"obj\":{\"a\":1}}]");
	free(got);
	got = run_page("SELECT AVG(properties.reported.temp) AS a, SUM(tags.n) AS s, MIN(properties.reported.temp) AS mn, "
		       "MAX(lastActivityTime) AS mx, AVG(tags.none) AS gone FROM devices", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"a\":16.5,\"mn\":-1,\"mx\":\"2024-01-05\",\"s\":12}]");
	free(got);
}

static void test_query__exec_top_and_paging(void **state)
{
	const char *type = NULL;
	char *next = NULL, *next2 = NULL, *got;
	json_t *items = NULL;

	assert_ids("SELECT TOP 2 * FROM devices", "d1,d2");
	assert_ids("SELECT TOP 0 * FROM devices", "");
	assert_string_equal(run_ids("SELECT * FROM devices", 2), "d1,d2,d3,d4,d5");
	assert_string_equal(run_ids("SELECT * FROM devices", 1), "d1,d2,d3,d4,d5");
	assert_string_equal(run_ids("SELECT TOP 3 * FROM devices", 2), "d1,d2,d3");
	assert_string_equal(run_ids("SELECT TOP 4 * FROM devices", 2), "d1,d2,d3,d4");

	/* Exactly a full last page: no token on it. */
	got = run_page("SELECT TOP 2 * FROM devices", 2, NULL, &next, &type);
	assert_null(next);
	free(got);

	/* Raw projections page by offset. */
	got = run_page("SELECT deviceId FROM devices", 2, NULL, &next, &type);
	assert_string_equal(got, "[{\"deviceId\":\"d1\"},{\"deviceId\":\"d2\"}]");
	assert_non_null(next);
	free(got);
	got = run_page("SELECT deviceId FROM devices", 2, next, &next2, &type);
	assert_string_equal(got, "[{\"deviceId\":\"d3\"},{\"deviceId\":\"d4\"}]");
	free(got);
	free(next);
	got = run_page("SELECT deviceId FROM devices", 2, next2, &next, &type);
	assert_string_equal(got, "[{\"deviceId\":\"d5\"}]");
	assert_null(next);
	free(got);

	/* A token belongs to its query. */
	assert_int_equal(query_run("SELECT deviceId FROM devices.modules", 36, 2, next2, &items, &next, &type), DH_EQUERY);
	assert_non_null(strstr(err_message(), "invalid continuation token"));
	assert_null(items);
	assert_int_equal(query_run("SELECT deviceId FROM devices", 28, 2, "not-base64!", &items, &next, &type), DH_EQUERY);
	assert_int_equal(query_run("SELECT deviceId FROM devices", 28, 2, "e30=", &items, &next, &type), DH_EQUERY);
	free(next2);
}

static void test_query__exec_jobs_and_errors(void **state)
{
	const char *type = NULL;
	char *next = NULL, *got;
	json_t *items = NULL;
	const char *bad = "SELECT * FROM devices WHRE x = 1";

	got = run_page("SELECT * FROM devices.jobs WHERE jobId = 'none'", 0, NULL, &next, &type);
	assert_string_equal(got, "[]");
	assert_string_equal(type, "deviceJob");
	assert_null(next);
	free(got);
	assert_int_equal(query_run(bad, strlen(bad), 0, NULL, &items, &next, &type), DH_EQUERY);
	assert_string_equal(err_message(),
			    "syntax error at position 22: expected WHERE, GROUP BY or end of query, found 'WHRE'");
	assert_null(items);
	assert_null(next);
	bad = "SELECT COUNT() FROM devices.jobs";
	assert_int_equal(query_run(bad, strlen(bad), 0, NULL, &items, &next, &type), DH_EQUERY);
	assert_non_null(strstr(err_message(), "query error at position 7"));
}

/* Runs a devices.jobs query over all pages of max_items and returns "job:device[/module]" per row. */
static char *run_job_rows(const char *text, int max_items, int *pages)
{
	static char rows[512];
	char *cont = NULL;

	rows[0] = '\0';
	*pages = 0;
	do {
		json_t *items = NULL;
		char *next = NULL;
		const char *type;
		int rc = query_run(text, strlen(text), max_items, cont, &items, &next, &type);
		if (rc)
			print_error("query_run [%s]: %s\n", text, err_message());
		assert_int_equal(rc, 0);
		assert_string_equal(type, "deviceJob");
		for (size_t i = 0; i < json_array_size(items); i++) {
			json_t *r = json_array_get(items, i);
			const char *mod = json_string_value(json_object_get(r, "moduleId"));
			size_t n = strlen(rows);
			snprintf(rows + n, sizeof(rows) - n, "%s%s:%s%s%s", n ? "," : "",
				 json_string_value(json_object_get(r, "jobId")), json_string_value(json_object_get(r, "deviceId")),
				 mod ? "/" : "", mod ? mod : "");
		}
		json_decref(items);
		free(cont);
		cont = next;
		assert_true(++*pages < 20);
	} while (cont);
	return rows;
}

static void assert_job_rows(const char *text, const char *want)
{
	int pages;
	const char *got = run_job_rows(text, 0, &pages);

	if (strcmp(got, want) != 0)
		print_error("[%s]\n  want %s\n  got  %s\n", text, want, got);
	assert_string_equal(got, want);
}

static void test_query__exec_job_rows_render_like_store_job(void **state)
{
	const char *type = NULL;
	char *next = NULL, *got;

	got = run_page("SELECT * FROM devices.jobs WHERE jobId = 'j1' AND deviceId = 'd2'", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"createdDateTimeUtc\":\"2024-02-01T00:00:01.000Z\",\"deviceId\":\"d2\","
				 "\"endTimeUtc\":\"2024-02-01T00:00:04.000Z\",\"error\":{\"code\":\"DeviceNotOnline\","
				 "\"description\":\"offline\"},\"jobId\":\"j1\",\"jobType\":\"scheduleUpdateTwin\","
				 "\"lastUpdatedDateTimeUtc\":\"2024-02-01T00:00:04.000Z\",\"outcome\":{\"deviceMethodResponse\":null},"
				 "\"startTimeUtc\":\"2024-02-01T00:00:02.000Z\",\"status\":\"failed\"}]");
	assert_string_equal(type, "deviceJob");
	free(got);
	got = run_page("SELECT * FROM devices.jobs WHERE moduleId = 'm1'", 0, NULL, &next, &type);
	assert_string_equal(got, "[{\"createdDateTimeUtc\":\"2024-02-02T00:00:01.000Z\",\"deviceId\":\"d1\","
				 "\"endTimeUtc\":null,\"jobId\":\"j2\",\"jobType\":\"scheduleDeviceMethod\","
				 "\"lastUpdatedDateTimeUtc\":\"2024-02-02T00:00:01.000Z\",\"moduleId\":\"m1\","
				 "\"outcome\":{\"deviceMethodResponse\":null},\"startTimeUtc\":null,\"status\":\"pending\"}]");
	free(got);
	got = run_page("SELECT * FROM devices.jobs WHERE jobType = 'scheduleDeviceMethod' AND status = 'completed'", 0,
		       NULL, &next, &type);
	assert_non_null(strstr(got, "\"outcome\":{\"deviceMethodResponse\":{\"payload\":{\"ok\":true},\"status\":200}}"));
	free(got);
}

static void test_query__exec_job_rows_filters(void **state)
{
	assert_job_rows("SELECT * FROM devices.jobs", "j1:d1,j1:d2,j2:d1,j2:d1/m1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE jobId = 'j1'", "j1:d1,j1:d2");
	assert_job_rows("select * from DEVICES.JOBS where devices.jobs.deviceId = 'd1' and JobType = 'scheduleDeviceMethod'",
			"j2:d1,j2:d1/m1");
	assert_job_rows("SELECT * FROM devices.jobs WHERE status IN ['failed', 'running']", "j1:d2,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE status NIN ['completed']", "j1:d2,j2:d1/m1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE status != 'completed' AND deviceId <> 'd3'", "j1:d2,j2:d1/m1");
	assert_job_rows("SELECT * FROM devices.jobs WHERE NOT (status = 'completed') OR jobId != 'j2'",
			"j1:d1,j1:d2,j2:d1/m1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE STARTSWITH(deviceId, 'd') AND moduleId = 'm1'", "j2:d1/m1");
	assert_job_rows("SELECT * FROM devices.jobs WHERE ENDSWITH(jobType, 'Twin')", "j1:d1,j1:d2");
	assert_job_rows("SELECT * FROM devices.jobs WHERE startTimeUtc = null", "j2:d1/m1");
	assert_job_rows("SELECT * FROM devices.jobs WHERE endTimeUtc != null AND endTimeUtc < '2024-02-02'", "j1:d1,j1:d2");
	assert_job_rows("SELECT * FROM devices.jobs WHERE createdDateTimeUtc > '2024-02-01T12:00:00Z'",
			"j2:d1,j2:d1/m1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE createdTimeUtc >= '2024-02-02' AND "
			"lastUpdatedDateTimeUtc >= '2024-02-02T00:00:03'", "j2:d1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE outcome.deviceMethodResponse.status = 200", "j2:d1");
	assert_job_rows("SELECT * FROM devices.jobs WHERE outcome.deviceMethodResponse = null AND jobId = 'j2'",
			"j2:d1/m1,j2:d3");
	assert_job_rows("SELECT * FROM devices.jobs WHERE error.code = 'DeviceNotOnline'", "j1:d2");
	assert_job_rows("SELECT * FROM devices.jobs WHERE IS_DEFINED(error) OR IS_OBJECT(outcome.deviceMethodResponse)",
			"j1:d2,j2:d1");
	/* Types still have to match: a number never equals a status text. */
	assert_job_rows("SELECT * FROM devices.jobs WHERE status = 1 OR jobId = true", "");
}

static void test_query__exec_job_rows_paging(void **state)
{
	int pages;
	const char *type = NULL;
	char *next = NULL, *next2 = NULL, *got;
	json_t *items = NULL;
	const char *jobs = "SELECT * FROM devices.jobs";

	assert_string_equal(run_job_rows(jobs, 2, &pages), "j1:d1,j1:d2,j2:d1,j2:d1/m1,j2:d3");
	assert_int_equal(pages, 3);
	assert_string_equal(run_job_rows(jobs, 1, &pages), "j1:d1,j1:d2,j2:d1,j2:d1/m1,j2:d3");
	assert_int_equal(pages, 5);
	assert_string_equal(run_job_rows("SELECT * FROM devices.jobs WHERE deviceId = 'd1'", 1, &pages),
			    "j1:d1,j2:d1,j2:d1/m1");
	assert_string_equal(run_job_rows("SELECT TOP 3 * FROM devices.jobs", 2, &pages), "j1:d1,j1:d2,j2:d1");
	assert_int_equal(pages, 2);
	assert_string_equal(run_job_rows("SELECT TOP 0 * FROM devices.jobs", 2, &pages), "");

	/* A token belongs to its query: a twins token does not page job rows. */
	got = run_page("SELECT * FROM devices", 2, NULL, &next, &type);
	free(got);
	assert_non_null(next);
	assert_int_equal(query_run(jobs, strlen(jobs), 2, next, &items, &next2, &type), DH_EQUERY);
	assert_non_null(strstr(err_message(), "invalid continuation token"));
	assert_null(items);
	assert_null(next2);
	free(next);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query__parse_select_star),
		cmocka_unit_test(test_query__parse_projection_aggregates_group_by),
		cmocka_unit_test(test_query__parse_operators_and_literals),
		cmocka_unit_test(test_query__parse_escaped_names),
		cmocka_unit_test(test_query__parse_errors_report_position),
		cmocka_unit_test(test_query__parse_rejects_hostile_input),
		cmocka_unit_test(test_query__parse_condition),
		cmocka_unit_test(test_query__compile_equality_keeps_index_expression),
		cmocka_unit_test(test_query__compile_guards_are_separate_conjuncts),
		cmocka_unit_test(test_query__compile_binds_every_value),
		cmocka_unit_test(test_query__compile_system_fields),
		cmocka_unit_test(test_query__compile_in_lists),
		cmocka_unit_test(test_query__compile_projections_and_aggregates),
		cmocka_unit_test(test_query__compile_semantic_errors),
		cmocka_unit_test(test_query__compile_jobs_and_paging),
		cmocka_unit_test(test_query__field_lookup),
		cmocka_unit_test(test_query__job_field_lookup),
		cmocka_unit_test(test_query__exec_types_must_match),
		cmocka_unit_test(test_query__exec_null_and_undefined),
		cmocka_unit_test(test_query__exec_in_nin_and_strings),
		cmocka_unit_test(test_query__exec_modules_vs_devices),
		cmocka_unit_test(test_query__exec_aggregates_and_projections),
		cmocka_unit_test(test_query__exec_top_and_paging),
		cmocka_unit_test(test_query__exec_jobs_and_errors),
		cmocka_unit_test(test_query__exec_job_rows_render_like_store_job),
		cmocka_unit_test(test_query__exec_job_rows_filters),
		cmocka_unit_test(test_query__exec_job_rows_paging),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
