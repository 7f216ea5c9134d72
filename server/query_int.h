/*
 * query_int: what the query lexer, parser and compiler share (the token stream and the AST). Private to
 * query_*.c; nothing outside the query module includes it.
 */
#ifndef DH_QUERY_INT_H
#define DH_QUERY_INT_H

#include "query.h"

#include <stddef.h>
#include <stdint.h>

/* Deepest expression nesting accepted. Every query level becomes a few levels of SQL, and SQLite's parser
 * stack overflows somewhere below 100 nested parentheses, so the limit keeps accepted queries runnable.
 * Chains of one operator (a OR b OR c ...) count once: the compiler emits them flat. */
#define QUERY_MAX_DEPTH 12

/* The largest argument of AGO(seconds): 100 years, so hub-now minus it stays a valid ISO-8601 date. */
#define QUERY_AGO_MAX_SECONDS 3155760000LL

typedef enum qtok_kind {
	QT_END,
	QT_NAME,      /* identifier, or a [[bracket-escaped]] name (escaped = 1) */
	QT_STRING,    /* text holds the decoded value */
	QT_NUMBER,    /* is_int ? i : r */
	QT_PUNCT,     /* op holds the operator text: ( ) [ ] , . * + - / % = != <> < > <= >= */
} qtok_kind;

typedef struct qtok {
	qtok_kind kind;
	size_t pos;         /* 0-based byte offset in the query text */
	size_t len;         /* bytes of source text */
	char *text;         /* QT_NAME / QT_STRING: owned, NUL-terminated */
	int escaped;        /* QT_NAME written as [[..]]: never a keyword */
	int is_int;
	int64_t i;
	double r;
	char op[3];
} qtok;

typedef struct qlexer {
	const char *src;
	size_t len;
	size_t at;
} qlexer;

/* Reads the next token. OUT: *t (release text with qtok_release). DH_EQUERY with err filled on a lexical
 * error (unterminated string, bad escape, stray character). */
int query__lex_next(qlexer *lx, qtok *t, query_error *err);
void query__tok_release(qtok *t);

/* Fills err (message printf-style) and returns DH_EQUERY. */
int query__error(query_error *err, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Checks that text[0..len) is UTF-8 without NUL bytes. Returns the offset of the first bad byte or len. */
size_t query__utf8_check(const char *text, size_t len);

typedef enum qlit_kind { QL_STRING, QL_INT, QL_REAL, QL_BOOL, QL_NULL, QL_UNDEFINED } qlit_kind;

typedef struct qlit {
	qlit_kind kind;
	char *s;          /* QL_STRING: owned */
	int64_t i;        /* QL_INT, QL_BOOL (0/1) */
	double r;         /* QL_REAL */
} qlit;

typedef enum qnode_kind {
	QN_LIT,
	QN_PATH,
	QN_FUNC,     /* name + args */
	QN_NOT,      /* a */
	QN_NEG,      /* a (unary minus on a non-literal) */
	QN_AND,      /* a, b */
	QN_OR,
	QN_CMP,      /* a op b */
	QN_ARITH,    /* a op b */
	QN_IN,       /* a IN list (negated: NIN / NOT IN) */
} qnode_kind;

typedef struct qnode qnode;
struct qnode {
	qnode_kind kind;
	size_t pos;
	int depth;
	char op[3];            /* QN_CMP: = != < > <= >= (<> is stored as !=); QN_ARITH: + - * / % */
	qlit lit;              /* QN_LIT */
	char **segs;           /* QN_PATH: owned names */
	size_t nsegs;
	char *name;            /* QN_FUNC: upper-cased */
	qnode **args;          /* QN_FUNC args; QN_IN list (all QN_LIT) */
	size_t nargs;
	qnode *a, *b;
	int negated;           /* QN_IN */
};

typedef enum qagg { QA_NONE, QA_COUNT, QA_AVG, QA_SUM, QA_MIN, QA_MAX } qagg;

typedef struct qproj {
	qagg agg;
	qnode *path;       /* QN_PATH; NULL for COUNT() */
	char *alias;       /* owned; NULL without AS */
	size_t pos;
} qproj;

struct query {
	int64_t top;       /* -1 without TOP */
	query_source source;
	size_t source_pos;
	int star;          /* SELECT * */
	qproj *proj;
	size_t nproj;
	qnode *where;      /* NULL without WHERE */
	qnode **group;     /* QN_PATH nodes */
	size_t ngroup;
	char *text;        /* the query text, for continuation-token checks */
	size_t text_len;
};

void query__node_free(qnode *n);

#endif
