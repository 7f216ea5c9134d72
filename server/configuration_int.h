/*
 * configuration_int: what configuration.c (rules, REST operations) and configuration_reconcile.c (the
 * reconciler) share. Private to configuration*.c.
 */
#ifndef DH_CONFIGURATION_INT_H
#define DH_CONFIGURATION_INT_H

#include "configuration.h"
#include "query.h"

/* Compiles a target condition to SQL selecting the targeted device rows (STORE_DEVICE_COLUMNS, the row
 * key first). "" targets nothing (out->sql stays NULL); "*" targets every device. OUT: *out (release
 * with query_sql_release). DH_EQUERY with err_message() naming the position. */
int configuration__compile_target(const char *condition, query_sql *out);

/* Compiles a custom metric query (a full query). OUT: *out. DH_EQUERY as above. */
int configuration__compile_metric(const char *text, query_sql *out);

/* Wakes the reconciler for a pass now (after a configuration changed). No-op when it is not running. */
void configuration__kick(void);

#endif
