/*
 * configuration_drift: how far the twins a configuration targets are from what it asks for
 * (configuration_drift in configuration.h). Leaves of the desired content are compared with the reported
 * section at the same path by SQL in the store (store_configuration_drift_path), one statement per leaf,
 * all in one read transaction; no twin is loaded here.
 */
#include "configuration.h"

#include "buf.h"
#include "err.h"
#include "store.h"
#include "store_configuration.h"

#include <string.h>

/* The most leaves measured per configuration: content is bounded by the twin limits anyway. */
#define DRIFT_LEAVES_MAX 200

typedef struct drift_walk {
	store *s;
	const char *id;
	json_t *properties;
	int rc;
} drift_walk;

/* One leaf: path segments segs[0..n) below desired. Segments with '"' cannot be named in a SQLite JSON
 * path; such a leaf is listed with null counts rather than guessed. */
static void measure_leaf(drift_walk *w, const char *const *segs, size_t n, const json_t *value)
{
	buf path = BUF_INIT, json_path = BUF_INIT;
	int64_t matched = 0, drifting = 0;
	char oldest[64] = "";
	int nameable = 1;

	buf_puts(&path, "properties.desired");
	buf_puts(&json_path, "$");
	for (size_t i = 0; i < n; i++) {
		buf_printf(&path, ".%s", segs[i]);
		buf_printf(&json_path, ".\"%s\"", segs[i]);
		nameable &= strchr(segs[i], '"') == NULL;
	}
	if (json_array_size(w->properties) >= DRIFT_LEAVES_MAX)
		goto out;
	if (nameable && (w->rc = store_configuration_drift_path(w->s, w->id, buf_cstr(&json_path), value, &matched,
								  &drifting, oldest, sizeof(oldest))) != 0)
		goto out;
	json_array_append_new(w->properties,
			      json_pack("{s:s, s:O, s:o, s:o, s:o}", "path", buf_cstr(&path), "value", value, "matched",
					nameable ? json_integer(matched) : json_null(), "drifting",
					nameable ? json_integer(drifting) : json_null(), "oldestDriftSince",
					oldest[0] ? json_string(oldest) : json_null()));
out:
	buf_release(&path);
	buf_release(&json_path);
}

/* Descends objects; anything else (arrays included) is a leaf. */
static void walk(drift_walk *w, const char **segs, size_t n, const json_t *value)
{
	const char *key;
	json_t *child;

	if (!json_is_object(value) || json_object_size(value) == 0) {
		measure_leaf(w, segs, n, value);
		return;
	}
	json_object_foreach((json_t *)value, key, child) {
		if (w->rc || n >= 32)
			return;
		segs[n] = key;
		walk(w, segs, n + 1, child);
	}
}

int configuration_drift(const char *id, json_t **out)
{
	store *s = store_thread();
	store_configuration c;
	json_t *entries = NULL, *entry;
	drift_walk w = {0};
	int64_t targeted = 0, applied = 0;
	size_t i;
	int rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	if ((rc = store_configuration_get(s, id, &c)) != 0 ||
	    (rc = store_configuration_status_counts(s, id, &targeted, &applied)) != 0 ||
	    (rc = configuration_content_entries(c.content, &entries)) != 0)
		goto out;
	w = (drift_walk){.s = s, .id = id, .properties = json_array()};
	json_array_foreach(entries, i, entry) {
		const json_t *segments = json_array_get(entry, 0);
		const char *segs[40];
		size_t n = 0, k;
		json_t *seg;
		json_array_foreach(segments, k, seg) {
			if (n < 32)
				segs[n++] = json_string_value(seg);
		}
		walk(&w, segs, n, json_array_get(entry, 1));
		if ((rc = w.rc) != 0)
			goto out;
	}
	*out = json_pack("{s:s, s:I, s:O}", "configurationId", id, "targetedCount", (json_int_t)targeted, "properties",
			 w.properties);
out:
	store_rollback(s); /* read only */
	json_decref(w.properties);
	json_decref(entries);
	store_configuration_release(&c);
	return rc;
}
