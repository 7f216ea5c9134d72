/*
 * query_parse: recursive-descent parser from query text to the AST in query_int.h (reference §2).
 *
 * Precedence, loosest first: OR, AND, NOT, comparison / IN / NIN, + -, * / %, unary minus. Keywords are
 * case-insensitive names; a name written [[like this]] is never a keyword. Every error names the byte
 * position and what was expected. Never builds SQL.
 */
#include "query_int.h"

#include "buf.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct qparser {
	qlexer lx;
	qtok cur;
	query_error *err;
	int rc;            /* first error; once set every parse function returns NULL */
	int nest;          /* recursion depth of the expression parser */
} qparser;

/* The recursion guard: each parenthesised level passes through a few parse functions, so this is looser
 * than QUERY_MAX_DEPTH, which the finished nodes are checked against (too_deep). */
#define QUERY_MAX_NEST (4 * QUERY_MAX_DEPTH)

static const char *const keywords[] = {"SELECT", "TOP", "FROM", "WHERE", "GROUP", "BY", "AS", "AND", "OR",
				       "NOT", "IN", "NIN", "TRUE", "FALSE", "NULL", "UNDEFINED"};

static int is_keyword(const qtok *t)
{
	if (t->kind != QT_NAME || t->escaped)
		return 0;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (strcasecmp(t->text, keywords[i]) == 0)
			return 1;
	return 0;
}

static int at_kw(const qparser *p, const char *kw)
{
	return p->cur.kind == QT_NAME && !p->cur.escaped && strcasecmp(p->cur.text, kw) == 0;
}

static int at_op(const qparser *p, const char *op)
{
	return p->cur.kind == QT_PUNCT && strcmp(p->cur.op, op) == 0;
}

/* A short quotation of the current token for error messages. */
static void describe(const qparser *p, char *out, size_t n)
{
	size_t len = p->cur.len < 40 ? p->cur.len : 40;

	if (p->cur.kind == QT_END)
		snprintf(out, n, "end of query");
	else
		snprintf(out, n, "'%.*s%s'", (int)len, p->lx.src + p->cur.pos, len < p->cur.len ? "..." : "");
}

static void fail_expected(qparser *p, const char *what)
{
	char found[64];

	if (p->rc)
		return;
	describe(p, found, sizeof(found));
	p->rc = query__error(p->err, p->cur.pos, "expected %s, found %s", what, found);
}

static void fail_at(qparser *p, size_t pos, const char *msg)
{
	if (!p->rc)
		p->rc = query__error(p->err, pos, "%s", msg);
}

static int advance(qparser *p)
{
	query__tok_release(&p->cur);
	if (p->rc)
		return p->rc;
	p->rc = query__lex_next(&p->lx, &p->cur, p->err);
	return p->rc;
}

/* Whether the token after the current one is the operator op (lexes ahead on a copy of the lexer). */
static int next_is_op(const qparser *p, const char *op)
{
	qlexer ahead = p->lx;
	qtok t;
	int yes;

	if (query__lex_next(&ahead, &t, NULL))
		return 0;
	yes = t.kind == QT_PUNCT && strcmp(t.op, op) == 0;
	query__tok_release(&t);
	return yes;
}

static int next_is_kw(const qparser *p, const char *kw)
{
	qlexer ahead = p->lx;
	qtok t;
	int yes;

	if (query__lex_next(&ahead, &t, NULL))
		return 0;
	yes = t.kind == QT_NAME && !t.escaped && strcasecmp(t.text, kw) == 0;
	query__tok_release(&t);
	return yes;
}

static int expect_kw(qparser *p, const char *kw)
{
	if (!at_kw(p, kw)) {
		fail_expected(p, kw);
		return p->rc;
	}
	return advance(p);
}

static int expect_op(qparser *p, const char *op, const char *what)
{
	if (!at_op(p, op)) {
		fail_expected(p, what);
		return p->rc;
	}
	return advance(p);
}

void query__node_free(qnode *n)
{
	if (!n)
		return;
	free(n->lit.s);
	for (size_t i = 0; i < n->nsegs; i++)
		free(n->segs[i]);
	free(n->segs);
	free(n->name);
	for (size_t i = 0; i < n->nargs; i++)
		query__node_free(n->args[i]);
	free(n->args);
	query__node_free(n->a);
	query__node_free(n->b);
	free(n);
}

/* Frees n and fails when it is nested deeper than QUERY_MAX_DEPTH. Returns n or NULL. */
static qnode *too_deep(qparser *p, qnode *n)
{
	if (n && n->depth > QUERY_MAX_DEPTH) {
		fail_at(p, n->pos, "expression nested too deeply");
		query__node_free(n);
		return NULL;
	}
	return n;
}

static qnode *node_new(qnode_kind kind, size_t pos)
{
	qnode *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->pos = pos;
	n->depth = 1;
	return n;
}

/* Joins a and b under a new node, taking both. NULL (and frees both) on error or too deep a tree. */
static qnode *node_pair(qparser *p, qnode_kind kind, size_t pos, const char *op, qnode *a, qnode *b)
{
	qnode *n;

	if (!a || !b || p->rc) {
		query__node_free(a);
		query__node_free(b);
		return NULL;
	}
	n = node_new(kind, pos);
	n->a = a;
	n->b = b;
	if (op)
		snprintf(n->op, sizeof(n->op), "%s", op);
	n->depth = 1 + (a->depth > b->depth ? a->depth : b->depth);
	if ((kind == QN_AND || kind == QN_OR) && a->kind == kind && a->depth >= b->depth + 1)
		n->depth = a->depth;  /* a left-deep chain of one operator compiles flat */
	if (n->depth > QUERY_MAX_DEPTH) {
		fail_at(p, pos, "expression nested too deeply");
		query__node_free(n);
		return NULL;
	}
	return n;
}

static void append_arg(qnode *n, qnode *arg)
{
	n->args = xrealloc(n->args, (n->nargs + 1) * sizeof(*n->args));
	n->args[n->nargs++] = arg;
}

/* path := name { . name }. After a dot any name is taken, keywords included (tags.group is unambiguous). */
static qnode *parse_path(qparser *p)
{
	qnode *n;

	if (p->cur.kind != QT_NAME || is_keyword(&p->cur)) {
		fail_expected(p, "a property path");
		return NULL;
	}
	n = node_new(QN_PATH, p->cur.pos);
	for (;;) {
		n->segs = xrealloc(n->segs, (n->nsegs + 1) * sizeof(*n->segs));
		n->segs[n->nsegs++] = p->cur.text;
		p->cur.text = NULL;
		if (advance(p) || !at_op(p, "."))
			break;
		if (advance(p))
			break;
		if (p->cur.kind != QT_NAME) {
			fail_expected(p, "a property name after '.'");
			break;
		}
	}
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return n;
}

/* literal := string | number | - number | true | false | null | undefined */
static int parse_literal(qparser *p, qlit *out)
{
	int negative = 0;

	memset(out, 0, sizeof(*out));
	if (at_op(p, "-")) {
		negative = 1;
		if (advance(p))
			return p->rc;
		if (p->cur.kind != QT_NUMBER) {
			fail_expected(p, "a number after '-'");
			return p->rc;
		}
	}
	if (p->cur.kind == QT_STRING) {
		out->kind = QL_STRING;
		out->s = p->cur.text;
		p->cur.text = NULL;
	} else if (p->cur.kind == QT_NUMBER && p->cur.is_int) {
		out->kind = QL_INT;
		out->i = negative ? -p->cur.i : p->cur.i;
	} else if (p->cur.kind == QT_NUMBER) {
		out->kind = QL_REAL;
		out->r = negative ? -p->cur.r : p->cur.r;
	} else if (at_kw(p, "true") || at_kw(p, "false")) {
		out->kind = QL_BOOL;
		out->i = at_kw(p, "true");
	} else if (at_kw(p, "null")) {
		out->kind = QL_NULL;
	} else if (at_kw(p, "undefined")) {
		out->kind = QL_UNDEFINED;
	} else {
		fail_expected(p, "a literal");
		return p->rc;
	}
	return advance(p);
}

static int is_literal_start(const qparser *p)
{
	return p->cur.kind == QT_STRING || p->cur.kind == QT_NUMBER || at_kw(p, "true") || at_kw(p, "false") ||
	       at_kw(p, "null") || at_kw(p, "undefined");
}

static qnode *parse_or(qparser *p);

typedef struct qfunc_def {
	const char *name;
	size_t nargs;
} qfunc_def;

static const qfunc_def functions[] = {
	{"IS_DEFINED", 1}, {"IS_NULL", 1},    {"IS_STRING", 1},      {"IS_NUMBER", 1}, {"IS_BOOL", 1},
	{"IS_ARRAY", 1},   {"IS_OBJECT", 1},  {"IS_PRIMITIVE", 1},   {"STARTSWITH", 2}, {"ENDSWITH", 2},
	{"CONTAINS", 2},   {"LOWER", 1},      {"UPPER", 1},          {"LENGTH", 1},    {"ABS", 1},
	{"ARRAY_CONTAINS", 2}, {"AGO", 1},
};

/* AGO(seconds): the argument must be a number literal from 0 to QUERY_AGO_MAX_SECONDS, so the time it
 * stands for is always a valid date (query_compile turns it into a string literal at hub-now). */
static int check_ago(qparser *p, const qnode *f)
{
	const qnode *arg = f->args[0];
	char msg[160];

	if (arg->kind != QN_LIT || (arg->lit.kind != QL_INT && arg->lit.kind != QL_REAL)) {
		fail_at(p, arg->pos, "AGO takes a number of seconds, e.g. AGO(3600)");
		return p->rc;
	}
	if ((arg->lit.kind == QL_INT && (arg->lit.i < 0 || arg->lit.i > QUERY_AGO_MAX_SECONDS)) ||
	    (arg->lit.kind == QL_REAL && !(arg->lit.r >= 0 && arg->lit.r <= QUERY_AGO_MAX_SECONDS))) {
		snprintf(msg, sizeof(msg), "AGO takes from 0 to %lld seconds", (long long)QUERY_AGO_MAX_SECONDS);
		fail_at(p, arg->pos, msg);
	}
	return p->rc;
}

/* Checks the name and arity of a WHERE function. 0 or an error naming the function's position. */
static int check_function(qparser *p, const qnode *f)
{
	char msg[160];

	if (strcmp(f->name, "STARTS_WITH") == 0 || strcmp(f->name, "ENDS_WITH") == 0) {
		snprintf(msg, sizeof(msg), "%s is routing-query syntax; twin queries spell it %s", f->name,
			 f->name[0] == 'S' ? "STARTSWITH" : "ENDSWITH");
		fail_at(p, f->pos, msg);
		return p->rc;
	}
	for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
		if (strcmp(f->name, functions[i].name) != 0)
			continue;
		if (f->nargs != functions[i].nargs) {
			snprintf(msg, sizeof(msg), "%s takes %zu argument%s, not %zu", f->name, functions[i].nargs,
				 functions[i].nargs == 1 ? "" : "s", f->nargs);
			fail_at(p, f->pos, msg);
		}
		if (!p->rc && strcmp(f->name, "AGO") == 0)
			check_ago(p, f);
		return p->rc;
	}
	if (!strcmp(f->name, "COUNT") || !strcmp(f->name, "AVG") || !strcmp(f->name, "SUM") ||
	    !strcmp(f->name, "MIN") || !strcmp(f->name, "MAX"))
		snprintf(msg, sizeof(msg), "aggregate %s is only allowed in the SELECT list", f->name);
	else
		snprintf(msg, sizeof(msg), "unknown function '%.64s'", f->name);
	fail_at(p, f->pos, msg);
	return p->rc;
}

/* func := NAME ( [expr {, expr}] ) */
static qnode *parse_call(qparser *p)
{
	qnode *f = node_new(QN_FUNC, p->cur.pos);

	f->name = p->cur.text;
	p->cur.text = NULL;
	for (char *c = f->name; *c; c++)
		if (*c >= 'a' && *c <= 'z')
			*c = (char)(*c - 'a' + 'A');
	advance(p);
	expect_op(p, "(", "'('");
	while (!p->rc && !at_op(p, ")")) {
		if (f->nargs && expect_op(p, ",", "',' or ')'"))
			break;
		qnode *arg = parse_or(p);
		if (!arg)
			break;
		append_arg(f, arg);
		if (arg->depth + 1 > f->depth)
			f->depth = arg->depth + 1;
	}
	if (!p->rc)
		expect_op(p, ")", "')'");
	if (!p->rc)
		check_function(p, f);
	if (p->rc) {
		query__node_free(f);
		return NULL;
	}
	return too_deep(p, f);
}

static qnode *parse_primary(qparser *p)
{
	qnode *n;

	if (at_op(p, "(")) {
		if (advance(p))
			return NULL;
		n = parse_or(p);
		if (n && expect_op(p, ")", "')'")) {
			query__node_free(n);
			return NULL;
		}
		return n;
	}
	if (is_literal_start(p)) {
		n = node_new(QN_LIT, p->cur.pos);
		if (parse_literal(p, &n->lit)) {
			query__node_free(n);
			return NULL;
		}
		return n;
	}
	if (p->cur.kind == QT_NAME && !p->cur.escaped && !is_keyword(&p->cur) && next_is_op(p, "("))
		return parse_call(p);
	if (p->cur.kind == QT_NAME && !is_keyword(&p->cur))
		return parse_path(p);
	fail_expected(p, "an expression");
	return NULL;
}

/* unary := - unary | + unary | primary. A minus before a number literal folds into the literal so that
 * `x > -5` stays a path-versus-literal comparison (which can use an index). */
static qnode *parse_unary(qparser *p)
{
	size_t pos = p->cur.pos;
	qnode *n;

	if (++p->nest > QUERY_MAX_NEST) {
		fail_at(p, pos, "expression nested too deeply");
		return NULL;
	}
	if (at_op(p, "+")) {
		n = advance(p) ? NULL : parse_unary(p);
	} else if (at_op(p, "-")) {
		if (advance(p))
			return NULL;
		n = parse_unary(p);
		if (n && n->kind == QN_LIT && n->lit.kind == QL_INT && n->lit.i != INT64_MIN) {
			n->lit.i = -n->lit.i;
			n->pos = pos;
		} else if (n && n->kind == QN_LIT && n->lit.kind == QL_REAL) {
			n->lit.r = -n->lit.r;
			n->pos = pos;
		} else if (n) {
			qnode *neg = node_new(QN_NEG, pos);
			neg->a = n;
			neg->depth = n->depth + 1;
			n = too_deep(p, neg);
		}
	} else {
		n = parse_primary(p);
	}
	p->nest--;
	return n;
}

static qnode *parse_binary_level(qparser *p, int level);

static const char *const arith_ops[2][3] = {{"+", "-", NULL}, {"*", "/", "%"}};

/* level 0: + -, level 1: * / %, both left-associative. */
static qnode *parse_binary_level(qparser *p, int level)
{
	qnode *n = level == 1 ? parse_unary(p) : parse_binary_level(p, 1);

	while (n && !p->rc) {
		const char *op = NULL;
		for (int i = 0; i < 3 && arith_ops[level][i]; i++)
			if (at_op(p, arith_ops[level][i]))
				op = arith_ops[level][i];
		if (!op)
			break;
		size_t pos = p->cur.pos;
		if (advance(p))
			break;
		qnode *rhs = level == 1 ? parse_unary(p) : parse_binary_level(p, 1);
		n = node_pair(p, QN_ARITH, pos, op, n, rhs);
	}
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return n;
}

/* list := [ [literal {, literal}] ] */
static qnode *parse_in(qparser *p, qnode *lhs, int negated, size_t pos)
{
	qnode *n = node_new(QN_IN, pos);

	n->a = lhs;
	n->negated = negated;
	n->depth = lhs->depth + 1;
	if (!at_op(p, "["))
		fail_expected(p, "'[' starting the IN list");
	else
		advance(p);
	while (!p->rc && !at_op(p, "]")) {
		if (n->nargs && expect_op(p, ",", "',' or ']'"))
			break;
		qnode *lit = node_new(QN_LIT, p->cur.pos);
		append_arg(n, lit);
		parse_literal(p, &lit->lit);
	}
	if (!p->rc)
		advance(p);
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return too_deep(p, n);
}

static const char *const cmp_ops[] = {"=", "!=", "<>", "<", ">", "<=", ">="};

/* cmp := add [ cmp_op add | IN list | NIN list | NOT IN list ] */
static qnode *parse_cmp(qparser *p)
{
	qnode *n = parse_binary_level(p, 0);
	size_t pos = p->cur.pos;

	if (!n || p->rc)
		return n;
	if (at_kw(p, "IN") || at_kw(p, "NIN")) {
		int negated = at_kw(p, "NIN");
		return advance(p) ? (query__node_free(n), NULL) : parse_in(p, n, negated, pos);
	}
	if (at_kw(p, "NOT") && next_is_kw(p, "IN")) {
		advance(p);
		return advance(p) ? (query__node_free(n), NULL) : parse_in(p, n, 1, pos);
	}
	for (size_t i = 0; i < sizeof(cmp_ops) / sizeof(cmp_ops[0]); i++) {
		if (!at_op(p, cmp_ops[i]))
			continue;
		const char *op = strcmp(cmp_ops[i], "<>") == 0 ? "!=" : cmp_ops[i];
		if (advance(p))
			break;
		return node_pair(p, QN_CMP, pos, op, n, parse_binary_level(p, 0));
	}
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return n;
}

static qnode *parse_not(qparser *p)
{
	size_t pos = p->cur.pos;
	qnode *n, *inner;

	if (!at_kw(p, "NOT"))
		return parse_cmp(p);
	if (++p->nest > QUERY_MAX_NEST) {
		fail_at(p, pos, "expression nested too deeply");
		return NULL;
	}
	inner = advance(p) ? NULL : parse_not(p);
	p->nest--;
	if (!inner)
		return NULL;
	n = node_new(QN_NOT, pos);
	n->a = inner;
	n->depth = inner->depth + 1;
	return too_deep(p, n);
}

static qnode *parse_and(qparser *p)
{
	qnode *n = parse_not(p);

	while (n && !p->rc && at_kw(p, "AND")) {
		size_t pos = p->cur.pos;
		if (advance(p))
			break;
		n = node_pair(p, QN_AND, pos, NULL, n, parse_not(p));
	}
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return n;
}

static qnode *parse_or(qparser *p)
{
	qnode *n;

	if (++p->nest > QUERY_MAX_NEST) {
		fail_at(p, p->cur.pos, "expression nested too deeply");
		return NULL;
	}
	n = parse_and(p);
	while (n && !p->rc && at_kw(p, "OR")) {
		size_t pos = p->cur.pos;
		if (advance(p))
			break;
		n = node_pair(p, QN_OR, pos, NULL, n, parse_and(p));
	}
	p->nest--;
	if (p->rc) {
		query__node_free(n);
		return NULL;
	}
	return n;
}

static const char *const aggregates[] = {NULL, "COUNT", "AVG", "SUM", "MIN", "MAX"};

static qagg aggregate_of(const qtok *t)
{
	if (t->kind != QT_NAME || t->escaped)
		return QA_NONE;
	for (int i = QA_COUNT; i <= QA_MAX; i++)
		if (strcasecmp(t->text, aggregates[i]) == 0)
			return (qagg)i;
	return QA_NONE;
}

/* elem := path | COUNT() | AVG|SUM|MIN|MAX ( path ), then [AS alias] */
static int parse_elem(qparser *p, qproj *e)
{
	e->pos = p->cur.pos;
	e->agg = next_is_op(p, "(") ? aggregate_of(&p->cur) : QA_NONE;
	if (e->agg != QA_NONE) {
		advance(p);
		expect_op(p, "(", "'('");
		if (!p->rc && e->agg != QA_COUNT)
			e->path = parse_path(p);
		if (!p->rc)
			expect_op(p, ")", e->agg == QA_COUNT ? "')' (COUNT takes no argument)" : "')'");
	} else if (p->cur.kind == QT_NAME && !p->cur.escaped && next_is_op(p, "(")) {
		fail_at(p, p->cur.pos, "only property paths and COUNT, AVG, SUM, MIN, MAX are allowed in SELECT");
	} else {
		e->path = parse_path(p);
	}
	if (!p->rc && at_kw(p, "AS")) {
		advance(p);
		if (!p->rc && (p->cur.kind != QT_NAME || is_keyword(&p->cur)))
			fail_expected(p, "an alias after AS");
		if (!p->rc) {
			e->alias = p->cur.text;
			p->cur.text = NULL;
			advance(p);
		}
	}
	return p->rc;
}

static int parse_projection(qparser *p, query *q)
{
	if (at_op(p, "*")) {
		q->star = 1;
		return advance(p);
	}
	do {
		if (q->nproj && advance(p))
			break;
		q->proj = xrealloc(q->proj, (q->nproj + 1) * sizeof(*q->proj));
		memset(&q->proj[q->nproj], 0, sizeof(q->proj[0]));
		parse_elem(p, &q->proj[q->nproj++]);
	} while (!p->rc && at_op(p, ","));
	return p->rc;
}

/* source := devices | devices.modules | devices.jobs (case-insensitive) */
static int parse_source(qparser *p, query *q)
{
	q->source_pos = p->cur.pos;
	if (!at_kw(p, "devices")) {
		fail_expected(p, "devices, devices.modules or devices.jobs after FROM");
		return p->rc;
	}
	q->source = QUERY_DEVICES;
	if (advance(p) || !at_op(p, "."))
		return p->rc;
	if (advance(p))
		return p->rc;
	if (at_kw(p, "modules"))
		q->source = QUERY_MODULES;
	else if (at_kw(p, "jobs"))
		q->source = QUERY_JOBS;
	else {
		fail_expected(p, "modules or jobs after 'devices.'");
		return p->rc;
	}
	return advance(p);
}

static int parse_group_by(qparser *p, query *q)
{
	if (advance(p) || expect_kw(p, "BY"))
		return p->rc;
	do {
		if (q->ngroup && advance(p))
			break;
		qnode *path = parse_path(p);
		if (!path)
			break;
		q->group = xrealloc(q->group, (q->ngroup + 1) * sizeof(*q->group));
		q->group[q->ngroup++] = path;
	} while (!p->rc && at_op(p, ","));
	return p->rc;
}

static int parse_top(qparser *p, query *q)
{
	if (advance(p))
		return p->rc;
	if (p->cur.kind != QT_NUMBER || !p->cur.is_int) {
		fail_expected(p, "a non-negative integer after TOP");
		return p->rc;
	}
	q->top = p->cur.i;
	return advance(p);
}

static int parse_select(qparser *p, query *q)
{
	if (expect_kw(p, "SELECT"))
		return p->rc;
	if (at_kw(p, "TOP") && parse_top(p, q))
		return p->rc;
	if (parse_projection(p, q) || expect_kw(p, "FROM") || parse_source(p, q))
		return p->rc;
	if (at_kw(p, "WHERE")) {
		if (advance(p))
			return p->rc;
		q->where = parse_or(p);
		if (p->rc)
			return p->rc;
	}
	if (at_kw(p, "GROUP") && parse_group_by(p, q))
		return p->rc;
	if (p->cur.kind != QT_END)
		fail_expected(p, q->where || q->ngroup ? "end of query" : "WHERE, GROUP BY or end of query");
	return p->rc;
}

static int parse_text(const char *text, size_t len, int condition_only, query **out, query_error *err)
{
	qparser p = {.lx = {text, len, 0}, .err = err};
	query *q = NULL;
	size_t bad;

	*out = NULL;
	if (err)
		memset(err, 0, sizeof(*err));
	if (len > QUERY_MAX_LENGTH)
		return query__error(err, QUERY_MAX_LENGTH, "query is longer than %d characters", QUERY_MAX_LENGTH);
	bad = query__utf8_check(text, len);
	if (bad < len)
		return query__error(err, bad, "invalid UTF-8 or NUL byte in query");
	q = xcalloc(1, sizeof(*q));
	q->top = -1;
	q->text = xstrndup(text, len);
	q->text_len = len;
	if (advance(&p))
		goto out;
	if (!condition_only) {
		parse_select(&p, q);
		goto out;
	}
	q->star = 1;
	q->where = parse_or(&p);
	if (!p.rc && p.cur.kind != QT_END)
		fail_expected(&p, "end of condition");
out:
	query__tok_release(&p.cur);
	if (p.rc) {
		query_free(q);
		return p.rc;
	}
	*out = q;
	return 0;
}

int query_parse(const char *text, size_t len, query **out, query_error *err)
{
	return parse_text(text, len, 0, out, err);
}

int query_parse_condition(const char *text, size_t len, query **out, query_error *err)
{
	return parse_text(text, len, 1, out, err);
}

void query_free(query *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nproj; i++) {
		query__node_free(q->proj[i].path);
		free(q->proj[i].alias);
	}
	free(q->proj);
	query__node_free(q->where);
	for (size_t i = 0; i < q->ngroup; i++)
		query__node_free(q->group[i]);
	free(q->group);
	free(q->text);
	free(q);
}

int64_t query_top(const query *q)
{
	return q ? q->top : -1;
}
