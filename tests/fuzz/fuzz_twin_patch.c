/*
 * libFuzzer target for twin patches: the input is a JSON body as the REST API or a device would send it.
 * It is applied as a service PATCH (twice, so that merges meet existing content), a service PUT and a
 * device reported patch (the whole body, then its properties.desired part) to a fresh twin, which is then
 * rendered and freed.
 *
 * Invariants checked after every apply (a violation aborts, which libFuzzer reports as a crash):
 *  - a failed apply leaves the twin byte-for-byte unchanged (compared as JSON dumps);
 *  - a successful one leaves every section within its limits (twin_validate_section), $metadata mirroring
 *    its section key for key, the section root's $lastUpdatedVersion equal to desired $version, and the
 *    twin version and etag never going backwards.
 */
#include "err.h"
#include "json_util.h"
#include "twin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *fuzz_target_name = "fuzz_twin_patch";

#define NOW "2024-01-01T00:00:00.000Z"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_twin_patch: invariant broken: %s (%s)\n", what, err_message());
		abort();
	}
}

static char *twin_dump(const store_twin *tw)
{
	json_t *all = json_pack("{s:I,s:I,s:O,s:O,s:O,s:I,s:O,s:O,s:I}", "v", (json_int_t)tw->version, "e",
				(json_int_t)tw->etag, "t", tw->tags, "d", tw->desired, "dm", tw->desired_meta, "dv",
				(json_int_t)tw->desired_version, "r", tw->reported, "rm", tw->reported_meta, "rv",
				(json_int_t)tw->reported_version);
	char *s = json_util_dump(all);

	json_decref(all);
	return s;
}

/* Every key of values has a metadata object with $lastUpdated, objects recursively; every non-$ key of
 * meta names a value. */
static int meta_mirrors(const json_t *values, const json_t *meta)
{
	const char *key;
	json_t *v;

	if (!json_is_object(meta) || !json_is_string(json_object_get(meta, "$lastUpdated")))
		return 0;
	json_object_foreach((json_t *)values, key, v) {
		json_t *m = json_object_get(meta, key);
		if (!json_is_object(m) || !json_is_string(json_object_get(m, "$lastUpdated")))
			return 0;
		if (json_is_object(v) && !meta_mirrors(v, m))
			return 0;
	}
	json_object_foreach((json_t *)meta, key, v) {
		if (key[0] != '$' && !json_object_get(values, key))
			return 0;
	}
	return 1;
}

static void check_twin(const store_twin *tw, int64_t version_before)
{
	check(twin_validate_section(tw->tags, "tags", TWIN_TAGS_MAX_BYTES) == 0, "tags within limits");
	check(twin_validate_section(tw->desired, "desired", TWIN_DESIRED_MAX_BYTES) == 0, "desired within limits");
	check(twin_validate_section(tw->reported, "reported", TWIN_REPORTED_MAX_BYTES) == 0,
	      "reported within limits");
	check(meta_mirrors(tw->desired, tw->desired_meta), "desired $metadata mirrors desired");
	check(meta_mirrors(tw->reported, tw->reported_meta), "reported $metadata mirrors reported");
	check(json_integer_value(json_object_get(tw->desired_meta, "$lastUpdatedVersion")) == tw->desired_version,
	      "desired $metadata.$lastUpdatedVersion == $version");
	check(tw->version >= version_before && tw->etag == tw->version, "version and etag move together");
}

typedef int (*apply_fn)(store_twin *tw, const json_t *body, const char *now);

static void apply_checked(store_twin *tw, apply_fn apply, const json_t *body)
{
	char *before = twin_dump(tw);
	int64_t version_before = tw->version;
	int rc = apply(tw, body, NOW);

	if (rc != 0) {
		char *after = twin_dump(tw);
		check(rc == DH_EINVAL, "apply fails only with DH_EINVAL");
		check(strcmp(before, after) == 0, "failed apply leaves the twin unchanged");
		free(after);
	} else {
		check_twin(tw, version_before);
	}
	free(before);
}

static void render_and_check(const store_twin *tw)
{
	store_identity id;
	json_t *out;

	memset(&id, 0, sizeof(id));
	snprintf(id.device_id, sizeof(id.device_id), "fuzz");
	out = twin_render(&id, tw);
	check(json_integer_value(json_object_get(
		      json_object_get(json_object_get(out, "properties"), "desired"), "$version")) ==
		      tw->desired_version,
	      "rendered desired $version");
	free(json_util_dump(out));
	json_decref(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int initialised;
	json_t *body = NULL;
	store_twin tw;

	if (!initialised) {
		json_util_init();
		initialised = 1;
	}
	if (json_util_parse((const char *)data, size, JSON_UTIL_MAX_DEPTH, &body) != 0)
		return 0;
	twin_init(&tw, NOW);
	apply_checked(&tw, twin_apply_patch, body);
	apply_checked(&tw, twin_apply_patch, body);
	render_and_check(&tw);
	apply_checked(&tw, twin_apply_reported, body);
	apply_checked(&tw, twin_apply_reported, json_object_get(json_object_get(body, "properties"), "desired"));
	apply_checked(&tw, twin_apply_replace, body);
	render_and_check(&tw);
	store_twin_release(&tw);
	json_decref(body);
	return 0;
}
