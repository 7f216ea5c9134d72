/*
 * query_compile: turns a parsed query into parameterised SQL through a store_dialect.
 *
 * Semantics (reference §2): only Boolean true passes WHERE; comparisons hold only between primitives of
 * the same type, anything else is undefined (SQL NULL). A condition is compiled in one of two modes:
 *  - positive: the result only has to be 1 exactly when the query's answer is true (the AND/OR tree above
 *    it is monotone and WHERE keeps only true), so "false" and "undefined" may both come out as 0/NULL.
 *    Here `path op literal` keeps a bare top-level `json_extract(col, '$.path') op ?N` conjunct so an
 *    expression index on that path applies, with any type guard as a separate AND term.
 *  - exact: under NOT, three-valued results matter (NOT undefined is undefined), so mismatches are NULL.
 * Literals are always bound parameters; names reach SQL only as validated JSON path segments.
 */
#include "query_int.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "store_device.h"
#include "store_job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum cty { TY_DYN, TY_STR, TY_NUM, TY_BOOL, TY_NULL, TY_UNDEF } cty;

/* A compiled value. TY_DYN is a value inside a JSON column (col + segs); the other types are static.
 * For static types a NULL v means undefined, except a nullable TEXT column where NULL means JSON null. */
typedef struct cexpr {
	cty ty;
	buf v;
	const char *col;              /* TY_DYN: the JSON column */
	const char *const *segs;      /* TY_DYN: path inside it (borrowed from the AST) */
	size_t nsegs;
	const store_field *field;     /* a plain column (TEXT, INT, BOOL) */
	const qlit *lit;              /* a literal */
} cexpr;

typedef struct qcomp {
	const store_dialect *d;
	const query *q;
	query_sql *out;
	query_error *err;
	int rc;
	qlit **made;                  /* literals made while compiling (AGO's times), freed with the qcomp */
	size_t nmade;
} qcomp;

typedef enum tri { TRI_NEVER, TRI_ALWAYS, TRI_SQL } tri;

static void cexpr_release(cexpr *e)
{
	buf_release(&e->v);
}

static void fail(qcomp *c, size_t pos, const char *msg)
{
	if (!c->rc)
		c->rc = query__error(c->err, pos, "%s", msg);
}

/* Adds a bound parameter and appends its placeholder. */
static int add_param(qcomp *c, buf *sql, query_param_kind kind, int64_t i, double r, const char *text)
{
	query_sql *o = c->out;
	query_param *p;

	o->params = xrealloc(o->params, (o->nparams + 1) * sizeof(*o->params));
	p = &o->params[o->nparams++];
	memset(p, 0, sizeof(*p));
	p->kind = kind;
	p->i = i;
	p->r = r;
	p->text = text ? xstrdup(text) : NULL;
	if (sql)
		c->d->placeholder(sql, (int)o->nparams);
	return (int)o->nparams;
}

/* Binds a literal's value (booleans as 0/1, the way json_extract returns them). */
static void add_literal(qcomp *c, buf *sql, const qlit *lit)
{
	switch (lit->kind) {
	case QL_STRING: add_param(c, sql, QUERY_PARAM_TEXT, 0, 0, lit->s); break;
	case QL_INT:
	case QL_BOOL: add_param(c, sql, QUERY_PARAM_INT, lit->i, 0, NULL); break;
	case QL_REAL: add_param(c, sql, QUERY_PARAM_REAL, 0, lit->r, NULL); break;
	default: buf_puts(sql, "NULL"); break;
	}
}

static char lit_class(const qlit *lit)
{
	switch (lit->kind) {
	case QL_STRING: return 's';
	case QL_INT:
	case QL_REAL: return 'n';
	case QL_BOOL: return 'b';
	case QL_NULL: return 'z';
	default: return 0;
	}
}

static char static_class(cty ty)
{
	return ty == TY_STR ? 's' : ty == TY_NUM ? 'n' : ty == TY_BOOL ? 'b' : ty == TY_NULL ? 'z' : 0;
}

/* A segment goes into a JSON path inside a SQL literal; SQLite's path syntax has no escape for '"'. */
static int check_segments(qcomp *c, const qnode *path)
{
	for (size_t i = 0; i < path->nsegs; i++)
		if (strchr(path->segs[i], '"'))
			fail(c, path->pos, "property names containing '\"' cannot be queried");
	return c->rc;
}

static int is_config_status(const qnode *p)
{
	return p->nsegs == 3 && !strcasecmp(p->segs[0], "configurations") && !strcasecmp(p->segs[2], "status");
}

/* `configurations.[[id]].status`: the configuration's status for the twin (reference §1.7), a string or
 * undefined. The id is a bound parameter. Returns 0 when path is something else. */
static int configuration_status(qcomp *c, const qnode *path, int as_json, buf *out)
{
	buf ph = BUF_INIT;

	if (!is_config_status(path))
		return 0;
	c->d->placeholder(&ph, add_param(c, NULL, QUERY_PARAM_TEXT, 0, 0, path->segs[1]));
	c->d->configuration_status(out, buf_cstr(&ph), as_json);
	buf_release(&ph);
	return 1;
}

/* The field holding a path for the query's source (twin fields, or job-row fields on devices.jobs). IoT
 * Hub's documentation writes devices.jobs.deviceId; that prefix is skipped, and counted in *used. */
static const store_field *lookup_field(const qcomp *c, const qnode *path, size_t *used)
{
	const char *const *segs = (const char *const *)path->segs;
	size_t skip = 0;
	const store_field *f;

	if (c->q->source != QUERY_JOBS)
		return store_field_lookup(segs, path->nsegs, used);
	if (path->nsegs > 2 && !strcasecmp(segs[0], "devices") && !strcasecmp(segs[1], "jobs"))
		skip = 2;
	f = store_job_field_lookup(segs + skip, path->nsegs - skip, used);
	*used += skip;
	return f;
}

static void compile_path(qcomp *c, const qnode *n, cexpr *e)
{
	size_t used = 0;
	const store_field *f;

	/* Until a field is found the value is undefined, also when compiling fails half way. */
	e->ty = TY_UNDEF;
	if (check_segments(c, n)) {
		buf_puts(&e->v, "NULL");
		return;
	}
	if (c->q->source != QUERY_JOBS && configuration_status(c, n, 0, &e->v)) {
		e->ty = TY_STR;   /* no field: a NULL value is undefined */
		return;
	}
	f = lookup_field(c, n, &used);
	if (!f && c->q->source == QUERY_JOBS)
		/* IoT Hub: devices.jobs takes no twin-field filters. A typo is refused rather than matching nothing. */
		fail(c, n->pos, "devices.jobs can only be filtered on job fields (deviceId, moduleId, jobId, jobType, "
				"status, startTimeUtc, endTimeUtc, createdDateTimeUtc, lastUpdatedDateTimeUtc, outcome, "
				"error), not twin fields");
	if (!f) {
		buf_puts(&e->v, "NULL");
		return;
	}
	if (f->kind != STORE_FIELD_JSON) {
		e->ty = f->kind == STORE_FIELD_TEXT ? TY_STR : f->kind == STORE_FIELD_INT ? TY_NUM : TY_BOOL;
		e->field = f;
		buf_puts(&e->v, f->column);
		return;
	}
	e->ty = TY_DYN;
	e->col = f->column;
	e->segs = (const char *const *)n->segs + used;
	e->nsegs = n->nsegs - used;
	c->d->json_value(&e->v, e->col, e->segs, e->nsegs);
}

static void json_type_of(qcomp *c, const cexpr *e, buf *out)
{
	c->d->json_type(out, e->col, e->segs, e->nsegs);
}

/* A SQL test that e holds a value of class cls ('s' string, 'n' number, 'b' bool, 'z' null). precise:
 * the answer must be exact (IS_STRING); otherwise a comparison will turn a NULL static value into NULL
 * by itself, so a static type of the right class counts as always. For TY_DYN the SQL is NULL when the
 * path is absent. */
static tri type_test(qcomp *c, const cexpr *e, char cls, int precise, buf *out)
{
	static const struct {
		char cls;
		const char *sql;
	} dyn[] = {{'s', " = 'text'"}, {'n', " IN ('integer','real')"}, {'b', " IN ('true','false')"}, {'z', " = 'null'"}};

	if (e->ty == TY_DYN) {
		for (size_t i = 0; i < sizeof(dyn) / sizeof(dyn[0]); i++) {
			if (dyn[i].cls != cls)
				continue;
			json_type_of(c, e, out);
			buf_puts(out, dyn[i].sql);
			return TRI_SQL;
		}
		return TRI_NEVER;
	}
	if (e->field && e->field->kind == STORE_FIELD_TEXT && (cls == 'z' || precise)) {
		if (cls != 'z' && cls != 's')
			return TRI_NEVER;
		buf_printf(out, "%s IS %sNULL", e->field->column, cls == 'z' ? "" : "NOT ");
		return TRI_SQL;
	}
	if (static_class(e->ty) != cls)
		return TRI_NEVER;
	if (!precise || e->field || e->lit)
		return TRI_ALWAYS;
	buf_printf(out, "(%s) IS NOT NULL", buf_cstr(&e->v));
	return TRI_SQL;
}

/* e's value if it is of class cls, else NULL: what arithmetic and string functions operate on. */
static void typed_value(qcomp *c, const cexpr *e, char cls, buf *out)
{
	buf test = BUF_INIT;
	tri t = type_test(c, e, cls, 0, &test);

	if (t == TRI_NEVER)
		buf_puts(out, "NULL");
	else if (t == TRI_ALWAYS)
		buf_printf(out, "%s", buf_cstr(&e->v));
	else
		buf_printf(out, "CASE WHEN %s THEN %s END", buf_cstr(&test), buf_cstr(&e->v));
	buf_release(&test);
}

static void compile_value(qcomp *c, const qnode *n, cexpr *e);
static void compile_cond(qcomp *c, const qnode *n, int positive, buf *out);

static void compile_arith(qcomp *c, const qnode *n, cexpr *e)
{
	cexpr a = {0}, b = {0};

	compile_value(c, n->a, &a);
	compile_value(c, n->b, &b);
	e->ty = TY_NUM;
	buf_putc(&e->v, '(');
	typed_value(c, &a, 'n', &e->v);
	buf_printf(&e->v, " %s ", n->op);
	typed_value(c, &b, 'n', &e->v);
	buf_putc(&e->v, ')');
	cexpr_release(&a);
	cexpr_release(&b);
}

/* Functions that yield a string or number. */
static int compile_value_func(qcomp *c, const qnode *n, cexpr *e)
{
	static const struct {
		const char *name, *sql;
		char arg;
		cty ty;
	} table[] = {
		{"LOWER", "lower", 's', TY_STR},
		{"UPPER", "upper", 's', TY_STR},
		{"LENGTH", "length", 's', TY_NUM},
		{"ABS", "abs", 'n', TY_NUM},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		if (strcmp(n->name, table[i].name) != 0)
			continue;
		cexpr a = {0};
		compile_value(c, n->args[0], &a);
		e->ty = table[i].ty;
		buf_printf(&e->v, "%s(", table[i].sql);
		typed_value(c, &a, table[i].arg, &e->v);
		buf_putc(&e->v, ')');
		cexpr_release(&a);
		return 1;
	}
	return 0;
}

/* AGO(seconds): hub-now minus seconds as ISO-8601 UTC text (the form of lastActivityTime), compiled as if
 * the query held that string literal, so `lastActivityTime < AGO(3600)` is a plain comparison. The parser
 * checked the argument (a number literal in range). */
static int compile_ago(qcomp *c, const qnode *n, cexpr *e)
{
	const qlit *arg = &n->args[0]->lit;
	double seconds = arg->kind == QL_INT ? (double)arg->i : arg->r;
	char iso[CLOCK_ISO_LEN];
	qlit *lit;

	if (strcmp(n->name, "AGO") != 0)
		return 0;
	clock_iso_from_ms(clock_hub_ms() - (int64_t)(seconds * 1000.0), iso);
	lit = xcalloc(1, sizeof(*lit));
	lit->kind = QL_STRING;
	lit->s = xstrdup(iso);
	c->made = xrealloc(c->made, (c->nmade + 1) * sizeof(*c->made));
	c->made[c->nmade++] = lit;
	e->lit = lit;
	e->ty = TY_STR;
	add_literal(c, &e->v, lit);
	return 1;
}

static void compile_value(qcomp *c, const qnode *n, cexpr *e)
{
	memset(e, 0, sizeof(*e));
	if (c->rc) {
		e->ty = TY_UNDEF;
		return;
	}
	switch (n->kind) {
	case QN_LIT:
		e->lit = &n->lit;
		e->ty = n->lit.kind == QL_STRING ? TY_STR : n->lit.kind == QL_BOOL ? TY_BOOL
		      : n->lit.kind == QL_NULL ? TY_NULL : n->lit.kind == QL_UNDEFINED ? TY_UNDEF : TY_NUM;
		add_literal(c, &e->v, &n->lit);
		return;
	case QN_PATH:
		compile_path(c, n, e);
		return;
	case QN_ARITH:
		compile_arith(c, n, e);
		return;
	case QN_NEG: {
		cexpr a = {0};
		compile_value(c, n->a, &a);
		e->ty = TY_NUM;
		buf_puts(&e->v, "(- ");
		typed_value(c, &a, 'n', &e->v);
		buf_putc(&e->v, ')');
		cexpr_release(&a);
		return;
	}
	case QN_FUNC:
		if (compile_ago(c, n, e) || compile_value_func(c, n, e))
			return;
		break;
	default:
		break;
	}
	/* Everything else is a condition; as a value it is a Boolean (NULL = undefined). */
	e->ty = TY_BOOL;
	compile_cond(c, n, 0, &e->v);
}

/* The Boolean a value stands for in a condition: only true is true. */
static void cond_of_value(qcomp *c, const cexpr *e, int positive, buf *out)
{
	if (e->ty == TY_BOOL) {
		buf_printf(out, "%s", buf_cstr(&e->v));
	} else if (e->ty == TY_DYN) {
		buf_puts(out, positive ? "" : "CASE ");
		json_type_of(c, e, out);
		buf_puts(out, positive ? " = 'true'" : " WHEN 'true' THEN 1 WHEN 'false' THEN 0 END");
	} else {
		buf_puts(out, "NULL");
	}
}

static const char *flip(const char *op)
{
	if (!strcmp(op, "<"))
		return ">";
	if (!strcmp(op, ">"))
		return "<";
	if (!strcmp(op, "<="))
		return ">=";
	if (!strcmp(op, ">="))
		return "<=";
	return op;
}

/* null compares equal to null only; `x != null` means "defined and not null" (documented). */
static void cmp_null(qcomp *c, const cexpr *a, const char *op, buf *out)
{
	buf test = BUF_INIT;
	tri t = type_test(c, a, 'z', 1, &test);
	int eq = !strcmp(op, "=") || !strcmp(op, "<=") || !strcmp(op, ">=");

	if (!strcmp(op, "<") || !strcmp(op, ">"))
		buf_puts(out, "0");
	else if (t != TRI_SQL)
		buf_puts(out, (t == TRI_ALWAYS) == eq ? "1" : "0");
	else
		buf_printf(out, eq ? "%s" : "NOT (%s)", buf_cstr(&test));
	buf_release(&test);
}

/* Whether an equality on a JSON path may drop its type guard: json_extract returns strings as text and
 * true/false as 1/0, and objects/arrays as JSON text, so only strings looking like JSON text and the
 * numbers 0 and 1 could match a value of another type. */
static int guard_droppable(const cexpr *a, const char *op, const qlit *lit)
{
	if (a->ty != TY_DYN || strcmp(op, "="))
		return 0;
	if (lit->kind == QL_STRING)
		return lit->s[0] != '{' && lit->s[0] != '[';
	if (lit->kind == QL_INT)
		return lit->i != 0 && lit->i != 1;
	if (lit->kind == QL_REAL)
		return lit->r != 0 && lit->r != 1;
	return 0;
}

/* value op literal: `X op ?N`, guarded by a type test kept as a separate conjunct in positive mode. The
 * literal was bound when b was compiled; b->v is its placeholder. */
static void cmp_literal(qcomp *c, const cexpr *a, const char *op, const cexpr *b, int positive, buf *out)
{
	buf test = BUF_INIT;
	char cls = lit_class(b->lit);
	tri t;

	if (cls == 'z') {
		cmp_null(c, a, op, out);
		return;
	}
	t = cls ? type_test(c, a, cls, 0, &test) : TRI_NEVER;
	if (t == TRI_NEVER)
		buf_puts(out, "NULL");
	else if (t == TRI_ALWAYS || (positive && guard_droppable(a, op, b->lit)))
		buf_printf(out, "%s %s %s", buf_cstr(&a->v), op, buf_cstr(&b->v));
	else if (positive)
		buf_printf(out, "(%s %s %s AND %s)", buf_cstr(&a->v), op, buf_cstr(&b->v), buf_cstr(&test));
	else
		buf_printf(out, "CASE WHEN %s THEN %s %s %s END", buf_cstr(&test), buf_cstr(&a->v), op, buf_cstr(&b->v));
	buf_release(&test);
}

/* Two non-literal values: compare within each class both may hold; NULL when the classes differ. */
static void cmp_generic(qcomp *c, const cexpr *a, const cexpr *b, const char *op, buf *out)
{
	static const char classes[] = "snbz";
	int any = 0;

	for (const char *k = classes; *k; k++) {
		buf ta = BUF_INIT, tb = BUF_INIT;
		tri x = type_test(c, a, *k, *k == 'z', &ta), y = type_test(c, b, *k, *k == 'z', &tb);
		if (x != TRI_NEVER && y != TRI_NEVER) {
			buf_puts(out, any ? " WHEN " : "CASE WHEN ");
			buf_printf(out, "%s AND %s THEN ", x == TRI_SQL ? buf_cstr(&ta) : "1",
				   y == TRI_SQL ? buf_cstr(&tb) : "1");
			if (*k == 'z')
				buf_puts(out, !strcmp(op, "=") || !strcmp(op, "<=") || !strcmp(op, ">=") ? "1" : "0");
			else
				buf_printf(out, "%s %s %s", buf_cstr(&a->v), op, buf_cstr(&b->v));
			any = 1;
		}
		buf_release(&ta);
		buf_release(&tb);
	}
	buf_puts(out, any ? " END" : "NULL");
}

static void compile_cmp(qcomp *c, const qnode *n, int positive, buf *out)
{
	cexpr a = {0}, b = {0};
	const char *op = n->op;

	compile_value(c, n->a, &a);
	compile_value(c, n->b, &b);
	if (a.lit && !b.lit) {
		cexpr t = a;
		a = b;
		b = t;
		op = flip(op);
	}
	if (a.ty == TY_UNDEF || b.ty == TY_UNDEF)
		buf_puts(out, "NULL");
	else if (b.lit)
		cmp_literal(c, &a, op, &b, positive, out);
	else
		cmp_generic(c, &a, &b, op, out);
	cexpr_release(&a);
	cexpr_release(&b);
}

/* The members of an IN list of class cls: `X IN (?1, ?2)` (guarded when a member could match a value of
 * another class), or for booleans and null a type test alone. 0 when the list has none. */
static int in_group(qcomp *c, const cexpr *a, const qnode *n, char cls, buf *out)
{
	buf test = BUF_INIT;
	int count = 0, guard = 0;
	tri t = type_test(c, a, cls, cls == 'z', &test);

	for (size_t i = 0; i < n->nargs && t != TRI_NEVER; i++) {
		const qlit *lit = &n->args[i]->lit;
		if (lit_class(lit) != cls)
			continue;
		if (cls == 'z') {
			buf_puts(out, t == TRI_ALWAYS ? "1" : buf_cstr(&test));
			count = 1;
			break;
		}
		buf_printf(out, count ? ", " : "%s IN (", buf_cstr(&a->v));
		add_literal(c, out, lit);
		guard |= !guard_droppable(a, "=", lit);
		count++;
	}
	if (count && cls != 'z')
		buf_putc(out, ')');
	if (count && cls != 'z' && guard && t == TRI_SQL)
		buf_printf(out, " AND %s", buf_cstr(&test));
	buf_release(&test);
	return count > 0;
}

/* x IN [..] for a computed value (LOWER(x), a comparison, ...): x appears once, because repeating it
 * would double the SQL at every nesting level. SQL's `NULL IN (..)` is NULL, which is undefined here. */
static void compile_in_computed(qcomp *c, const cexpr *a, const qnode *n, buf *out)
{
	char cls = static_class(a->ty);
	int count = 0;

	for (size_t i = 0; i < n->nargs; i++) {
		const qlit *lit = &n->args[i]->lit;
		if (lit_class(lit) != cls || cls == 'z')
			continue;
		buf_printf(out, count++ ? ", " : "%s(%s IN (", n->negated ? "NOT " : "", buf_cstr(&a->v));
		add_literal(c, out, lit);
	}
	if (count)
		buf_puts(out, "))");
	else
		buf_printf(out, "CASE WHEN %s IS NULL THEN NULL ELSE %d END", buf_cstr(&a->v), n->negated);
}

/* x IN [..]: true when x equals a member (same class, same value), false when x is defined and equals
 * none, undefined when x is. NIN is its negation, so it matches every defined value not in the list. */
static void compile_in(qcomp *c, const qnode *n, int positive, buf *out)
{
	cexpr a = {0};
	buf any = BUF_INIT, defined = BUF_INIT;
	int groups = 0;

	compile_value(c, n->a, &a);
	if (a.ty == TY_UNDEF) {
		buf_puts(out, "NULL");
		goto out;
	}
	if (a.ty != TY_DYN && !a.field && !a.lit) {
		compile_in_computed(c, &a, n, out);
		goto out;
	}
	for (const char *k = "snbz"; *k; k++) {
		buf g = BUF_INIT;
		if (in_group(c, &a, n, *k, &g))
			buf_printf(&any, groups++ ? " OR (%s)" : "(%s)", buf_cstr(&g));
		buf_release(&g);
	}
	if (!groups)
		buf_puts(&any, "0");
	if (a.ty == TY_DYN)
		json_type_of(c, &a, &defined);
	else
		buf_puts(&defined, "1");   /* a column or a literal is always defined */
	if (positive && !n->negated)
		buf_printf(out, "(%s)", buf_cstr(&any));
	else
		buf_printf(out, "CASE WHEN %s IS NULL THEN NULL WHEN %s THEN %d ELSE %d END", buf_cstr(&defined),
			   buf_cstr(&any), !n->negated, n->negated);
out:
	buf_release(&any);
	buf_release(&defined);
	cexpr_release(&a);
}

/* IS_DEFINED and the IS_<type> family: always true or false, never undefined. */
static int compile_type_func(qcomp *c, const qnode *n, buf *out)
{
	static const char *const names[] = {"IS_STRING", "IS_NUMBER", "IS_BOOL", "IS_NULL"};
	static const char classes[] = "snbz";
	cexpr a = {0};
	buf test = BUF_INIT;
	int done = 1;

	if (strncmp(n->name, "IS_", 3) != 0)
		return 0;
	compile_value(c, n->args[0], &a);
	for (size_t i = 0; i < 4; i++) {
		if (strcmp(n->name, names[i]) != 0)
			continue;
		tri t = type_test(c, &a, classes[i], 1, &test);
		buf_printf(out, t == TRI_SQL ? "coalesce(%s, 0)" : "%s", t == TRI_SQL ? buf_cstr(&test) : t == TRI_ALWAYS ? "1" : "0");
		goto out;
	}
	if (a.ty == TY_DYN && strcmp(n->name, "IS_DEFINED") == 0) {
		json_type_of(c, &a, out);
		buf_puts(out, " IS NOT NULL");
	} else if (a.ty == TY_DYN) {
		const char *test_sql = !strcmp(n->name, "IS_ARRAY") ? " = 'array'" : !strcmp(n->name, "IS_OBJECT")
				     ? " = 'object'" : " NOT IN ('array','object')";
		buf_puts(out, "coalesce(");
		json_type_of(c, &a, out);
		buf_printf(out, "%s, 0)", test_sql);
	} else if (!strcmp(n->name, "IS_ARRAY") || !strcmp(n->name, "IS_OBJECT") || a.ty == TY_UNDEF) {
		buf_puts(out, "0");
	} else if (a.field || a.lit) {
		buf_puts(out, "1");
	} else {
		buf_printf(out, "(%s) IS NOT NULL", buf_cstr(&a.v));   /* IS_DEFINED / IS_PRIMITIVE */
	}
out:
	buf_release(&test);
	cexpr_release(&a);
	return done;
}

/* STARTSWITH / ENDSWITH / CONTAINS on strings; undefined unless both arguments are strings. */
static int compile_string_func(qcomp *c, const qnode *n, buf *out)
{
	cexpr a = {0}, b = {0};
	buf sa = BUF_INIT, sb = BUF_INIT;
	int known = 1;

	if (strcmp(n->name, "STARTSWITH") && strcmp(n->name, "ENDSWITH") && strcmp(n->name, "CONTAINS"))
		return 0;
	compile_value(c, n->args[0], &a);
	compile_value(c, n->args[1], &b);
	typed_value(c, &a, 's', &sa);
	typed_value(c, &b, 's', &sb);
	if (!strcmp(n->name, "STARTSWITH"))
		buf_printf(out, "(substr(%s, 1, length(%s)) = %s)", buf_cstr(&sa), buf_cstr(&sb), buf_cstr(&sb));
	else if (!strcmp(n->name, "ENDSWITH"))
		/* A start at or before the first character yields fewer characters than the suffix has, so a
		 * suffix longer than the value never matches. */
		buf_printf(out, "(substr(%s, length(%s) - length(%s) + 1) = %s)", buf_cstr(&sa), buf_cstr(&sa),
			   buf_cstr(&sb), buf_cstr(&sb));
	else
		buf_printf(out, "(instr(%s, %s) > 0)", buf_cstr(&sa), buf_cstr(&sb));
	buf_release(&sa);
	buf_release(&sb);
	cexpr_release(&a);
	cexpr_release(&b);
	return known;
}

/* ARRAY_CONTAINS(path, literal): an extension, through SQLite's json_each over the array's JSON. */
static void compile_array_contains(qcomp *c, const qnode *n, buf *out)
{
	static const struct {
		char cls;
		const char *sql;
	} member[] = {{'s', "type = 'text' AND atom = "}, {'n', "type IN ('integer','real') AND atom = "},
		      {'b', "type = "}, {'z', "type = 'null'"}};
	cexpr a = {0};
	const qlit *lit = n->args[1]->kind == QN_LIT ? &n->args[1]->lit : NULL;
	char cls = lit ? lit_class(lit) : 0;

	if (!lit || !cls)
		return fail(c, n->args[1]->pos, "ARRAY_CONTAINS needs a literal as its second argument");
	if (strcmp(c->d->name, "sqlite") != 0)
		return fail(c, n->pos, "ARRAY_CONTAINS is not supported by this store");
	compile_value(c, n->args[0], &a);
	if (a.ty != TY_DYN) {
		buf_puts(out, "NULL");
		goto out;
	}
	buf_puts(out, "CASE WHEN ");
	json_type_of(c, &a, out);
	buf_printf(out, " = 'array' THEN EXISTS (SELECT 1 FROM json_each(%s) WHERE ", buf_cstr(&a.v));
	for (size_t i = 0; i < sizeof(member) / sizeof(member[0]); i++) {
		if (member[i].cls != cls)
			continue;
		buf_puts(out, member[i].sql);
		if (cls == 'b')
			buf_puts(out, lit->i ? "'true'" : "'false'");
		else if (cls != 'z')
			add_literal(c, out, lit);
	}
	buf_puts(out, ") END");
out:
	cexpr_release(&a);
}

static void compile_cond_func(qcomp *c, const qnode *n, int positive, buf *out)
{
	if (compile_type_func(c, n, out) || compile_string_func(c, n, out))
		return;
	if (!strcmp(n->name, "ARRAY_CONTAINS"))
		return compile_array_contains(c, n, out);
	cexpr v = {0};
	if (compile_ago(c, n, &v) || compile_value_func(c, n, &v))
		cond_of_value(c, &v, positive, out);
	else
		fail(c, n->pos, "unknown function");
	cexpr_release(&v);
}

/* a AND b AND c without nested parentheses: SQLite's parser stack is shallow (see QUERY_MAX_DEPTH). */
static void compile_chain(qcomp *c, const qnode *n, qnode_kind kind, int positive, buf *out)
{
	for (int side = 0; side < 2; side++) {
		const qnode *child = side ? n->b : n->a;
		if (side)
			buf_puts(out, kind == QN_AND ? " AND " : " OR ");
		if (child->kind == kind)
			compile_chain(c, child, kind, positive, out);
		else
			compile_cond(c, child, positive, out);
	}
}

static void compile_cond(qcomp *c, const qnode *n, int positive, buf *out)
{
	if (c->rc)
		return;
	switch (n->kind) {
	case QN_AND:
	case QN_OR:
		buf_putc(out, '(');
		compile_chain(c, n, n->kind, positive, out);
		buf_putc(out, ')');
		return;
	case QN_NOT:
		buf_puts(out, "NOT (");
		compile_cond(c, n->a, 0, out);
		buf_putc(out, ')');
		return;
	case QN_CMP:
		compile_cmp(c, n, positive, out);
		return;
	case QN_IN:
		compile_in(c, n, positive, out);
		return;
	case QN_FUNC:
		compile_cond_func(c, n, positive, out);
		return;
	default: {
		cexpr v = {0};
		compile_value(c, n, &v);
		cond_of_value(c, &v, positive, out);
		cexpr_release(&v);
		return;
	}
	}
}

/* ---- SELECT list, GROUP BY, source ---- */

/* The JSON text of a path (what a projection shows and what GROUP BY groups by). */
static void path_text(qcomp *c, const qnode *path, buf *out)
{
	size_t used = 0;
	const store_field *f;

	if (check_segments(c, path) || configuration_status(c, path, 1, out))
		return;
	f = lookup_field(c, path, &used);
	if (!f)
		buf_puts(out, "NULL");
	else if (f->kind == STORE_FIELD_JSON)
		c->d->json_text(out, f->column, (const char *const *)path->segs + used, path->nsegs - used);
	else
		c->d->column_text(out, f->column, f->kind);
}

/* GROUP BY key: plain columns group by themselves, JSON paths by their JSON text (so "1" and 1, or
 * true and 1, stay apart; a projection of the same path then reads the key instead of the column). */
static void group_key(qcomp *c, const qnode *path, buf *out)
{
	size_t used = 0;
	const store_field *f = lookup_field(c, path, &used);

	if (f && f->kind != STORE_FIELD_JSON)
		buf_puts(out, f->column);
	else
		path_text(c, path, out);
}

static void aggregate_sql(qcomp *c, const qproj *p, buf *out)
{
	static const char *const fn[] = {NULL, "count", "avg", "sum", "min", "max"};
	cexpr a = {0};
	buf arg = BUF_INIT;

	if (p->agg == QA_COUNT) {
		buf_puts(out, "count(*)");
		return;
	}
	compile_value(c, p->path, &a);
	if ((p->agg == QA_MIN || p->agg == QA_MAX) && a.field && a.field->kind == STORE_FIELD_TEXT) {
		/* MIN/MAX of a text column (lastActivityTime) is a string; render it as JSON. */
		buf_printf(&arg, "%s(%s)", fn[p->agg], a.field->column);
		c->d->column_text(out, buf_cstr(&arg), STORE_FIELD_TEXT);
	} else {
		/* Numbers only: a NULL result (no numeric values) leaves the member out. */
		buf_printf(out, "%s(", fn[p->agg]);
		typed_value(c, &a, 'n', out);
		buf_putc(out, ')');
	}
	buf_release(&arg);
	cexpr_release(&a);
}

static int is_grouped(qcomp *c, const qnode *path)
{
	buf want = BUF_INIT;
	int found = 0;

	/* A configuration status binds its id as a new parameter each time, so its SQL never repeats. */
	for (size_t i = 0; i < c->q->ngroup && is_config_status(path); i++)
		if (is_config_status(c->q->group[i]) && !strcmp(c->q->group[i]->segs[1], path->segs[1]))
			return 1;
	group_key(c, path, &want);
	for (size_t i = 0; i < c->q->ngroup && !found; i++) {
		buf have = BUF_INIT;
		group_key(c, c->q->group[i], &have);
		found = strcmp(buf_cstr(&want), buf_cstr(&have)) == 0;
		buf_release(&have);
	}
	buf_release(&want);
	return found;
}

static void add_column_name(qcomp *c, const qproj *p, int *unnamed)
{
	query_sql *o = c->out;
	char name[32];
	const char *use = p->alias;

	if (!use && p->agg == QA_NONE) {
		/* A system field answers under its own spelling (SELECT DeviceId → "deviceId"). */
		size_t used = 0;
		const store_field *f = store_field_lookup((const char *const *)p->path->segs, p->path->nsegs, &used);
		const char *dot = f && f->case_insensitive && used == p->path->nsegs ? strrchr(f->path, '.') : NULL;
		use = f && f->case_insensitive && used == p->path->nsegs ? (dot ? dot + 1 : f->path)
									 : p->path->segs[p->path->nsegs - 1];
	}
	if (!use) {
		snprintf(name, sizeof(name), "$%d", ++*unnamed);
		use = name;
	}
	for (size_t i = 0; i < o->ncolumns; i++)
		if (strcmp(o->column_names[i], use) == 0)
			return fail(c, p->pos, "duplicate column name in SELECT; use AS to rename one");
	o->column_names = xrealloc(o->column_names, (o->ncolumns + 1) * sizeof(*o->column_names));
	o->column_names[o->ncolumns++] = xstrdup(use);
}

static void compile_projection(qcomp *c, buf *sql)
{
	const query *q = c->q;
	int aggregates = 0, unnamed = 0;

	for (size_t i = 0; i < q->nproj; i++)
		aggregates += q->proj[i].agg != QA_NONE;
	if (q->ngroup && !aggregates)
		return fail(c, q->group[0]->pos, "GROUP BY needs an aggregate such as COUNT() in SELECT");
	for (size_t i = 0; i < q->nproj && !c->rc; i++) {
		const qproj *p = &q->proj[i];
		if (p->agg == QA_NONE && aggregates && !is_grouped(c, p->path))
			return fail(c, p->pos, q->ngroup ? "a property in SELECT must appear in GROUP BY"
							 : "properties and aggregates cannot be mixed without GROUP BY");
		buf_puts(sql, i ? ", " : "");
		if (p->agg == QA_NONE)
			path_text(c, p->path, sql);
		else
			aggregate_sql(c, p, sql);
		add_column_name(c, p, &unnamed);
	}
}

/* FROM table WHERE filter AND condition AND key > after_key: filter (which rows of table the source
 * covers) may be NULL; the keyset term is there for keyset-paged pages only. */
static void compile_where(qcomp *c, const char *table, const char *filter, const char *key, const query_page *page,
			  buf *sql)
{
	const char *sep = " WHERE ";

	buf_printf(sql, " FROM %s", table);
	if (filter) {
		buf_printf(sql, "%s%s", sep, filter);
		sep = " AND ";
	}
	if (c->q->where) {
		buf_puts(sql, sep);
		compile_cond(c, c->q->where, 1, sql);
		sep = " AND ";
	}
	if (c->out->keyset && page) {
		buf_printf(sql, "%s%s > ", sep, key);
		add_param(c, sql, QUERY_PARAM_INT, page->after_key, 0, NULL);
	}
}

static void compile_limit(qcomp *c, const query_page *page, int64_t top, buf *sql)
{
	if (page) {
		buf_puts(sql, " LIMIT ");
		add_param(c, sql, QUERY_PARAM_INT, (int64_t)page->limit + 1, 0, NULL);
		if (!c->out->keyset) {
			buf_puts(sql, " OFFSET ");
			add_param(c, sql, QUERY_PARAM_INT, page->offset, 0, NULL);
		}
	} else if (top >= 0) {
		buf_puts(sql, " LIMIT ");
		add_param(c, sql, QUERY_PARAM_INT, top, 0, NULL);
	}
}

static void compile_select(qcomp *c, const query_page *page, buf *sql)
{
	const query *q = c->q;
	query_sql *o = c->out;

	if (q->star && q->ngroup)
		return fail(c, q->group[0]->pos, "GROUP BY needs an aggregate such as COUNT() in SELECT");
	o->shape = q->star ? QUERY_SHAPE_TWINS : QUERY_SHAPE_RAW;
	o->keyset = q->star;
	buf_puts(sql, "SELECT ");
	if (q->star)
		buf_puts(sql, STORE_DEVICE_COLUMNS);
	else
		compile_projection(c, sql);
	compile_where(c, c->d->identity_table, q->source == QUERY_MODULES ? c->d->modules_filter : c->d->devices_filter,
		      c->d->row_key, page, sql);
	if (q->ngroup && !q->star) {
		buf g = BUF_INIT;
		for (size_t i = 0; i < q->ngroup; i++) {
			buf_puts(&g, i ? ", " : "");
			group_key(c, q->group[i], &g);
		}
		/* Ordering by the group key costs nothing (SQLite sorts by it to group) and keeps pages stable. */
		buf_printf(sql, " GROUP BY %s ORDER BY %s", buf_cstr(&g), buf_cstr(&g));
		buf_release(&g);
	} else if (q->star || q->proj[0].agg == QA_NONE) {
		buf_printf(sql, " ORDER BY %s", c->d->row_key);
	}
	compile_limit(c, page, q->top, sql);
}

/* SELECT * FROM devices.jobs: per-device job rows (reference §1.6), keyset-paged by the job row key. IoT
 * Hub takes neither projections, aggregates nor twin fields here (reference §2). */
static void compile_jobs(qcomp *c, const query_page *page, buf *sql)
{
	const query *q = c->q;

	if (!q->star)
		return fail(c, q->proj[0].pos, "devices.jobs supports only SELECT * (no projections or aggregates)");
	if (q->ngroup)
		return fail(c, q->group[0]->pos, "GROUP BY is only supported on twins");
	c->out->shape = QUERY_SHAPE_JOBS;
	c->out->keyset = 1;
	buf_printf(sql, "SELECT %s, " STORE_JOB_ROW_COLUMNS, c->d->job_row_key);
	compile_where(c, c->d->job_table, NULL, c->d->job_row_key, page, sql);
	buf_printf(sql, " ORDER BY %s", c->d->job_row_key);
	compile_limit(c, page, q->top, sql);
}

int query_compile(const query *q, const store_dialect *d, const query_page *page, query_sql *out,
		  query_error *err)
{
	qcomp c = {.d = d, .q = q, .out = out, .err = err};
	buf sql = BUF_INIT;

	memset(out, 0, sizeof(*out));
	if (err)
		memset(err, 0, sizeof(*err));
	out->source = q->source;
	if (q->source == QUERY_JOBS)
		compile_jobs(&c, page, &sql);
	else
		compile_select(&c, page, &sql);
	if (!c.rc)
		out->sql = buf_detach(&sql);
	buf_release(&sql);
	for (size_t i = 0; i < c.nmade; i++) {
		free(c.made[i]->s);
		free(c.made[i]);
	}
	free(c.made);
	if (c.rc)
		query_sql_release(out);
	return c.rc;
}

void query_sql_release(query_sql *out)
{
	free(out->sql);
	for (size_t i = 0; i < out->nparams; i++)
		free(out->params[i].text);
	free(out->params);
	for (size_t i = 0; i < out->ncolumns; i++)
		free(out->column_names[i]);
	free(out->column_names);
	memset(out, 0, sizeof(*out));
}
