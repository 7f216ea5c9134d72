/* embed: files compiled into the binary by cmake/embed.cmake (migrations, dashboard assets). Leaf. */
#ifndef DH_EMBED_H
#define DH_EMBED_H

#include <stddef.h>

typedef struct embed_file {
	const char *name;                 /* path relative to its folder, e.g. "001_initial.sql" */
	const unsigned char *data;        /* NUL-terminated after size bytes */
	size_t size;
} embed_file;

/* Sorted by name; the last row has name NULL. */
extern const embed_file embed_migrations[];
extern const embed_file embed_web[];

#endif
