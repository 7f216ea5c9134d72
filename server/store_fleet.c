/* store_fleet: SQL for fleet counters, fleet history and twin paths (store_fleet.h). */
#include "store_fleet.h"

#include "err.h"

#include <string.h>

int store_fleet_history_add(store *s, const store_fleet_sample *sample)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT OR REPLACE INTO fleet_history (time_ms, total, enabled, connected)"
					 " VALUES (?1, ?2, ?3, ?4)");
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, sample->time_ms);
	sqlite3_bind_int64(st, 2, sample->total);
	sqlite3_bind_int64(st, 3, sample->enabled);
	sqlite3_bind_int64(st, 4, sample->connected);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_fail(s, "writing a fleet history sample");
}

int store_fleet_history_prune(store *s, int64_t before_ms)
{
	sqlite3_stmt *st = store_stmt(s, "DELETE FROM fleet_history WHERE time_ms < ?1");
	int step;

	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, before_ms);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_fail(s, "pruning fleet history");
}

int store_fleet_history_count(store *s, int64_t since_ms, int64_t until_ms, int64_t *out)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT count(*) FROM fleet_history WHERE time_ms BETWEEN ?1 AND ?2");
	int step;

	*out = 0;
	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int64(st, 2, until_ms);
	step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return step == SQLITE_ROW ? 0 : store_fail(s, "counting fleet history");
}

int store_fleet_history_range(store *s, int64_t since_ms, int64_t until_ms, int64_t bucket_ms,
			      store_fleet_sample_fn fn, void *ctx)
{
	sqlite3_stmt *st =
	    bucket_ms > 0
		? store_stmt(s, "SELECT min(time_ms), CAST(round(avg(total)) AS INTEGER),"
				" CAST(round(avg(enabled)) AS INTEGER), CAST(round(avg(connected)) AS INTEGER)"
				" FROM fleet_history WHERE time_ms BETWEEN ?1 AND ?2"
				" GROUP BY (time_ms - ?1) / ?3 ORDER BY 1")
		: store_stmt(s, "SELECT time_ms, total, enabled, connected FROM fleet_history"
				" WHERE time_ms BETWEEN ?1 AND ?2 ORDER BY time_ms");
	store_fleet_sample sample;
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	sqlite3_bind_int64(st, 1, since_ms);
	sqlite3_bind_int64(st, 2, until_ms);
	if (bucket_ms > 0)
		sqlite3_bind_int64(st, 3, bucket_ms);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		sample.time_ms = sqlite3_column_int64(st, 0);
		sample.total = sqlite3_column_int64(st, 1);
		sample.enabled = sqlite3_column_int64(st, 2);
		sample.connected = sqlite3_column_int64(st, 3);
		rc = fn(&sample, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading fleet history");
	sqlite3_reset(st);
	return rc;
}

/* json_tree over the three sections of the sampled twins. A leaf is a row that is not an object and
 * whose parent is not an array (an array is one leaf); keys starting with '$' ($metadata, $version) and
 * everything under them are left out. fullkey is "$.a.b" (or "$.\"odd key\"" for keys that need quotes:
 * those are skipped, as the query language could not name them unescaped anyway). */
int store_fleet_twin_paths(store *s, int sample_size, int max, json_t **out)
{
	sqlite3_stmt *st = store_stmt(
	    s, "WITH sample AS (SELECT tags, desired, reported FROM identities WHERE module_id = ''"
	       "  ORDER BY max(coalesce(json_extract(desired_meta, '$.\"$lastUpdated\"'), ''),"
	       "               coalesce(json_extract(reported_meta, '$.\"$lastUpdated\"'), '')) DESC LIMIT ?1),"
	       " sections (prefix, doc) AS (SELECT 'tags', tags FROM sample"
	       "  UNION ALL SELECT 'properties.desired', desired FROM sample"
	       "  UNION ALL SELECT 'properties.reported', reported FROM sample)"
	       " SELECT DISTINCT sections.prefix || substr(t.fullkey, 2) AS path"
	       " FROM sections, json_tree(sections.doc) AS t"
	       " WHERE t.type <> 'object' AND instr(t.fullkey, '[') = 0"
	       "  AND instr(substr(t.fullkey, 2), '$') = 0 AND instr(t.fullkey, '\"') = 0"
	       " ORDER BY path LIMIT ?2");
	int step = SQLITE_DONE;

	*out = NULL;
	if (!st)
		return DH_EIO;
	sqlite3_bind_int(st, 1, sample_size);
	sqlite3_bind_int(st, 2, max);
	*out = json_array();
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(*out, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	if (step != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return store_fail(s, "reading twin paths");
	}
	return 0;
}
