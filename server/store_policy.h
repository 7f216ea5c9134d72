/* store_policy: the shared access policies table. Callers own the transaction. */
#ifndef DH_STORE_POLICY_H
#define DH_STORE_POLICY_H

#include "store.h"

typedef struct store_policy {
	char name[64];
	int rights;                 /* AUTH_* bits */
	char primary_key[96];
	char secondary_key[96];
} store_policy;

/* Calls fn for every policy in name order; stops early with fn's non-zero result. */
typedef int (*store_policy_fn)(const store_policy *p, void *ctx);
int store_policy_each(store *s, store_policy_fn fn, void *ctx);

/* Inserts or replaces the policy p->name. */
int store_policy_put(store *s, const store_policy *p);

#endif
