/* store_policy: SQL for the policies table. Must never decide who may do what (auth does). */
#include "store_policy.h"

#include "err.h"

#include <stdio.h>
#include <string.h>

int store_policy_each(store *s, store_policy_fn fn, void *ctx)
{
	sqlite3_stmt *st = store_stmt(s, "SELECT name, rights, primary_key, secondary_key FROM policies ORDER BY name");
	int rc = 0, step = SQLITE_DONE;

	if (!st)
		return DH_EIO;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		store_policy p;
		memset(&p, 0, sizeof(p));
		snprintf(p.name, sizeof(p.name), "%s", (const char *)sqlite3_column_text(st, 0));
		p.rights = sqlite3_column_int(st, 1);
		snprintf(p.primary_key, sizeof(p.primary_key), "%s", (const char *)sqlite3_column_text(st, 2));
		snprintf(p.secondary_key, sizeof(p.secondary_key), "%s", (const char *)sqlite3_column_text(st, 3));
		rc = fn(&p, ctx);
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_fail(s, "reading policies");
	sqlite3_reset(st);
	return rc;
}

int store_policy_put(store *s, const store_policy *p)
{
	sqlite3_stmt *st = store_stmt(s, "INSERT INTO policies (name, rights, primary_key, secondary_key)"
					 " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET"
					 " rights = excluded.rights, primary_key = excluded.primary_key,"
					 " secondary_key = excluded.secondary_key");
	int rc;

	if (!st)
		return DH_EIO;
	sqlite3_bind_text(st, 1, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, p->rights);
	sqlite3_bind_text(st, 3, p->primary_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->secondary_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : store_fail(s, "writing a policy");
}
