/* store_index: operator-declared expression indexes on twin paths (--index). */
#ifndef DH_STORE_INDEX_H
#define DH_STORE_INDEX_H

#include "store.h"

/* Makes the set of expression indexes equal to paths[0..n) (e.g. "tags.location.region"): creates the
 * missing ones, with exactly the expression the query compiler emits for that path, and drops those no
 * longer asked for. Returns 0, or DH_EINVAL for a path no twin field holds. */
int store_index_sync(store *s, char *const *paths, int n);

#endif
