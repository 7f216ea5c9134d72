/*
 * query_lex: the tokenizer of IoT Hub's query language. Turns bytes into names, strings, numbers and
 * operators with their positions; keywords are names the parser recognises (so [[escaped]] names never are).
 * Owns no state beyond the token it hands out; never sees SQL.
 */
#include "query_int.h"
#include "url.h"

#include "buf.h"
#include "err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int query__error(query_error *err, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->position = pos;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return DH_EQUERY;
}

void query__tok_release(qtok *t)
{
	free(t->text);
	t->text = NULL;
}

/* Length of the UTF-8 sequence starting at s[0..n), or 0 when it is malformed (overlong, surrogate,
 * beyond U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned cp;

	if (c < 0x80)
		return c ? 1 : 0;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

size_t query__utf8_check(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t at = 0;

	while (at < len) {
		size_t n = utf8_seq(s + at, len - at);
		if (n == 0)
			return at;
		at += n;
	}
	return len;
}

static int is_name_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '$';
}

static int is_name_char(char c)
{
	return is_name_start(c) || (c >= '0' && c <= '9');
}


static void put_utf8(buf *b, unsigned cp)
{
	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		buf_putc(b, (char)(0xC0 | (cp >> 6)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		buf_putc(b, (char)(0xE0 | (cp >> 12)));
		buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		buf_putc(b, (char)(0xF0 | (cp >> 18)));
		buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* Reads the 4 hex digits of a \u escape at src[at..]. -1 when they are not there. */
static long read_hex4(const qlexer *lx, size_t at)
{
	long v = 0;

	if (at + 4 > lx->len)
		return -1;
	for (size_t i = 0; i < 4; i++) {
		int h = url_hex_value(lx->src[at + i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Decodes \uXXXX (with a following low surrogate for characters beyond the BMP) at lx->at, which points
 * at the 'u'. NUL is refused because values travel as C strings into bound parameters. */
static int lex_unicode(qlexer *lx, buf *out, size_t esc_pos, query_error *err)
{
	long cp = read_hex4(lx, lx->at + 1);

	if (cp < 0)
		return query__error(err, esc_pos, "\\u must be followed by 4 hex digits");
	lx->at += 5;
	if (cp >= 0xDC00 && cp <= 0xDFFF)
		return query__error(err, esc_pos, "unpaired surrogate in \\u escape");
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		long lo = -1;
		if (lx->at + 1 < lx->len && lx->src[lx->at] == '\\' && lx->src[lx->at + 1] == 'u')
			lo = read_hex4(lx, lx->at + 2);
		if (lo < 0xDC00 || lo > 0xDFFF)
			return query__error(err, esc_pos, "unpaired surrogate in \\u escape");
		lx->at += 6;
		cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
	}
	if (cp == 0)
		return query__error(err, esc_pos, "\\u0000 is not allowed in strings");
	put_utf8(out, (unsigned)cp);
	return 0;
}

static int lex_escape(qlexer *lx, buf *out, query_error *err)
{
	size_t esc_pos = lx->at - 1;
	char c;

	if (lx->at >= lx->len)
		return query__error(err, esc_pos, "unterminated string");
	c = lx->src[lx->at];
	if (c == 'u')
		return lex_unicode(lx, out, esc_pos, err);
	lx->at++;
	switch (c) {
	case '\'': case '"': case '\\': case '/': buf_putc(out, c); return 0;
	case 'b': buf_putc(out, '\b'); return 0;
	case 'f': buf_putc(out, '\f'); return 0;
	case 'n': buf_putc(out, '\n'); return 0;
	case 'r': buf_putc(out, '\r'); return 0;
	case 't': buf_putc(out, '\t'); return 0;
	default: return query__error(err, esc_pos, "unknown escape '\\%c' in string", c);
	}
}

static int lex_string(qlexer *lx, qtok *t, query_error *err)
{
	char quote = lx->src[lx->at++];
	buf out = BUF_INIT;
	int rc = 0;

	for (;;) {
		if (lx->at >= lx->len) {
			rc = query__error(err, t->pos, "unterminated string");
			goto out;
		}
		char c = lx->src[lx->at++];
		if (c == quote)
			break;
		if (c == '\\') {
			rc = lex_escape(lx, &out, err);
			if (rc)
				goto out;
			continue;
		}
		buf_putc(&out, c);
	}
	buf_puts(&out, "");  /* an empty string still needs its NUL */
	t->kind = QT_STRING;
	t->text = buf_detach(&out);
out:
	buf_release(&out);
	return rc;
}

static int lex_hex(qlexer *lx, qtok *t, query_error *err)
{
	uint64_t v = 0;
	size_t start = lx->at + 2, at = start;

	while (at < lx->len && url_hex_value(lx->src[at]) >= 0) {
		if (v > (uint64_t)INT64_MAX >> 4)
			return query__error(err, t->pos, "number out of range");
		v = v * 16 + (uint64_t)url_hex_value(lx->src[at++]);
	}
	if (at == start)
		return query__error(err, t->pos, "0x must be followed by hex digits");
	if (v > (uint64_t)INT64_MAX)
		return query__error(err, t->pos, "number out of range");
	t->kind = QT_NUMBER;
	t->is_int = 1;
	t->i = (int64_t)v;
	lx->at = at;
	return 0;
}

/* Decimal: digits [. digits] [e [+-] digits]. Integers that fit int64 stay exact; others become doubles. */
static int lex_number(qlexer *lx, qtok *t, query_error *err)
{
	const char *s = lx->src;
	size_t at = lx->at;
	int is_int = 1;
	char text[128];

	if (s[at] == '0' && at + 1 < lx->len && (s[at + 1] == 'x' || s[at + 1] == 'X'))
		return lex_hex(lx, t, err);
	while (at < lx->len && s[at] >= '0' && s[at] <= '9')
		at++;
	if (at + 1 < lx->len && s[at] == '.' && s[at + 1] >= '0' && s[at + 1] <= '9') {
		is_int = 0;
		for (at++; at < lx->len && s[at] >= '0' && s[at] <= '9'; at++)
			;
	}
	if (at < lx->len && (s[at] == 'e' || s[at] == 'E')) {
		size_t e = at + 1;
		if (e < lx->len && (s[e] == '+' || s[e] == '-'))
			e++;
		if (e >= lx->len || s[e] < '0' || s[e] > '9')
			return query__error(err, at, "malformed number exponent");
		for (at = e; at < lx->len && s[at] >= '0' && s[at] <= '9'; at++)
			;
		is_int = 0;
	}
	if (at < lx->len && is_name_char(s[at]))
		return query__error(err, t->pos, "malformed number");
	if (at - lx->at >= sizeof(text))
		return query__error(err, t->pos, "number too long");
	memcpy(text, s + lx->at, at - lx->at);
	text[at - lx->at] = '\0';
	lx->at = at;
	t->kind = QT_NUMBER;
	errno = 0;
	if (is_int) {
		long long v = strtoll(text, NULL, 10);
		if (errno == 0) {
			t->is_int = 1;
			t->i = v;
			return 0;
		}
	}
	errno = 0;
	t->r = strtod(text, NULL);
	if (!isfinite(t->r))
		return query__error(err, t->pos, "number out of range");
	t->is_int = 0;
	return 0;
}

/* [[name]]: any characters up to the first "]]", which lets names hold reserved words, dots, spaces. */
static int lex_bracket_name(qlexer *lx, qtok *t, query_error *err)
{
	size_t start = lx->at + 2, at = start;

	while (at + 1 < lx->len && !(lx->src[at] == ']' && lx->src[at + 1] == ']'))
		at++;
	if (at + 1 >= lx->len)
		return query__error(err, t->pos, "unterminated [[ name: expected ]]");
	if (at == start)
		return query__error(err, t->pos, "empty [[ ]] name");
	t->kind = QT_NAME;
	t->escaped = 1;
	t->text = xstrndup(lx->src + start, at - start);
	lx->at = at + 2;
	return 0;
}

static int lex_punct(qlexer *lx, qtok *t, query_error *err)
{
	static const char *const two[] = {"!=", "<>", "<=", ">="};
	const char *s = lx->src + lx->at;
	size_t left = lx->len - lx->at;

	for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++) {
		if (left >= 2 && s[0] == two[i][0] && s[1] == two[i][1]) {
			memcpy(t->op, two[i], 3);
			lx->at += 2;
			t->kind = QT_PUNCT;
			return 0;
		}
	}
	if (!strchr("()[],.*+-/%=<>", s[0]))
		return query__error(err, lx->at, "unexpected character '%c'", s[0]);
	t->op[0] = s[0];
	t->op[1] = '\0';
	lx->at++;
	t->kind = QT_PUNCT;
	return 0;
}

int query__lex_next(qlexer *lx, qtok *t, query_error *err)
{
	int rc;

	memset(t, 0, sizeof(*t));
	while (lx->at < lx->len && strchr(" \t\r\n", lx->src[lx->at]))
		lx->at++;
	t->pos = lx->at;
	if (lx->at >= lx->len) {
		t->kind = QT_END;
		return 0;
	}
	char c = lx->src[lx->at];
	if (c == '\'' || c == '"')
		rc = lex_string(lx, t, err);
	else if (c >= '0' && c <= '9')
		rc = lex_number(lx, t, err);
	else if (c == '[' && lx->at + 1 < lx->len && lx->src[lx->at + 1] == '[')
		rc = lex_bracket_name(lx, t, err);
	else if (is_name_start(c)) {
		size_t at = lx->at;
		while (at < lx->len && is_name_char(lx->src[at]))
			at++;
		t->kind = QT_NAME;
		t->text = xstrndup(lx->src + lx->at, at - lx->at);
		lx->at = at;
		rc = 0;
	} else if ((unsigned char)c >= 0x80)
		rc = query__error(err, lx->at, "unexpected character; names with non-ASCII characters need [[ ]]");
	else
		rc = lex_punct(lx, t, err);
	t->len = lx->at - t->pos;
	if (rc)
		query__tok_release(t);
	return rc;
}
