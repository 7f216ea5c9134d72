/* registry internals shared by registry.c, registry_bulk.c and the modules that create or delete
 * identities inside their own transactions (enrollment.c, retire.c). Not for other modules. */
#ifndef DH_REGISTRY_INT_H
#define DH_REGISTRY_INT_H

#include "store.h"
#include "store_device.h"

#include <jansson.h>

/* flags for registry__put_locked */
#define REGISTRY_UPSERT 1      /* create when absent, replace unconditionally when present */
#define REGISTRY_BULK_TWIN 2   /* a new device takes the body's tags/properties (bulk entries) */

/* Create (if_match NULL) or replace inside the caller's transaction, as flags say. OUT: *id, *created, *revoke (the change must end the identity's
 * live connection once committed: disabled or credentials changed). */
int registry__put_locked(store *s, const char *device_id, const char *module_id, const json_t *body,
			 const char *if_match, int flags, store_identity *id, int *created, int *revoke);

/* Applies a bulk entry's tags, properties.desired and properties.reported to tw in memory (so a new
 * device is written once, not inserted and then rewritten). 0 when the entry carries none. */
int registry__twin_from_entry(store_twin *tw, const json_t *entry, const char *now);
int registry__delete_locked(store *s, const char *device_id, const char *module_id, const char *if_match);
int registry__check_ids(const char *device_id, const char *module_id);

/* device.created / device.updated / device.deleted for the live event stream (docs/events.md), once
 * the change is committed. status NULL for a delete; extra (may be NULL, reference stolen) adds members,
 * e.g. a retirement's reason. */
void registry__publish_identity(const char *type, const char *device_id, const char *module_id, const char *status,
				json_t *extra);

#endif
