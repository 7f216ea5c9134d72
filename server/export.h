/*
 * export: every device of the hub as JSON lines in IoT Hub's import/export shape (identity, tags,
 * desired and reported properties), read from one snapshot and produced a piece at a time so a streamed
 * answer keeps memory flat however many devices there are. Never speaks HTTP; never holds SQL.
 */
#ifndef DH_EXPORT_H
#define DH_EXPORT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct export_stream export_stream;

/* Opens the snapshot. with_keys: include authentication.symmetricKey (the caller checked the right).
 * OUT: *out, owned by the caller (export_close). */
int export_open(int with_keys, export_stream **out);

/* Copies up to max bytes of the next lines into dst. Returns the bytes copied (> 0), 0 at the end, or
 * a negative error code. */
ssize_t export_read(export_stream *x, char *dst, size_t max);

void export_close(export_stream *x);

/* One device in the export shape. New reference. */
struct store_identity;
struct store_twin;
json_t *export_render(const struct store_identity *id, const struct store_twin *tw, int with_keys);

#endif
