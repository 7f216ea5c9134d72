/*
 * group: device groups (group.h). Counts run "SELECT COUNT() AS n FROM devices WHERE <condition>" and
 * member lists "SELECT * FROM devices WHERE <condition>" through query_run, so a group selects exactly
 * what the same query would. Members are devices, not modules.
 */
#include "group.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "json_util.h"
#include "query.h"
#include "store.h"
#include "store_group.h"
#include "twin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int group_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > GROUP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_' || c == ':'))
			return 0;
	}
	return 1;
}

static int check_name(const char *name)
{
	if (!group_name_valid(name))
		return err_set(DH_EINVAL, "'%s' is not a valid group name: 1 to %d letters, digits and - . _ :", name,
			       GROUP_NAME_MAX);
	return 0;
}

/* Runs "<select> FROM devices WHERE <condition>" for one page. OUT: as query_run. */
static int run_condition(const char *select, const char *condition, int max_items, const char *continuation,
			 json_t **items, char **next, const char **item_type)
{
	buf text = BUF_INIT;
	int rc;

	buf_printf(&text, "%s FROM devices WHERE %s", select, condition);
	rc = query_run(buf_cstr(&text), strlen(buf_cstr(&text)), max_items, continuation, items, next, item_type);
	buf_release(&text);
	return rc;
}

/* OUT: *count the devices the condition selects now. */
static int member_count(const char *condition, json_int_t *count)
{
	json_t *items = NULL;
	char *next = NULL;
	const char *type;
	int rc = run_condition("SELECT COUNT() AS n", condition, 1, NULL, &items, &next, &type);

	*count = 0;
	if (rc == 0)
		*count = json_integer_value(json_object_get(json_array_get(items, 0), "n"));
	json_decref(items);
	free(next);
	return rc;
}

static json_t *render(const store_group *g)
{
	char etag[32];

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", g->name, "condition", g->condition, "description",
			 g->description, "etag", twin_identity_etag_text(g->etag, etag), "createdTime", g->created_time,
			 "lastUpdatedTime", g->updated_time);
}

/* The group as shown, with its live count; a count that fails (a condition that no longer compiles after
 * an upgrade, say) is shown as memberCountError rather than failing the whole answer. */
static json_t *render_counted(const store_group *g)
{
	json_t *out = render(g);
	json_int_t count;

	if (member_count(g->condition, &count) == 0)
		json_object_set_new(out, "memberCount", json_integer(count));
	else
		json_object_set_new(out, "memberCountError", json_string(err_message()));
	err_clear();
	return out;
}

static int etag_check(const char *if_match, const store_group *g)
{
	char etag[32];

	if (!if_match || strcmp(if_match, "*") == 0 || strcmp(if_match, twin_identity_etag_text(g->etag, etag)) == 0)
		return 0;
	return err_set(DH_EETAG, "group '%s' has changed: etag '%s' is stale", g->name, if_match);
}

/* Reads name, condition and description from body into g. */
static int read_body(const char *name, const json_t *body, store_group *g)
{
	const char *bname = json_util_str(body, "name");
	const json_t *cond = json_object_get(body, "condition");
	const json_t *desc = json_object_get(body, "description");
	query *q = NULL;
	query_error qe;

	if (!json_is_object(body))
		return err_set(DH_EINVAL, "the body must be {\"condition\": \"...\", \"description\": \"...\"}");
	if (bname && strcmp(bname, name) != 0)
		return err_set(DH_EINVAL, "name '%s' in the body does not match '%s' in the path", bname, name);
	if (!json_is_string(cond) || json_string_length(cond) == 0)
		return err_set(DH_EINVAL, "condition is required, e.g. \"tags.location = 'eu'\"");
	if (json_string_length(cond) > STORE_GROUP_CONDITION_MAX)
		return err_set(DH_EINVAL, "condition exceeds %d bytes", STORE_GROUP_CONDITION_MAX);
	if (desc && !json_is_null(desc) &&
	    (!json_is_string(desc) || json_string_length(desc) > STORE_GROUP_DESCRIPTION_MAX))
		return err_set(DH_EINVAL, "description must be a string of at most %d bytes", STORE_GROUP_DESCRIPTION_MAX);
	if (query_parse_condition(json_string_value(cond), json_string_length(cond), &q, &qe) != 0)
		return err_set(DH_EQUERY, "condition: %s", qe.message);
	query_free(q);
	snprintf(g->name, sizeof(g->name), "%s", name);
	snprintf(g->condition, sizeof(g->condition), "%s", json_string_value(cond));
	snprintf(g->description, sizeof(g->description), "%s", json_is_string(desc) ? json_string_value(desc) : "");
	return 0;
}

int group_put(const char *name, const json_t *body, const char *if_match, json_t **out, int *created)
{
	store *s = store_thread();
	store_group old, g;
	json_int_t count;
	int rc;

	*out = NULL;
	*created = 0;
	memset(&g, 0, sizeof(g));
	if (!s)
		return DH_EIO;
	if ((rc = check_name(name)) != 0 || (rc = read_body(name, body, &g)) != 0)
		return rc;
	/* Compiling and counting before the write catches what parsing alone cannot (unknown functions...). */
	if ((rc = member_count(g.condition, &count)) != 0) {
		char why[300];
		snprintf(why, sizeof(why), "%s", err_message());
		return err_set(rc, "condition: %s", why);
	}
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	rc = store_group_get(s, name, &old);
	if (rc == DH_ENOROUTE) {
		/* No group yet: an If-Match can only be about an existing one. */
		if (if_match) {
			rc = err_set(DH_ENOROUTE, "group '%s' not found", name);
			goto out;
		}
		clock_iso_now(g.created_time);
		g.etag = 1;
		*created = 1;
		rc = 0;
	} else if (rc == 0) {
		if ((rc = etag_check(if_match, &old)) != 0)
			goto out;
		snprintf(g.created_time, sizeof(g.created_time), "%s", old.created_time);
		g.etag = old.etag + 1;
	} else {
		goto out;
	}
	clock_iso_now(g.updated_time);
	if ((rc = store_group_put(s, &g)) != 0 || (rc = store_commit(s)) != 0)
		goto out;
	*out = render(&g);
	json_object_set_new(*out, "memberCount", json_integer(count));
out:
	if (rc)
		store_rollback(s);
	return rc;
}

int group_get(const char *name, json_t **out)
{
	store *s = store_thread();
	store_group g;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_group_get(s, name, &g)) != 0)
		return rc;
	*out = render_counted(&g);
	return 0;
}

int group_delete(const char *name, const char *if_match)
{
	store *s = store_thread();
	store_group g;
	int rc;

	if (!s)
		return DH_EIO;
	if ((rc = store_begin_write(s)) != 0)
		return rc;
	if ((rc = store_group_get(s, name, &g)) == 0 && (rc = etag_check(if_match, &g)) == 0 &&
	    (rc = store_group_delete(s, name)) == 0)
		rc = store_commit(s);
	if (rc)
		store_rollback(s);
	return rc;
}

static int collect(const store_group *g, void *ctx)
{
	json_t *list = ctx;

	if (json_array_size(list) >= GROUP_LIST_MAX)
		return 1;
	json_array_append_new(list, render(g));
	json_object_set_new(json_array_get(list, json_array_size(list) - 1), "condition", json_string(g->condition));
	return 0;
}

int group_list(json_t **out)
{
	store *s = store_thread();
	json_t *list = NULL, *g;
	size_t i;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	list = json_array();
	/* Rows first, counts after: query_run opens its own read transaction. */
	rc = store_group_each(s, collect, list);
	if (rc < 0) {
		json_decref(list);
		return rc;
	}
	json_array_foreach(list, i, g) {
		json_int_t count;
		if (member_count(json_string_value(json_object_get(g, "condition")), &count) == 0)
			json_object_set_new(g, "memberCount", json_integer(count));
		else
			json_object_set_new(g, "memberCountError", json_string(err_message()));
		err_clear();
	}
	*out = list;
	return 0;
}

int group_devices(const char *name, int max_items, const char *continuation, json_t **items, char **next,
		  const char **item_type)
{
	store *s = store_thread();
	store_group g;
	int rc;

	*items = NULL;
	*next = NULL;
	*item_type = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_group_get(s, name, &g)) != 0)
		return rc;
	return run_condition("SELECT *", g.condition, max_items, continuation, items, next, item_type);
}

int group_condition(const char *name, char **out)
{
	store *s = store_thread();
	store_group g;
	int rc;

	*out = NULL;
	if (!s)
		return DH_EIO;
	if ((rc = store_group_get(s, name, &g)) == DH_ENOROUTE)
		return err_set(DH_EINVAL, "group '%s' does not exist", name);
	if (rc)
		return rc;
	*out = xstrdup(g.condition);
	return 0;
}

int group_resolve_target(const json_t *body, const char *cond_member, char **condition)
{
	const json_t *group = json_object_get(body, "group");
	const json_t *cond = json_object_get(body, cond_member);

	*condition = NULL;
	if (!group || json_is_null(group))
		return 0;
	if (!json_is_string(group))
		return err_set(DH_EINVAL, "group must be the name of a device group");
	if (cond && !json_is_null(cond))
		return err_set(DH_EINVAL, "give either group or %s, not both", cond_member);
	return group_condition(json_string_value(group), condition);
}
