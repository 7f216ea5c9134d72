/*
 * twin: IoT Hub's device twin rules on store_twin records: JSON merge patches in which null deletes, the
 * $metadata tree and the three version counters, the key/value/depth/size limits, and the twin JSON the
 * REST API shows. Also the three transactional operations the edges call.
 *
 * Owns no state. Never speaks HTTP or MQTT, never holds SQL (store_device does), and never publishes
 * events: the caller that changed a twin decides who must hear about it.
 *
 * Every apply works on a deep copy of the twin and swaps it in only when every check passed, so a rejected
 * write leaves the caller's twin exactly as it was. Decisions documented in docs/twins.md:
 *  - depth: the section root is level 0 and each object or array below it adds one level; values may sit at
 *    most TWIN_MAX_DEPTH levels down (the "one".."ten" example of IoT Hub's docs is exactly valid).
 *  - size: UTF-8 key bytes + value bytes; strings their byte length, numbers 8, booleans 4, null 4;
 *    objects and arrays the sum of their contents; $metadata and $version never count.
 *  - a service body's tags / properties / properties.desired must be objects when present (null refused);
 *    their top-level $metadata and $version (echoed back by SDKs that round-trip a fetched twin) are ignored.
 */
#include "twin.h"

#include "session.h"
#include "tag_schema.h"

#include "clock.h"
#include "err.h"
#include "events.h"
#include "json_util.h"

#include <mbedtls/base64.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TWIN_INT_MIN (-4503599627370496LL)
#define TWIN_INT_MAX 4503599627370495LL
#define TWIN_NUMBER_BYTES 8
#define TWIN_BOOL_BYTES 4
#define TWIN_NULL_BYTES 4 /* only reachable inside arrays: a null member of an object is a delete */

/* What a section is called in messages and how big it may grow. */
typedef struct twin_section {
	const char *name;
	size_t max_bytes;
} twin_section;

static const twin_section SECTION_TAGS = {"tags", TWIN_TAGS_MAX_BYTES};
static const twin_section SECTION_DESIRED = {"desired properties", TWIN_DESIRED_MAX_BYTES};
static const twin_section SECTION_REPORTED = {"reported properties", TWIN_REPORTED_MAX_BYTES};

/* ---- limits ---------------------------------------------------------------------------------------- */

/* One walk over a section: the running size and where messages should point. */
typedef struct twin_check {
	const char *section;
	size_t bytes;
} twin_check;

/* A key as an error message may show it: printable ASCII only, because the message ends up in a JSON error
 * body and a key cut in the middle of a UTF-8 sequence (or holding control bytes) would not survive that. */
static const char *key_shown(const char *key, char out[64])
{
	size_t n = 0;
	const char *p = key;

	for (; *p && n < 48; p++)
		out[n++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	if (*p) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* C0, DEL and C1 (U+0080..U+009F, UTF-8 C2 80..C2 9F). Returns the length of the sequence found, 0 if none. */
static size_t control_at(const unsigned char *p, size_t left)
{
	if (*p < 0x20 || *p == 0x7f)
		return 1;
	if (*p == 0xc2 && left > 1 && p[1] >= 0x80 && p[1] <= 0x9f)
		return 2;
	return 0;
}

static int check_key(const twin_check *c, const char *key)
{
	const unsigned char *k = (const unsigned char *)key;
	size_t len = strlen(key);
	char shown[64];

	if (len == 0)
		return err_set(DH_EINVAL, "twin key in %s is empty", c->section);
	if (len > TWIN_KEY_MAX_BYTES)
		return err_set(DH_EINVAL, "twin key '%s' in %s is %zu bytes, over %d", key_shown(key, shown),
			       c->section, len, TWIN_KEY_MAX_BYTES);
	for (size_t i = 0; i < len; i++) {
		if (k[i] == '.' || k[i] == '$' || k[i] == ' ')
			return err_set(DH_EINVAL, "twin key '%s' in %s contains '%c'", key_shown(key, shown),
				       c->section, k[i]);
		if (control_at(k + i, len - i))
			return err_set(DH_EINVAL, "twin key '%s' in %s contains a control character",
				       key_shown(key, shown), c->section);
	}
	return 0;
}

/* key: the member holding v, for messages ("" at the root or for array elements of the root). */
static int check_scalar(twin_check *c, const char *key, const json_t *v)
{
	char shown[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (json_string_length(v) > TWIN_STRING_MAX_BYTES)
			return err_set(DH_EINVAL, "string value of '%s' in %s is %zu bytes, over %d",
				       key_shown(key, shown), c->section, json_string_length(v),
				       TWIN_STRING_MAX_BYTES);
		c->bytes += json_string_length(v);
		return 0;
	case JSON_INTEGER:
		if (json_integer_value(v) < TWIN_INT_MIN || json_integer_value(v) > TWIN_INT_MAX)
			return err_set(DH_EINVAL, "integer value of '%s' in %s is outside %lld..%lld",
				       key_shown(key, shown), c->section, TWIN_INT_MIN, TWIN_INT_MAX);
		c->bytes += TWIN_NUMBER_BYTES;
		return 0;
	case JSON_REAL:
		c->bytes += TWIN_NUMBER_BYTES;
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		c->bytes += TWIN_BOOL_BYTES;
		return 0;
	default:
		c->bytes += TWIN_NULL_BYTES;
		return 0;
	}
}

static int check_value(twin_check *c, const char *key, const json_t *v, int level);

static int check_object(twin_check *c, const json_t *obj, int level)
{
	const char *key;
	json_t *child;
	int rc;

	json_object_foreach((json_t *)obj, key, child) {
		if ((rc = check_key(c, key)) != 0)
			return rc;
		c->bytes += strlen(key);
		if ((rc = check_value(c, key, child, level + 1)) != 0)
			return rc;
	}
	return 0;
}

/* level: how far below the section root v sits (the root is 0). Checked before descending, so a value built
 * in memory deeper than the parser would allow cannot recurse far here either. */
static int check_value(twin_check *c, const char *key, const json_t *v, int level)
{
	char shown[64];
	size_t i;
	json_t *item;
	int rc;

	if (!json_is_object(v) && !json_is_array(v))
		return check_scalar(c, key, v);
	if (level > TWIN_MAX_DEPTH)
		return err_set(DH_EINVAL, "%s nest deeper than %d levels at key '%s'", c->section, TWIN_MAX_DEPTH,
			       key_shown(key, shown));
	if (json_is_object(v))
		return check_object(c, v, level);
	json_array_foreach(v, i, item) {
		if ((rc = check_value(c, key, item, level + 1)) != 0)
			return rc;
	}
	return 0;
}

int twin_validate_section(const json_t *value, const char *section, size_t max_bytes)
{
	twin_check c = {section, 0};
	int rc;

	if (!json_is_object(value))
		return err_set(DH_EINVAL, "%s must be a JSON object", section);
	if ((rc = check_object(&c, value, 0)) != 0)
		return rc;
	if (c.bytes > max_bytes)
		return err_set(DH_EINVAL, "%s exceed %zu bytes (%zu)", section, max_bytes, c.bytes);
	return 0;
}

/* ---- merge with metadata --------------------------------------------------------------------------- */

/* version 0 = reported (no $lastUpdatedVersion there). */
static void meta_stamp(json_t *meta, const char *now, int64_t version)
{
	json_object_set_new(meta, "$lastUpdated", json_string(now));
	if (version > 0)
		json_object_set_new(meta, "$lastUpdatedVersion", json_integer(version));
}

static json_t *meta_leaf(const char *now, int64_t version)
{
	json_t *meta = json_object();

	meta_stamp(meta, now, version);
	return meta;
}

static void merge_object(json_t *target, json_t *meta, const json_t *patch, const char *now, int64_t version);

/* An object value in a patch merges into what is there when that is an object; anything else is replaced
 * by a fresh object first (RFC 7386), and then its old metadata is stale too. */
static void merge_child(json_t *target, json_t *meta, const char *key, const json_t *patch, const char *now,
			int64_t version)
{
	json_t *child = json_object_get(target, key);
	json_t *child_meta = meta ? json_object_get(meta, key) : NULL;

	if (!json_is_object(child)) {
		child = json_object();
		json_object_set_new(target, key, child);
		child_meta = NULL;
	}
	if (meta && !json_is_object(child_meta)) {
		child_meta = json_object();
		json_object_set_new(meta, key, child_meta);
	}
	merge_object(child, child_meta, patch, now, version);
}

/* RFC 7386 merge of patch into target. meta (NULL for tags, which keep no metadata) mirrors target: every
 * object level and leaf written is stamped; deleted keys leave the metadata with their values. */
static void merge_object(json_t *target, json_t *meta, const json_t *patch, const char *now, int64_t version)
{
	const char *key;
	json_t *value;

	json_object_foreach((json_t *)patch, key, value) {
		if (json_is_null(value)) {
			json_object_del(target, key);
			if (meta)
				json_object_del(meta, key);
		} else if (json_is_object(value)) {
			merge_child(target, meta, key, value, now, version);
		} else {
			json_object_set_new(target, key, json_deep_copy(value));
			if (meta)
				json_object_set_new(meta, key, meta_leaf(now, version));
		}
	}
	if (meta)
		meta_stamp(meta, now, version);
}

/* Checks the patch's own keys (a deleted key never reaches the result, yet a bad one is still a bad
 * request), merges, then checks the whole resulting section against its limits. */
static int merge_section(json_t *section, json_t *meta, const json_t *patch, const twin_section *def,
			 const char *now, int64_t version)
{
	twin_check patch_check = {def->name, 0};
	int rc;

	if ((rc = check_object(&patch_check, patch, 0)) != 0)
		return rc;
	merge_object(section, meta, patch, now, version);
	return twin_validate_section(section, def->name, def->max_bytes);
}

/* ---- whole-twin edits ------------------------------------------------------------------------------ */

static json_t *object_copy(const json_t *v)
{
	return json_is_object(v) ? json_deep_copy(v) : json_object();
}

/* OUT: *dst, a copy of src with its own tags and desired sections (reported is shared), that the caller
 * releases (store_twin_release). */
static void twin_copy(store_twin *dst, const store_twin *src)
{
	*dst = *src;
	dst->tags = object_copy(src->tags);
	dst->desired = object_copy(src->desired);
	dst->desired_meta = object_copy(src->desired_meta);
	/* Service writes never touch reported properties: share them rather than copy the largest section. */
	dst->reported = src->reported ? json_incref(src->reported) : json_object();
	dst->reported_meta = src->reported_meta ? json_incref(src->reported_meta) : json_object();
	dst->configurations = src->configurations ? json_incref(src->configurations) : NULL;
}

/* Takes over work's references into *tw (dropping tw's old ones) and counts the change. */
static void twin_commit_take(store_twin *tw, store_twin *work)
{
	work->version++;
	work->etag++;
	store_twin_release(tw);
	*tw = *work;
	memset(work, 0, sizeof(*work));
}

static int section_member(const json_t *parent, const char *key, json_t **out)
{
	json_t *v = json_object_get(parent, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_object(v))
		return err_set(DH_EINVAL, "'%s' must be a JSON object", key);
	/* SDKs that send back a twin they fetched echo these read-only members; IoT Hub ignores them. */
	*out = json_copy(v);
	json_object_del(*out, "$metadata");
	json_object_del(*out, "$version");
	return 0;
}

/* Splits a service body into the sections it writes. OUT: *tags, *desired: new references, NULL when the
 * body has no such member. Everything else at the top (deviceId, etag, version, ...) is ignored. */
static int service_parts(const json_t *body, json_t **tags, json_t **desired)
{
	json_t *properties = json_object_get(body, "properties");
	int rc;

	*tags = *desired = NULL;
	if (!json_is_object(body))
		return err_set(DH_EINVAL, "twin body must be a JSON object");
	if (properties && !json_is_object(properties))
		return err_set(DH_EINVAL, "'properties' must be a JSON object");
	if (json_object_get(properties, "reported"))
		return err_set(DH_EINVAL, "reported properties are read-only to the service");
	if ((rc = section_member(body, "tags", tags)) != 0)
		return rc;
	if ((rc = section_member(properties, "desired", desired)) != 0) {
		json_decref(*tags);
		*tags = NULL;
	}
	return rc;
}

/* The tag schema governs each top-level tag named in keys, as the merged tags hold it now. A patch checks
 * only the keys it writes, so a twin stored before a schema can still be fixed one key at a time. */
static int check_tag_schema(const json_t *keys, const json_t *tags)
{
	const char *key;
	const json_t *v;
	int rc;

	json_object_foreach((json_t *)keys, key, v) {
		if ((rc = tag_schema_check_tag(key, json_object_get(tags, key))) != 0)
			return rc;
	}
	return 0;
}

int twin_apply_patch(store_twin *tw, const json_t *patch, const char *now)
{
	store_twin work = {0};
	json_t *tags = NULL;
	json_t *desired = NULL;
	int rc;

	if ((rc = service_parts(patch, &tags, &desired)) != 0)
		goto cleanup;
	/* A body that names no key writes nothing; anything else counts as a change even if values repeat. */
	if (json_object_size(tags) == 0 && json_object_size(desired) == 0)
		goto cleanup;
	twin_copy(&work, tw);
	if (json_object_size(tags) && ((rc = merge_section(work.tags, NULL, tags, &SECTION_TAGS, now, 0)) != 0 ||
					(rc = check_tag_schema(tags, work.tags)) != 0))
		goto cleanup;
	if (json_object_size(desired)) {
		work.desired_version++;
		rc = merge_section(work.desired, work.desired_meta, desired, &SECTION_DESIRED, now,
				   work.desired_version);
		if (rc != 0)
			goto cleanup;
	}
	twin_commit_take(tw, &work);
cleanup:
	store_twin_release(&work);
	json_decref(tags);
	json_decref(desired);
	return rc;
}

/* Empties *section (and *meta) and merges patch (may be NULL) into the empty object, which drops nulls. */
static int replace_section(json_t **section, json_t **meta, const json_t *patch, const twin_section *def,
			   const char *now, int64_t version)
{
	json_t *empty = json_object();
	int rc;

	json_decref(*section);
	*section = json_object();
	if (meta) {
		json_decref(*meta);
		*meta = json_object();
	}
	rc = merge_section(*section, meta ? *meta : NULL, patch ? patch : empty, def, now, version);
	json_decref(empty);
	return rc;
}

int twin_apply_replace(store_twin *tw, const json_t *body, const char *now)
{
	store_twin work = {0};
	json_t *tags = NULL;
	json_t *desired = NULL;
	int rc;

	if ((rc = service_parts(body, &tags, &desired)) != 0)
		goto cleanup;
	twin_copy(&work, tw);
	if ((rc = replace_section(&work.tags, NULL, tags, &SECTION_TAGS, now, 0)) != 0 ||
	    (rc = check_tag_schema(work.tags, work.tags)) != 0)
		goto cleanup;
	work.desired_version++;
	rc = replace_section(&work.desired, &work.desired_meta, desired, &SECTION_DESIRED, now,
			     work.desired_version);
	if (rc != 0)
		goto cleanup;
	twin_commit_take(tw, &work);
cleanup:
	store_twin_release(&work);
	json_decref(tags);
	json_decref(desired);
	return rc;
}

/* 0 when patch may be merged into reported properties, 1 when it is empty (nothing changes), else an error. */
static int reported_patch_check(const json_t *patch)
{
	const char *key;
	json_t *value;
	char shown[64];

	if (!json_is_object(patch))
		return err_set(DH_EINVAL, "reported properties patch must be a JSON object");
	/* $version/$metadata are the hub's to write; say so rather than "contains '$'". */
	json_object_foreach((json_t *)patch, key, value) {
		if (key[0] == '$')
			return err_set(DH_EINVAL, "reported property '%s' is reserved: names beginning with '$' "
						  "belong to the hub", key_shown(key, shown));
	}
	return json_object_size(patch) == 0;
}

int twin_merge_reported(store_twin *tw, const json_t *patch, const char *now)
{
	int rc = reported_patch_check(patch);

	if (rc != 0)
		return rc > 0 ? 0 : rc;
	if (!json_is_object(tw->reported)) {
		json_decref(tw->reported);
		tw->reported = json_object();
	}
	if (!json_is_object(tw->reported_meta)) {
		json_decref(tw->reported_meta);
		tw->reported_meta = json_object();
	}
	if ((rc = merge_section(tw->reported, tw->reported_meta, patch, &SECTION_REPORTED, now, 0)) != 0)
		return rc;
	tw->reported_version++;
	tw->version++;
	tw->etag++;
	return 0;
}

int twin_apply_reported(store_twin *tw, const json_t *patch, const char *now)
{
	json_t *reported = tw->reported, *meta = tw->reported_meta;
	int rc;

	/* Merge into copies of the section, so that a patch refused half way leaves tw as it was. Only the
	 * reported section is copied: the others are not touched. */
	tw->reported = object_copy(reported);
	tw->reported_meta = object_copy(meta);
	if ((rc = twin_merge_reported(tw, patch, now)) == 0) {
		json_decref(reported);
		json_decref(meta);
		return 0;
	}
	json_decref(tw->reported);
	json_decref(tw->reported_meta);
	tw->reported = reported;
	tw->reported_meta = meta;
	return rc;
}

void twin_init(store_twin *tw, const char *now)
{
	memset(tw, 0, sizeof(*tw));
	tw->version = 1;
	tw->etag = 1;
	tw->desired_version = 1;
	tw->reported_version = 1;
	tw->tags = json_object();
	tw->desired = json_object();
	tw->desired_meta = meta_leaf(now, 1);
	tw->reported = json_object();
	tw->reported_meta = meta_leaf(now, 0);
}

/* ---- rendering ------------------------------------------------------------------------------------- */

static char *base64_text(const unsigned char *src, size_t n, char out[32])
{
	size_t olen = 0;

	/* 8 bytes or 20 digits encode to at most 28 characters + NUL: out always fits. */
	if (mbedtls_base64_encode((unsigned char *)out, 32, &olen, src, n) != 0)
		out[0] = '\0';
	return out;
}

char *twin_etag_text(int64_t counter, char out[32])
{
	unsigned char be[8];
	uint64_t u = (uint64_t)counter;

	for (int i = 7; i >= 0; i--, u >>= 8)
		be[i] = (unsigned char)(u & 0xff);
	return base64_text(be, sizeof(be), out);
}

char *twin_identity_etag_text(int64_t counter, char out[32])
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%lld", (long long)counter);

	return base64_text((const unsigned char *)digits, (size_t)n, out);
}

static json_t *text_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *time_or_never(const char *s)
{
	return json_string(*s ? s : CLOCK_NEVER);
}

/* values + "$metadata" + "$version", all copies: the caller may edit what twin_render returns. */
static json_t *render_section(const json_t *values, const json_t *meta, int64_t version)
{
	json_t *out = object_copy(values);

	json_object_set_new(out, "$metadata", object_copy(meta));
	json_object_set_new(out, "$version", json_integer(version));
	return out;
}

/* The identity part of a twin, in the member order of reference §1.4. */
static void render_identity(json_t *out, const store_identity *id, const store_twin *tw)
{
	char etag[32];

	json_object_set_new(out, "deviceId", json_string(id->device_id));
	if (id->module_id[0])
		json_object_set_new(out, "moduleId", json_string(id->module_id));
	json_object_set_new(out, "etag", json_string(twin_etag_text(tw->etag, etag)));
	json_object_set_new(out, "deviceEtag", json_string(twin_identity_etag_text(id->etag, etag)));
	json_object_set_new(out, "version", json_integer(tw->version));
	json_object_set_new(out, "status", json_string(id->enabled ? "enabled" : "disabled"));
	if (id->status_reason[0])
		json_object_set_new(out, "statusReason", json_string(id->status_reason));
	json_object_set_new(out, "statusUpdateTime", time_or_never(id->status_updated_time));
	json_object_set_new(out, "connectionState", json_string(id->connected ? "Connected" : "Disconnected"));
	json_object_set_new(out, "lastActivityTime", time_or_never(id->last_activity_time));
	json_object_set_new(out, "cloudToDeviceMessageCount", json_integer(id->c2d_count));
	json_object_set_new(out, "authenticationType", json_string(id->auth_type[0] ? id->auth_type : "sas"));
	json_object_set_new(out, "x509Thumbprint",
			    json_pack("{s:o,s:o}", "primaryThumbprint", text_or_null(id->primary_thumbprint),
				      "secondaryThumbprint", text_or_null(id->secondary_thumbprint)));
	json_object_set_new(out, "modelId", json_string(id->model_id));
	if (!id->module_id[0])
		json_object_set_new(out, "capabilities", json_pack("{s:b}", "iotEdge", id->iot_edge != 0));
}

json_t *twin_render(const store_identity *id, const store_twin *tw)
{
	json_t *out = json_object();

	render_identity(out, id, tw);
	/* Always present, {} when empty: SDKs index into twin.tags without checking. */
	json_object_set_new(out, "tags", object_copy(tw->tags));
	json_object_set_new(out, "properties",
			    json_pack("{s:o,s:o}", "desired",
				      render_section(tw->desired, tw->desired_meta, tw->desired_version),
				      "reported",
				      render_section(tw->reported, tw->reported_meta, tw->reported_version)));
	twin_render_configurations(out, tw->configurations);
	return out;
}

void twin_render_configurations(json_t *twin, const json_t *statuses)
{
	json_t *member, *status;
	const char *config_id;

	if (json_object_size(statuses) == 0)
		return;
	member = json_object();
	/* The store keeps the query language's 'Targeted' / 'Applied' (the systemMetrics query IoT Hub
	 * generates compares with 'Applied'); the twin shows the lower-case values IoT Hub's SDKs parse
	 * (Java's ConfigurationStatus, C#'s EnumMember "targeted" / "applied"). */
	json_object_foreach((json_t *)statuses, config_id, status)
	{
		const char *text = json_string_value(status);
		json_object_set_new(member, config_id,
				    json_pack("{s:s}", "status",
					      text && strcmp(text, "Applied") == 0 ? "applied" : "targeted"));
	}
	json_object_set_new(twin, "configurations", member);
}

/* ---- transactional operations ---------------------------------------------------------------------- */

/* If-Match: NULL (absent) and "*" match anything; any other value, "" included, must be the twin's etag.
 * The edge has already stripped the quotes the SDKs send. */
static int etag_matches(const char *if_match, int64_t counter)
{
	char current[32];

	return !if_match || strcmp(if_match, "*") == 0 || strcmp(if_match, twin_etag_text(counter, current)) == 0;
}

static const char *module_or_device(const char *module_id)
{
	return module_id ? module_id : "";
}

int twin_get(const char *device_id, const char *module_id, json_t **out)
{
	store *s = store_thread();
	store_identity id;
	store_twin tw = {0};
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO; /* store_thread set the message */
	if ((rc = store_begin_read(s)) != 0)
		goto cleanup;
	if ((rc = store_device_get_twin(s, device_id, module_or_device(module_id), &id, &tw)) != 0)
		goto cleanup;
	if ((rc = store_commit(s)) != 0)
		goto cleanup;
	*out = twin_render(&id, &tw);
cleanup:
	if (rc != 0)
		store_rollback(s);
	store_twin_release(&tw);
	return rc;
}

/* Reads the twin for writing and checks If-Match; the caller owns the transaction. with_configurations
 * when the caller renders the twin afterwards. */
static int twin_read_for_write(store *s, const char *device_id, const char *module_id, const char *if_match,
			       int with_configurations, store_identity *id, store_twin *tw)
{
	char current[32];
	char shown[64];
	int rc = with_configurations ? store_device_get_twin(s, device_id, module_id, id, tw)
				     : store_device_get(s, device_id, module_id, id, tw);

	if (rc != 0)
		return rc;
	if (!etag_matches(if_match, tw->etag))
		return err_set(DH_EETAG, "twin etag '%s' does not match If-Match '%s'",
			       twin_etag_text(tw->etag, current), key_shown(if_match, shown));
	return 0;
}

void twin_publish_updated(const char *device_id, const char *module_id, const char *section, int64_t version)
{
	json_t *data = json_pack("{s:s}", "deviceId", device_id);

	if (module_id && *module_id)
		json_object_set_new(data, "moduleId", json_string(module_id));
	json_object_set_new(data, "section", json_string(section));
	json_object_set_new(data, "version", json_integer(version));
	events_publish("twin.updated", data);
}

int twin_update(const char *device_id, const char *module_id, const json_t *body, int replace,
		const char *if_match, json_t **out)
{
	store *s = store_thread();
	store_identity id;
	store_twin tw = {0};
	int64_t desired_before;
	char now[CLOCK_ISO_LEN];
	const char *mid = module_or_device(module_id);
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		goto cleanup;
	if ((rc = twin_read_for_write(s, device_id, mid, if_match, 1, &id, &tw)) != 0)
		goto cleanup;
	desired_before = tw.desired_version;
	clock_iso_now(now);
	rc = replace ? twin_apply_replace(&tw, body, now) : twin_apply_patch(&tw, body, now);
	if (rc != 0)
		goto cleanup;
	if ((rc = store_device_update_desired(s, device_id, mid, &tw)) != 0)
		goto cleanup;
	if ((rc = store_commit(s)) != 0)
		goto cleanup;
	/* A connected device hears of the change once it is durable: the service's patch, or for a replace
	 * the whole section (reference §3: "the service's patch plus $version"). */
	if (tw.desired_version != desired_before)
		session_push_desired(device_id, mid,
				     replace ? tw.desired : json_object_get(json_object_get(body, "properties"), "desired"),
				     tw.desired_version);
	/* Tags have no version of their own: the twin's version says which change it was. */
	if (json_object_get(body, "tags"))
		twin_publish_updated(device_id, mid, "tags", tw.version);
	if (tw.desired_version != desired_before)
		twin_publish_updated(device_id, mid, "desired", tw.desired_version);
	*out = twin_render(&id, &tw);
cleanup:
	if (rc != 0)
		store_rollback(s);
	store_twin_release(&tw);
	return rc;
}

int twin_patch_locked(store *s, const char *device_id, const char *module_id, const json_t *body,
		      const char *if_match, const char *now, int64_t *desired_version)
{
	store_identity id;
	store_twin tw = {0};
	const char *mid = module_or_device(module_id);
	int64_t before;
	int rc;

	*desired_version = 0;
	if ((rc = twin_read_for_write(s, device_id, mid, if_match, 0, &id, &tw)) != 0)
		goto cleanup;
	before = tw.desired_version;
	if ((rc = twin_apply_patch(&tw, body, now)) != 0 ||
	    (rc = store_device_update_desired(s, device_id, mid, &tw)) != 0)
		goto cleanup;
	if (tw.desired_version != before)
		*desired_version = tw.desired_version;
cleanup:
	store_twin_release(&tw);
	return rc;
}

/* A section's values with its $version, without $metadata: what a device reads. */
static json_t *section_for_device(const json_t *values, int64_t version)
{
	json_t *o = json_deep_copy(values);

	json_object_set_new(o, "$version", json_integer(version));
	return o;
}

int twin_get_properties(const char *device_id, const char *module_id, int64_t if_newer_than, json_t **out,
			int64_t *desired_version, int64_t *reported_version)
{
	store *s = store_thread();
	store_identity id;
	store_twin tw = {0};
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_begin_read(s)) != 0)
		return rc;
	rc = store_device_get(s, device_id, module_or_device(module_id), &id, &tw);
	store_rollback(s); /* read-only */
	if (rc != 0)
		goto cleanup;
	*desired_version = tw.desired_version;
	*reported_version = tw.reported_version;
	if (tw.desired_version > if_newer_than)
		*out = json_pack("{s:o, s:o}", "desired", section_for_device(tw.desired, tw.desired_version),
				 "reported", section_for_device(tw.reported, tw.reported_version));
cleanup:
	store_twin_release(&tw);
	return rc;
}

int twin_report_locked(store *s, const char *device_id, const char *module_id, const json_t *patch,
		       const char *now, int64_t *reported_version)
{
	store_twin tw = {0};
	const char *mid = module_or_device(module_id);
	int rc;

	/* tw was read for this patch alone and is dropped on error: it is merged in place, not copied. */
	if ((rc = store_device_get_reported(s, device_id, mid, &tw)) == 0 &&
	    (rc = twin_merge_reported(&tw, patch, now)) == 0 &&
	    (rc = store_device_update_reported(s, device_id, mid, &tw)) == 0)
		*reported_version = tw.reported_version;
	store_twin_release(&tw);
	return rc;
}

int twin_update_reported(const char *device_id, const char *module_id, const json_t *patch,
			 int64_t *reported_version)
{
	store *s = store_thread();
	char now[CLOCK_ISO_LEN];
	int64_t version = 0;
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	clock_iso_now(now);
	if ((rc = twin_report_locked(s, device_id, module_id, patch, now, &version)) != 0 ||
	    (rc = store_commit(s)) != 0) {
		store_rollback(s);
		return rc;
	}
	*reported_version = version;
	twin_publish_updated(device_id, module_id, "reported", version);
	return 0;
}
