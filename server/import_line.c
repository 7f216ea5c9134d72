/*
 * import_line: JSON-lines and CSV lines to import entries. Owns no state beyond a parsed CSV header;
 * must never reach the store or the registry.
 */
#include "import_line.h"

#include "buf.h"
#include "err.h"
#include "json_util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CSV_MAX_COLUMNS 256

typedef enum csv_kind {
	CSV_ID,
	CSV_MODE,
	CSV_STATUS,
	CSV_ETAG,
	CSV_PRIMARY,
	CSV_SECONDARY,
	CSV_TAG,
	CSV_DESIRED,
} csv_kind;

struct import_csv {
	int ncols;
	struct {
		csv_kind kind;
		char *path; /* tags./desired. columns: the dotted path after the prefix */
	} col[CSV_MAX_COLUMNS];
};

int import_line_json(const char *line, size_t len, json_t **out)
{
	json_t *e = NULL;
	int rc;

	*out = NULL;
	if ((rc = json_util_parse(line, len, JSON_UTIL_MAX_DEPTH, &e)) != 0)
		return rc;
	if (!json_is_object(e) || !(json_util_str(e, "id") || json_util_str(e, "deviceId"))) {
		json_decref(e);
		return err_set(DH_EINVAL, "the line is not a JSON object with a string id");
	}
	*out = e;
	return 0;
}

/* Splits the next CSV field off *p (end at e) into field. Returns 0 or DH_EINVAL (a stray quote). */
static int csv_field(const char **p, const char *e, buf *field)
{
	const char *s = *p;

	buf_release(field);
	if (s < e && *s == '"') {
		for (s++;; s++) {
			if (s >= e)
				return err_set(DH_EINVAL, "an unterminated quoted field");
			if (*s == '"') {
				if (s + 1 < e && s[1] == '"') {
					buf_putc(field, '"');
					s++;
					continue;
				}
				s++;
				break;
			}
			buf_putc(field, *s);
		}
		if (s < e && *s != ',')
			return err_set(DH_EINVAL, "text after a closing quote");
	} else {
		const char *start = s;
		while (s < e && *s != ',')
			s++;
		buf_append(field, start, (size_t)(s - start));
		if (memchr(start, '"', (size_t)(s - start)))
			return err_set(DH_EINVAL, "a quote inside an unquoted field");
	}
	*p = s < e ? s + 1 : NULL; /* NULL: that was the last field */
	return 0;
}

static int csv_kind_of(const char *name, csv_kind *kind, const char **path)
{
	static const struct {
		const char *name;
		csv_kind kind;
	} names[] = {
	    {"deviceId", CSV_ID},
	    {"id", CSV_ID},
	    {"importMode", CSV_MODE},
	    {"status", CSV_STATUS},
	    {"eTag", CSV_ETAG},
	    {"primaryKey", CSV_PRIMARY},
	    {"secondaryKey", CSV_SECONDARY},
	};

	*path = NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*kind = names[i].kind;
			return 0;
		}
	}
	if (strncmp(name, "tags.", 5) == 0 && name[5]) {
		*kind = CSV_TAG;
		*path = name + 5;
	} else if (strncmp(name, "desired.", 8) == 0 && name[8]) {
		*kind = CSV_DESIRED;
		*path = name + 8;
	} else {
		return err_set(DH_EINVAL, "unknown CSV column '%.64s'", name);
	}
	if (strstr(*path, "..") || (*path)[strlen(*path) - 1] == '.')
		return err_set(DH_EINVAL, "CSV column '%.64s' has an empty path segment", name);
	return 0;
}

static size_t trim_eol(const char *line, size_t len)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		len--;
	return len;
}

int import_csv_header(const char *line, size_t len, import_csv **out)
{
	import_csv *h = xcalloc(1, sizeof(*h));
	const char *p = line, *e = line + trim_eol(line, len);
	buf field = BUF_INIT;
	int has_id = 0, rc = 0;

	*out = NULL;
	while (p && rc == 0) {
		const char *path;
		csv_kind kind = CSV_ID;
		if (h->ncols == CSV_MAX_COLUMNS) {
			rc = err_set(DH_EINVAL, "more than %d CSV columns", CSV_MAX_COLUMNS);
			break;
		}
		if ((rc = csv_field(&p, e, &field)) != 0 || (rc = csv_kind_of(buf_cstr(&field), &kind, &path)) != 0)
			break;
		has_id |= kind == CSV_ID;
		h->col[h->ncols].kind = kind;
		h->col[h->ncols].path = path ? xstrdup(path) : NULL;
		h->ncols++;
	}
	if (rc == 0 && !has_id)
		rc = err_set(DH_EINVAL, "the CSV header has no deviceId column");
	buf_release(&field);
	if (rc) {
		import_csv_free(h);
		return rc;
	}
	*out = h;
	return 0;
}

void import_csv_free(import_csv *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->ncols; i++)
		free(h->col[i].path);
	free(h);
}

/* obj[key] as an object, made when absent. */
static json_t *child_obj(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(obj, key, v);
	}
	return v;
}

/* Sets value (taken) at a dotted path under obj, making the objects on the way. */
static int set_path(json_t *obj, const char *path, json_t *value)
{
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		char key[256];
		if ((size_t)(dot - path) >= sizeof(key)) {
			json_decref(value);
			return err_set(DH_EINVAL, "a CSV column path segment is too long");
		}
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		obj = child_obj(obj, key);
		path = dot + 1;
	}
	json_object_set_new(obj, path, value);
	return 0;
}

static json_t *cell_value(const char *text, size_t len)
{
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY, NULL);

	return v && json_util_depth(v) <= JSON_UTIL_MAX_DEPTH ? v : (json_decref(v), json_stringn(text, len));
}

static int csv_apply(json_t *entry, csv_kind kind, const char *path, const buf *field)
{
	static const char *const plain[] = {
	    [CSV_ID] = "id", [CSV_MODE] = "importMode", [CSV_STATUS] = "status", [CSV_ETAG] = "eTag"};
	const char *text = buf_cstr(field);
	json_t *sym;

	switch (kind) {
	case CSV_ID:
	case CSV_MODE:
	case CSV_STATUS:
	case CSV_ETAG:
		json_object_set_new(entry, plain[kind], json_string(text));
		return 0;
	case CSV_PRIMARY:
	case CSV_SECONDARY:
		if (!json_object_get(entry, "authentication"))
			json_object_set_new(entry, "authentication",
					    json_pack("{s:s, s:{}}", "type", "sas", "symmetricKey"));
		sym = json_object_get(json_object_get(entry, "authentication"), "symmetricKey");
		json_object_set_new(sym, kind == CSV_PRIMARY ? "primaryKey" : "secondaryKey", json_string(text));
		return 0;
	case CSV_TAG:
		return set_path(child_obj(entry, "tags"), path, cell_value(text, strlen(text)));
	case CSV_DESIRED:
		return set_path(child_obj(child_obj(entry, "properties"), "desired"), path,
				cell_value(text, strlen(text)));
	}
	return err_set(DH_EINTERNAL, "unhandled CSV column");
}

int import_csv_row(const import_csv *hdr, const char *line, size_t len, json_t **out)
{
	const char *p = line, *e = line + trim_eol(line, len);
	json_t *entry = json_object();
	buf field = BUF_INIT;
	int i = 0, rc = 0;

	*out = NULL;
	while (p && rc == 0) {
		if (i == hdr->ncols) {
			rc = err_set(DH_EINVAL, "more fields than the header has columns");
			break;
		}
		if ((rc = csv_field(&p, e, &field)) == 0 && field.len)
			rc = csv_apply(entry, hdr->col[i].kind, hdr->col[i].path, &field);
		i++;
	}
	if (rc == 0 && !json_util_str(entry, "id"))
		rc = err_set(DH_EINVAL, "the row has no deviceId");
	buf_release(&field);
	if (rc) {
		json_decref(entry);
		return rc;
	}
	*out = entry;
	return 0;
}
