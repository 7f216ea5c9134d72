/*
 * configuration: the rules of IoT Hub configurations (ids, content paths, priorities, the patches that
 * apply and take back content) and the REST operations on them. The reconciler that applies them to
 * twins is configuration_reconcile.c. Never speaks HTTP; never holds SQL.
 */
#include "configuration_int.h"

#include "buf.h"
#include "clock.h"
#include "crypto.h"
#include "err.h"
#include "group.h"
#include "json_util.h"
#include "store.h"
#include "store_configuration.h"
#include "twin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DESIRED_PREFIX "properties.desired"
#define METRIC_NAME_MAX 128
#define LABEL_MAX 128

/* ---- rules ------------------------------------------------------------------------------------------ */

int configuration_validate_id(const char *id)
{
	size_t len = strlen(id);

	if (len == 0 || len > CONFIGURATION_ID_MAX)
		return err_set(DH_EINVAL, "configuration id must be 1 to %d characters", CONFIGURATION_ID_MAX);
	for (const unsigned char *c = (const unsigned char *)id; *c; c++) {
		if (*c <= ' ' || *c >= 0x7f)
			return err_set(DH_EINVAL,
				       "configuration id '%.48s' contains a space, control or non-ASCII character", id);
		if ((*c >= 'A' && *c <= 'Z') || strchr("&^[]{}\\|\"<>/", *c))
			return err_set(DH_EINVAL,
				       "configuration id '%.48s' contains '%c': ids are lower case without"
				       " & ^ [ ] { } \\ | \" < > /",
				       id, *c);
	}
	return 0;
}

/* 1 when one path is a prefix of the other (both arrays of segment strings). */
static int paths_overlap(const json_t *a, const json_t *b)
{
	size_t n = json_array_size(a) < json_array_size(b) ? json_array_size(a) : json_array_size(b);

	for (size_t i = 0; i < n; i++)
		if (strcmp(json_string_value(json_array_get(a, i)), json_string_value(json_array_get(b, i))) != 0)
			return 0;
	return 1;
}

static void path_text(const json_t *path, buf *out)
{
	for (size_t i = 0; i < json_array_size(path); i++)
		buf_printf(out, "%s%s", i ? "." : "", json_string_value(json_array_get(path, i)));
}

/* "a.b.c" after "properties.desired." as a path array; empty segments are refused. */
static int split_path(const char *key, const char *rest, json_t **path)
{
	*path = json_array();
	for (;;) {
		const char *dot = strchr(rest, '.');
		size_t len = dot ? (size_t)(dot - rest) : strlen(rest);
		if (len == 0) {
			json_decref(*path);
			*path = NULL;
			return err_set(DH_EINVAL, "content key '%.200s' has an empty property name", key);
		}
		json_array_append_new(*path, json_stringn(rest, len));
		if (!dot)
			return 0;
		rest = dot + 1;
	}
}

/* Module content is not supported; empty module sections (as some tools send) are accepted. */
static int check_content_members(const json_t *content)
{
	const char *key;
	json_t *v;

	if (!json_is_object(content))
		return err_set(DH_EINVAL, "content must be a JSON object");
	json_object_foreach((json_t *)content, key, v)
	{
		if (!strcmp(key, "deviceContent"))
			continue;
		if (strcmp(key, "moduleContent") && strcmp(key, "modulesContent"))
			return err_set(DH_EINVAL, "unknown content member '%.64s'; use deviceContent", key);
		if (!json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
			return err_set(DH_EINVAL, "module configurations (%s) are not supported; use deviceContent",
				       key);
	}
	if (!json_is_object(json_object_get(content, "deviceContent")))
		return err_set(DH_EINVAL, "content.deviceContent must be a JSON object");
	return 0;
}

/* Adds one key of deviceContent to entries. */
static int add_entries(json_t *entries, const char *key, json_t *value)
{
	json_t *path = NULL;
	const char *k;
	json_t *v;
	int rc;

	if (!strcmp(key, DESIRED_PREFIX)) {
		if (!json_is_object(value))
			return err_set(DH_EINVAL, "content '%s' must be a JSON object", DESIRED_PREFIX);
		json_object_foreach(value, k, v) json_array_append_new(entries, json_pack("[[s], O]", k, v));
		return 0;
	}
	if (strncmp(key, DESIRED_PREFIX ".", sizeof(DESIRED_PREFIX)) != 0)
		return err_set(DH_EINVAL, "content key '%.200s' must start with '%s'", key, DESIRED_PREFIX);
	if ((rc = split_path(key, key + sizeof(DESIRED_PREFIX), &path)) != 0)
		return rc;
	json_array_append_new(entries, json_pack("[o, O]", path, value));
	return 0;
}

/* Puts value at path inside obj, making objects on the way (what a desired section holding all the
 * entries would look like, for the twin limits). */
static void set_at(json_t *obj, const json_t *path, json_t *value)
{
	size_t n = json_array_size(path);

	for (size_t i = 0; i + 1 < n; i++) {
		const char *seg = json_string_value(json_array_get(path, i));
		json_t *child = json_object_get(obj, seg);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_set_new(obj, seg, child);
		}
		obj = child;
	}
	json_object_set_new(obj, json_string_value(json_array_get(path, n - 1)), value);
}

/* Overlapping paths in one configuration, and the twin's key, depth and size limits on the whole. */
static int check_entries(const json_t *entries)
{
	json_t *desired = json_object();
	int rc = 0;

	for (size_t i = 0; i < json_array_size(entries) && !rc; i++) {
		const json_t *pi = json_array_get(json_array_get(entries, i), 0);
		for (size_t j = i + 1; j < json_array_size(entries) && !rc; j++) {
			const json_t *pj = json_array_get(json_array_get(entries, j), 0);
			if (paths_overlap(pi, pj)) {
				buf a = BUF_INIT, b = BUF_INIT;
				path_text(pi, &a);
				path_text(pj, &b);
				rc = err_set(DH_EINVAL, "content paths '%.100s' and '%.100s' overlap", buf_cstr(&a),
					     buf_cstr(&b));
				buf_release(&a);
				buf_release(&b);
			}
		}
		set_at(desired, pi, json_deep_copy(json_array_get(json_array_get(entries, i), 1)));
	}
	if (!rc)
		rc = twin_validate_section(desired, "content", TWIN_DESIRED_MAX_BYTES);
	json_decref(desired);
	return rc;
}

int configuration_content_entries(const json_t *content, json_t **entries)
{
	json_t *list = json_array();
	const char *key;
	json_t *value;
	int rc;

	*entries = NULL;
	if ((rc = check_content_members(content)) != 0)
		goto out;
	json_object_foreach(json_object_get(content, "deviceContent"), key,
			    value) if ((rc = add_entries(list, key, value)) != 0) goto out;
	if ((rc = check_entries(list)) != 0)
		goto out;
	*entries = list;
	list = NULL;
out:
	json_decref(list);
	return rc;
}

int configuration_outranks(const configuration_claim *a, const configuration_claim *b)
{
	int by_time;

	if (a->priority != b->priority)
		return a->priority > b->priority;
	by_time = strcmp(a->created_time, b->created_time);
	if (by_time)
		return by_time > 0;
	return a->created_seq > b->created_seq;
}

static int claim_cmp(const void *x, const void *y)
{
	return configuration_outranks(x, y) ? -1 : configuration_outranks(y, x) ? 1 : 0;
}

void configuration_sort(configuration_claim *claims, size_t n)
{
	if (n > 1)
		qsort(claims, n, sizeof(*claims), claim_cmp);
}

static int overlaps_any(const json_t *taken, const json_t *path)
{
	for (size_t i = 0; i < json_array_size(taken); i++)
		if (paths_overlap(json_array_get(taken, i), path))
			return 1;
	return 0;
}

json_t *configuration_resolve(const configuration_claim *claims, size_t n, int *applied)
{
	json_t *settings = json_object(), *taken = json_array();

	for (size_t i = 0; i < n; i++) {
		size_t k;
		json_t *entry;
		applied[i] = 1;
		json_array_foreach(claims[i].entries, k, entry)
		{
			json_t *path = json_array_get(entry, 0);
			char *key;
			if (overlaps_any(taken, path)) {
				applied[i] = 0;
				continue;
			}
			json_array_append(taken, path);
			key = json_dumps(path, JSON_COMPACT);
			json_object_set_new(settings, key,
					    json_pack("{s:s, s:O}", "c", claims[i].id, "v", json_array_get(entry, 1)));
			free(key);
		}
	}
	json_decref(taken);
	return settings;
}

/* Merges src into dst recursively (src wins): a value set over a deletion recorded for a path below it. */
static void merge_into(json_t *dst, const json_t *src)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)src, k, v)
	{
		json_t *old = json_object_get(dst, k);
		if (json_is_object(old) && json_is_object(v))
			merge_into(old, v);
		else
			json_object_set_new(dst, k, json_deep_copy(v));
	}
}

/* Writes value at path (the text of a JSON array) into patch. */
static void patch_at(json_t *patch, const char *key, const json_t *value)
{
	json_t *path = json_loads(key, 0, NULL), *node = patch, *old;
	size_t n = json_array_size(path);
	const char *last;

	if (n == 0)
		goto out;
	for (size_t i = 0; i + 1 < n; i++) {
		const char *seg = json_string_value(json_array_get(path, i));
		json_t *child = json_object_get(node, seg);
		if (!json_is_object(child)) {
			child = json_object();
			json_object_set_new(node, seg, child);
		}
		node = child;
	}
	last = json_string_value(json_array_get(path, n - 1));
	old = json_object_get(node, last);
	if (json_is_object(old) && json_is_object(value))
		merge_into(old, value);
	else
		json_object_set_new(node, last, json_deep_copy(value));
out:
	json_decref(path);
}

json_t *configuration_patch(const json_t *before, const json_t *after)
{
	json_t *patch = json_object(), *was, *now;
	const char *key;

	/* Deletions first, so a value set below a deleted path lands inside the deletion's object. */
	json_object_foreach((json_t *)before, key,
			    was) if (!json_object_get(after, key) && !json_is_null(json_object_get(was, "v")))
	    patch_at(patch, key, json_null());
	json_object_foreach((json_t *)after, key, now)
	{
		was = json_object_get(before, key);
		if (!was || !json_equal(json_object_get(was, "v"), json_object_get(now, "v")))
			patch_at(patch, key, json_object_get(now, "v"));
	}
	if (json_object_size(patch) == 0) {
		json_decref(patch);
		return NULL;
	}
	return patch;
}

/* ---- compiling conditions and metric queries --------------------------------------------------------- */

static int compile(query *q, query_sql *out)
{
	query_error qe;
	int rc = query_compile(q, store_dialect_sqlite(), NULL, out, &qe);

	if (rc)
		rc = err_set(DH_EQUERY, "query error at position %zu: %s", qe.position, qe.message);
	query_free(q);
	return rc;
}

int configuration__compile_target(const char *condition, query_sql *out)
{
	static const char all[] = "SELECT * FROM devices";
	query *q = NULL;
	query_error qe;
	int rc;

	memset(out, 0, sizeof(*out));
	if (condition[strspn(condition, " \t\r\n")] == '\0')
		return 0;
	if (strcmp(condition, "*") == 0)
		rc = query_parse(all, sizeof(all) - 1, &q, &qe);
	else
		rc = query_parse_condition(condition, strlen(condition), &q, &qe);
	if (rc)
		return err_set(DH_EQUERY, "syntax error at position %zu: %s", qe.position, qe.message);
	return compile(q, out);
}

int configuration__compile_metric(const char *text, query_sql *out)
{
	query *q = NULL;
	query_error qe;

	memset(out, 0, sizeof(*out));
	if (query_parse(text, strlen(text), &q, &qe))
		return err_set(DH_EQUERY, "syntax error at position %zu: %s", qe.position, qe.message);
	return compile(q, out);
}

/* Prefixes the current error message with what failed, keeping the code. */
static int err_prefix(int code, const char *what)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "%s", err_message());
	return err_set(code, "%s: %s", what, msg);
}

/* ---- reading a PUT body ------------------------------------------------------------------------------ */

static int read_labels(const json_t *v, json_t **out)
{
	const char *k;
	json_t *label;

	if (!v || json_is_null(v)) {
		*out = json_object();
		return 0;
	}
	if (!json_is_object(v))
		return err_set(DH_EINVAL, "labels must be a JSON object of strings");
	json_object_foreach((json_t *)v, k, label) if (
	    !json_is_string(label) || strlen(k) > LABEL_MAX ||
	    json_string_length(label) >
		LABEL_MAX) return err_set(DH_EINVAL,
					  "label '%.64s' must be a string; names and values are at most %d characters",
					  k, LABEL_MAX);
	*out = json_deep_copy(v);
	return 0;
}

static int read_metrics(const json_t *metrics, json_t **out)
{
	const json_t *queries = json_object_get(metrics, "queries");
	const char *name;
	json_t *text;

	*out = NULL;
	if (metrics && !json_is_null(metrics) && !json_is_object(metrics))
		return err_set(DH_EINVAL, "metrics must be a JSON object {\"queries\": {name: query}}");
	if (!queries || json_is_null(queries)) {
		*out = json_object();
		return 0;
	}
	if (!json_is_object(queries))
		return err_set(DH_EINVAL, "metrics.queries must be a JSON object {name: query}");
	if (json_object_size(queries) > CONFIGURATION_MAX_METRICS)
		return err_set(DH_EINVAL, "a configuration has at most %d custom metrics", CONFIGURATION_MAX_METRICS);
	json_object_foreach((json_t *)queries, name, text)
	{
		query_sql qs;
		int rc;
		if (!*name || strlen(name) > METRIC_NAME_MAX || !json_is_string(text))
			return err_set(DH_EINVAL,
				       "metric '%.64s' needs a name of 1 to %d characters and a query string", name,
				       METRIC_NAME_MAX);
		rc = configuration__compile_metric(json_string_value(text), &qs);
		query_sql_release(&qs);
		if (rc)
			return err_prefix(rc, "metric query");
	}
	*out = json_deep_copy(queries);
	return 0;
}

static int read_scalars(const json_t *body, store_configuration *c)
{
	const json_t *v = json_object_get(body, "schemaVersion");
	query_sql qs;
	int rc;

	if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) >= sizeof(c->schema_version)))
		return err_set(DH_EINVAL, "schemaVersion must be a short string such as \"1.0\"");
	snprintf(c->schema_version, sizeof(c->schema_version), "%s", json_is_string(v) ? json_string_value(v) : "1.0");
	v = json_object_get(body, "priority");
	if (v && !json_is_null(v) &&
	    (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX))
		return err_set(DH_EINVAL, "priority must be a non-negative integer");
	c->priority = json_is_integer(v) ? json_integer_value(v) : 0;
	v = json_object_get(body, "targetCondition");
	if (v && !json_is_null(v) && !json_is_string(v))
		return err_set(DH_EINVAL, "targetCondition must be a string");
	/* "group": a device group's condition, copied now (docs/groups.md). */
	if ((rc = group_resolve_target(body, "targetCondition", &c->target_condition)) != 0)
		return rc;
	if (!c->target_condition)
		c->target_condition = xstrdup(json_is_string(v) ? json_string_value(v) : "");
	rc = configuration__compile_target(c->target_condition, &qs);
	query_sql_release(&qs);
	return rc ? err_prefix(rc, "targetCondition") : 0;
}

/* Fills c from body; c->content stays NULL when the body has none. */
static int read_body(const char *id, const json_t *body, store_configuration *c)
{
	const json_t *v = json_object_get(body, "id"), *content = json_object_get(body, "content");
	json_t *entries = NULL;
	int rc;

	if (!json_is_object(body))
		return err_set(DH_EINVAL, "configuration body must be a JSON object");
	if (v && !json_is_null(v) && (!json_is_string(v) || strcmp(json_string_value(v), id) != 0))
		return err_set(DH_EINVAL, "the body's id does not match the configuration id '%s' in the path", id);
	snprintf(c->id, sizeof(c->id), "%s", id);
	if ((rc = read_scalars(body, c)) != 0 || (rc = read_labels(json_object_get(body, "labels"), &c->labels)) != 0 ||
	    (rc = read_metrics(json_object_get(body, "metrics"), &c->metric_queries)) != 0)
		return rc;
	if (content && !json_is_null(content)) {
		if ((rc = configuration_content_entries(content, &entries)) != 0)
			return rc;
		json_decref(entries);
		c->content = json_deep_copy(content);
	}
	return 0;
}

/* ---- REST operations ---------------------------------------------------------------------------------- */

/* IoT Hub's configuration etag: base64 of the counter's decimal text, like an identity's. */
static void etag_text(int64_t counter, char out[32])
{
	char dec[24];

	snprintf(dec, sizeof(dec), "%lld", (long long)counter);
	crypto_base64_encode(dec, strlen(dec), out, 32);
}

static int etag_matches(const char *if_match, int64_t counter)
{
	char have[32];

	if (!if_match || !*if_match || !strcmp(if_match, "*"))
		return 1;
	etag_text(counter, have);
	return strcmp(have, if_match) == 0;
}

static json_t *render(const store_configuration *c)
{
	char etag[32];
	buf targeted = BUF_INIT, applied = BUF_INIT;
	const char *cond = c->target_condition;
	json_t *o;

	etag_text(c->etag, etag);
	if (!strcmp(cond, "*"))
		buf_puts(&targeted, "select deviceId from devices");
	else if (cond[strspn(cond, " \t\r\n")])
		buf_printf(&targeted, "select deviceId from devices where %s", cond);
	buf_printf(&applied, "select deviceId from devices where configurations.[[%s]].status = 'Applied'", c->id);
	o = json_pack("{s:s, s:s, s:O, s:O, s:s, s:s, s:s, s:I,"
		      " s:{s:{s:I, s:I}, s:{s:s, s:s}}, s:{s:O, s:O}, s:s}",
		      "id", c->id, "schemaVersion", c->schema_version, "labels", c->labels, "content", c->content,
		      "targetCondition", cond, "createdTimeUtc", c->created_time, "lastUpdatedTimeUtc",
		      c->last_updated_time, "priority", (json_int_t)c->priority, "systemMetrics", "results",
		      "targetedCount", (json_int_t)c->targeted_count, "appliedCount", (json_int_t)c->applied_count,
		      "queries", "targetedCount", buf_cstr(&targeted), "appliedCount", buf_cstr(&applied), "metrics",
		      "results", c->metric_results, "queries", c->metric_queries, "etag", etag);
	buf_release(&targeted);
	buf_release(&applied);
	return o;
}

/* Each metric's last result, 0 for new ones. */
static json_t *carry_results(const json_t *queries, const json_t *old_results)
{
	json_t *results = json_object(), *q;
	const char *name;

	json_object_foreach((json_t *)queries, name, q)
	{
		json_t *was = json_object_get(old_results, name);
		json_object_set_new(results, name, json_is_integer(was) ? json_copy(was) : json_integer(0));
	}
	return results;
}

static int create_locked(store *s, store_configuration *c)
{
	int64_t n = 0;
	int rc;

	if (!c->content)
		return err_set(DH_EINVAL, "content is required: {\"deviceContent\": {\"properties.desired.x\": ...}}");
	if ((rc = store_configuration_count(s, &n)) != 0)
		return rc;
	if (n >= CONFIGURATION_MAX_COUNT)
		return err_set(DH_EQUOTA, "the hub already has %d configurations, the maximum",
			       CONFIGURATION_MAX_COUNT);
	clock_iso_now(c->created_time);
	snprintf(c->last_updated_time, sizeof(c->last_updated_time), "%s", c->created_time);
	c->etag = 1;
	c->metric_results = carry_results(c->metric_queries, NULL);
	return store_configuration_insert(s, c);
}

static int update_locked(store *s, store_configuration *c, const char *if_match)
{
	store_configuration old;
	char have[32];
	int rc;

	if ((rc = store_configuration_get(s, c->id, &old)) != 0)
		return rc;
	etag_text(old.etag, have);
	if (!etag_matches(if_match, old.etag))
		rc = err_set(DH_EETAG, "configuration etag '%s' does not match If-Match '%.40s'", have, if_match);
	else if (c->content && !json_equal(c->content, old.content))
		rc = err_set(DH_EINVAL, "the content of configuration '%s' cannot change; create a new configuration",
			     c->id);
	if (rc)
		goto out;
	json_decref(c->content);
	c->content = json_incref(old.content);
	memcpy(c->created_time, old.created_time, sizeof(c->created_time));
	c->created_seq = old.created_seq;
	clock_iso_now(c->last_updated_time);
	c->etag = old.etag + 1;
	c->evaluated_etag = old.evaluated_etag;
	c->targeted_count = old.targeted_count;
	c->applied_count = old.applied_count;
	c->metric_results = carry_results(c->metric_queries, old.metric_results);
	rc = store_configuration_update(s, c);
out:
	store_configuration_release(&old);
	return rc;
}

int configuration_put(const char *id, const json_t *body, const char *if_match, json_t **out)
{
	store *s = NULL;
	store_configuration c;
	int rc;

	memset(&c, 0, sizeof(c));
	*out = NULL;
	if ((rc = configuration_validate_id(id)) != 0 || (rc = read_body(id, body, &c)) != 0)
		goto out;
	if (!(s = store_thread())) {
		rc = DH_EIO;
		goto out;
	}
	if ((rc = store_begin_write(s)) != 0)
		goto out;
	rc = if_match && *if_match ? update_locked(s, &c, if_match) : create_locked(s, &c);
	if (rc == 0)
		rc = store_commit(s);
	if (rc == 0) {
		*out = render(&c);
		configuration__kick();
	}
out:
	if (rc && s)
		store_rollback(s);
	store_configuration_release(&c);
	return rc;
}

int configuration_get(const char *id, json_t **out)
{
	store *s = store_thread();
	store_configuration c;
	int rc;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	rc = store_configuration_get(s, id, &c);
	store_rollback(s); /* read only: nothing to commit */
	if (rc == 0)
		*out = render(&c);
	store_configuration_release(&c);
	return rc;
}

static int list_one(store_configuration *c, void *ctx)
{
	json_array_append_new(ctx, render(c));
	return 0;
}

int configuration_list(int top, json_t **out)
{
	store *s = store_thread();
	json_t *items = json_array();
	int rc;

	*out = NULL;
	if (top <= 0 || top > CONFIGURATION_MAX_COUNT)
		top = CONFIGURATION_MAX_COUNT;
	if (!s) {
		json_decref(items);
		return DH_EIO;
	}
	if ((rc = store_begin_read(s)) == 0)
		rc = store_configuration_each(s, top, list_one, items);
	store_rollback(s);
	if (rc == 0)
		*out = json_incref(items);
	json_decref(items);
	return rc;
}

int configuration_delete(const char *id, const char *if_match)
{
	store *s = store_thread();
	store_configuration c;
	char have[32];
	int rc;

	memset(&c, 0, sizeof(c));
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_configuration_get(s, id, &c)) != 0)
		goto out;
	etag_text(c.etag, have);
	if (!etag_matches(if_match, c.etag)) {
		rc = err_set(DH_EETAG, "configuration etag '%s' does not match If-Match '%.40s'", have, if_match);
		goto out;
	}
	/* Its devices must be looked at again: the settings it gave them are taken back, or another
	 * configuration's take over. */
	if ((rc = store_configuration_dirty_members(s, id)) != 0 || (rc = store_configuration_delete(s, id)) != 0)
		goto out;
	rc = store_commit(s);
	if (rc == 0)
		configuration__kick();
out:
	if (rc)
		store_rollback(s);
	store_configuration_release(&c);
	return rc;
}

/* Counts what sql selects; a compile error goes into errors[name] (or the error string) instead. */
static int test_one(store *s, const char *text, int is_target, json_t **count, char *error, size_t n)
{
	query_sql qs;
	int64_t rows = 0;
	int rc = is_target ? configuration__compile_target(text, &qs) : configuration__compile_metric(text, &qs);

	*count = NULL;
	if (rc == DH_EQUERY) {
		snprintf(error, n, "%s", err_message());
		err_clear();
		query_sql_release(&qs);
		return 0;
	}
	if (rc == 0 && qs.sql)
		rc = store_configuration_count_rows(s, qs.sql, qs.params, qs.nparams, &rows);
	if (rc == 0)
		*count = json_integer(rows);
	query_sql_release(&qs);
	return rc;
}

static int test_queries_locked(store *s, const char *target, const json_t *metrics, json_t *res)
{
	char error[512] = "";
	const char *name;
	json_t *text, *count = NULL;
	int rc = test_one(s, target, 1, &count, error, sizeof(error));

	if (rc)
		return rc;
	json_object_set_new(res, "targetConditionError", json_string(error));
	if (count)
		json_object_set_new(res, "targetedCount", count);
	json_object_foreach((json_t *)metrics, name, text)
	{
		error[0] = '\0';
		if ((rc = test_one(s, json_string_value(text), 0, &count, error, sizeof(error))) != 0)
			return rc;
		if (count)
			json_object_set_new(json_object_get(res, "customMetricQueryResults"), name, count);
		else
			json_object_set_new(json_object_get(res, "customMetricQueryErrors"), name, json_string(error));
	}
	return 0;
}

int configuration_test_queries(const json_t *body, json_t **out)
{
	store *s = store_thread();
	const json_t *target = json_object_get(body, "targetCondition");
	const json_t *metrics = json_object_get(body, "customMetricQueries");
	const char *name;
	json_t *text, *res = NULL;
	int rc;

	*out = NULL;
	if (!json_is_object(body) || (target && !json_is_null(target) && !json_is_string(target)) ||
	    (metrics && !json_is_null(metrics) && !json_is_object(metrics)))
		return err_set(
		    DH_EINVAL,
		    "the body must be {\"targetCondition\": \"...\", \"customMetricQueries\": {name: query}}");
	json_object_foreach((json_t *)metrics, name, text) if (!json_is_string(text)) return err_set(
	    DH_EINVAL, "custom metric query '%.64s' must be a string", name);
	if (!s)
		return DH_EIO;
	res = json_pack("{s:s, s:{}, s:{}}", "targetConditionError", "", "customMetricQueryErrors",
			"customMetricQueryResults");
	if ((rc = store_begin_read(s)) == 0)
		rc = test_queries_locked(s, json_is_string(target) ? json_string_value(target) : "", metrics, res);
	store_rollback(s);
	if (rc == 0)
		*out = json_incref(res);
	json_decref(res);
	return rc;
}
