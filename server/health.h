/*
 * health: health rules and their evaluation. A rule is a name, a condition (a WHERE clause of the query
 * language), a threshold, a severity and a description; it breaks when more than threshold devices match
 * the condition. A background thread evaluates every rule every --health-interval seconds and at once
 * after a rule changes; GET /devicehub/health answers from the last evaluation, so it costs nothing at
 * any fleet size. A change of a rule's breaking state or count is published as a `health.changed` event.
 *
 * Never speaks HTTP; never holds SQL (store_health does); runs conditions only through the query module
 * ("SELECT COUNT() FROM devices WHERE <condition>"), so a rule counts exactly what that query would.
 */
#ifndef DH_HEALTH_H
#define DH_HEALTH_H

#include "store_health.h"

#include <jansson.h>

#define HEALTH_DEVICES_MAX 10       /* device ids shown per rule */
#define HEALTH_RULES_MAX 100

/* Checks a rule body {"condition", "threshold"?, "severity", "description"?, "name"?} for rule `name`
 * and fills out (times left empty). The condition must parse and compile; positions in its errors count
 * from the condition's first byte. No store access. 0, DH_EINVAL or DH_EQUERY with err_message(). */
int health_rule_check(const char *name, const json_t *body, store_health_rule *out);

/* OUT: *out an array of every rule {name, condition, threshold, severity, description, createdTime,
 * lastUpdatedTime} by name (new reference). */
int health_rule_list(json_t **out);

/* Creates or replaces rule `name` (health_rule_check first: nothing is stored when it fails) and asks
 * for an evaluation. OUT: *out the rule as listed (new reference), *created 1 when it is new.
 * DH_EQUOTA past HEALTH_RULES_MAX rules. */
int health_rule_put(const char *name, const json_t *body, json_t **out, int *created);

/* Deletes a rule and asks for an evaluation. DH_ENOROUTE when there is none. */
int health_rule_delete(const char *name);

/* OUT: *out the last evaluation {"evaluatedTime", "rules":[{name, condition, threshold, severity,
 * description, count, breaking, devices}]} (new reference). Before the first evaluation evaluatedTime is
 * null and every rule shows count null. */
int health_get(json_t **out);

/* Evaluates every rule now on the calling thread, keeps the result for health_get and publishes
 * health.changed for each rule whose breaking state or count changed (a rule that fails to evaluate,
 * say a condition an upgrade no longer accepts, shows its "error" and count null). */
int health_evaluate_now(void);

/* The evaluator thread: health_evaluate_now at start, every interval_s seconds, and when kicked.
 * health_evaluator_stop wakes and joins it. */
int health_evaluator_start(int interval_s);
void health_evaluator_stop(void);

/* Forgets the last evaluation (tests). */
void health_reset(void);

#endif
