/* url: percent-encoding and decoding (RFC 3986). Leaf module. */
#ifndef DH_URL_H
#define DH_URL_H

#include "buf.h"

#include <stddef.h>

/* The value of one hex digit, or -1. */
int url_hex_value(char c);

/* Percent-decodes in[0..n) ('+' stays '+'). Returns the decoded length, or -1 for a bad escape or when
 * out (size outsz, NUL-terminated) is too small. */
int url_decode(const char *in, size_t n, char *out, size_t outsz);

/* Appends in percent-encoded: everything but unreserved characters (like encodeURIComponent plus !'()*). */
void url_encode(const char *in, buf *out);

#endif
