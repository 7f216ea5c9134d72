/* registry internals shared by registry.c and registry_bulk.c. Not for other modules. */
#ifndef DH_REGISTRY_INT_H
#define DH_REGISTRY_INT_H

#include "store.h"
#include "store_device.h"

#include <jansson.h>

/* Create (if_match NULL) or replace inside the caller's transaction; upsert creates when absent and
 * replaces unconditionally when present. OUT: *id, *created, *revoke (the change must end the identity's
 * live connection once committed: disabled or credentials changed). */
int registry__put_locked(store *s, const char *device_id, const char *module_id, const json_t *body,
			 const char *if_match, int upsert, store_identity *id, int *created, int *revoke);
int registry__delete_locked(store *s, const char *device_id, const char *module_id, const char *if_match);
int registry__check_ids(const char *device_id, const char *module_id);

#endif
