/* store_health: SQL for the health_rules table. Must never decide what a rule may be (health.c does). */
#include "store_health.h"

#include "err.h"

#include <string.h>

#define RULE_COLUMNS "name, condition, threshold, severity, description, created_time, updated_time"

static void read_row(sqlite3_stmt *st, store_health_rule *r)
{
	memset(r, 0, sizeof(*r));
	store_col_text(st, 0, r->name, sizeof(r->name));
	store_col_text(st, 1, r->condition, sizeof(r->condition));
	r->threshold = sqlite3_column_int64(st, 2);
	store_col_text(st, 3, r->severity, sizeof(r->severity));
	store_col_text(st, 4, r->description, sizeof(r->description));
	store_col_text(st, 5, r->created_time, sizeof(r->created_time));
	store_col_text(st, 6, r->updated_time, sizeof(r->updated_time));
}

int store_health_rule_put(store *s, const store_health_rule *r, int *created)
{
	sqlite3_stmt *exists = store_stmt(s, "SELECT 1 FROM health_rules WHERE name = ?1");
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO health_rules (" RULE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
					 " ON CONFLICT (name) DO UPDATE SET condition = excluded.condition,"
					 " threshold = excluded.threshold, severity = excluded.severity,"
					 " description = excluded.description, updated_time = excluded.updated_time");
	int step;

	*created = 0;
	if (!exists || !st)
		return DH_EIO;
	sqlite3_bind_text(exists, 1, r->name, -1, SQLITE_STATIC);
	step = sqlite3_step(exists);
	sqlite3_reset(exists);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return store_fail(s, "reading a health rule");
	*created = step == SQLITE_DONE;
	sqlite3_bind_text(st, 1, r->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, r->condition, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, r->threshold);
	sqlite3_bind_text(st, 4, r->severity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, r->description, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, r->created_time, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, r->updated_time, -1, SQLITE_STATIC);
	step = sqlite3_step(st);
	sqlite3_reset(st);
	return step == SQLITE_DONE ? 0 : store_fail(s, "writing a health rule");
}

int store_health_rule_delete(store *s, const char *name)
{
	int rc = store_change_by_key(s, "DELETE FROM health_rules WHERE name = ?1", name, "deleting a health rule");

	return rc == DH_ENOROUTE ? err_set(DH_ENOROUTE, "health rule '%s' not found", name) : rc;
}

int store_health_rule_each(store *s, store_health_rule_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT " RULE_COLUMNS " FROM health_rules ORDER BY name");
	int rc = 0, step = SQLITE_DONE;
	store_health_rule r;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, &r);
		rc = fn(&r, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading health rules");
	sqlite3_reset(st);
	return rc;
}
