/*
 * buf: a growable byte buffer for building SQL, JSON and answers. Leaf module.
 *
 * Out-of-memory policy (docs/architecture.md): appends abort the process through buf's allocator, as
 * jansson and SQLite are configured to do; callers never check appends.
 */
#ifndef DH_BUF_H
#define DH_BUF_H

#include <stddef.h>

typedef struct buf {
	char *data;   /* owned; always NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

void buf_init(buf *b);                                /* caller's memory, empty */
void buf_release(buf *b);                             /* frees data, leaves b empty */
void buf_append(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *buf_detach(buf *b);                             /* caller owns the result (free()); b is empty */
const char *buf_cstr(const buf *b);                   /* "" when empty; valid until the next append */

/* Allocation that aborts on failure: the one out-of-memory policy. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
